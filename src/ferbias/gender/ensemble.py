"""``ensemble``: a label only where onnx-cc0 and ferbias-gender agree with confidence >= tau.

The ensemble's P(female) is the less confident member's P(female) when both lean the same way
and 0.5 when they disagree, so ``decide(p, tau)`` gives exactly the rule above and one
coverage-vs-tau curve describes it.
"""

from __future__ import annotations

import numpy as np

from ferbias.gender.base import LABELLERS, Labeller, check_pixels


def combine(p_a: np.ndarray, p_b: np.ndarray) -> np.ndarray:
    """The ensemble P(female) of two members' P(female)."""
    p_a, p_b = np.asarray(p_a, dtype=float), np.asarray(p_b, dtype=float)
    agree = (p_a >= 0.5) == (p_b >= 0.5)
    weaker = np.where(np.abs(p_a - 0.5) <= np.abs(p_b - 0.5), p_a, p_b)
    return np.where(agree, weaker, 0.5)


class EnsembleLabeller:
    """Abstaining agreement of two labellers."""

    name = "ensemble"

    def __init__(self, members: tuple[Labeller, Labeller]) -> None:
        self.members = members

    @property
    def version(self) -> str:
        return " + ".join(f"{m.name}={m.version}" for m in self.members)

    def member_p_female(self, pixels: np.ndarray) -> list[np.ndarray]:
        check_pixels(pixels)
        return [m.predict_p_female(pixels) for m in self.members]

    def predict_p_female(self, pixels: np.ndarray) -> np.ndarray:
        return combine(*self.member_p_female(pixels))


@LABELLERS.register("ensemble")
def create_ensemble(*, weights: str | None = None, **onnx_options) -> EnsembleLabeller:
    """onnx-cc0 + ferbias-gender (``weights``: ferbias-gender safetensors, default packaged)."""
    cnn = LABELLERS.create("ferbias-gender", **({"weights": weights} if weights else {}))
    return EnsembleLabeller((LABELLERS.create("onnx-cc0", **onnx_options), cnn))
