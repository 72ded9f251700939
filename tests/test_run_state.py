"""run_state: a finished run is one whose files match run.json's sizes and SHA-256; runs from
before the hashes are adopted once when their files load cleanly; anything else is corrupt."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import save_file

from ferbias.run_state import RUN_FILES, check_run, file_records


def _files(folder: Path, run_id: str = "r1") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    save_file({"w": np.ones((4, 4), np.float32)}, folder / "model.safetensors")
    pd.DataFrame({"epoch": [1, 2], "val_acc": [0.3, 0.4]}).to_csv(
        folder / "history.csv", index=False
    )
    pd.DataFrame(
        {
            "run_id": run_id,
            "test_set": "heldout",
            "sample_id": ["a", "b"],
            "group": ["female", "male"],
            "y_true": ["happy", "sad"],
            "y_pred": ["happy", "happy"],
            "p_happy": [0.9, 0.6],
            "p_sad": [0.1, 0.4],
        }
    ).to_parquet(folder / "predictions.parquet", index=False)


def _finished(folder: Path, *, hashes: bool = True) -> Path:
    _files(folder)
    meta = {"run_id": "r1", "status": "finished"}
    if hashes:
        meta["files"] = file_records(folder)
    (folder / "run.json").write_text(json.dumps(meta))
    return folder


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_a_run_whose_files_match_is_finished(tmp_path):
    check = check_run(_finished(tmp_path / "r1"))
    assert check.finished and check.problem is None
    assert set(check.meta["files"]) == set(RUN_FILES)


def test_no_run_json_or_an_unfinished_status_is_unfinished(tmp_path):
    assert check_run(tmp_path / "absent").state == "unfinished"
    folder = _finished(tmp_path / "r1")
    (folder / "run.json").write_text(json.dumps({"run_id": "r1", "status": "running"}))
    assert check_run(folder).state == "unfinished"


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        ("garbage run.json", "run.json is not valid JSON"),
        ("list run.json", "run.json holds a list, not a mapping"),
        ("truncated predictions.parquet", "predictions.parquet has"),
        ("truncated model.safetensors", "model.safetensors has"),
        ("missing history.csv", "history.csv is missing"),
        ("same size, other content", "history.csv does not match run.json's SHA-256"),
    ],
)
def test_damaged_runs_are_corrupt_and_say_which_file(tmp_path, damage, problem):
    """Before: a garbage run.json raised a JSONDecodeError naming no file, and truncated
    predictions or weights counted as finished."""
    folder = _finished(tmp_path / "r1")
    if damage == "garbage run.json":
        (folder / "run.json").write_bytes(b"{\x00not json")
    elif damage == "list run.json":
        (folder / "run.json").write_text("[1, 2]")
    elif damage.startswith("truncated"):
        _truncate(folder / damage.split()[1])
    elif damage.startswith("missing"):
        (folder / "history.csv").unlink()
    else:
        text = (folder / "history.csv").read_text()
        (folder / "history.csv").write_text(text.replace("0.4", "0.9"))
    check = check_run(folder)
    assert check.state == "corrupt"
    assert problem in check.problem


def test_a_run_from_before_the_hashes_is_adopted_once_when_its_files_load(tmp_path):
    folder = _finished(tmp_path / "r1", hashes=False)
    assert "files" not in json.loads((folder / "run.json").read_text())
    check = check_run(folder)
    assert check.finished
    meta = json.loads((folder / "run.json").read_text())
    assert meta["files"] == file_records(folder) and "adopted" in meta
    _truncate(folder / "predictions.parquet")  # from now on, the hashes are what counts
    assert "predictions.parquet has" in check_run(folder).problem


@pytest.mark.parametrize("name", RUN_FILES)
def test_a_run_from_before_the_hashes_with_a_broken_file_is_not_adopted(tmp_path, name):
    folder = _finished(tmp_path / "r1", hashes=False)
    _truncate(folder / name)
    if name == "history.csv":  # half a CSV still parses: drop the columns instead
        (folder / name).write_text("epoch\n1\n")
    check = check_run(folder)
    assert check.state == "corrupt" and name in check.problem
    assert "files" not in json.loads((folder / "run.json").read_text())


def test_predictions_of_another_run_are_not_adopted(tmp_path):
    folder = _finished(tmp_path / "r1", hashes=False)
    _files(folder, run_id="someone-else")
    assert "not of r1" in check_run(folder).problem
