"""FER+ (Barsoum et al. 2016) crowd votes for FER-2013 and their majority-vote emotion.

Majority rule (the one of Microsoft/FERPlus ``mode='majority'``): per image, the ten vote counts
(8 emotions, ``unknown``, ``NF`` = not a face) lose every single vote (a count of 1 becomes 0,
FER+'s outlier removal); the label is the column holding strictly more than half of the remaining
votes. When that column is ``unknown`` or ``NF``, or no column has a strict majority, or FER+
dropped the image (empty ``Image name``), the image gets no FER+ label and is reported as skipped
with the reason. A strict majority can never tie.

fer2013new.csv has one row per fer2013.csv row, in the same order (Training, then PublicTest,
then PrivateTest rows, as in fer2013.csv); its ``Image name`` numbers are NOT the row numbers.
``folder_to_csv_rows`` uses that order to map image-folder files (keys of labels files made on the
folder export) to fer2013.csv rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ferbias.data.sources.base import read_csv_file

VOTE_FILE = "fer2013new.csv"
FOLDER_JOIN_FILE = "fer2013_folder_to_ferplus.csv"
EMOTION_COLUMNS: dict[str, str] = {
    "neutral": "neutral",
    "happiness": "happy",
    "surprise": "surprise",
    "sadness": "sad",
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "contempt": "contempt",
}
VOTE_COLUMNS: tuple[str, ...] = (*EMOTION_COLUMNS, "unknown", "NF")

VOTE_LAYOUT = "FER+'s fer2013new.csv: Usage, Image name and ten vote-count columns"
JOIN_LAYOUT = "columns file (image-folder path) and ferplus_image (FER+ Image name or empty)"
MISSING_JOIN_COLUMNS = "FER+ join file {path}: missing column(s) {missing}; expected " + JOIN_LAYOUT
MISSING_VOTE_COLUMNS = "FER+ file {path}: missing column(s) {missing}; expected {expected}"
NOT_FOUND = "FER+ file {name} was not found in {places}"
DROPPED = "FER+ dropped this image (empty 'Image name' in fer2013new.csv)"
NO_MAJORITY = "FER+ votes have no strict majority after dropping single votes"
MAJORITY_UNKNOWN = "FER+ majority vote is 'unknown'"
MAJORITY_NOT_A_FACE = "FER+ majority vote is 'NF' (not a face)"
NO_FOLDER_MATCH = (
    "no one-to-one FER+ image for this file in fer2013_folder_to_ferplus.csv "
    "(byte-identical duplicate group, or dropped by FER+)"
)


def find_ferplus_file(name: str, places: list[Path]) -> Path:
    """The first ``place/name`` that exists; ``FileNotFoundError`` listing the places otherwise."""
    for place in places:
        if (place / name).is_file():
            return place / name
    raise FileNotFoundError(NOT_FOUND.format(name=name, places=[str(p) for p in places]))


def majority_labels(votes: np.ndarray) -> tuple[list[object], list[object]]:
    """Per row of ``votes`` (n x 10, VOTE_COLUMNS order): canonical emotion or NA, and a reason."""
    counts = np.where(votes == 1, 0, votes).astype(float)
    total = counts.sum(axis=1)
    winner = counts.argmax(axis=1)
    strict = counts.max(axis=1) > 0.5 * total
    canonical = list(EMOTION_COLUMNS.values())
    emotions: list[object] = []
    reasons: list[object] = []
    for ok, col in zip(strict, winner, strict=True):
        if not ok:
            emotions.append(pd.NA)
            reasons.append(NO_MAJORITY)
        elif col < len(canonical):
            emotions.append(canonical[col])
            reasons.append(pd.NA)
        else:
            emotions.append(pd.NA)
            reasons.append(
                MAJORITY_UNKNOWN if VOTE_COLUMNS[col] == "unknown" else MAJORITY_NOT_A_FACE
            )
    return emotions, reasons


def read_votes(path: Path) -> pd.DataFrame:
    """fer2013new.csv in row order with ``Usage``, ``image``, ``emotion`` (or NA) and ``reason``."""
    table = read_csv_file(path, expected=VOTE_LAYOUT, dtype=str, keep_default_na=False)
    missing = [c for c in ("Usage", "Image name", *VOTE_COLUMNS) if c not in table]
    if missing:
        raise ValueError(
            MISSING_VOTE_COLUMNS.format(
                path=path, missing=missing, expected=["Usage", "Image name", *VOTE_COLUMNS]
            )
        )
    votes = table[list(VOTE_COLUMNS)].apply(pd.to_numeric, errors="coerce").fillna(0)
    emotions, reasons = majority_labels(votes.to_numpy())
    out = pd.DataFrame(
        {"Usage": table["Usage"], "image": table["Image name"].str.strip()},
    )
    out["emotion"] = pd.Series(emotions, dtype="string")
    out["reason"] = pd.Series(reasons, dtype="string")
    dropped = out["image"] == ""
    out.loc[dropped, "emotion"] = pd.NA
    out.loc[dropped, "reason"] = DROPPED
    return out


def read_folder_join(ferplus_dir: Path) -> pd.DataFrame:
    """fer2013_folder_to_ferplus.csv in ``ferplus_dir``: ``file`` -> ``ferplus_image`` (or "")."""
    path = find_ferplus_file(FOLDER_JOIN_FILE, [ferplus_dir])
    join = read_csv_file(path, expected=JOIN_LAYOUT, dtype=str, keep_default_na=False)
    missing = [c for c in ("file", "ferplus_image") if c not in join]
    if missing:
        raise ValueError(MISSING_JOIN_COLUMNS.format(path=path, missing=missing))
    return join


def folder_labels(ferplus_dir: Path) -> pd.DataFrame:
    """For the image-folder export: ``file`` (relative path) -> FER+ ``emotion`` / ``reason``."""
    votes = read_votes(find_ferplus_file(VOTE_FILE, [ferplus_dir]))
    join = read_folder_join(ferplus_dir)
    named = votes[votes["image"] != ""].drop_duplicates("image").set_index("image")
    matched = join["ferplus_image"].isin(named.index)
    join["emotion"] = pd.Series(pd.NA, index=join.index, dtype="string")
    join["reason"] = pd.Series(NO_FOLDER_MATCH, index=join.index, dtype="string")
    images = join.loc[matched, "ferplus_image"]
    join.loc[matched, "emotion"] = named.loc[images, "emotion"].to_numpy()
    join.loc[matched, "reason"] = named.loc[images, "reason"].to_numpy()
    return join.set_index("file")[["emotion", "reason"]]


def folder_to_csv_rows(votes: pd.DataFrame, ferplus_dir: Path) -> pd.Series:
    """Image-folder file (e.g. ``train/angry/Training_10118481.jpg``) -> 0-based fer2013.csv row.

    ``votes``: ``read_votes`` of the fer2013new.csv aligned with the CSV. Goes through the folder
    -> FER+ name join in ``ferplus_dir``; files without a one-to-one FER+ image, and FER+ names
    that several rows carry, have no row and are left out.
    """
    names = votes["image"]
    names = names[(names != "") & ~names.duplicated(keep=False)]
    row_of = pd.Series(names.index.to_numpy(), index=names.to_numpy())
    join = read_folder_join(ferplus_dir)
    rows = join["ferplus_image"].map(row_of)
    return pd.Series(rows.to_numpy(), index=join["file"].to_numpy()).dropna().astype(int)
