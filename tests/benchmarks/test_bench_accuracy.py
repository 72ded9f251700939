"""The accuracy benchmark's summaries count each run once."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ferbias.training.data import TrainingData

BENCH = Path(__file__).parents[2] / "benchmarks" / "bench_accuracy.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_accuracy", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def results(rows):
    base = {"model": "paper-cnn", "variant": "standard", "epochs": 30, "train_images": 100}
    base |= {"device": "cpu x86_64"}
    return pd.DataFrame([base | row for row in rows])


def run_row(precision, seed, test_acc, train_seconds, wall_seconds):
    return dict(
        precision=precision,
        seed=seed,
        test_acc=test_acc,
        train_seconds=train_seconds,
        wall_seconds=wall_seconds,
    )


def test_a_rerun_seed_counts_once_and_keeps_its_training_wall_time(bench):
    frame = results(
        [
            run_row("fp32", 0, 0.60, 9, 10),
            run_row("fp32", 1, 0.62, 9, 10),
            run_row("fp32", 0, 0.60, 9, 1),  # the rerun: re-evaluated, not retrained
            run_row("bf16", 0, 0.61, 5, 6),
            run_row("bf16", 1, 0.60, 5, 6),
        ]
    )
    summary = bench.summarise(frame).set_index("precision")
    assert summary.loc["fp32", "seeds"] == 2
    assert summary.loc["fp32", "test_acc_mean"] == pytest.approx(0.61)
    assert bench.unique_runs(frame)["wall_seconds"].tolist() == [10, 10, 6, 6]
    paired = bench.paired_precision(frame).iloc[0]
    assert paired["seeds"] == 2
    assert paired["bf16_minus_fp32_pp"] == pytest.approx(-0.5)


def test_rows_without_precision_are_marked_unrecorded(bench):
    frame = results([{"seed": 0, "test_acc": 0.5, "train_seconds": 1, "wall_seconds": 1}])
    assert bench.unique_runs(frame.drop(columns="train_images"))["precision"].tolist() == [
        "unrecorded"
    ]


def test_seeds_already_in_results_are_not_trained_again(bench, tmp_path, monkeypatch):
    out = tmp_path / "bench"
    out.mkdir()
    recorded = results([run_row("fp32", 0, 0.60, 9, 10), run_row("bf16", 1, 0.61, 5, 6)])
    recorded.assign(device=bench.device_name()).to_csv(out / "results.csv", index=False)
    pixels = np.zeros((100, 48, 48), np.uint8)
    labels = np.zeros(100, np.int64)
    data = TrainingData(
        ["happy"], pixels, labels, pixels[:10], labels[:10], pixels[:10], labels[:10]
    )
    monkeypatch.setattr(bench, "prepared_data", lambda args: data)
    trained = []

    def run_one(data, args, seed):
        trained.append(seed)
        return results([run_row("fp32", seed, 0.5, 1, 1)]).iloc[0].to_dict()

    monkeypatch.setattr(bench, "run_one", run_one)
    argv = ["bench_accuracy.py", "--out", str(out), "--precision", "fp32", "--seeds", "0", "1"]
    monkeypatch.setattr(sys, "argv", argv)
    bench.main()
    assert trained == [1]  # seed 0 is in results.csv in fp32; seed 1 only in bf16
    assert len(pd.read_csv(out / "results.csv")) == 3
