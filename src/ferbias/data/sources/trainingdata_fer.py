"""TrainingData "Facial Emotion Recognition Dataset" (Kaggle tapakah68): one person per set.

Layout: ``<root>/images/<set_id>/<Emotion>.jpg`` (Anger, Contempt, Disgust, Fear, Happy, Neutral,
Sad, Surprised) beside a ``;``-separated CSV ``set_id;gender;age;country``. subject_id = set_id;
gender and age from the CSV (gender_source "csv"). A set folder missing from the CSV keeps its
images with gender unknown (logged). An image whose name is not one of the eight emotions is a
counted skip. Photos, not face crops.
"""

from __future__ import annotations

import logging
from pathlib import Path

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
    sub_folders,
)

log = logging.getLogger(__name__)

NAME = "trainingdata-fer"
LAYOUT = "images/<set_id>/<Emotion>.jpg plus a ';'-separated CSV set_id;gender;age;country"
EMOTIONS = {
    "Anger": "angry",
    "Contempt": "contempt",
    "Disgust": "disgust",
    "Fear": "fear",
    "Happy": "happy",
    "Neutral": "neutral",
    "Sad": "sad",
    "Surprised": "surprise",
}
GENDERS = {"FEMALE": "female", "MALE": "male"}
CSV_COLUMNS = ("set_id", "gender", "age", "country")
NO_CSV = "trainingdata-fer: no CSV (set_id;gender;age;country) in {path}; expected " + LAYOUT
MANY_CSV = "trainingdata-fer: several CSVs in {path} ({names}); pass csv= to pick one"
BAD_CSV = "trainingdata-fer: {path} lacks column(s) {missing}; expected ';'-separated {expected}"
BAD_GENDER = "trainingdata-fer: {path}, set_id {set_id}: gender {value!r}; expected FEMALE or MALE"
NO_IMAGES = (
    "trainingdata-fer: no images/ folder in {path}. Expected images/<set_id>/<Emotion>.jpg beside "
    "the CSV; the shared copy holds the CSV only. Download the images from Kaggle "
    "tapakah68/facial-emotion-recognition and unpack them into {path}/images"
)
UNKNOWN_EMOTION = "image name {stem!r} is not one of {allowed}"


def read_sets(csv: Path) -> pd.DataFrame:
    """The per-set CSV as ``set_id`` (str) -> gender (canonical), age (Int64), country."""
    table = read_csv_file(csv, expected=LAYOUT, sep=";", dtype=str, keep_default_na=False)
    missing = [c for c in CSV_COLUMNS if c not in table]
    if missing:
        raise ValueError(BAD_CSV.format(path=csv, missing=missing, expected=";".join(CSV_COLUMNS)))
    for set_id, value in zip(table["set_id"], table["gender"], strict=True):
        if value.strip().upper() not in GENDERS:
            raise ValueError(BAD_GENDER.format(path=csv, set_id=set_id, value=value))
    table["gender"] = table["gender"].str.strip().str.upper().map(GENDERS)
    table["age"] = pd.to_numeric(table["age"], errors="coerce").astype("Int64")
    return table.set_index(table["set_id"].str.strip())


def find_csv(root: Path) -> Path:
    """The single ``*.csv`` in ``root``."""
    found = sorted(root.glob("*.csv"))
    if not found:
        raise FileNotFoundError(NO_CSV.format(path=root))
    if len(found) > 1:
        raise ValueError(MANY_CSV.format(path=root, names=[p.name for p in found]))
    return found[0]


@register_source(NAME, face_cropped=False, layout=LAYOUT)
def load_trainingdata_fer(path: Path, *, csv: str | Path | None = None) -> LoadResult:
    """Load the data set folder ``path`` (holding images/ and the CSV; ``csv`` overrides)."""
    root = require_dir(path, source=NAME, layout=LAYOUT)
    sets = read_sets(Path(csv) if csv else find_csv(root))
    if not (root / "images").is_dir():
        raise FileNotFoundError(NO_IMAGES.format(path=root))
    rows, skipped = [], []
    for folder in sub_folders(root / "images", skipped):
        person = sets.loc[folder.name] if folder.name in sets.index else None
        if person is None:
            log.warning("trainingdata-fer: set %s is not in the CSV; gender unknown", folder.name)
        for name in list_files(folder, skipped):
            where, stem = str(folder / name), Path(name).stem
            if not is_image_name(name):
                skipped.append((where, not_an_image_reason(name)))
            elif stem not in EMOTIONS:
                skipped.append((where, UNKNOWN_EMOTION.format(stem=stem, allowed=sorted(EMOTIONS))))
            else:
                labels = (
                    {}
                    if person is None
                    else {"gender": person["gender"], "gender_source": "csv", "age": person["age"]}
                )
                rows.append(
                    row(
                        NAME,
                        root,
                        f"images/{folder.name}/{name}",
                        emotion=EMOTIONS[stem],
                        subject_id=folder.name,
                        **labels,
                    )
                )
    if not rows:
        raise empty_folder_error(root / "images", source=NAME, layout=LAYOUT)
    return finish(rows, skipped)
