"""Chicago Face Database: ``{female,male}/CFD-<race><gender>-<id>-<n>-<expr>.jpg``.

Race (self-identified): A asian, B black, L latino, W white, M multiracial, I indian; gender F/M
from the name (gender_source "filename"); expression N neutral, HC/HO happy, A angry, F fear.
subject_id ``<race><gender>-<id>``. A file whose name disagrees with its gender folder is skipped
with a reason. Studio photos: not face crops.
"""

from __future__ import annotations

import re
from pathlib import Path

from ferbias.data.sources.base import (
    LoadResult,
    empty_folder_error,
    finish,
    is_image_name,
    list_files,
    not_an_image_reason,
    register_source,
    require_dir,
    row,
)

NAME = "cfd"
LAYOUT = "female/ and male/ folders of CFD-<race><gender>-<id>-<n>-<expr>.jpg"
RACES = {
    "A": "asian",
    "B": "black",
    "L": "latino",
    "W": "white",
    "M": "multiracial",
    "I": "indian",
}
GENDERS = {"F": "female", "M": "male"}
EXPRESSIONS = {"N": "neutral", "HC": "happy", "HO": "happy", "A": "angry", "F": "fear"}
FILE_NAME = re.compile(r"^CFD-([A-Z])([A-Z])-(\d+)-(\d+)-([A-Z]+)\.\w+$", re.IGNORECASE)
BAD_NAME = "file name does not match CFD-<race><gender>-<id>-<n>-<expr>.jpg"
UNKNOWN_CODE = "unknown {what} code {code!r}; allowed: {allowed}"
FOLDER_DISAGREES = "file name says gender {name_gender!r} but the file is in folder {folder!r}"
NO_GENDER_FOLDERS = "cfd: {path} has neither female/ nor male/; expected " + LAYOUT


def parse_cfd_name(name: str) -> dict[str, str] | str:
    """Fields of a CFD file name (race, gender, subject_id, emotion, expression) or a reason."""
    match = FILE_NAME.match(name)
    if match is None:
        return BAD_NAME
    race, gender, model, _, expression = (g.upper() for g in match.groups())
    for what, code, table in (
        ("race", race, RACES),
        ("gender", gender, GENDERS),
        ("expression", expression, EXPRESSIONS),
    ):
        if code not in table:
            return UNKNOWN_CODE.format(what=what, code=code, allowed=sorted(table))
    return {
        "race": RACES[race],
        "gender": GENDERS[gender],
        "subject_id": f"{race}{gender}-{model}",
        "emotion": EXPRESSIONS[expression],
    }


@register_source(NAME, face_cropped=False, layout=LAYOUT)
def load_cfd(path: Path) -> LoadResult:
    """Load the CFD images under ``path`` (the folder holding female/ and male/)."""
    root = require_dir(path, source=NAME, layout=LAYOUT)
    folders = [root / g for g in ("female", "male") if (root / g).is_dir()]
    if not folders:
        raise FileNotFoundError(NO_GENDER_FOLDERS.format(path=root))
    rows, skipped = [], []
    for folder in folders:
        for name in list_files(folder, skipped):
            where = str(folder / name)
            fields = parse_cfd_name(name) if is_image_name(name) else not_an_image_reason(name)
            if isinstance(fields, str):
                skipped.append((where, fields))
            elif fields["gender"] != folder.name:
                reason = FOLDER_DISAGREES.format(name_gender=fields["gender"], folder=folder.name)
                skipped.append((where, reason))
            else:
                emotion = fields.pop("emotion")
                relative = f"{folder.name}/{name}"
                rows.append(
                    row(NAME, root, relative, emotion=emotion, gender_source="filename", **fields)
                )
    if not rows:
        raise empty_folder_error(root, source=NAME, layout=LAYOUT)
    return finish(rows, skipped)
