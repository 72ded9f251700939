"""CelebA gender subset: ``Dataset/Images/*.jpg`` indexed by ``{train,validation,test}.csv``.

The CSVs (``Filename,Male,Partition``) are the index: Male 1 male / 0 female (gender_source
"csv"), Partition 0/1/2 -> train/val/test. Image files that no CSV lists (e.g. the byte-identical
copies named ``182793(1).jpg``) and CSV rows whose file is missing are reported as skipped.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ferbias.data.sources.base import (
    LoadResult,
    empty_folder_error,
    finish,
    list_files,
    read_csv_file,
    register_source,
    require_dir,
    row,
)

NAME = "celeba"
LAYOUT = "Dataset/Images/*.jpg plus train.csv, validation.csv, test.csv (Filename,Male,Partition)"
CSV_FILES = ("train.csv", "validation.csv", "test.csv")
PARTITIONS = {"0": "train", "1": "val", "2": "test"}
MALE = {"1": "male", "0": "female"}
IMAGES = Path("Dataset") / "Images"
NO_CSV = "celeba: no {names} in {path}; expected " + LAYOUT
CSV_COLUMNS = "celeba: {path} lacks column(s) {missing}; expected Filename, Male, Partition"
NOT_IN_CSV = "not listed in any of {names} (e.g. a byte-identical copy such as '182793(1).jpg')"
FILE_MISSING = "listed in {csv} but the image file is missing"
BAD_VALUE = "{csv}: {column}={value!r}; expected one of {allowed}"


def _read_index(root: Path) -> pd.DataFrame:
    tables = []
    for name in CSV_FILES:
        if (root / name).is_file():
            table = read_csv_file(root / name, expected=LAYOUT, dtype=str, keep_default_na=False)
            missing = [c for c in ("Filename", "Male", "Partition") if c not in table]
            if missing:
                raise ValueError(CSV_COLUMNS.format(path=root / name, missing=missing))
            tables.append(table.assign(csv=name))
    if not tables:
        raise FileNotFoundError(NO_CSV.format(names=list(CSV_FILES), path=root))
    return pd.concat(tables, ignore_index=True)


@register_source(NAME, face_cropped=False, layout=LAYOUT)
def load_celeba(path: Path) -> LoadResult:
    """Load the CelebA subset from ``path`` (the folder holding the CSVs and ``Dataset/``)."""
    root = require_dir(path, source=NAME, layout=LAYOUT)
    index = _read_index(root)
    images = require_dir(root / IMAGES, source=NAME, layout=LAYOUT)
    rows, skipped = [], []
    on_disk = set(list_files(images, skipped))
    reported = {Path(path).name for path, _ in skipped}  # odd entries (links...), already skipped
    for r in index.itertuples(index=False):
        relative = (IMAGES / r.Filename).as_posix()
        if r.Filename in reported:
            continue
        if r.Filename not in on_disk:
            skipped.append((str(root / relative), FILE_MISSING.format(csv=r.csv)))
            continue
        for column, value, allowed in (
            ("Male", r.Male, MALE),
            ("Partition", r.Partition, PARTITIONS),
        ):
            if value not in allowed:
                raise ValueError(
                    BAD_VALUE.format(
                        csv=root / r.csv, column=column, value=value, allowed=sorted(allowed)
                    )
                )
        rows.append(
            row(
                NAME,
                root,
                relative,
                emotion=None,
                gender=MALE[r.Male],
                gender_source="csv",
                original_split=PARTITIONS[r.Partition],
            )
        )
    listed = set(index["Filename"])
    reason = NOT_IN_CSV.format(names=list(CSV_FILES))
    skipped += [(str(images / name), reason) for name in sorted(on_disk - listed)]
    if not rows:
        raise empty_folder_error(images, source=NAME, layout=LAYOUT)
    return finish(rows, skipped)
