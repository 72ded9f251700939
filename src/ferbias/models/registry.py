"""The registry every model module registers into (kept apart to avoid import cycles)."""

from __future__ import annotations

from torch import nn

from ferbias.registry import Registry

MODELS: Registry[nn.Module] = Registry("model")
