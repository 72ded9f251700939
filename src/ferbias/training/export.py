"""``ferbias export``: a run's model as an fp32 ONNX file, BatchNorm folded, card in the metadata.

The graph is exported with torch's dynamo exporter (``torch.onnx.export(dynamo=True)``, which
needs the ``onnx`` and ``onnxscript`` packages) from the same folded fp32 network that
``ferbias predict`` runs, with a dynamic batch dimension. Input ``images``: float32
N x 1 x size x size, pixels / 255; output ``logits`` in the run's emotion order. The file's
metadata holds the model card (``inference.CARD_METADATA_KEY``, read back by ``load_model``) and,
for people and other tools: the emotion order, input size, normalisation, ferbias version, run
id, data fingerprint and training sources.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

from ferbias import __version__
from ferbias.io import write_atomic
from ferbias.training.inference import CARD_METADATA_KEY, RUN_JSON, TorchRunModel, read_run

INPUT_NAME = "images"
OUTPUT_NAME = "logits"
NOT_A_RUN = "{path} is not a ferbias run folder: expected run.json and model.safetensors"
NOT_ONNX_NAME = "--out {path}: expected a file name ending in .onnx (load_model reads .onnx files)"


def export_metadata(model: TorchRunModel) -> dict[str, str]:
    """Everything the exported file says about itself (string keys and values)."""
    card, spec = model.card, model.card.input
    return {
        CARD_METADATA_KEY: card.model_dump_json(),
        "emotions": json.dumps(card.labels),
        "input_size": f"{spec.size}x{spec.size}",
        "normalisation": (
            f"{spec.color} {spec.layout} float32, pixel / {spec.scale:g}, mean {spec.mean}, "
            f"std {spec.std}; faces cropped at {card.face_crop.crop_scale:g}x the face box"
        ),
        "output": card.output,
        "ferbias_version": __version__,
        "training_sources": json.dumps(card.training_data),
        **model.provenance.as_metadata(),
    }


def export_onnx(run_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write ``run_dir``'s model to ``out`` as fp32 ONNX (see the module docstring)."""
    import onnx
    import torch

    run_dir = Path(run_dir)
    if Path(out).suffix.lower() != ".onnx":
        raise ValueError(NOT_ONNX_NAME.format(path=out))
    if not (run_dir / RUN_JSON).is_file():
        raise FileNotFoundError(NOT_A_RUN.format(path=run_dir))
    model = TorchRunModel(run_dir, read_run(run_dir), "cpu")
    net = model.net.float().to(memory_format=torch.contiguous_format)
    size = model.card.input.size
    example = torch.zeros(2, 1, size, size)
    with warnings.catch_warnings(), _quiet("torch.onnx", "torch.export", "onnxscript", "onnx_ir"):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            net,
            (example,),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: "batch"},),
            verbose=False,
        )
    proto = program.model_proto
    for key, value in export_metadata(model).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto, full_check=True)
    return write_atomic(out, lambda tmp: onnx.save_model(proto, str(tmp)))


class _quiet:
    """Raise the level of some loggers to ERROR for the duration of a ``with`` block."""

    def __init__(self, *names: str) -> None:
        self.loggers = [logging.getLogger(name) for name in names]
        self.levels = [logger.level for logger in self.loggers]

    def __enter__(self) -> None:
        for logger in self.loggers:
            logger.setLevel(logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        for logger, level in zip(self.loggers, self.levels, strict=True):
            logger.setLevel(level)
