"""Augmentation semantics on known images: flips, Keras's affine transform, brightness."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from ferbias.training.augment import Augmentation, affine_matrices, create_augmentation, warp
from synthetic import synthetic_face


def batch_of(image: np.ndarray, n: int) -> torch.Tensor:
    return torch.from_numpy(image).float().div(255).expand(n, 1, *image.shape).contiguous()


def keras_transform(image, *, angle=0.0, tx=0.0, ty=0.0, shear=0.0, zx=1.0, zy=1.0):
    """Keras ``apply_affine_transform`` (keras_preprocessing / keras.src.legacy), fill 'nearest'."""
    theta, shear = np.deg2rad(angle), np.deg2rad(shear)
    rotation = np.array(
        [[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]]
    )
    shift = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    shear_m = np.array([[1, -np.sin(shear), 0], [0, np.cos(shear), 0], [0, 0, 1]])
    zoom = np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
    matrix = rotation @ shift @ shear_m @ zoom
    h, w = image.shape
    o_x, o_y = h / 2 - 0.5, w / 2 - 0.5
    offset = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    reset = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    matrix = offset @ matrix @ reset
    return ndimage.affine_transform(image, matrix[:2, :2], matrix[:2, 2], order=1, mode="nearest")


def params(n=1, **values) -> dict[str, torch.Tensor]:
    base = {
        "angle_deg": 0.0,
        "shear_deg": 0.0,
        "shift_row": 0.0,
        "shift_col": 0.0,
        "zoom_row": 1.0,
        "zoom_col": 1.0,
    }
    base |= values
    out = {k: torch.full((n,), float(v), dtype=torch.float64) for k, v in base.items()}
    out["flip_x"] = torch.zeros(n, dtype=torch.bool)
    out["flip_y"] = torch.zeros(n, dtype=torch.bool)
    return out


def test_twenty_degree_rotation_matches_keras():
    image = synthetic_face().astype(np.float64)
    ours = warp(
        batch_of(image.astype(np.uint8), 1).double(), affine_matrices(params(angle_deg=20), 48, 48)
    )
    reference = keras_transform(image.astype(np.uint8).astype(np.float64) / 255, angle=20)
    assert np.abs(ours[0, 0].numpy() - reference).max() < 2e-3  # interpolation/rounding error


def test_full_affine_matches_keras():
    image = synthetic_face(seed=3).astype(np.float64) / 255
    p = params(
        angle_deg=-13, shear_deg=15, shift_row=0.1, shift_col=-0.15, zoom_row=0.85, zoom_col=1.15
    )
    ours = warp(torch.from_numpy(image)[None, None], affine_matrices(p, 48, 48))[0, 0].numpy()
    reference = keras_transform(
        image, angle=-13, tx=0.1 * 48, ty=-0.15 * 48, shear=15, zx=0.85, zy=1.15
    )
    assert np.abs(ours - reference).max() < 2e-3


def test_horizontal_flip_mirrors_exactly():
    image = synthetic_face()
    images = batch_of(image, 32)
    out = Augmentation("flip", horizontal_flip=True)(images, torch.Generator().manual_seed(0))
    original, mirrored = images[0, 0], images[0, 0].flip(-1)
    same = [torch.allclose(o[0], original, atol=1e-5) for o in out]
    flipped = [torch.allclose(o[0], mirrored, atol=1e-5) for o in out]
    assert all(s or f for s, f in zip(same, flipped, strict=True))
    assert any(same) and any(flipped)


def test_brightness_range_respected():
    image = synthetic_face()
    augmentation = Augmentation("b", brightness=(0.2, 1.2), brightness_stretch=True)
    out = augmentation(batch_of(image, 256), torch.Generator().manual_seed(0))
    stretched = (image - image.min()) / (image.max() - image.min())
    mask = torch.from_numpy((stretched > 0.2) & (stretched < 0.8))
    ratios = (out[:, 0][:, mask] / torch.from_numpy(stretched).float()[mask]).median(dim=1).values
    assert ratios.min() >= 0.2 - 1e-4 and ratios.max() <= 1.2 + 1e-4
    assert ratios.min() < 0.3 and ratios.max() > 1.1  # the whole range is used
    assert out.min() >= 0 and out.max() <= 1


def test_study_keras_ranges():
    study = create_augmentation("study")
    drawn = study.draw(4000, torch.Generator().manual_seed(0))
    assert drawn["angle_deg"].abs().max() <= 20 and drawn["angle_deg"].abs().max() > 19
    assert drawn["shear_deg"].abs().max() <= 0.2  # Keras's shear_range is in degrees
    assert drawn["shift_row"].abs().max() <= 0.2 and drawn["shift_col"].abs().max() <= 0.2
    for axis in ("zoom_row", "zoom_col"):
        assert 0.8 <= drawn[axis].min() < 0.81 and 1.19 < drawn[axis].max() <= 1.2
    assert not torch.equal(drawn["zoom_row"], drawn["zoom_col"])  # one zoom per axis
    assert 0.45 < drawn["flip_y"].double().mean() < 0.55


def test_standard_never_flips_vertically():
    standard = create_augmentation("standard")
    assert not standard.vertical_flip
    theta = standard.matrices(2000, 48, 48, torch.Generator().manual_seed(1))
    assert (theta[:, 1, 1] > 0).all()  # y is never negated
    assert (theta[:, 0, 0] < 0).any()  # horizontal flips happen


def test_augmentation_is_seeded_and_shape_preserving():
    images = batch_of(synthetic_face(), 8)
    study = create_augmentation("standard")
    first = study(images, torch.Generator().manual_seed(5))
    again = study(images, torch.Generator().manual_seed(5))
    assert first.shape == images.shape and torch.equal(first, again)
    assert create_augmentation(None) is None and create_augmentation("none") is None


def test_unknown_augmentation_lists_valid_names():
    with pytest.raises(KeyError, match="standard, study"):
        create_augmentation("keras")
