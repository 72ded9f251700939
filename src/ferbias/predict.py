"""Batched inference: class probabilities for uint8 images."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ferbias.train import to_float

DEFAULT_BATCH = 512
BAD_INPUT = "pixels must be uint8 N x H x W; got dtype {dtype} and shape {shape}"


def predict_proba(model: nn.Module, pixels_uint8: np.ndarray, batch_size: int = DEFAULT_BATCH):
    """Softmax probabilities (float32 N x classes) of ``model`` in eval mode on uint8 images.

    Runs on the model's device (bf16 autocast on CUDA) under ``torch.inference_mode``; the model's
    train/eval mode is restored afterwards.
    """
    pixels = np.asarray(pixels_uint8)
    if pixels.dtype != np.uint8 or pixels.ndim != 3:
        raise ValueError(BAD_INPUT.format(dtype=pixels.dtype, shape=pixels.shape))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    chunks = []
    with torch.inference_mode():
        for first in range(0, len(pixels), batch_size):
            batch = torch.from_numpy(pixels[first : first + batch_size]).to(device)
            images = to_float(batch, None, None)
            with torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
                logits = model(images)
            chunks.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    model.train(was_training)
    if not chunks:
        return np.zeros((0, model_classes(model)), dtype=np.float32)
    return np.concatenate(chunks)


def accuracy(model: nn.Module, pixels_uint8: np.ndarray, labels: np.ndarray) -> float | None:
    """Top-1 accuracy of ``model`` on uint8 images; None when there are no images."""
    if len(labels) == 0:
        return None
    return float((predict_proba(model, pixels_uint8).argmax(1) == np.asarray(labels)).mean())


def model_classes(model: nn.Module) -> int:
    """Number of outputs of ``model`` (one forward pass on a blank image)."""
    device = next(model.parameters()).device
    with torch.inference_mode():
        was_training = model.training
        model.eval()
        out = model(torch.zeros(1, 1, 48, 48, device=device)).shape[1]
        model.train(was_training)
    return out
