"""Batched inference: class probabilities for uint8 images.

Inference runs on a copy of the model with every BatchNorm folded into the convolution before it
(``torch.fx``'s ``fuse``): the same outputs to float rounding (checked in tests) at ~14% more
images/s for paper-cnn on a 2-core CPU (2,879 against 2,524 at batch 64; mini-xception +23%).
It runs in the resolved ``precision`` (``ferbias.training.runtime``): ``auto`` is bf16 autocast
where the device has native bf16, as in training.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.fx.experimental.optimization import fuse

from ferbias.training.fit import inference_batch, memory_format, to_float
from ferbias.training.runtime import autocast, keep_freed_memory, resolve_precision

# Images per forward pass when predicting, by device kind and resolved precision, where it
# differs from ``fit.inference_batch``: measured with ``runtime.keep_freed_memory`` on a 2-core
# Zen 4, bf16 paper-cnn ran at 4,168 images/s at 256 against 3,641 at 64 (mini-xception +16%,
# vgg-fer +11%), while fp32 mini-xception and vgg-fer were slower at 256 and keep 64.
# Probabilities do not depend on it (tested).
PREDICT_BATCH = {("cpu", "bf16"): 256}
BAD_INPUT = "pixels must be uint8 N x H x W; got dtype {dtype} and shape {shape}"


def predict_proba(
    model: nn.Module,
    pixels_uint8: np.ndarray,
    batch_size: int | None = None,
    *,
    precision: str = "auto",
):
    """Softmax probabilities (float32 N x classes) of ``model`` in eval mode on uint8 images.

    Runs on the model's device in ``precision`` (``auto``: bf16 where the device has it natively)
    under ``torch.inference_mode``, in batches of ``batch_size`` (default: ``predict_batch``);
    ``model`` itself is left as it was.
    """
    pixels = np.asarray(pixels_uint8)
    if pixels.dtype != np.uint8 or pixels.ndim != 3:
        raise ValueError(BAD_INPUT.format(dtype=pixels.dtype, shape=pixels.shape))
    return folded_proba(folded(model), pixels, batch_size, precision=precision)


def folded_proba(
    net: nn.Module,
    pixels: np.ndarray,
    batch_size: int | None = None,
    *,
    precision: str = "auto",
) -> np.ndarray:
    """``predict_proba`` for a net already folded by ``folded`` (fold once, predict often)."""
    device = next(net.parameters()).device
    precision = resolve_precision(precision, device)
    batch_size = batch_size or predict_batch(device, precision)
    keep_freed_memory()
    chunks = []
    with torch.inference_mode():
        for first in range(0, len(pixels), batch_size):
            batch = torch.from_numpy(pixels[first : first + batch_size]).to(device)
            images = to_float(batch, None, None)
            with autocast(device, precision):
                logits = net(images)
            chunks.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    if not chunks:
        return np.zeros((0, model_classes(net)), dtype=np.float32)
    return np.concatenate(chunks)


def predict_batch(device: torch.device, precision: str) -> int:
    """The fastest measured batch for predicting on ``device`` in (resolved) ``precision``."""
    return PREDICT_BATCH.get((device.type, precision), inference_batch(device))


def folded(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with BatchNorm folded into the preceding convolutions."""
    net = copy.deepcopy(model).eval()
    return fuse(net, inplace=True).to(memory_format=memory_format(next(net.parameters()).device))


def accuracy(
    model: nn.Module, pixels_uint8: np.ndarray, labels: np.ndarray, *, precision: str = "auto"
) -> float | None:
    """Top-1 accuracy of ``model`` on uint8 images; None when there are no images."""
    if len(labels) == 0:
        return None
    proba = predict_proba(model, pixels_uint8, precision=precision)
    return float((proba.argmax(1) == np.asarray(labels)).mean())


def model_classes(model: nn.Module) -> int:
    """Number of outputs of ``model`` (one forward pass on a blank image)."""
    device = next(model.parameters()).device
    with torch.inference_mode():
        was_training = model.training
        model.eval()
        out = model(torch.zeros(1, 1, 48, 48, device=device)).shape[1]
        model.train(was_training)
    return out
