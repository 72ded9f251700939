"""FairFace as extra training data for ferbias-gender: `train_gender_cnn(fairface=...)`."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from safetensors import safe_open

from ferbias.gender import cnn, gold
from ferbias.gender.gold import FaceSet
from synthetic import synthetic_face


@pytest.fixture
def fairface(tmp_path, monkeypatch):
    """A FairFace folder (labels beside train/ and val/; val/9.jpg copies train/1.jpg), with
    prepare told not to detect: the synthetic faces are already crops."""
    rows = {"train": [], "val": []}
    ages = ["20-29", "3-9", "50-59", "more than 70"]
    for i in range(8):
        split = "train" if i < 6 else "val"
        file = f"{split}/{i}.jpg"
        (tmp_path / split).mkdir(exist_ok=True)
        Image.fromarray(synthetic_face(64, seed=i)).save(tmp_path / file)
        rows[split].append((file, ages[i % 4], ("Female", "Male")[i % 2], "White"))
    (tmp_path / "val" / "9.jpg").write_bytes((tmp_path / "train" / "1.jpg").read_bytes())
    rows["val"].append(("val/9.jpg", "3-9", "Male", "White"))
    for split, table in rows.items():
        frame = pd.DataFrame(table, columns=["file", "age", "gender", "race"])
        frame.assign(service_test="True").to_csv(tmp_path / f"fairface_label_{split}.csv")
    real = gold.prepare
    monkeypatch.setattr(gold, "prepare", lambda m, **kw: real(m, **{**kw, "face_crop": False}))
    monkeypatch.setenv("FERBIAS_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_fairface_faces_by_split_without_val_copies_and_young_bands(fairface):
    sets = gold.fairface_faces(fairface, min_age=13)
    train, val = sets["fairface-train"], sets["fairface-val"]
    assert train.meta["sample_id"].str.rsplit("/", n=1).str[1].tolist() == [
        "0.jpg",
        "2.jpg",
        "3.jpg",
        "4.jpg",
    ]
    assert val.meta["sample_id"].str.rsplit("/", n=1).str[1].tolist() == ["6.jpg", "7.jpg"]
    assert train.pixels.shape == (4, 48, 48)
    assert len(gold.fairface_faces(fairface)["fairface-train"].meta) == 6


def _faces(name: str, n: int, seed: int) -> FaceSet:
    meta = pd.DataFrame(
        {
            "sample_id": [f"{name}:{i}" for i in range(n)],
            "gender": ["female", "male"] * (n // 2),
            "age": pd.array([30] * n, dtype="Int64"),
        }
    )
    pixels = np.stack([synthetic_face(48, seed=seed + i) for i in range(n)])
    return FaceSet(name, pixels, meta)


def test_train_gender_cnn_adds_fairface_to_training_and_validation(fairface, tmp_path, monkeypatch):
    shared = {
        f"{s}-{split}": _faces(f"{s}-{split}", 4, seed=10 * k)
        for k, (s, split) in enumerate(
            (s, p) for s in ("utkface", "celeba") for p in ("train", "val", "test")
        )
    }
    monkeypatch.setattr(cnn, "gender_data", lambda data: dict(shared))
    recipe = replace(cnn.RECIPE, epochs=1, batch_size=8)
    out = tmp_path / "g.safetensors"
    report = cnn.train_gender_cnn(
        out,
        recipe=recipe,
        model_options={"width": 4, "hidden": 8},
        fairface=fairface,
        command="test",
    )
    assert report.validation["set"].tolist() == [
        "utkface-val-adult",
        "utkface-val-child",
        "celeba-val-adult",
        "celeba-val-child",
        "fairface-val",
    ]
    assert report.validation.set_index("set").loc["fairface-val", "n"] == 2
    with safe_open(str(out), framework="pt") as handle:
        metadata = handle.metadata()
    assert metadata["n_train"] == str(4 + 4 + 4)  # UTKFace, CelebA, FairFace (adults only)
    assert metadata["train"].startswith(
        "utkface-train(seed 0)+celeba-train+fairface-train, age >= 13, degraded to FER-2013 style"
    )
