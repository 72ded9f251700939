"""Per-file problems of a load and a prepare, as one table: summarised by reason, saved in full.

A data set with thousands of odd files must not print thousands of lines, and must not hide
them either. ``collect_problems`` puts the loader's skips and the decoder's failures in one table
(``step``, ``path``, ``reason``); ``summarise_problems`` gives one row per kind of reason with
its count and a few example files; ``write_problems`` saves the full table as CSV.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

from ferbias.io import write_csv_atomic

PROBLEM_COLUMNS = ("step", "path", "reason")
EXAMPLES = 3  # example files shown per reason
FILE_MARK = "<file>"  # stands for the file's own path inside a reason


def collect_problems(skipped: pd.DataFrame, failures: pd.DataFrame | None = None) -> pd.DataFrame:
    """Loader skips (step "load") and prepare failures (step "prepare") as one table."""
    parts = [skipped[["path", "reason"]].assign(step="load")]
    if failures is not None:
        parts.append(failures[["path", "reason"]].assign(step="prepare"))
    table = pd.concat(parts, ignore_index=True)
    return table[list(PROBLEM_COLUMNS)].astype("string")


def reason_kind(path: str, reason: str) -> str:
    """``reason`` with the file's own path replaced by ``FILE_MARK``, so that the same problem
    in many files reads the same (decoders name the file in their messages)."""
    return reason.replace(path, FILE_MARK) if path else reason


def summarise_problems(problems: pd.DataFrame, *, examples: int = EXAMPLES) -> pd.DataFrame:
    """One row per step and kind of reason, most frequent first: ``files`` and ``examples``."""
    if problems.empty:
        return pd.DataFrame(columns=["step", "reason", "files", "examples"])
    kinds = [
        reason_kind(str(p), str(r))
        for p, r in zip(problems["path"], problems["reason"], strict=True)
    ]
    frame = problems.assign(kind=kinds, name=problems["path"].map(_short_name))
    grouped = frame.groupby(["step", "kind"], sort=False)
    table = pd.DataFrame(
        {
            "files": grouped.size(),
            "examples": grouped["name"].agg(lambda names: ", ".join(names.head(examples))),
        }
    ).reset_index()
    table = table.rename(columns={"kind": "reason"})
    return table.sort_values("files", ascending=False, kind="stable").reset_index(drop=True)


def _short_name(path: str) -> str:
    """The last two parts of a path (folder/file), enough to find the file in the full list."""
    parts = str(path).replace(os.sep, "/").split("/")
    return "/".join(parts[-2:])


def default_problems_file(cache: Path, source: str, data_path: str | os.PathLike) -> Path:
    """``<cache>/problems/<source>-<hash of the data path>.csv``: one file per data set."""
    digest = hashlib.sha256(os.fsencode(os.path.abspath(data_path))).hexdigest()[:12]
    return cache / "problems" / f"{source}-{digest}.csv"


def write_problems(path: str | os.PathLike, problems: pd.DataFrame) -> Path:
    """Save the full problem table as CSV, atomically."""
    return write_csv_atomic(path, problems)
