"""Executors: local processes run a 2-run grid exactly like the local one (same runtime, same
run ids); the Ray executor is tested on a real two-node cluster in test_ray_cluster.py."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from experiment_toy import toy_overrides, write_toy_manifest
from ferbias.experiment.executors import EXECUTORS, create_executor
from ferbias.experiment.pipeline import prepare_experiment, run_experiment
from ferbias.experiment.spec import load_spec

QUICK = Path(__file__).parents[2] / "experiments" / "quick.yaml"
TWO_RUNS = ["train.variants=[baseline]", "train.groups=[female, male]"]


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy")
    primary = write_toy_manifest(folder, per_cell={"train": 4, "test": 1})
    external = write_toy_manifest(folder / "ext", per_cell={"test": 1}, name="ext")
    return load_spec(QUICK, [*toy_overrides(primary, external), *TWO_RUNS])


def _grid(spec, out: Path, executor) -> dict[str, pd.DataFrame]:
    prepared = prepare_experiment(spec, out, runtime=executor.runtime(precision="fp32"))
    outcomes = dict(run_experiment(prepared, executor))
    assert {o.status for o in outcomes.values()} == {"trained"}, outcomes
    return {
        run.run_id: pd.read_parquet(prepared.run_dir(run) / "predictions.parquet")
        for run in outcomes
    }


@pytest.fixture(scope="module")
def local_predictions(spec, tmp_path_factory):
    return _grid(spec, tmp_path_factory.mktemp("local"), create_executor("local", threads=1))


def test_registry_lists_the_executors():
    assert EXECUTORS.names() == ["local", "processes", "ray"]
    with pytest.raises(KeyError, match="valid names: local, processes, ray"):
        create_executor("slurm")


def test_executors_say_how_many_runs_go_at_once_and_with_how_many_threads():
    cores = os.cpu_count() or 1
    local = create_executor("local")
    assert (local.runs_at_once, local.threads_per_run) == (1, cores)
    assert create_executor("local", threads=1).runtime().threads == 1
    processes = create_executor("processes", workers=2)
    assert (processes.runs_at_once, processes.threads_per_run) == (2, max(1, cores // 2))
    default = create_executor("processes")  # the default: one single-thread run per core
    assert (default.runs_at_once, default.threads_per_run) == (cores, 1)
    ray = create_executor("ray", cpus_per_run=2)
    assert (ray.runs_at_once, ray.threads_per_run) == (None, 2)  # the cluster decides


def _assert_same(first: dict, second: dict) -> None:
    """One run id, one result: the same runtime gives the same predictions, bit for bit."""
    assert first.keys() == second.keys()
    for run_id, frame in first.items():
        pd.testing.assert_frame_equal(frame, second[run_id])


def test_process_executor_matches_the_local_one(spec, tmp_path, local_predictions):
    _assert_same(local_predictions, _grid(spec, tmp_path, create_executor("processes", workers=2)))
