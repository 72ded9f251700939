"""Model cards: what a FER model expects as input and what its outputs mean (pydantic).

Every model ferbias runs is described by a ``ModelCard``: a ferbias run derives its card from
run.json, an exported ONNX file carries its card in the file's metadata, and a third-party ONNX
file gets one from a ``model.yaml`` beside it::

    name: my-fer-model                 # optional; default: the file name
    input:
      size: 64                         # square input side in pixels
      layout: NHWC                     # NCHW or NHWC
      color: rgb                       # gray, rgb or bgr
      scale: 255.0                     # pixel / scale before normalisation ...
      mean: [0.485, 0.456, 0.406]      # ... then (x - mean) / std, one value or one per channel
      std: [0.229, 0.224, 0.225]
    face_crop:
      enabled: true                    # faces are detected and cropped before the model sees them
      margin: 0.15                     # crop side = (1 + 2 * margin) x the detector's face box
    output: logits                     # logits or probabilities
    labels: [angry, disgust, fear, happy, sad, surprise, neutral]   # output order, ferbias names
    training_data: [fer2013]           # optional: data sources it was trained on (overlap check)

A bad card raises ``ModelCardError`` naming the file and the field (``input.size``, ``labels.3``).
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ferbias.config_files import FIELD_INVALID, read_yaml_mapping, require_mapping, validate
from ferbias.data.faces import CROP_SCALE
from ferbias.data.schema import EMOTIONS, canonical_emotion

CARD_FILE = "model.yaml"
FERBIAS_MARGIN = round((CROP_SCALE - 1) / 2, 6)  # ferbias's own crop: 1.3 x the face box
CARD_KIND = "a model card"
UNKNOWN_LABEL = "label {label!r} is not a ferbias emotion; allowed: {allowed}"
DUPLICATE_LABEL = "emotion {emotion!r} appears more than once in the label order"
CHANNEL_VALUES = "{name} has {n} values; expected 1 or {channels} (one per channel of {color})"
NOT_POSITIVE = "{name} must be > 0, got {value}"


class ModelCardError(ValueError):
    """A model card that does not validate; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Strict):
    """The tensor the model takes: size, layout, colour and normalisation."""

    size: int = Field(ge=8, le=1024, description="square input side in pixels")
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    color: Literal["gray", "rgb", "bgr"] = "gray"
    scale: float = Field(255.0, gt=0, description="pixel / scale before normalisation")
    mean: float | list[float] = 0.0
    std: float | list[float] = 1.0

    @property
    def channels(self) -> int:
        return 1 if self.color == "gray" else 3

    @model_validator(mode="after")
    def _per_channel(self) -> InputSpec:
        for name in ("mean", "std"):
            values = getattr(self, name)
            values = values if isinstance(values, list) else [values]
            if len(values) not in (1, self.channels):
                raise ValueError(
                    CHANNEL_VALUES.format(
                        name=name, n=len(values), channels=self.channels, color=self.color
                    )
                )
            if name == "std" and min(values) <= 0:
                raise ValueError(NOT_POSITIVE.format(name=name, value=values))
        return self


class FaceCropSpec(_Strict):
    """Whether photos are face-detected and cropped, and how wide the crop is."""

    enabled: bool = True
    margin: float = Field(FERBIAS_MARGIN, ge=0, le=2, description="per side, x the face box")

    @property
    def crop_scale(self) -> float:
        """Crop side / face box side (``images.prepare``'s ``crop_scale``)."""
        return CROP_SCALE if self.margin == FERBIAS_MARGIN else 1 + 2 * self.margin


class ModelCard(_Strict):
    """A FER model's input contract, output kind and label order (see the module docstring)."""

    name: str = ""
    input: InputSpec
    face_crop: FaceCropSpec = Field(default_factory=FaceCropSpec)
    output: Literal["logits", "probabilities"]
    labels: list[str] = Field(min_length=2, description="output order, as ferbias emotions")
    training_data: list[str] | None = Field(
        None, description="source names it was trained on; None: unknown"
    )

    @field_validator("labels", mode="before")
    @classmethod
    def _ferbias_names(cls, labels: object) -> object:
        if not isinstance(labels, list):
            return labels
        names = []
        for label in labels:
            name = canonical_emotion(str(label))
            if name is None:
                raise ValueError(UNKNOWN_LABEL.format(label=label, allowed=list(EMOTIONS)))
            if name in names:
                raise ValueError(DUPLICATE_LABEL.format(emotion=name))
            names.append(name)
        return names


def card_from_dict(raw: object, *, source: str = "<model card>") -> ModelCard:
    """Validate a card mapping; errors become one ``ModelCardError`` naming every bad field."""
    raw = require_mapping(raw, source=source, what=CARD_KIND, error=ModelCardError)
    return validate(ModelCard, raw, source=source, error=ModelCardError)


def load_card(path: str | os.PathLike) -> ModelCard:
    """Read and validate a ``model.yaml``."""
    raw = read_yaml_mapping(path, what=CARD_KIND, error=ModelCardError)
    return card_from_dict(raw, source=str(path))


def card_error(source: str, field: str, message: str) -> ModelCardError:
    """A ``ModelCardError`` for a field that validated alone but disagrees with the model."""
    return ModelCardError(FIELD_INVALID.format(source=source, field=field, message=message))
