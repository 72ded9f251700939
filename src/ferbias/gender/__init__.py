"""Apparent-gender labelling: labellers giving P(female) per 48x48 face, abstention, audit.

A labeller maps prepared face crops (uint8 N x 48 x 48, the FER-2013 geometry) to P(female).
``create_labeller(name, **options)`` builds one from the registry; ``list_labellers()`` names them.
"""

from __future__ import annotations

from ferbias.gender.base import LABELLERS, Labeller, decide

# Registration happens on import of each labeller module.
from ferbias.gender import onnx_cc0 as _onnx_cc0  # noqa: F401  isort: skip
from ferbias.gender import cnn as _cnn  # noqa: F401  isort: skip
from ferbias.gender import ensemble as _ensemble  # noqa: F401  isort: skip


def create_labeller(name: str, /, **options) -> Labeller:
    """The labeller registered under ``name`` (onnx-cc0, ferbias-gender, ensemble)."""
    return LABELLERS.create(name, **options)


def list_labellers() -> list[str]:
    return LABELLERS.names()


__all__ = ["LABELLERS", "Labeller", "create_labeller", "decide", "list_labellers"]
