"""Canonical emotions, group values and the Manifest table (one row per image)."""

from __future__ import annotations

import pandas as pd

EMOTIONS: tuple[str, ...] = (
    "angry",
    "disgust",
    "fear",
    "happy",
    "neutral",
    "sad",
    "surprise",
    "contempt",
)
# The six emotions of the study this project grew out of.
STUDY_EMOTIONS: tuple[str, ...] = ("angry", "fear", "happy", "neutral", "sad", "surprise")
GENDERS: tuple[str, ...] = ("female", "male", "unknown")
SPLITS: tuple[str, ...] = ("train", "val", "test")

# Column -> pandas dtype. ``path`` is absolute; ``sample_id`` is "<source>:<path relative to the
# source root>" so it is stable across machines and runs (a face given by a box adds its index
# and box, see OPTIONAL_COLUMNS).
MANIFEST_COLUMNS: dict[str, str] = {
    "sample_id": "string",
    "source": "string",
    "path": "string",
    "emotion": "string",
    "gender": "string",
    "gender_source": "string",
    "subject_id": "string",
    "age": "Int64",
    "race": "string",
    "original_split": "string",
}

# Extra columns a source may add; ``make_manifest`` keeps them only when present.
OPTIONAL_COLUMNS: dict[str, str] = {
    "usage": "string",  # FER-2013's original Usage (Training / PublicTest / PrivateTest)
    "p_female": "Float64",  # probability of "female" from a labels file
    "age_band": "string",  # age as the set gives it in bands, e.g. RAF-DB "20-39", FairFace "70+"
    # One face of a photo, as the data set gives it (several faces per photo are several rows);
    # the box is x, y, w, h in pixels of the original image, and the sample_id is
    # "<source>:<relative path>#<face_index>@<x>,<y>,<w>,<h>" (images.face_sample_id).
    "face_index": "Int64",
    "face_x": "Float64",
    "face_y": "Float64",
    "face_w": "Float64",
    "face_h": "Float64",
}

# Source spellings -> canonical emotion names (lower-cased lookup; see ``canonical_emotion``).
EMOTION_ALIASES: dict[str, str] = {
    **{name: name for name in EMOTIONS},
    "anger": "angry",
    "disgusted": "disgust",
    "fearful": "fear",
    "happiness": "happy",
    "sadness": "sad",
    "surprised": "surprise",
}

MISSING_COLUMNS = "manifest is missing column(s) {missing}; expected {expected}"
BAD_VALUES = "manifest column {column!r} has invalid value(s) {bad}; allowed: {allowed}"
DUPLICATE_IDS = "manifest has duplicate sample_id(s), e.g. {examples}"


def empty_manifest() -> pd.DataFrame:
    """A Manifest with no rows and the canonical dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in MANIFEST_COLUMNS.items()})


def make_manifest(rows: pd.DataFrame | list[dict]) -> pd.DataFrame:
    """Coerce rows to the Manifest schema (missing optional columns become NA) and validate."""
    frame = pd.DataFrame(rows)
    for column in MANIFEST_COLUMNS:
        if column not in frame:
            frame[column] = pd.NA
    frame["gender"] = frame["gender"].fillna("unknown")
    dtypes = MANIFEST_COLUMNS | {c: t for c, t in OPTIONAL_COLUMNS.items() if c in frame}
    frame = frame[list(dtypes)].astype(dtypes)
    validate_manifest(frame)
    return frame.reset_index(drop=True)


def canonical_emotion(name: str) -> str | None:
    """The canonical emotion for a source's spelling (case-insensitive), or None if unknown."""
    return EMOTION_ALIASES.get(str(name).strip().lower())


def validate_manifest(frame: pd.DataFrame) -> None:
    """Raise ``ValueError`` naming the column and the allowed values when ``frame`` is malformed."""
    missing = [c for c in MANIFEST_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(MISSING_COLUMNS.format(missing=missing, expected=list(MANIFEST_COLUMNS)))
    for column, allowed in (("emotion", EMOTIONS), ("gender", GENDERS)):
        values = frame[column].dropna()
        bad = sorted(set(values) - set(allowed))
        if bad:
            raise ValueError(BAD_VALUES.format(column=column, bad=bad[:5], allowed=list(allowed)))
    dup = frame["sample_id"][frame["sample_id"].duplicated()]
    if len(dup):
        raise ValueError(DUPLICATE_IDS.format(examples=list(dup.head(3))))
