"""The experiment runner on tiny synthetic data: data building, grid, skip, resume, every spec."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ferbias.training.fit
from experiment_toy import toy_overrides, write_toy_manifest
from ferbias.experiment.data import build_data, stratified_sample
from ferbias.experiment.executors import create_executor
from ferbias.experiment.grid import plan_runs
from ferbias.experiment.pipeline import (
    dry_run_table,
    measure_throughput,
    prepare_experiment,
    run_experiment,
)
from ferbias.experiment.spec import load_spec
from ferbias.training.runtime import Runtime

EXPERIMENTS = Path(__file__).parents[2] / "experiments"
QUICK = EXPERIMENTS / "quick.yaml"


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("toy")
    primary = write_toy_manifest(folder, per_cell={"train": 5, "test": 2})
    external = write_toy_manifest(
        folder / "ext", per_cell={"test": 1}, genders=("female", "male"), name="ext"
    )
    return toy_overrides(primary, external)


def _spec(toy, *extra, path=QUICK):
    return load_spec(path, [*toy, *extra])


LOCAL = create_executor("local", threads=1)  # tiny models: one thread each, no spinning
FP32 = LOCAL.runtime(precision="fp32")


def _prepare(spec, out, runtime=FP32):
    return prepare_experiment(spec, out, runtime=runtime)


def _run(spec, out, runtime=FP32) -> dict[str, str]:
    prepared = _prepare(spec, out, runtime)
    return {run.run_id: o.status for run, o in run_experiment(prepared, LOCAL)}


def test_mixed_has_the_size_and_emotion_counts_of_one_group_half_from_each(toy):
    data = build_data(_spec(toy))
    female, male, mixed = (data.train[g] for g in ("female", "male", "mixed"))
    pd.testing.assert_series_equal(
        female.groupby("emotion").size(), mixed.groupby("emotion").size()
    )
    assert female.groupby("emotion").size().equals(male.groupby("emotion").size())  # matched
    share = mixed["gender"].value_counts()
    assert abs(share["female"] - share["male"]) <= 1
    assert set(mixed["sample_id"]) <= set(female["sample_id"]) | set(male["sample_id"])
    assert set(data.tests) == {"heldout", "ext"}
    assert set(data.tests["heldout"]["group"]) == {"female", "male"}
    train_ids = set().union(*(set(f["sample_id"]) for f in data.train.values()))
    assert not train_ids & set(data.tests["heldout"]["sample_id"])


def test_sizes_cap_each_group_stratified_by_emotion(toy):
    data = build_data(
        _spec(toy, "data.sizes={train: {female: 12, male: 18}}", "data.match_sizes=false")
    )
    assert len(data.train["female"]) == 12
    assert len(data.train["male"]) == 18
    assert data.train["female"].groupby("emotion").size().tolist() == [2] * 6


def test_exact_duplicates_of_test_images_are_kept_out_of_training(toy, tmp_path):
    folder = tmp_path / "dup"
    primary = write_toy_manifest(folder, per_cell={"train": 3, "test": 1})
    table = pd.read_csv(primary)
    copied = table[table["split"] == "test"].iloc[0]
    shutil.copy(folder / copied["path"], folder / "copy.png")
    table.loc[len(table)] = {**copied.to_dict(), "path": "copy.png", "split": "train"}
    table.to_csv(primary, index=False)
    source = f"data.sources=[{{source: manifest, path: '{primary}', face_crop: false}}]"
    ids = {}
    for mode in ("none", "exact", "near"):
        data = build_data(_spec(toy, source, f"data.duplicates={mode}", "data.match_sizes=false"))
        ids[mode] = set(pd.concat([*data.train.values(), *data.val.values()])["sample_id"])
    assert "manifest:copy.png" in ids["none"]
    assert "manifest:copy.png" not in ids["exact"] | ids["near"]


def test_stratified_sample_keeps_proportions_and_total():
    frame = pd.DataFrame({"emotion": ["a"] * 60 + ["b"] * 30 + ["c"] * 10, "x": range(100)})
    sample = stratified_sample(frame, 10, np.random.default_rng(0))
    assert sample.groupby("emotion").size().to_dict() == {"a": 6, "b": 3, "c": 1}


def test_run_ids_change_with_config_and_data(toy):
    spec = _spec(toy)
    data = build_data(spec)
    ids = [run.run_id for run in plan_runs(spec, data, FP32)]
    assert len(set(ids)) == len(ids) == 6  # 2 variants x 3 groups x 1 seed
    assert all(i.endswith("-cpu-fp32-t1") for i in ids)
    longer = plan_runs(_spec(toy, "train.epochs=2"), data, FP32)
    assert not set(ids) & {run.run_id for run in longer}
    other_data = build_data(_spec(toy, "data.split_seed=1"))
    assert not set(ids) & {run.run_id for run in plan_runs(spec, other_data, FP32)}


@pytest.mark.parametrize(
    "runtime",
    [Runtime("cpu", "fp32", 2), Runtime("cpu", "bf16", 1), Runtime("cuda", "fp32", 1)],
    ids=lambda r: r.tag,
)
def test_run_ids_change_with_device_precision_and_threads(toy, runtime):
    """Before: the same id under local (2 threads) and processes (1) gave 19.3% and 39.9%."""
    spec = _spec(toy)
    data = build_data(spec)
    base = plan_runs(spec, data, FP32)
    other = plan_runs(spec, data, runtime)
    assert not {r.run_id for r in base} & {r.run_id for r in other}
    assert [r.config_id for r in base] == [r.config_id for r in other]  # same config, other id
    assert {r.run_id[len(r.config_id) + 1 :] for r in other} == {runtime.tag}


def test_grid_writes_every_file_and_a_rerun_trains_nothing(toy, tmp_path, monkeypatch):
    spec = _spec(toy, "train.variants=[baseline]", "train.groups=[female, mixed]")
    statuses = _run(spec, tmp_path)
    assert sorted(statuses.values()) == ["trained", "trained"]
    folder = tmp_path / spec.name
    record = json.loads((folder / "experiment.json").read_text())
    assert {"spec", "counts", "label_provenance", "power", "runs"} <= set(record)
    assert record["power"]["test_sizes"]["heldout"] == {"female": 12, "male": 12}
    for run_id in statuses:
        run_dir = folder / run_id
        meta = json.loads((run_dir / "run.json").read_text())
        assert meta["status"] == "finished" and meta["run_id"] == run_id
        assert {"experiment", "model", "variant", "train_group", "seed", "emotions"} <= set(meta)
        assert (run_dir / "model.safetensors").is_file()
        history = pd.read_csv(run_dir / "history.csv")
        assert {"epoch", "train_loss", "val_acc", "images_per_s"} <= set(history.columns)
        predictions = pd.read_parquet(run_dir / "predictions.parquet")
        assert set(predictions["test_set"]) == {"heldout", "ext"}
        assert len(predictions) == 24 + 12
        probabilities = predictions.filter(like="p_")
        assert list(probabilities.columns) == [f"p_{e}" for e in spec.data.emotions]
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    monkeypatch.setattr(ferbias.training.fit, "fit", _must_not_train)
    assert set(_run(spec, tmp_path).values()) == {"skipped"}


def _must_not_train(*args, **kwargs):
    raise AssertionError("a finished run was trained again")


def test_a_grid_killed_mid_run_resumes_to_the_same_predictions(toy, tmp_path, monkeypatch):
    spec = _spec(toy, "train.variants=[baseline]", "train.groups=[male]", "train.epochs=2")
    _run(spec, tmp_path / "straight")
    real_save = ferbias.training.fit.save_checkpoint

    def save_then_die(run_dir, model, optimizer, state, identity, seed):
        real_save(run_dir, model, optimizer, state, identity, seed)
        if state.epoch == 1:
            raise KeyboardInterrupt("killed after epoch 1")

    monkeypatch.setattr(ferbias.training.fit, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        _run(spec, tmp_path / "killed")
    monkeypatch.setattr(ferbias.training.fit, "save_checkpoint", real_save)
    assert list(_run(spec, tmp_path / "killed").values()) == ["trained"]
    (run_id,) = (p.name for p in (tmp_path / "straight" / spec.name).iterdir() if p.is_dir())
    straight, resumed = (
        pd.read_parquet(tmp_path / kind / spec.name / run_id / "predictions.parquet")
        for kind in ("straight", "killed")
    )
    pd.testing.assert_frame_equal(straight, resumed)
    history = pd.read_csv(tmp_path / "killed" / spec.name / run_id / "history.csv")
    assert history["epoch"].tolist() == [1, 2]


def test_a_failing_run_is_recorded_and_the_grid_goes_on(toy, tmp_path, monkeypatch):
    spec = _spec(toy, "train.variants=[baseline]", "train.groups=[female, male]")
    calls = []

    def fail_first(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("out of memory")
        return real_fit(*args, **kwargs)

    real_fit = ferbias.training.fit.fit
    monkeypatch.setattr(ferbias.training.fit, "fit", fail_first)
    assert sorted(_run(spec, tmp_path).values()) == ["failed", "trained"]
    failed = [
        json.loads(p.read_text())
        for p in (tmp_path / spec.name).glob("*/run.json")
        if json.loads(p.read_text())["status"] == "failed"
    ]
    assert "out of memory" in failed[0]["error"]


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_experiment_file_runs_at_toy_size(toy, tmp_path, path):
    """Every model and train group of each file trains (tiny widths); every variant is planned."""
    full = _prepare(_spec(toy, path=path), tmp_path)  # checks every variant name
    spec = full.spec
    tiny = "{vgg-fer: {width: 4, hidden: 16}}" if "vgg-fer" in spec.train.models else "{}"
    first_variant = f"train.variants=[{spec.train.variants[-1]}]"  # every model trains the last
    small = [first_variant, "train.model_variants={}", f"train.model_options={tiny}"]
    statuses = _run(_spec(toy, *small, path=path), tmp_path)
    assert set(statuses.values()) == {"trained"}
    assert len(statuses) == len(spec.train.models) * len(spec.train.groups)
    per_group = sum(len(spec.train.variants_for(m)) for m in spec.train.models)
    assert len(full.runs) == per_group * len(spec.train.groups) * len(spec.train.seeds)


def test_model_variants_restrict_a_models_variants(toy):
    spec = _spec(
        toy,
        "train.models=[paper-cnn, mini-xception]",
        "train.model_variants={mini-xception: [standard]}",
    )
    runs = plan_runs(spec, build_data(spec), FP32)
    assert {(r.model, r.variant) for r in runs} == {
        ("paper-cnn", "baseline"),
        ("paper-cnn", "standard"),
        ("mini-xception", "standard"),
    }


def test_dry_run_etas_follow_the_measured_speeds_and_sizes(toy, tmp_path):
    prepared = _prepare(_spec(toy, "train.variants=[baseline]"), tmp_path)
    calls = []

    def timer(run):
        calls.append(run.runtime)
        return (100.0, 1000.0) if run.runtime.device == "cpu" else (1000.0, 10000.0)

    table = dry_run_table(prepared, timer=timer)
    assert calls == [FP32]  # one model and recipe: measured once, on the planned runtime
    row = table.iloc[0]
    per_epoch = row["n_train"] / 100.0 + row["n_val"] / 1000.0
    assert row["eta_s"] == pytest.approx(row["epochs"] * per_epoch + row["n_test"] / 1000.0)
    cuda = Runtime("cuda", "bf16", 1)  # a lent GPU: timed on it, its own run ids
    on_gpu = dry_run_table(prepared, runtime=cuda, timer=timer)
    assert calls[-1] == cuda
    assert on_gpu["eta_s"].sum() == pytest.approx(table["eta_s"].sum() / 10)
    assert on_gpu["run_id"].str.endswith("-cuda-bf16-t1").all()


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_throughput_is_measured_on_the_runs_runtime_and_restores_threads(toy, tmp_path, precision):
    import torch

    runtime = Runtime("cpu", precision, 1)
    run = _prepare(_spec(toy, "train.variants=[standard]"), tmp_path, runtime).runs[0]
    before = torch.get_num_threads()
    train_ips, infer_ips = measure_throughput(run)
    assert torch.get_num_threads() == before
    assert 0 < train_ips < infer_ips  # a training step costs more than inference per image
