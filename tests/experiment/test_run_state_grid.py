"""A grid never trusts a run folder whose files do not verify: it says which and trains it again;
the report leaves it out; a run from before the hashes is adopted instead of retrained."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest

import ferbias.training.fit
from experiment_toy import toy_overrides, write_toy_manifest
from ferbias.analysis.metrics import load_experiment
from ferbias.experiment.executors import create_executor
from ferbias.experiment.pipeline import prepare_experiment, reuse_other_runtimes, run_experiment
from ferbias.experiment.spec import load_spec
from ferbias.training.runtime import Runtime

QUICK = Path(__file__).parents[2] / "experiments" / "quick.yaml"
LOCAL = create_executor("local", threads=1)
RUNTIME = LOCAL.runtime(precision="fp32")
TWO_THREADS = Runtime("cpu", "fp32", 2)


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy")
    primary = write_toy_manifest(folder, per_cell={"train": 4, "test": 1})
    external = write_toy_manifest(folder / "ext", per_cell={"test": 1}, name="ext")
    extra = ["train.variants=[baseline]", "train.groups=[female, male]"]
    return load_spec(QUICK, [*toy_overrides(primary, external), *extra])


@pytest.fixture
def grid(spec, tmp_path):
    """A finished two-run grid; returns (prepared, the first run's folder)."""
    prepared = prepare_experiment(spec, tmp_path, runtime=RUNTIME)
    assert {o.status for _, o in run_experiment(prepared, LOCAL)} == {"trained"}
    return prepared, prepared.run_dir(prepared.runs[0])


def _statuses(prepared) -> dict[str, str]:
    return {run.run_id: o.status for run, o in run_experiment(prepared, LOCAL)}


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("garbage run.json", "run.json is not valid JSON"),
        ("truncated predictions.parquet", "predictions.parquet has"),
        ("truncated model.safetensors", "model.safetensors has"),
    ],
)
def test_a_damaged_finished_run_is_named_and_trained_again(grid, caplog, damage, message):
    """Before: a garbage run.json aborted the grid with a JSONDecodeError naming no file; a
    truncated predictions.parquet counted as finished (and crashed run and report); a truncated
    model.safetensors went unnoticed."""
    prepared, folder = grid
    predictions = pd.read_parquet(folder / "predictions.parquet")
    if damage == "garbage run.json":
        (folder / "run.json").write_text("{ not json")
    else:
        _truncate(folder / damage.split()[1])
    with caplog.at_level(logging.WARNING):
        results = load_experiment(prepared.out_dir)  # the report leaves it out
    assert folder.name not in set(results.runs["run_id"])
    assert f"{folder}: {message}" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        statuses = _statuses(prepared)
    assert f"{folder}: {message}" in caplog.text and "training it again" in caplog.text
    assert statuses == {folder.name: "trained", prepared.runs[1].run_id: "skipped"}
    # the last epoch's checkpoint was intact: "training again" restored it, same predictions
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "predictions.parquet"), predictions)
    assert set(load_experiment(prepared.out_dir).runs["run_id"]) == {
        r.run_id for r in prepared.runs
    }


def test_a_finished_run_from_before_the_hashes_is_adopted_not_retrained(grid, monkeypatch):
    prepared, folder = grid
    meta = json.loads((folder / "run.json").read_text())
    del meta["files"]
    (folder / "run.json").write_text(json.dumps(meta))
    monkeypatch.setattr(ferbias.training.fit, "fit", _must_not_train)
    assert set(_statuses(prepared).values()) == {"skipped"}
    assert "adopted" in json.loads((folder / "run.json").read_text())


def _must_not_train(*args, **kwargs):
    raise AssertionError("a finished run was trained again")


def test_run_json_records_runtime_machine_and_file_hashes(grid):
    _, folder = grid
    meta = json.loads((folder / "run.json").read_text())
    assert meta["runtime"] == {"device": "cpu", "precision": "fp32", "threads": 1}
    assert meta["run_id"].endswith("-cpu-fp32-t1")
    assert {"host", "cpu", "torch", "numpy", "python"} <= set(meta["machine"])
    assert set(meta["files"]) == {"model.safetensors", "history.csv", "predictions.parquet"}
    assert all(len(f["sha256"]) == 64 and f["bytes"] > 0 for f in meta["files"].values())


def test_reuse_any_runtime_counts_a_finished_run_from_another_runtime(grid, monkeypatch):
    """By default another thread count means another run id, trained again; with the opt-in,
    the finished run of the same config is reused and keeps its own id (and runtime)."""
    prepared, _ = grid
    other = prepare_experiment(prepared.spec, prepared.out_dir.parent, runtime=TWO_THREADS)
    assert not {r.run_id for r in other.runs} & {r.run_id for r in prepared.runs}
    reused = reuse_other_runtimes(other)
    assert [r.run_id for r in reused.runs] == [r.run_id for r in prepared.runs]
    monkeypatch.setattr(ferbias.training.fit, "fit", _must_not_train)
    assert set(_statuses(reused).values()) == {"skipped"}


def test_reuse_any_runtime_adopts_a_run_from_before_runtimes_were_recorded(grid):
    prepared, folder = grid
    meta = json.loads((folder / "run.json").read_text())
    legacy = prepared.out_dir / prepared.runs[0].config_id  # the id before this change
    folder.rename(legacy)
    for key in ("files", "runtime"):
        del meta[key]
    (legacy / "run.json").write_text(json.dumps({**meta, "run_id": legacy.name}))
    predictions = pd.read_parquet(legacy / "predictions.parquet")
    predictions.assign(run_id=legacy.name).to_parquet(legacy / "predictions.parquet")
    assert reuse_other_runtimes(prepared).runs[0].run_id == legacy.name
    assert "adopted" in json.loads((legacy / "run.json").read_text())
