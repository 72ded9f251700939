"""fit(): history, checkpoints, resume equals an uninterrupted run, seeds, early stopping."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors import safe_open

from ferbias.models import create_model
from ferbias.training.checkpoint import checkpoint_files
from ferbias.training.fit import HISTORY_COLUMNS, fit, learning_rate, load_weights
from ferbias.training.variants import Recipe
from synthetic import synthetic_face

TIMING = ["seconds", "images_per_s"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread avoids OpenMP spinning
    (measured 25x faster under load); restored afterwards, never set globally."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_data(n: int = 48, seed: int = 0):
    """Two classes: faces (label 1) and their negatives (label 0)."""
    faces = np.stack([synthetic_face(seed=seed * 1000 + i) for i in range(n)])
    labels = np.arange(n) % 2
    faces[labels == 0] = 255 - faces[labels == 0]
    return faces, labels


def tiny_fit(run_dir=None, seed=0, recipe=None, on_epoch=None, precision="fp32"):
    x, y = tiny_data()
    recipe = recipe or Recipe(epochs=3, batch_size=16, augmentation="study")
    model = create_model("paper-cnn", num_classes=2, seed=seed, dropout=True)
    return fit(
        model,
        x[:32],
        y[:32],
        x[32:],
        y[32:],
        recipe=recipe,
        seed=seed,
        run_dir=run_dir,
        precision=precision,
        progress=False,
        on_epoch=on_epoch,
    )


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def same_weights(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_history_and_run_files(tmp_path):
    result = tiny_fit(tmp_path)
    assert list(result.history.columns) == list(HISTORY_COLUMNS)
    assert result.history["epoch"].tolist() == [1, 2, 3]
    assert result.history["images_per_s"].gt(0).all()
    assert 1 <= result.best_epoch <= 3
    on_disk = pd.read_csv(tmp_path / "history.csv")
    pd.testing.assert_frame_equal(on_disk, result.history, check_dtype=False)
    restored = load_weights(
        create_model("paper-cnn", num_classes=2, dropout=True), tmp_path / "model.safetensors"
    )
    assert same_weights(weights(restored), weights(result.model))
    kept = checkpoint_files(tmp_path / "checkpoint")
    assert [p.name for p in kept] == ["epoch-3.safetensors", "epoch-2.safetensors"]
    with safe_open(str(kept[0]), "pt") as handle:
        state = json.loads(handle.metadata()["state"])
    assert state["epoch"] == 3 and state["precision"] == "fp32" and state["seed"] == 0
    assert not list(tmp_path.rglob("*.pt")) and not list(tmp_path.rglob("*.pkl"))


def test_best_weights_are_kept():
    result = tiny_fit(recipe=Recipe(epochs=3, batch_size=16, monitor="val_loss"))
    best = result.history["val_loss"].idxmin() + 1
    assert result.best_epoch == best


def test_same_seed_same_result_and_other_seed_differs():
    first, again, other = tiny_fit(seed=0), tiny_fit(seed=0), tiny_fit(seed=1)
    pd.testing.assert_frame_equal(
        first.history.drop(columns=TIMING), again.history.drop(columns=TIMING)
    )
    assert same_weights(weights(first.model), weights(again.model))
    assert not same_weights(weights(first.model), weights(other.model))


def test_resume_after_interruption_equals_uninterrupted_run(tmp_path):
    class Interrupted(Exception):
        pass

    def stop_after_two(epoch, row):
        if epoch == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        tiny_fit(tmp_path / "resumed", on_epoch=stop_after_two)
    resumed = tiny_fit(tmp_path / "resumed")
    straight = tiny_fit(tmp_path / "straight")
    pd.testing.assert_frame_equal(
        resumed.history.drop(columns=TIMING), straight.history.drop(columns=TIMING)
    )
    assert resumed.best_epoch == straight.best_epoch
    assert same_weights(weights(resumed.model), weights(straight.model))


def test_changed_recipe_or_precision_does_not_resume(tmp_path):
    tiny_fit(tmp_path, recipe=Recipe(epochs=1, batch_size=16))
    with pytest.raises(ValueError, match="another recipe, seed or precision"):
        tiny_fit(tmp_path, recipe=Recipe(epochs=2, batch_size=16))
    with pytest.raises(ValueError, match="another recipe, seed or precision"):
        tiny_fit(tmp_path, recipe=Recipe(epochs=1, batch_size=16), precision="bf16")


def _interrupted_after_two(run_dir):
    class Interrupted(Exception):
        pass

    def stop(epoch, row):
        if epoch == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        tiny_fit(run_dir, on_epoch=stop)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_checkpoint_falls_back_to_the_epoch_before(tmp_path, caplog, damage):
    """Before: a truncated newest checkpoint failed every rerun."""
    _interrupted_after_two(tmp_path / "run")
    newest = checkpoint_files(tmp_path / "run" / "checkpoint")[0]
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 3] if damage == "truncate" else b"\x00garbage" * 9)
    with caplog.at_level(logging.WARNING, logger="ferbias.training.fit"):
        resumed = tiny_fit(tmp_path / "run")
    assert f"dropping checkpoint {newest}" in caplog.text
    straight = tiny_fit(tmp_path / "straight")
    pd.testing.assert_frame_equal(
        resumed.history.drop(columns=TIMING), straight.history.drop(columns=TIMING)
    )
    assert same_weights(weights(resumed.model), weights(straight.model))


def test_no_loadable_checkpoint_restarts_the_run_with_a_warning(tmp_path, caplog):
    _interrupted_after_two(tmp_path / "run")
    for path in checkpoint_files(tmp_path / "run" / "checkpoint"):
        path.write_bytes(path.read_bytes()[:100])
    with caplog.at_level(logging.WARNING, logger="ferbias.training.fit"):
        restarted = tiny_fit(tmp_path / "run")
    assert "no usable checkpoint" in caplog.text and "from epoch 1" in caplog.text
    assert restarted.history["epoch"].tolist() == [1, 2, 3]
    straight = tiny_fit()
    assert same_weights(weights(restarted.model), weights(straight.model))


def test_bf16_and_fp32_both_train_and_say_which_they_used():
    fp32, bf16 = tiny_fit(precision="fp32"), tiny_fit(precision="bf16")
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    assert not same_weights(weights(fp32.model), weights(bf16.model))  # autocast did something
    assert all(
        v.dtype == torch.float32 for v in bf16.model.state_dict().values() if v.is_floating_point()
    )
    assert np.isfinite(bf16.history["train_loss"]).all()
    assert bf16.history["val_acc"].max() >= 0.5  # two separable classes: learnt in 3 epochs
    assert tiny_fit(precision="auto").precision in ("fp32", "bf16")  # resolved, never "auto"


def test_early_stopping_stops_after_patience():
    recipe = Recipe(epochs=30, batch_size=16, lr=0.5, early_stopping_patience=2)
    result = tiny_fit(recipe=recipe)
    assert len(result.history) == result.best_epoch + 2 < 30


def test_fit_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny_fit(recipe=Recipe(epochs=1, batch_size=16))
    assert torch.equal(torch.rand(3), expected)


def test_schedules():
    cosine = Recipe(lr=1.0, schedule="cosine", warmup_epochs=1, epochs=10)
    assert learning_rate(cosine, 0, 100) == pytest.approx(0.1)
    assert learning_rate(cosine, 10, 100) == pytest.approx(1.0)
    assert learning_rate(cosine, 99, 100) < 0.01
    assert learning_rate(Recipe(lr=0.3), 50, 100) == 0.3


def test_bad_inputs_are_named():
    x, y = tiny_data(8)
    model = create_model("paper-cnn", num_classes=2)
    with pytest.raises(ValueError, match="train_x must be uint8"):
        fit(model, x.astype(np.float32), y, x, y, recipe=Recipe(epochs=1), seed=0, progress=False)
    with pytest.raises(ValueError, match="val_y"):
        fit(model, x, y, x, y[:3], recipe=Recipe(epochs=1), seed=0, progress=False)
