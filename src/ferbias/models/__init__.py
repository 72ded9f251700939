"""Model registry: ``create_model(name, *, num_classes, **opts)``, ``list_models()``, cost figures.

Every model takes a float batch ``N x 1 x 48 x 48`` scaled to [0, 1] and returns logits
(softmax lives in the loss).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ferbias.models import mini_xception, paper_cnn, resnet, vgg  # noqa: F401  (register)
from ferbias.models.registry import MODELS

__all__ = ["MODELS", "count_parameters", "create_model", "forward_mflops", "list_models"]


def create_model(name: str, *, num_classes: int, seed: int | None = None, **options) -> nn.Module:
    """Build model ``name``; ``seed`` fixes its initial weights (global RNG left untouched)."""
    if seed is None:
        return MODELS.create(name, num_classes=num_classes, **options)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MODELS.create(name, num_classes=num_classes, **options)


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return MODELS.names()


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def forward_mflops(model: nn.Module, image_size: int = 48) -> float:
    """Forward floating-point operations per image in millions (a multiply-add counts as 2)."""
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(torch.zeros(1, 1, image_size, image_size))
    model.train(was_training)
    return counter.get_total_flops() / 1e6
