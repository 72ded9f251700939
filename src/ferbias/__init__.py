"""ferbias: controlled group-isolation experiments for facial emotion recognition."""

from __future__ import annotations

__version__ = "0.1.0"


def load_model(path, *, device: str = "cpu"):
    """A FER model ferbias can run: a run folder, an exported ONNX file, or any ONNX file with a
    ``model.yaml`` card beside it. ``model.predict(paths or uint8 arrays)`` returns one row per
    face; see ``ferbias.training.inference`` (imported here, on first use, to keep
    ``import ferbias`` light)."""
    from ferbias.training.inference import load_model as load

    return load(path, device=device)
