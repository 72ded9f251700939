"""Tiny synthetic images for unit tests."""

from __future__ import annotations

import numpy as np


def synthetic_face(size: int = 48, *, seed: int = 0) -> np.ndarray:
    """A gray uint8 image with a bright oval and two dark eyes, enough structure for unit tests."""
    gen = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    face = ((xx - 0.5) ** 2 / 0.12 + (yy - 0.5) ** 2 / 0.2) < 1
    image = np.where(face, 170, 60).astype(float)
    for ex in (0.35, 0.65):
        image[((xx - ex) ** 2 + (yy - 0.42) ** 2) < 0.003] = 30
    image += gen.normal(0, 8, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)
