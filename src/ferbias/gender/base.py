"""The labeller contract and the abstaining decision rule shared by every labeller."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ferbias.registry import Registry

BAD_PIXELS = "labeller input must be uint8 N x H x W gray faces, got dtype {dtype} shape {shape}"
BAD_TAU = "tau must lie in [0.5, 1.0], got {tau}"


class Labeller(Protocol):
    """Gives P(female) for prepared gray face crops; ``version`` pins the weights/preprocessing."""

    name: str
    version: str

    def predict_p_female(self, pixels: np.ndarray) -> np.ndarray: ...


LABELLERS: Registry[Labeller] = Registry("labeller")


def check_pixels(pixels: np.ndarray) -> np.ndarray:
    """Raise unless ``pixels`` is a uint8 N x H x W stack."""
    if pixels.dtype != np.uint8 or pixels.ndim != 3:
        raise ValueError(BAD_PIXELS.format(dtype=pixels.dtype, shape=pixels.shape))
    return pixels


def confidence(p_female: np.ndarray) -> np.ndarray:
    """Confidence of the arg-max gender: max(p, 1 - p)."""
    p = np.asarray(p_female, dtype=float)
    return np.maximum(p, 1.0 - p)


def decide(p_female: np.ndarray, tau: float = 0.5) -> np.ndarray:
    """'female' / 'male' where confidence >= tau, else 'unknown' (NaN p is unknown)."""
    if not 0.5 <= tau <= 1.0:
        raise ValueError(BAD_TAU.format(tau=tau))
    p = np.asarray(p_female, dtype=float)
    out = np.full(p.shape, "unknown", dtype=object)
    sure = np.isfinite(p) & (confidence(p) >= tau)
    out[sure & (p >= 0.5)] = "female"
    out[sure & (p < 0.5)] = "male"
    return out
