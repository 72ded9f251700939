"""FairFace (Kärkkäinen & Joo, WACV 2021): a gender source (no emotions), as released.

Layout, from the data set's README (github.com/joojs/fairface; licence CC BY 4.0) and public
loaders reading ``fairface_label_{split}.csv`` with ``usecols=['file', 'gender', 'race', 'age']``:

- ``fairface_label_train.csv`` and ``fairface_label_val.csv``: ``file, age, gender, race,
  service_test``; ``file`` is ``train/1.jpg`` / ``val/1.jpg``;
- the images (dlib face chips) unpacked beside them, either as ``train/`` and ``val/`` or inside
  ``fairface-img-margin025-trainval/`` (padding 0.25, the paper's main setting) or
  ``fairface-img-margin125-trainval/`` (padding 1.25): option ``padding``.

gender Male / Female (gender_source "annotation"); race White, Black, Latino_Hispanic,
East Asian, Southeast Asian, Indian, Middle Eastern (lower case, spaces -> ``_``); age bands
0-2, 3-9, 10-19, ..., 60-69 and "more than 70" (-> ``70+``) in ``age_band``. Official split:
train / val. FairFace's train and val share thousands of identical images (joojs/fairface issue
#21): with ``drop_duplicates=True`` (default) every image is decoded and each val image whose
pixels equal a train image's is dropped, reported as skipped with the train file it copies.
Faces are detected (the chips carry a margin). ``ferbias gender train --fairface PATH`` adds
the train split to the labeller's training faces and the val split to its validation.
"""

from __future__ import annotations

import hashlib
import os
import re
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

from ferbias.data.images import ImageReadError, load_gray
from ferbias.data.sources.base import (
    LoadResult,
    empty_folder_error,
    finish,
    read_csv_file,
    register_source,
    require_dir,
    row,
)

NAME = "fairface"
LAYOUT = (
    "fairface_label_{train,val}.csv (file,age,gender,race,service_test) beside train/ and val/ "
    "or fairface-img-margin{025,125}-trainval/{train,val}/"
)
CSV_FILES = {"fairface_label_train.csv": "train", "fairface_label_val.csv": "val"}
CSV_COLUMNS = ("file", "age", "gender", "race")
GENDERS = {"female": "female", "male": "male"}
AGE_BANDS = {"more than 70": "70+"}  # the others (0-2 ... 60-69) are kept as written
PADDING_FOLDERS = {0.25: "fairface-img-margin025-trainval", 1.25: "fairface-img-margin125-trainval"}
PARALLEL_MIN_ROWS = 256  # below this a process pool costs more than it saves

NO_CSV = "fairface: no {names} in {path}; expected {layout}"
BAD_CSV = "fairface: {path} lacks column(s) {missing}; expected file, age, gender, race"
BAD_PADDING = "fairface: padding={value!r}; expected one of {allowed}"
NO_IMAGES = "fairface: no train/ or val/ images in {path} or {folder}; expected {layout}"
BAD_GENDER = "{csv}, row {row}: gender {value!r}; expected Male or Female"
IMAGE_MISSING = "listed in {csv} but the image file is missing"
PIXEL_COPY = "exact pixel copy of train image {file} (train and val overlap; dropped from val)"
BAND = re.compile(r"^(\d+)(?:-(\d+)|\+)$")


@register_source(NAME, face_cropped=False, layout=LAYOUT)
def load_fairface(
    path: Path, *, padding: float = 0.25, drop_duplicates: bool = True, workers: int | None = None
) -> LoadResult:
    """Load FairFace from ``path`` (the folder holding the label CSVs); see the module docstring.

    ``workers``: processes decoding images for ``drop_duplicates`` (default: CPU count).
    """
    root = require_dir(path, source=NAME, layout=LAYOUT)
    images = _image_root(root, padding)
    rows, skipped = [], []
    for csv, split in CSV_FILES.items():
        if (root / csv).is_file():
            _read_csv(root, images, csv, split, rows, skipped)
    if not rows and not skipped:
        raise FileNotFoundError(NO_CSV.format(names=list(CSV_FILES), path=root, layout=LAYOUT))
    if not rows:
        raise empty_folder_error(images, source=NAME, layout=LAYOUT)
    if drop_duplicates:
        rows, skipped = _drop_val_copies(rows, skipped, workers or os.cpu_count() or 1)
    return finish(rows, skipped)


def _image_root(root: Path, padding: float) -> Path:
    """The folder holding train/ and val/: the padding's release folder if present, else root."""
    if padding not in PADDING_FOLDERS:
        raise ValueError(BAD_PADDING.format(value=padding, allowed=sorted(PADDING_FOLDERS)))
    folder = root / PADDING_FOLDERS[padding]
    for candidate in (folder, root):
        if (candidate / "train").is_dir() or (candidate / "val").is_dir():
            return candidate
    raise FileNotFoundError(NO_IMAGES.format(path=root, folder=folder.name, layout=LAYOUT))


def _read_csv(root: Path, images: Path, csv: str, split: str, rows: list, skipped: list):
    table = read_csv_file(root / csv, expected=LAYOUT, dtype=str, keep_default_na=False)
    missing = [c for c in CSV_COLUMNS if c not in table]
    if missing:
        raise ValueError(BAD_CSV.format(path=root / csv, missing=missing))
    prefix = "" if images == root else f"{images.name}/"
    for i, r in enumerate(table.to_dict("records")):
        gender = GENDERS.get(r["gender"].strip().lower())
        if gender is None:
            raise ValueError(BAD_GENDER.format(csv=root / csv, row=i, value=r["gender"]))
        relative = prefix + r["file"].strip()
        if not (root / relative).is_file():
            skipped.append((str(root / relative), IMAGE_MISSING.format(csv=csv)))
            continue
        age = r["age"].strip()
        rows.append(
            row(
                NAME,
                root,
                relative,
                emotion=None,
                gender=gender,
                gender_source="annotation",
                race=r["race"].strip().lower().replace(" ", "_"),
                age_band=AGE_BANDS.get(age, age),
                original_split=split,
            )
        )


def _drop_val_copies(rows: list[dict], skipped: list, workers: int) -> tuple[list, list]:
    """Rows without the val images whose decoded pixels equal a train image's.

    Images that cannot be decoded are kept: ``images.prepare`` reports them with the error.
    """
    digests = _pixel_digests([r["path"] for r in rows], workers)
    train_files: dict[bytes, str] = {}
    for r, digest in zip(rows, digests, strict=True):
        if r["original_split"] == "train" and digest is not None:
            train_files.setdefault(digest, r["sample_id"].split(":", 1)[1])
    kept = []
    for r, digest in zip(rows, digests, strict=True):
        if r["original_split"] == "val" and digest in train_files:
            skipped.append((r["path"], PIXEL_COPY.format(file=train_files[digest])))
        else:
            kept.append(r)
    return kept, skipped


def _digest(path: str) -> bytes | None:
    try:
        gray = load_gray(path)
    except ImageReadError:
        return None
    shape = np.array(gray.shape, dtype=np.int64).tobytes()
    return hashlib.blake2b(shape + gray.tobytes(), digest_size=16).digest()


def _pixel_digests(paths: list[str], workers: int) -> list[bytes | None]:
    """Digest of each image's decoded gray pixels (None when it cannot be decoded)."""
    if workers <= 1 or len(paths) < PARALLEL_MIN_ROWS:
        return [_digest(p) for p in paths]
    with get_context("fork").Pool(workers) as pool:
        return pool.map(_digest, paths, chunksize=max(16, len(paths) // (workers * 8)))


def below_age(bands: pd.Series, age: int) -> pd.Series:
    """True where a band (``0-2``, ``20-29``, ``70+``) lies wholly below ``age``; NA -> False."""
    upper = bands.astype("string").str.extract(BAND)[1]
    upper = pd.to_numeric(upper, errors="coerce")
    return (upper < age).fillna(False).astype(bool)
