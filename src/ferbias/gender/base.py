"""The labeller contract and the abstaining decision rule shared by every labeller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ferbias.registry import Registry

BAD_PIXELS = "labeller input must be uint8 N x H x W gray faces, got dtype {dtype} shape {shape}"
BAD_TAU = "a confidence threshold must lie in [0.5, 1.0], got {tau}"
BAD_PAIR = "thresholds {text!r}: expected one number or a pair female,male, e.g. 0.8,0.85"


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


@dataclass(frozen=True)
class Thresholds:
    """Per-gender confidence thresholds: 'female' where p >= ``female``, 'male' where
    1 - p >= ``male``; each lies in [0.5, 1]. ``symmetric(t)`` gives one threshold for both."""

    female: float
    male: float

    def __post_init__(self) -> None:
        for value in (self.female, self.male):
            if not 0.5 <= value <= 1.0:
                raise ValueError(BAD_TAU.format(tau=value))

    @classmethod
    def symmetric(cls, tau: float) -> Thresholds:
        return cls(tau, tau)

    @classmethod
    def parse(cls, text: str) -> Thresholds:
        """``"0.8,0.85"`` (female, male) or ``"0.8"`` (both)."""
        parts = [p.strip() for p in str(text).split(",")]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise ValueError(BAD_PAIR.format(text=text)) from None
        if len(values) == 1:
            return cls.symmetric(values[0])
        if len(values) != 2:
            raise ValueError(BAD_PAIR.format(text=text))
        return cls(*values)

    def text(self) -> str:
        return f"{self.female:g},{self.male:g}"


def decide(p_female: np.ndarray, thresholds: Thresholds | float = 0.5) -> np.ndarray:
    """'female' / 'male' where confident enough (see ``Thresholds``), else 'unknown'.

    p = 0.5 exactly (a tie) and NaN are always 'unknown': a tie never defaults to one gender.
    """
    if not isinstance(thresholds, Thresholds):
        thresholds = Thresholds.symmetric(float(thresholds))
    p = np.asarray(p_female, dtype=float)
    out = np.full(p.shape, "unknown", dtype=object)
    finite = np.isfinite(p)
    out[finite & (p > 0.5) & (p >= thresholds.female)] = "female"
    out[finite & (p < 0.5) & (1.0 - p >= thresholds.male)] = "male"
    return out
