"""Labels files: file name -> apparent gender, written atomically, hand labels win.

One row per automatic label and one per hand answer. Columns: ``file`` (path relative to the
source root), ``sample_id``, ``gender`` (female/male/unknown), ``p_female`` (automatic labels),
``labeller``, ``labeller_version``; hand answers have ``labeller`` = ``annotator:<name>``,
``annotator`` and ``annotated_at`` (ISO 8601 UTC). ``resolve_labels`` gives one row per file:
the latest hand answer wins over the automatic label, keeping the automatic ``p_female``.
The committed FER-2013 file has only file, gender, p_female (the rest read empty).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ferbias.data.schema import GENDERS
from ferbias.data.sources.labels import (
    MISSING_LABELS,
    normalise_genders,
    parse_probabilities,
    read_table,
)
from ferbias.io import write_csv_atomic

LABEL_COLUMNS: dict[str, str] = {
    "file": "string",
    "sample_id": "string",
    "gender": "string",
    "p_female": "float64",
    "labeller": "string",
    "labeller_version": "string",
    "annotator": "string",
    "annotated_at": "string",
}
REQUIRED_COLUMNS = ("file", "gender")
HAND_PREFIX = "annotator:"  # hand rows: labeller "annotator:<name>" (as the labels source ranks)

MISSING_LABEL_COLUMNS = "labels file {path}: missing column(s) {missing}; required {required}"
BAD_LABEL_GENDER = "labels file {path}: column 'gender' has {bad}; allowed {allowed}"
BAD_ANSWER = "hand label gender must be one of {allowed}, got {gender!r}"
EMPTY_ANNOTATOR = "hand labels need a non-empty annotator name"


def make_labels(rows: pd.DataFrame | list[dict], *, source: str = "labels") -> pd.DataFrame:
    """Coerce rows to the labels schema (absent columns empty) and validate genders."""
    frame = pd.DataFrame(rows)
    for column in LABEL_COLUMNS:
        if column not in frame:
            frame[column] = pd.NA
    frame["p_female"] = pd.to_numeric(
        frame["p_female"].astype(object).where(frame["p_female"].notna())
    )
    frame = frame[list(LABEL_COLUMNS)].astype(LABEL_COLUMNS)
    bad = sorted(set(frame["gender"].dropna()) - set(GENDERS))
    if bad or frame["gender"].isna().any():
        bad = bad or ["<empty>"]
        raise ValueError(BAD_LABEL_GENDER.format(path=source, bad=bad[:5], allowed=list(GENDERS)))
    return frame.reset_index(drop=True)


def read_labels(path: str | os.PathLike) -> pd.DataFrame:
    """Read a labels file (full or compact form) into the labels schema, for editing.

    Parsing and validation are the labels source's (``ferbias.data.sources.labels``): the same
    CSV / Parquet reading, gender spellings and p_female range as when labels are joined.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(MISSING_LABELS.format(path=path))
    frame = read_table(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            MISSING_LABEL_COLUMNS.format(path=path, missing=missing, required=REQUIRED_COLUMNS)
        )
    frame["gender"] = normalise_genders(frame["gender"], path)
    if "p_female" in frame:
        frame["p_female"] = parse_probabilities(frame["p_female"], path)
    return make_labels(frame.replace("", pd.NA), source=str(path))


def write_labels(
    path: str | os.PathLike, frame: pd.DataFrame, *, columns: list[str] | None = None
) -> Path:
    """Write ``frame`` atomically (``columns`` picks a compact form, e.g. the committed file)."""
    labels = make_labels(frame)
    if columns is not None:
        labels = labels[columns]
    return write_csv_atomic(path, labels.round({"p_female": 4}))


def automatic_labels(
    files: list[str],
    sample_ids: list[str],
    gender: np.ndarray,
    p_female: np.ndarray,
    *,
    labeller: str,
    version: str,
) -> pd.DataFrame:
    """Labels rows for one labeller's output."""
    return make_labels(
        pd.DataFrame(
            {
                "file": files,
                "sample_id": sample_ids,
                "gender": list(gender),
                "p_female": np.asarray(p_female, dtype=float),
                "labeller": labeller,
                "labeller_version": version,
            }
        )
    )


def add_hand_label(
    frame: pd.DataFrame,
    *,
    file: str,
    sample_id: str,
    gender: str,
    annotator: str,
    now: datetime | None = None,
) -> pd.DataFrame:
    """``frame`` plus one hand answer (it wins over earlier labels of ``file``)."""
    if gender not in GENDERS:
        raise ValueError(BAD_ANSWER.format(allowed=list(GENDERS), gender=gender))
    if not annotator.strip():
        raise ValueError(EMPTY_ANNOTATOR)
    stamp = (now or datetime.now(UTC)).isoformat(timespec="milliseconds")
    name = annotator.strip()
    row = {
        "file": file,
        "sample_id": sample_id,
        "gender": gender,
        "labeller": HAND_PREFIX + name,
        "annotator": name,
        "annotated_at": stamp,
    }
    return make_labels(pd.concat([frame, make_labels([row])], ignore_index=True))


def is_hand(frame: pd.DataFrame) -> pd.Series:
    """Boolean mask of hand-answer rows."""
    return frame["labeller"].str.startswith(HAND_PREFIX).fillna(False).astype(bool)


def remove_last_hand_label(frame: pd.DataFrame, file: str) -> pd.DataFrame:
    """``frame`` without the latest hand answer for ``file`` (undo); unchanged if none."""
    hand = frame.index[(frame["file"] == file) & is_hand(frame)]
    if len(hand) == 0:
        return frame
    return frame.drop(index=hand[-1]).reset_index(drop=True)


def resolve_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per file: the latest hand answer if any, else the last automatic label.

    Keeps the automatic ``p_female``, ``labeller`` and ``labeller_version`` beside a hand answer.
    """
    hand_rows = is_hand(frame)
    auto = frame[~hand_rows].drop_duplicates("file", keep="last").set_index("file")
    hand = frame[hand_rows].drop_duplicates("file", keep="last").set_index("file")
    merged = auto.reindex(auto.index.union(hand.index, sort=False))
    for column in ("sample_id", "gender", "annotator", "annotated_at"):
        merged.loc[hand.index, column] = hand[column]
    return make_labels(merged.reset_index())
