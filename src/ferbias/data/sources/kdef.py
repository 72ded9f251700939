"""KDEF and AKDEF (Karolinska Directed Emotional Faces, Lundqvist, Flykt & Öhman 1998).

The release ``KDEF_and_AKDEF/`` holds ``KDEF/<person>/<name>.JPG`` (one folder per person and
session, e.g. ``KDEF/AF01/AF01AFS.JPG``) and ``AKDEF/`` (averaged faces). Codes per the data
set's documentation (kdef.se "About AKDEF" page: gender F/M, expressions AF AN DI HA NE SA SU,
angles FL HL S HR FR) and public loaders (e.g. hachreak/remokit ``datasets/kdef.py`` reads the
expression at characters 5-6 of the name; others walk ``KDEF_and_AKDEF/KDEF/<person>/``):

- KDEF ``AF01ANS.JPG``: session A/B, gender F/M, person 01-35, expression (AF afraid, AN angry,
  DI disgusted, HA happy, NE neutral, SA sad, SU surprised), angle (S straight, HL/HR half left /
  right, FL/FR full left / right profile). subject_id is gender + person (``F01``: both sessions
  of one person share it, so splits are subject-disjoint); gender_source "filename".
- AKDEF ``FAFS.JPG``: gender, expression, angle; an average of all 35 people of that gender, so
  they are read only with ``akdef=True`` (subject ids ``AKDEF-F`` / ``AKDEF-M``).

Names are matched case-insensitively. Frontal (``S``) images only by default; ``angles`` takes
others (``"all"`` or e.g. ``["S", "HL", "HR"]``). Files of other angles, AKDEF files without
``akdef=True``, names that do not parse and names that disagree with their person folder are
reported as skipped. ``path``: ``KDEF_and_AKDEF/``, the folder holding it, or its ``KDEF/``
folder; sample ids are the same for all three. Studio photos: faces are detected.
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
    sub_folders,
)

NAME = "kdef"
LAYOUT = (
    "KDEF_and_AKDEF/KDEF/<session><gender><person>/<session><gender><person><expr><angle>.JPG "
    "(e.g. KDEF/AF01/AF01ANS.JPG), optional KDEF_and_AKDEF/AKDEF/<gender><expr><angle>.JPG"
)
EXPRESSIONS = {
    "AF": "fear",
    "AN": "angry",
    "DI": "disgust",
    "HA": "happy",
    "NE": "neutral",
    "SA": "sad",
    "SU": "surprise",
}
ANGLES = ("S", "HL", "HR", "FL", "FR")
GENDERS = {"F": "female", "M": "male"}
PERSON_FOLDER = re.compile(r"^[AB][FM]\d{2}$", re.IGNORECASE)
KDEF_NAME = re.compile(r"^([AB])([FM])(\d{2})([A-Z]{2})(S|HL|HR|FL|FR)\.jpe?g$", re.IGNORECASE)
AKDEF_NAME = re.compile(r"^([FM])([A-Z]{2})(S|HL|HR|FL|FR)\.jpe?g$", re.IGNORECASE)

NO_PERSON_FOLDERS = "kdef: {path} holds neither KDEF/ nor person folders such as AF01/; expected "
BAD_ANGLES = "kdef: angles={value!r}; expected 'all' or a list from {allowed}"
BAD_NAME = "file name does not match <session A|B><gender F|M><person 01-35><expr><angle>.JPG"
BAD_AKDEF_NAME = "file name does not match <gender F|M><expr><angle>.JPG"
UNKNOWN_EXPRESSION = "unknown expression code {code!r}; allowed: {allowed}"
WRONG_FOLDER = "file name says person {name_person!r} but the file is in folder {folder!r}"
ANGLE_NOT_CHOSEN = "angle {angle!r} not selected (angles={angles})"
AKDEF_NOT_CHOSEN = "AKDEF averaged face, read only with akdef=True"
NOT_A_PERSON_FOLDER = "folder is not a person folder <session A|B><gender F|M><person 01-35>"


@register_source(NAME, face_cropped=False, layout=LAYOUT)
def load_kdef(path: Path, *, angles: str | list[str] = ("S",), akdef: bool = False) -> LoadResult:
    """Load KDEF (and AKDEF with ``akdef=True``) from ``path``; see the module docstring."""
    chosen = _angles(angles)
    kdef_dir = _kdef_folder(require_dir(path, source=NAME, layout=LAYOUT))
    root = kdef_dir.parent
    rows, skipped = [], []
    for person in sub_folders(kdef_dir, skipped):
        if PERSON_FOLDER.match(person.name):
            _scan_person(root, person, chosen, rows, skipped)
        else:
            skipped.append((str(person), NOT_A_PERSON_FOLDER))
    akdef_dir = next((f for f in sub_folders(root, []) if f.name.upper() == "AKDEF"), None)
    if akdef_dir is not None:
        _scan_akdef(root, akdef_dir, chosen if akdef else None, rows, skipped)
    if not rows:
        raise empty_folder_error(kdef_dir, source=NAME, layout=LAYOUT)
    return finish(rows, skipped)


def _angles(angles: str | list[str]) -> tuple[str, ...]:
    if angles == "all":
        return ANGLES
    chosen = (angles,) if isinstance(angles, str) else tuple(angles)
    if not chosen or any(a.upper() not in ANGLES for a in chosen):
        raise ValueError(BAD_ANGLES.format(value=angles, allowed=list(ANGLES)))
    return tuple(a.upper() for a in chosen)


def _kdef_folder(path: Path) -> Path:
    """The folder of person folders: ``path[/KDEF_and_AKDEF]/KDEF`` (any case) or ``path``."""
    # Looking for the release's folders: odd entries here are reported by the scan, if at all.
    release = next((f for f in sub_folders(path, []) if f.name.upper() == "KDEF_AND_AKDEF"), path)
    inner = next((f for f in sub_folders(release, []) if f.name.upper() == "KDEF"), None)
    if inner is not None:
        return inner
    if any(PERSON_FOLDER.match(f.name) for f in sub_folders(path, [])):
        return path
    raise FileNotFoundError(NO_PERSON_FOLDERS.format(path=path) + LAYOUT)


def _scan_person(root: Path, person: Path, angles: tuple[str, ...], rows: list, skipped: list):
    for name in list_files(person, skipped):
        where = str(person / name)
        fields = parse_kdef_name(name) if is_image_name(name) else not_an_image_reason(name)
        if isinstance(fields, str):
            skipped.append((where, fields))
        elif fields.pop("folder") != person.name.upper():
            skipped.append((where, WRONG_FOLDER.format(name_person=name[:4], folder=person.name)))
        elif fields["angle"] not in angles:
            skipped.append((where, ANGLE_NOT_CHOSEN.format(angle=fields["angle"], angles=angles)))
        else:
            del fields["angle"]
            relative = f"{person.parent.name}/{person.name}/{name}"
            rows.append(row(NAME, root, relative, gender_source="filename", **fields))


def _scan_akdef(root: Path, folder: Path, angles: tuple[str, ...] | None, rows, skipped):
    for name in list_files(folder, skipped):
        where = str(folder / name)
        fields = parse_akdef_name(name) if is_image_name(name) else not_an_image_reason(name)
        if isinstance(fields, str):
            skipped.append((where, fields))
        elif angles is None:
            skipped.append((where, AKDEF_NOT_CHOSEN))
        elif fields["angle"] not in angles:
            skipped.append((where, ANGLE_NOT_CHOSEN.format(angle=fields["angle"], angles=angles)))
        else:
            del fields["angle"]
            relative = f"{folder.name}/{name}"
            rows.append(row(NAME, root, relative, gender_source="filename", **fields))


def parse_kdef_name(name: str) -> dict[str, str] | str:
    """emotion, gender, subject_id, angle and person ``folder`` of a KDEF name, or a reason."""
    match = KDEF_NAME.match(name)
    if match is None:
        return BAD_NAME
    session, gender, person, expression, angle = (g.upper() for g in match.groups())
    if expression not in EXPRESSIONS:
        return UNKNOWN_EXPRESSION.format(code=expression, allowed=sorted(EXPRESSIONS))
    return {
        "emotion": EXPRESSIONS[expression],
        "gender": GENDERS[gender],
        "subject_id": f"{gender}{person}",
        "angle": angle,
        "folder": f"{session}{gender}{person}",
    }


def parse_akdef_name(name: str) -> dict[str, str] | str:
    """emotion, gender, subject_id (``AKDEF-F``/``-M``) and angle of an AKDEF name, or a reason."""
    match = AKDEF_NAME.match(name)
    if match is None:
        return BAD_AKDEF_NAME
    gender, expression, angle = (g.upper() for g in match.groups())
    if expression not in EXPRESSIONS:
        return UNKNOWN_EXPRESSION.format(code=expression, allowed=sorted(EXPRESSIONS))
    return {
        "emotion": EXPRESSIONS[expression],
        "gender": GENDERS[gender],
        "subject_id": f"AKDEF-{gender}",
        "angle": angle,
    }
