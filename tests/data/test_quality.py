"""Unit tests for ferbias.data.quality: exact/near duplicates and split statistics."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pandas as pd
from PIL import Image

from ferbias.data import quality
from ferbias.data.schema import make_manifest
from synthetic import synthetic_face


def _manifest(n: int, paths=None) -> pd.DataFrame:
    paths = paths or [f"/nowhere/{i}.png" for i in range(n)]
    return make_manifest(
        [{"sample_id": f"s:{i}", "source": "s", "path": p} for i, p in enumerate(paths)]
    )


def _distinct_faces(n: int) -> np.ndarray:
    """Faces that differ in structure (shifted and scaled), not just in noise."""
    faces = []
    for i in range(n):
        face = synthetic_face(48, seed=i).astype(np.float32)
        matrix = cv2.getRotationMatrix2D((24, 24), 15 * i, 1 + 0.1 * (i % 3))
        faces.append(cv2.warpAffine(face, matrix, (48, 48), borderMode=cv2.BORDER_REFLECT))
    return np.clip(np.stack(faces), 0, 255).astype(np.uint8)


def test_exact_and_near_duplicates_on_arrays():
    pixels = _distinct_faces(6)
    pixels[3] = pixels[0]  # exact copy
    noisy = pixels[1].astype(int) + np.random.default_rng(1).integers(-3, 4, pixels[1].shape)
    pixels[4] = np.clip(noisy, 0, 255)  # near copy of 1
    result = quality.find_duplicates(_manifest(6), pixels)
    assert list(result.columns) == ["sample_id", "exact_group", "near_group"]
    exact, near = result["exact_group"], result["near_group"]
    assert exact[0] == exact[3] and exact.notna().sum() == 2
    assert pd.isna(exact[1]) and pd.isna(exact[4])
    assert near[1] == near[4] and near[0] == near[3] and near[0] != near[1]
    assert near[[2, 5]].isna().all()


def test_near_duplicates_need_similar_pixels_too():
    pixels = np.stack([np.zeros((48, 48), np.uint8), np.full((48, 48), 255, np.uint8)])
    assert quality.dhash(pixels)[0] == quality.dhash(pixels)[1]  # both blank: same hash
    result = quality.find_duplicates(_manifest(2), pixels)
    assert result["near_group"].isna().all()


def test_exact_duplicates_from_file_bytes(tmp_path):
    face = synthetic_face(48)
    paths = []
    for name, image in (("a.png", face), ("b.png", face), ("c.png", 255 - face)):
        Image.fromarray(image).save(tmp_path / name)
        paths.append(str(tmp_path / name))
    result = quality.find_duplicates(_manifest(3, paths))
    assert result["exact_group"][0] == result["exact_group"][1]
    assert pd.isna(result["exact_group"][2])


def test_split_statistics_warn_on_blurred_split(caplog):
    sharp = _distinct_faces(20)
    blurred = np.stack([cv2.GaussianBlur(image, (15, 15), 3.5) for image in sharp])
    splits = np.array(["train"] * 20 + ["test"] * 20)
    with caplog.at_level(logging.WARNING):
        stats = quality.split_statistics(np.concatenate([blurred, sharp]), splits)
    assert stats.differ and "median_sharpness" in stats.warnings[0]
    assert any(r.levelno == logging.WARNING for r in caplog.records)
    assert (
        stats.table.loc["test", "median_sharpness"]
        > 2 * stats.table.loc["train", "median_sharpness"]
    )
    calm = quality.split_statistics(np.concatenate([sharp, sharp]), splits)
    assert not calm.differ and calm.table["n"].tolist() == [20, 20]


def test_image_statistics_flags_near_blank():
    pixels = np.stack([np.full((48, 48), 7, np.uint8), synthetic_face(48)])
    stats = quality.split_statistics(pixels, np.array(["a", "a"]))
    assert stats.table.loc["a", "near_blank"] == 1
    per_image = quality.image_statistics(pixels)
    assert per_image.loc[0, "contrast"] == 0 and per_image.loc[0, "sharpness"] == 0
