"""UTKFace aligned & cropped: ``crop_part1/<age>_<gender>_<race>_<datetime>.jpg.chip.jpg``.

gender 0 male / 1 female (gender_source "filename"); race 0 white, 1 black, 2 asian, 3 indian,
4 other; no emotion labels. Aligned 200x200 crops with a wide margin: not FER-tight crops.
Malformed names (the release has two with a missing field) are counted skips.
``duplicate_groups`` reads the shared md5 duplicate list.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ferbias.data.sources.base import (
    LoadResult,
    dataset_root,
    empty_folder_error,
    finish,
    list_files,
    read_csv_file,
    register_source,
    row,
)

NAME = "utkface"
LAYOUT = "crop_part1/<age>_<gender>_<race>_<datetime>.jpg.chip.jpg (gender 0 male, 1 female)"
GENDERS = {"0": "male", "1": "female"}
RACES = {"0": "white", "1": "black", "2": "asian", "3": "indian", "4": "other"}
FILE_NAME = re.compile(r"^(\d{1,3})_([01])_([0-4])_(\d+)\.jpg\.chip\.jpg$", re.IGNORECASE)
BAD_NAME = "malformed UTKFace name: expected <age>_<gender 0|1>_<race 0-4>_<datetime>.jpg.chip.jpg"
TOO_YOUNG = "age {age} is below min_age={min_age}"
DUPLICATES_FILE = "crop_part1_md5_duplicate_groups.tsv"


@register_source(NAME, face_cropped=False, layout=LAYOUT)
def load_utkface(path: Path, *, min_age: int | None = None) -> LoadResult:
    """Load UTKFace from ``path`` (``crop_part1`` or its parent); ``min_age`` skips children."""
    root = dataset_root(path, "crop_part1", source=NAME, layout=LAYOUT)
    rows, skipped = [], []
    for name in list_files(root, skipped):
        match = FILE_NAME.match(name)
        if match is None:
            skipped.append((str(root / name), BAD_NAME))
            continue
        age = int(match[1])
        if min_age is not None and age < min_age:
            skipped.append((str(root / name), TOO_YOUNG.format(age=age, min_age=min_age)))
            continue
        rows.append(
            row(
                NAME,
                root,
                name,
                emotion=None,
                gender=GENDERS[match[2]],
                gender_source="filename",
                age=age,
                race=RACES[match[3]],
            )
        )
    if not rows and not skipped:
        raise empty_folder_error(root, source=NAME, layout=LAYOUT)
    return finish(rows, skipped)


def duplicate_groups(path: Path) -> pd.DataFrame:
    """The md5 duplicate list as one row per file: ``file``, ``group`` (md5), ``gender_conflict``.

    ``path`` is the folder holding ``crop_part1_md5_duplicate_groups.tsv`` (or the file itself).
    """
    path = Path(path)
    tsv = path / DUPLICATES_FILE if path.is_dir() else path
    table = read_csv_file(tsv, expected="a tab-separated md5 duplicate list", sep="\t", dtype=str)
    table["file"] = table["files"].str.split(",")
    out = table.explode("file")[["file", "md5", "gender_conflict"]].rename(columns={"md5": "group"})
    out["gender_conflict"] = out["gender_conflict"].str.lower().eq("yes")
    return out.reset_index(drop=True)
