"""AffectNet (Mollahosseini, Hasani & Mahoor, IEEE TAC 2017): both published releases.

- The CSV release: ``Manually_Annotated_file_lists/{training,validation}.csv`` with columns
  ``subDirectory_filePath, face_x, face_y, face_width, face_height, facial_landmarks,
  expression, valence, arousal`` and the photos in ``Manually_Annotated_Images/<subDirectory_
  filePath>``. The face box is given (one face per row), so rows carry it (see
  ``faceboxes``) and no face is detected. A CSV without its header line is read with the
  documented column order.
- The newer per-image release: ``{train_set,val_set}/images/<id>.jpg`` with
  ``annotations/<id>_exp.npy`` (the expression code; ``_val``, ``_aro`` and ``_lnd`` are not
  read). Images are face crops with a margin: faces are detected.

Expression codes (the paper, arXiv 1708.03985, and mohammadmahoor.com/affectnet): 0 neutral,
1 happy, 2 sad, 3 surprise, 4 fear, 5 disgust, 6 angry, 7 contempt; 8 none, 9 uncertain and
10 no-face are skipped with their reason.
The test set was never released, so the validation set is the test split (as in the paper and
the literature): training -> ``train``, validation -> ``test``; validation is carved from train.
No gender, subjects or ages: a gender labeller applies (``ferbias gender label affectnet ...``).
Layouts cross-checked against public loaders (CSV header comment
``subDirectory_filePath,face_x,...,arousal``; ``{partition}/annotations/{id}_exp.npy``).
``path``: the release folder (holding the file lists and images, or train_set/ and val_set/),
or one of train_set/ / val_set/.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ferbias.data.sources.base import (
    LoadResult,
    empty_folder_error,
    finish,
    is_image_name,
    list_files,
    not_an_image_reason,
    read_csv_file,
    register_source,
    require_dir,
    row,
)
from ferbias.data.sources.faceboxes import box_problem, face_row

NAME = "affectnet"
LAYOUT = (
    "Manually_Annotated_file_lists/{training,validation}.csv (faces cropped from their box) + "
    "Manually_Annotated_Images/, "
    "or {train_set,val_set}/images/<id>.jpg + annotations/<id>_exp.npy"
)
CSV_COLUMNS = (
    "subDirectory_filePath",
    "face_x",
    "face_y",
    "face_width",
    "face_height",
    "facial_landmarks",
    "expression",
    "valence",
    "arousal",
)
LISTS, IMAGES = "Manually_Annotated_file_lists", "Manually_Annotated_Images"
CSV_SPLITS = {"training.csv": "train", "validation.csv": "test"}
SET_SPLITS = {"train_set": "train", "val_set": "test"}
EXPRESSIONS = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "angry", "contempt")
NOT_EMOTIONS = {8: "none", 9: "uncertain", 10: "no-face"}

NO_LAYOUT = "affectnet: {path} holds neither {lists}/ nor train_set/ or val_set/; expected {layout}"
NO_CSV = "affectnet: no training.csv or validation.csv in {path}; expected {layout}"
SKIPPED_CODE = "expression {code} ({meaning}): not an emotion, skipped as AffectNet advises"
BAD_CODE = "{where}: expression {code!r}; expected an integer 0-10"
IMAGE_MISSING = "listed in {csv} but the image file is missing"
NO_EXPRESSION = "no annotation file {file}"
BAD_NPY = "{file}: cannot read an expression code ({error})"


@register_source(NAME, face_cropped=False, layout=LAYOUT)
def load_affectnet(path: Path) -> LoadResult:
    """Load either AffectNet release from ``path``; see the module docstring."""
    root = require_dir(path, source=NAME, layout=LAYOUT)
    if (root / LISTS).is_dir():
        return _load_csv_release(root)
    if root.name in SET_SPLITS:
        return _load_image_release(root.parent, [root])
    sets = [root / name for name in SET_SPLITS if (root / name).is_dir()]
    if sets:
        return _load_image_release(root, sets)
    raise FileNotFoundError(NO_LAYOUT.format(path=root, lists=LISTS, layout=LAYOUT))


def emotion_of(code: object, where: str) -> tuple[str | None, str | None]:
    """(canonical emotion, None) for codes 0-7, else (None, the reason it is skipped)."""
    try:
        number = int(float(str(code).strip()))
    except ValueError:
        return None, BAD_CODE.format(where=where, code=code)
    if 0 <= number < len(EXPRESSIONS):
        return EXPRESSIONS[number], None
    if number in NOT_EMOTIONS:
        return None, SKIPPED_CODE.format(code=number, meaning=NOT_EMOTIONS[number])
    return None, BAD_CODE.format(where=where, code=code)


def read_file_list(csv: Path) -> pd.DataFrame:
    """A ``Manually_Annotated_file_lists`` CSV as strings (with or without its header line), plus
    ``line``: the line number in the file."""
    table = read_csv_file(csv, expected=LAYOUT, dtype=str, keep_default_na=False, header=None)
    has_header = len(table) > 0 and table.iat[0, 0].strip() == CSV_COLUMNS[0]
    table = table.iloc[int(has_header) :, : len(CSV_COLUMNS)]
    table.columns = list(CSV_COLUMNS[: table.shape[1]])
    table = table.reset_index(drop=True)
    table["line"] = np.arange(len(table)) + 1 + int(has_header)
    return table


def _load_csv_release(root: Path) -> LoadResult:
    lists = [root / LISTS / name for name in CSV_SPLITS if (root / LISTS / name).is_file()]
    if not lists:
        raise FileNotFoundError(NO_CSV.format(path=root / LISTS, layout=LAYOUT))
    rows, skipped, listing = [], [], _Listing(root / IMAGES)
    for csv in lists:
        table = read_file_list(csv)
        boxes = [
            pd.to_numeric(table.get(column, pd.Series("", index=table.index)), errors="coerce")
            for column in CSV_COLUMNS[1:5]
        ]
        codes = table.get("expression", pd.Series("", index=table.index))
        for file, code, line, *box in zip(
            table["subDirectory_filePath"].str.strip(), codes, table["line"], *boxes, strict=True
        ):
            relative = f"{IMAGES}/{file}"
            emotion, reason = emotion_of(code, f"{csv.name}, line {line}")
            reason = reason or box_problem(*box)
            if reason is None and not listing.has(file):
                reason = IMAGE_MISSING.format(csv=csv.name)
            if reason:
                skipped.append((str(root / relative), reason))
                continue
            split = CSV_SPLITS[csv.name]
            rows.append(
                face_row(
                    NAME,
                    root,
                    relative,
                    face_index=0,
                    box=tuple(box),
                    emotion=emotion,
                    original_split=split,
                )
            )
    if not rows:
        raise empty_folder_error(root, source=NAME, layout=LAYOUT)
    return finish(rows, skipped)


class _Listing:
    """Which files exist under a folder: one directory listing per sub-folder, not a stat each."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.cache = folder, {}

    def has(self, relative: str) -> bool:
        parent, _, name = relative.rpartition("/")
        if parent not in self.cache:
            directory = self.folder / parent
            # odd entries are not reported here: a listed image among them is reported missing
            files = list_files(directory, []) if directory.is_dir() else []
            self.cache[parent] = set(files)
        return name in self.cache[parent]


def _load_image_release(root: Path, sets: list[Path]) -> LoadResult:
    rows, skipped = [], []
    for folder in sets:
        images = require_dir(folder / "images", source=NAME, layout=LAYOUT)
        for name in list_files(images, skipped):
            relative = f"{folder.name}/images/{name}"
            npy = folder / "annotations" / f"{Path(name).stem}_exp.npy"
            if is_image_name(name):
                emotion, reason = _npy_emotion(npy)
            else:
                emotion, reason = None, not_an_image_reason(name)
            if reason:
                skipped.append((str(root / relative), reason))
                continue
            split = SET_SPLITS[folder.name]
            rows.append(row(NAME, root, relative, emotion=emotion, original_split=split))
    if not rows:
        raise empty_folder_error(root, source=NAME, layout=LAYOUT)
    return finish(rows, skipped)


def _npy_emotion(npy: Path) -> tuple[str | None, str | None]:
    """The emotion in an ``<id>_exp.npy`` (a scalar, stored as text or as a number)."""
    if not npy.is_file():
        return None, NO_EXPRESSION.format(file=npy.name)
    try:
        value = np.load(npy, allow_pickle=False)
    except (OSError, ValueError) as error:
        return None, BAD_NPY.format(file=npy.name, error=error)
    if value.size != 1:
        return None, BAD_NPY.format(file=npy.name, error=f"{value.size} values")
    return emotion_of(value.reshape(-1)[0], npy.name)
