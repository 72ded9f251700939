"""load_training_data, the .npz cache and `ferbias train` on a tiny synthetic manifest."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from experiment_toy import EMOTIONS, write_toy_manifest
from ferbias.cli import app
from ferbias.training.data import EmptyGroup, TrainingData, load_training_data


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return write_toy_manifest(tmp_path_factory.mktemp("toy"), per_cell={"train": 6, "test": 2})


def test_official_test_split_is_kept_and_the_group_filtered(toy):
    data = load_training_data(
        "manifest", toy, group="female", emotions=list(EMOTIONS), face_crop=False
    )
    assert len(data.test_y) == 2 * len(EMOTIONS)  # the manifest's test rows, one group
    assert len(data.train_y) + len(data.val_y) == 6 * len(EMOTIONS)
    assert len(data.val_y) > 0 and data.train_x.dtype == np.uint8
    assert data.train_x.shape[1:] == (48, 48)
    assert sorted(set(data.train_y)) == list(range(len(EMOTIONS)))


def test_an_absent_group_names_the_groups_present(toy):
    with pytest.raises(EmptyGroup, match=r"present: \['female', 'male'\]"):
        load_training_data("manifest", toy, group="unknown", emotions=list(EMOTIONS))


def test_arrays_round_trip_through_npz_and_bad_files_are_named(toy, tmp_path):
    data = load_training_data(
        "manifest", toy, group="all", emotions=list(EMOTIONS), face_crop=False
    )
    back = TrainingData.load(data.save(tmp_path / "arrays.npz"))
    assert back.emotions == list(EMOTIONS)
    for name in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y"):
        assert np.array_equal(getattr(back, name), getattr(data, name))
    np.savez(tmp_path / "other.npz", train_x=data.train_x)
    with pytest.raises(ValueError, match=r"other\.npz is not a ferbias training-data file"):
        TrainingData.load(tmp_path / "other.npz")


def test_train_command_writes_the_run_and_reports_test_accuracy(toy, tmp_path):
    out = tmp_path / "run"
    args = [
        "train",
        "--source",
        "manifest",
        "--path",
        str(toy),
        "--group",
        "male",
        "--no-face-crop",
    ]
    args += ["--variant", "standard", "--epochs", "2", "--batch-size", "16", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "finished" and meta["train_group"] == "male"
    assert meta["variant"]["recipe"]["epochs"] == 2 and 0 <= meta["test_acc"] <= 1
    assert len(pd.read_csv(out / "history.csv")) == 2
    assert (out / "model.safetensors").is_file()
    assert f"run folder {out}" in " ".join(result.output.split())


def test_train_command_refuses_an_absent_group(toy, tmp_path):
    args = ["train", "--source", "manifest", "--path", str(toy), "--group", "unknown"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "x")], env={"COLUMNS": "250"})
    assert result.exit_code == 2
    assert "no manifest images with gender 'unknown'; present: ['female', 'male']" in result.output
