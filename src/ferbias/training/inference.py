"""Any FER model ferbias can run: a ferbias run folder, an exported ONNX file, or a third-party
ONNX file with a model card (``model.yaml`` beside it). ``load_model`` returns a ``FerModel``:

- ``card``: input size, layout, colour, normalisation, face crop, output kind, label order;
- ``prepare_options()``: how ``images.prepare`` must cut faces for it (size, colour, crop scale);
- ``predict_proba(pixels)``: probabilities over ``card.labels`` for prepared uint8 crops
  (N x size x size gray, or N x size x size x 3 RGB);
- ``predict(inputs)``: files, folders, manifests or arrays -> one row per face (see
  ``ferbias.training.predict_faces.predict_inputs``);
- ``provenance``: run id, data fingerprint and the sources it was trained on (overlap warnings).

A card beside an ONNX file wins over the card an exported file carries in its metadata, so a
user can describe a relabelled copy of an export.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ferbias.training.model_card import (
    CARD_FILE,
    FaceCropSpec,
    InputSpec,
    ModelCard,
    ModelCardError,
    card_error,
    card_from_dict,
    load_card,
)

RUN_JSON = "run.json"
WEIGHTS = "model.safetensors"
EXPERIMENT_JSON = "experiment.json"
CARD_METADATA_KEY = "model_card"  # an exported file's card (JSON) in its metadata
DEFAULT_IMAGE_SIZE = 48
ONNX_BATCH = 256  # images per onnxruntime call when the batch dimension is dynamic

NOT_A_MODEL = (
    "{path} is not a model ferbias can load: expected a ferbias run folder (run.json and "
    "model.safetensors) or an .onnx file"
)
NO_CARD = (
    "{path} has no model card: put a {card} beside it (input size, layout, colour, "
    "normalisation, face crop, output kind, label order; see ferbias.training.model_card)"
)
BAD_RUN = "{path}: run.json lacks {missing}; expected a folder written by `ferbias train` or `run`"
BAD_RUN_JSON = "{path}: not a readable run.json ({error}); expected the JSON `ferbias train` writes"
BAD_WEIGHTS = (
    "{path}: cannot load the run's weights ({error}); expected the model.safetensors of {model}"
)
BAD_INPUT_RANK = "the ONNX input {name!r} has shape {shape}; expected 4 dimensions"
BAD_CHANNELS = "the ONNX input {name!r} has shape {shape}: {found} channel(s) at the {layout} "
BAD_CHANNELS += "position; {color} needs {channels}"
BAD_SIZE = "the ONNX input {name!r} has shape {shape} ({layout}); card says {size}"
BAD_OUTPUTS = "the ONNX output {name!r} has {found} classes; the card lists {n} labels"
BAD_DTYPE = "the ONNX input {name!r} is {dtype}; ferbias feeds tensor(float)"


@dataclass(frozen=True)
class Provenance:
    """What is known about a model's training data, for overlap warnings."""

    run_id: str | None = None
    data_fingerprint: str | None = None
    training_sources: tuple[str, ...] | None = None  # None: unknown
    official_test_held_out: bool = False  # ferbias splits keep official test splits out of train

    def as_metadata(self) -> dict[str, str]:
        """The ONNX metadata entries an export writes (``from_metadata`` reads them back)."""
        return {
            "run_id": self.run_id or "",
            "data_fingerprint": self.data_fingerprint or "",
            "official_test_held_out": json.dumps(self.official_test_held_out),
        }

    @classmethod
    def from_metadata(cls, metadata: dict[str, str], card: ModelCard) -> Provenance:
        """An exported file's provenance; training sources come from the card."""
        sources = tuple(card.training_data) if card.training_data is not None else None
        return cls(
            run_id=metadata.get("run_id") or None,
            data_fingerprint=metadata.get("data_fingerprint") or None,
            training_sources=sources,
            official_test_held_out=metadata.get("official_test_held_out") == "true",
        )


class FerModel(ABC):
    """A model with a card: prepare options, probabilities on crops, predictions on files."""

    kind = "model"

    def __init__(self, card: ModelCard, name: str, provenance: Provenance) -> None:
        self.card = card
        self.name = name
        self.provenance = provenance

    @property
    def emotions(self) -> list[str]:
        """ferbias emotion names in the model's output order."""
        return list(self.card.labels)

    def prepare_options(self) -> dict[str, Any]:
        """``images.prepare`` keywords that cut faces the way this model expects."""
        return {
            "size": self.card.input.size,
            "color": "gray" if self.card.input.color == "gray" else "rgb",
            "crop_scale": self.card.face_crop.crop_scale,
        }

    @abstractmethod
    def predict_proba(self, pixels: np.ndarray) -> np.ndarray:
        """Probabilities (float32 N x labels) for prepared uint8 crops."""

    def predict(self, inputs, *, face_crop: bool | None = None, progress: bool = False):
        """One row per face of ``inputs`` (``training.predict_faces.predict_inputs``)."""
        from ferbias.training.predict_faces import predict_inputs

        return predict_inputs(self, inputs, face_crop=face_crop, progress=progress).table

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, emotions={self.emotions})"


class TorchRunModel(FerModel):
    """A ferbias run folder: the registered model with its trained weights (BatchNorm folded)."""

    kind = "ferbias run"

    def __init__(self, run_dir: Path, meta: dict, device: str = "cpu") -> None:
        import torch
        from safetensors import SafetensorError

        from ferbias.models import create_model
        from ferbias.training.fit import load_weights
        from ferbias.training.predict import folded

        emotions = list(meta["emotions"])
        module = create_model(meta["model"], num_classes=len(emotions), **run_model_options(meta))
        try:
            load_weights(module, run_dir / WEIGHTS)
        except (OSError, RuntimeError, SafetensorError) as error:
            first = str(error).splitlines()[0]
            raise ValueError(
                BAD_WEIGHTS.format(path=run_dir / WEIGHTS, error=first, model=meta["model"])
            ) from error
        self.net = folded(module.to(torch.device(device)))
        size = int(meta.get("image_size") or DEFAULT_IMAGE_SIZE)
        provenance = run_provenance(run_dir, meta)
        card = ModelCard(
            name=str(meta.get("run_id") or run_dir.name),
            input=InputSpec(size=size, layout="NCHW", color="gray", scale=255.0),
            face_crop=FaceCropSpec(),
            output="logits",
            labels=emotions,
            training_data=None
            if provenance.training_sources is None
            else [*provenance.training_sources],
        )
        super().__init__(card, card.name, provenance)
        self.run_dir = run_dir
        self.meta = meta

    def predict_proba(self, pixels: np.ndarray, *, precision: str | None = None) -> np.ndarray:
        """Probabilities in ``precision``: by default the one the run trained and predicted in
        (runs before ferbias recorded it: auto); "fp32" is what an ONNX export reproduces."""
        from ferbias.training.predict import folded_proba

        precision = precision or (self.meta.get("runtime") or {}).get("precision", "auto")
        return folded_proba(self.net, np.ascontiguousarray(pixels), precision=precision)


class OnnxModel(FerModel):
    """An ONNX file run by onnxruntime on the CPU; its card checked against the graph."""

    kind = "onnx"

    def __init__(self, path: Path, session, card: ModelCard, source: str) -> None:
        metadata = dict(session.get_modelmeta().custom_metadata_map)
        super().__init__(card, card.name or path.stem, Provenance.from_metadata(metadata, card))
        self.path = path
        self.session = session
        check_card_against_graph(card, session, source)

    def to_input(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 crops -> the float32 tensor the card describes (colour order, scale, layout)."""
        spec = self.card.input
        x = pixels.astype(np.float32)
        if spec.color == "gray":
            x = x[..., None]
        elif spec.color == "bgr":
            x = x[..., ::-1]
        x = (x / np.float32(spec.scale) - np.float32(spec.mean)) / np.float32(spec.std)
        x = x if spec.layout == "NHWC" else x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x, dtype=np.float32)

    def predict_proba(self, pixels: np.ndarray) -> np.ndarray:
        node = self.session.get_inputs()[0]
        fixed = node.shape[0] if isinstance(node.shape[0], int) else None
        batch = fixed or ONNX_BATCH
        outputs = [
            self._run(node.name, self.to_input(pixels[i : i + batch]), fixed)
            for i in range(0, len(pixels), batch)
        ]
        if not outputs:
            return np.zeros((0, len(self.card.labels)), dtype=np.float32)
        scores = np.concatenate(outputs).astype(np.float32)
        return softmax(scores) if self.card.output == "logits" else scores

    def _run(self, name: str, x: np.ndarray, fixed: int | None) -> np.ndarray:
        """The first output for ``x``; a graph with a fixed batch size gets the last, shorter
        batch padded (with copies of its last image), and the padding's outputs dropped."""
        short = 0 if fixed is None else fixed - len(x)
        if short > 0:
            x = np.concatenate([x, np.repeat(x[-1:], short, axis=0)])
        return self.session.run(None, {name: x})[0][: len(x) - max(short, 0)]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def check_card_against_graph(card: ModelCard, session, source: str) -> None:
    """Raise ``ModelCardError`` naming the field when the card disagrees with the graph."""
    node, output = session.get_inputs()[0], session.get_outputs()[0]
    shape, spec = list(node.shape), card.input
    if node.type != "tensor(float)":
        raise card_error(source, "input", BAD_DTYPE.format(name=node.name, dtype=node.type))
    if len(shape) != 4:
        raise card_error(source, "input", BAD_INPUT_RANK.format(name=node.name, shape=shape))
    channel_at, spatial = (3, shape[1:3]) if spec.layout == "NHWC" else (1, shape[2:4])
    found = shape[channel_at]
    if isinstance(found, int) and found != spec.channels:
        other = shape[1 if channel_at == 3 else 3]
        field = "input.layout" if other == spec.channels else "input.color"
        message = BAD_CHANNELS.format(
            name=node.name,
            shape=shape,
            found=found,
            layout=spec.layout,
            color=spec.color,
            channels=spec.channels,
        )
        raise card_error(source, field, message)
    if any(isinstance(d, int) and d != spec.size for d in spatial):
        message = BAD_SIZE.format(name=node.name, shape=shape, layout=spec.layout, size=spec.size)
        raise card_error(source, "input.size", message)
    classes = output.shape[-1] if output.shape else None
    if isinstance(classes, int) and classes != len(card.labels):
        message = BAD_OUTPUTS.format(name=output.name, found=classes, n=len(card.labels))
        raise card_error(source, "labels", message)


def run_model_options(meta: dict) -> dict:
    """Model options of a run: experiment runs store ``model_options``, `ferbias train` runs
    store them inside ``variant``."""
    if isinstance(meta.get("model_options"), dict):
        return dict(meta["model_options"])
    variant = meta.get("variant")
    return dict(variant.get("model_options", {})) if isinstance(variant, dict) else {}


def run_provenance(run_dir: Path, meta: dict) -> Provenance:
    """Run id, fingerprint and training sources of a run (experiment.json or run.json)."""
    sources: tuple[str, ...] | None = None
    experiment = run_dir.parent / EXPERIMENT_JSON
    if experiment.is_file():
        spec = json.loads(experiment.read_text(encoding="utf-8")).get("spec") or {}
        entries = (spec.get("data") or {}).get("sources") or []
        sources = tuple(
            str((e.get("options") or {}).get("source") or e.get("source")) for e in entries
        )
    elif meta.get("source"):
        sources = (str(meta["source"]),)
    return Provenance(
        run_id=str(meta.get("run_id") or run_dir.name),
        data_fingerprint=meta.get("data_fingerprint"),
        training_sources=sources or None,
        official_test_held_out=True,
    )


def read_run(run_dir: Path) -> dict:
    """run.json of a run folder, checked for what loading needs."""
    path = run_dir / RUN_JSON
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(BAD_RUN_JSON.format(path=path, error=error)) from None
    if not isinstance(meta, dict):
        raise ValueError(BAD_RUN_JSON.format(path=path, error=f"a JSON {type(meta).__name__}"))
    missing = [k for k in ("model", "emotions") if k not in meta]
    if missing:
        raise ValueError(BAD_RUN.format(path=run_dir, missing=missing))
    return meta


def onnx_session(path: Path):
    """An onnxruntime CPU session of ``path`` (quiet logging)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def load_onnx(path: Path) -> OnnxModel:
    """An ONNX file with the card beside it, else the card in its metadata."""
    session = onnx_session(path)
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    beside = path.parent / CARD_FILE
    if beside.is_file():
        card, source = load_card(beside), str(beside)
    elif CARD_METADATA_KEY in metadata:
        source = f"{path} (metadata {CARD_METADATA_KEY})"
        card = card_from_dict(json.loads(metadata[CARD_METADATA_KEY]), source=source)
    else:
        raise ModelCardError(NO_CARD.format(path=path, card=CARD_FILE))
    return OnnxModel(path, session, card, source)


def load_model(path: str | os.PathLike, *, device: str = "cpu") -> FerModel:
    """A ferbias run folder, an exported ONNX file, or a third-party ONNX file with a card."""
    path = Path(path).expanduser()
    if path.is_dir() and (path / RUN_JSON).is_file() and (path / WEIGHTS).is_file():
        return TorchRunModel(path, read_run(path), device)
    if path.is_file() and path.suffix.lower() == ".onnx":
        return load_onnx(path)
    raise FileNotFoundError(NOT_A_MODEL.format(path=path))
