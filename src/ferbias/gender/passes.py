"""Per-pass answer files: one blind labelling pass's F / M / U answers, one row per face.

Both ways of labelling write this one format: ``ferbias gender sheets import`` (contact sheets)
and ``ferbias annotate --blind`` (the web page); ``ferbias gender gold build`` reads it.
Columns: ``file`` (path relative to the FER-2013 root), ``answer`` (F female, M male, U cannot
tell), ``sheet_id`` and ``number`` (where on which contact sheet; empty for answers given in the
web page), ``pass`` (the pass id, one per file), ``annotator``, ``recorded_at`` (ISO 8601 UTC,
when the answer was imported or given).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ferbias.io import write_csv_atomic

ANSWERS: dict[str, str] = {"F": "female", "M": "male", "U": "unknown"}
PASS_COLUMNS: dict[str, str] = {
    "file": "string",
    "answer": "string",
    "sheet_id": "string",
    "number": "Int64",
    "pass": "string",
    "annotator": "string",
    "recorded_at": "string",
}
PASS_ID = re.compile(r"[A-Za-z0-9]{1,8}")

BAD_PASS_ID = "pass id {pass_id!r}: expected 1-8 letters or digits (e.g. A, B)"
EMPTY_ANNOTATOR = "an annotator name is required (who or what made this pass)"
MISSING_PASS_FILE = "answers file {path} does not exist"
MISSING_PASS_COLUMNS = "answers file {path}: missing column(s) {missing}; expected {expected}"
BAD_PASS_ANSWER = "answers file {path}, file {file!r}: answer {answer!r}; expected F, M or U"
DUPLICATE_PASS_FILE = "answers file {path}: {file!r} is answered {n} times; one answer per face"
MIXED_PASSES = "answers file {path}: holds passes {passes}; one file per pass"
WRONG_PASS = "answers file {path} is pass {found!r}, not {expected!r}"


def check_pass_id(pass_id: str) -> str:
    """``pass_id`` if it is 1-8 letters or digits, else ValueError."""
    if not isinstance(pass_id, str) or not PASS_ID.fullmatch(pass_id):
        raise ValueError(BAD_PASS_ID.format(pass_id=pass_id))
    return pass_id


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def make_pass(rows: pd.DataFrame | list[dict]) -> pd.DataFrame:
    """Coerce rows to the pass schema (absent columns empty), one row per face, sorted by file."""
    frame = pd.DataFrame(rows)
    for column in PASS_COLUMNS:
        if column not in frame:
            frame[column] = pd.NA
    frame = frame[list(PASS_COLUMNS)].astype(PASS_COLUMNS)
    return frame.sort_values("file", kind="stable").reset_index(drop=True)


def read_pass(path: str | os.PathLike, *, pass_id: str | None = None) -> pd.DataFrame:
    """Read and validate a pass file (answers F/M/U, one row per face, one pass id)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(MISSING_PASS_FILE.format(path=path))
    frame = pd.read_csv(path, dtype=str, keep_default_na=False).replace("", pd.NA)
    missing = [c for c in PASS_COLUMNS if c not in frame]
    if missing:
        raise ValueError(
            MISSING_PASS_COLUMNS.format(path=path, missing=missing, expected=list(PASS_COLUMNS))
        )
    frame["number"] = pd.to_numeric(frame["number"])
    frame = make_pass(frame)
    _validate(frame, path, pass_id)
    return frame


def _validate(frame: pd.DataFrame, path: Path, pass_id: str | None) -> None:
    bad = frame[~frame["answer"].isin(list(ANSWERS)).fillna(False).astype(bool)]
    if len(bad):
        first = bad.iloc[0]
        raise ValueError(
            BAD_PASS_ANSWER.format(path=path, file=first["file"], answer=first["answer"])
        )
    counts = frame["file"].value_counts()
    if (counts > 1).any():
        raise ValueError(
            DUPLICATE_PASS_FILE.format(path=path, file=counts.index[0], n=int(counts.iloc[0]))
        )
    passes = sorted(frame["pass"].dropna().unique())
    if len(passes) > 1:
        raise ValueError(MIXED_PASSES.format(path=path, passes=passes))
    if pass_id is not None and passes and passes[0] != pass_id:
        raise ValueError(WRONG_PASS.format(path=path, found=passes[0], expected=pass_id))


def write_pass(path: str | os.PathLike, frame: pd.DataFrame) -> Path:
    """Write a pass file atomically."""
    return write_csv_atomic(path, make_pass(frame))


def provenance_path(path: str | os.PathLike) -> Path:
    """The provenance sidecar of a pass file: ``<name>.provenance.json``."""
    return Path(path).with_suffix(".provenance.json")
