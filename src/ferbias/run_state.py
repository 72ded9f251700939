"""Whether a run folder holds a finished run that can be trusted.

A finished run is one whose files verify: ``run.json`` parses, says ``finished`` and lists
model.safetensors, history.csv and predictions.parquet with their sizes and SHA-256, and the
files on disk match. Anything else is reported with its path and never trusted. Runs finished by
ferbias versions that wrote no hashes are adopted once: when their files load cleanly, the hashes
are added to their run.json. Pure Python (hashlib, pandas, safetensors' numpy reader), so the
analysis side can use it without torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from safetensors import safe_open

from ferbias.io import write_json_atomic

log = logging.getLogger(__name__)

FINISHED = "finished"
RUN_JSON = "run.json"
RUN_FILES = ("model.safetensors", "history.csv", "predictions.parquet")
PREDICTION_COLUMNS = ("run_id", "test_set", "sample_id", "group", "y_true", "y_pred")
HISTORY_COLUMNS = ("epoch", "val_acc")
CHUNK = 1 << 20

NOT_JSON = "run.json is not valid JSON ({error})"
NOT_MAPPING = "run.json holds a {kind}, not a mapping"
NOT_LISTED = "run.json lists no {name}"
MISSING_FILE = "{name} is missing"
WRONG_SIZE = "{name} has {actual:,} bytes; run.json says {expected:,}"
WRONG_HASH = "{name} does not match run.json's SHA-256 (same size, other content)"
DOES_NOT_LOAD = "{name} does not load ({error})"
LACKS_COLUMNS = "{name} lacks column(s) {missing}"
EMPTY_FILE = "{name} has no rows"
OTHER_RUN = "predictions.parquet holds predictions of {found}, not of {run_id}"
ADOPTED = "adopted %s: finished by an earlier ferbias without file hashes; its files load cleanly"

State = Literal["finished", "unfinished", "corrupt"]


@dataclass(frozen=True)
class RunCheck:
    """What a run folder holds: ``finished`` (verified), ``unfinished`` or ``corrupt``."""

    state: State
    problem: str | None = None  # for corrupt folders: which file and what is wrong
    meta: dict[str, Any] | None = None  # run.json when it parsed

    @property
    def finished(self) -> bool:
        return self.state == FINISHED


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_records(run_dir: Path) -> dict[str, dict[str, Any]]:
    """``{name: {"bytes": size, "sha256": hex}}`` for the run's files, as run.json lists them."""
    return {
        name: {"bytes": (run_dir / name).stat().st_size, "sha256": sha256(run_dir / name)}
        for name in RUN_FILES
    }


def read_run_json(run_dir: Path) -> tuple[dict[str, Any] | None, str | None]:
    """run.json as a mapping, or None with the reason it cannot be read."""
    try:
        meta = json.loads((Path(run_dir) / RUN_JSON).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return None, NOT_JSON.format(error=error)
    if not isinstance(meta, dict):
        return None, NOT_MAPPING.format(kind=type(meta).__name__)
    return meta, None


def check_run(run_dir: str | Path, *, adopt: bool = True) -> RunCheck:
    """Verify ``run_dir``; with ``adopt``, a finished run without hashes is adopted once when
    its files load cleanly (its run.json gains them)."""
    run_dir = Path(run_dir)
    if not (run_dir / RUN_JSON).exists():
        return RunCheck("unfinished")
    meta, problem = read_run_json(run_dir)
    if meta is None:
        return RunCheck("corrupt", problem)
    if meta.get("status") != FINISHED:
        return RunCheck("unfinished", meta=meta)
    if "files" not in meta:
        problem = load_problem(run_dir, meta.get("run_id"))
        if problem is None and adopt:
            write_json_atomic(run_dir / RUN_JSON, adopted(run_dir, meta))
            log.info(ADOPTED, run_dir)
        return RunCheck("corrupt", problem, meta) if problem else RunCheck(FINISHED, meta=meta)
    problem = files_problem(run_dir, meta["files"])
    return RunCheck("corrupt", problem, meta) if problem else RunCheck(FINISHED, meta=meta)


def files_problem(run_dir: Path, listed: object) -> str | None:
    """The first way the files differ from run.json's list of sizes and hashes, or None."""
    listed = listed if isinstance(listed, dict) else {}
    for name in RUN_FILES:
        record = listed.get(name)
        if not isinstance(record, dict) or not {"bytes", "sha256"} <= set(record):
            return NOT_LISTED.format(name=name)
        path = run_dir / name
        if not path.is_file():
            return MISSING_FILE.format(name=name)
        size = path.stat().st_size
        if size != record["bytes"]:
            return WRONG_SIZE.format(name=name, actual=size, expected=record["bytes"])
        if sha256(path) != record["sha256"]:
            return WRONG_HASH.format(name=name)
    return None


def read_safetensors(path: Path) -> None:
    """Read every tensor of a safetensors file (raises when it is damaged)."""
    with safe_open(str(path), "numpy") as handle:
        for key in handle.keys():  # noqa: SIM118  (safe_open handles are not mappings)
            handle.get_tensor(key)


READERS = {
    "model.safetensors": read_safetensors,
    "history.csv": pd.read_csv,
    "predictions.parquet": pd.read_parquet,
}
REQUIRED_COLUMNS = {"history.csv": HISTORY_COLUMNS, "predictions.parquet": PREDICTION_COLUMNS}


def load_problem(run_dir: Path, run_id: object) -> str | None:
    """Why the run's files do not load cleanly (for runs without hashes), or None."""
    frames = {}
    for name, reader in READERS.items():
        if not (run_dir / name).is_file():
            return MISSING_FILE.format(name=name)
        try:
            frames[name] = reader(run_dir / name)
        except Exception as error:  # any reader's error means the same: it does not load
            return DOES_NOT_LOAD.format(name=name, error=error)
    for name, columns in REQUIRED_COLUMNS.items():
        missing = [c for c in columns if c not in frames[name].columns]
        if missing:
            return LACKS_COLUMNS.format(name=name, missing=missing)
        if frames[name].empty:
            return EMPTY_FILE.format(name=name)
    found = set(frames["predictions.parquet"]["run_id"].astype(str))
    if run_id is not None and found != {str(run_id)}:
        return OTHER_RUN.format(run_id=run_id, found=sorted(found)[:3])
    return None


def adopted(run_dir: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` with the files' hashes and the time of adoption."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {**meta, "files": file_records(run_dir), "adopted": stamp}
