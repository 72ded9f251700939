"""Shared fixtures: the real data root (fails in CI when missing) and tiny synthetic images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

MISSING_DATA = "shared data not found at FERBIAS_DATA={path!r}: set FERBIAS_DATA to ../shared/data"


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared data folder; in CI (CI=true) a missing folder fails instead of skipping."""
    default = Path(__file__).parents[2] / "shared" / "data"
    path = Path(os.environ.get("FERBIAS_DATA", default))
    if not path.is_dir():
        message = MISSING_DATA.format(path=str(path))
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


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
