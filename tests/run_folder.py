"""A finished run folder as the statistics side reads it, for tests that fake an experiment:
run.json, predictions.parquet, history.csv and a (tiny) model.safetensors whose sizes and
SHA-256 run.json lists, as ``ferbias.experiment.runner`` writes them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.numpy import save_file

from ferbias.run_state import file_records

HISTORY = pd.DataFrame(
    {
        "epoch": [1, 2, 3],
        "train_loss": [1.8, 0.9, 0.6],
        "train_acc": [0.4, 0.5, 0.6],
        "val_loss": [1.9, 0.95, 0.63],
        "val_acc": [0.33, 0.41, 0.49],
        "seconds": 1.0,
        "images_per_s": 500.0,
    }
)


def write_finished_run(
    folder: Path, meta: dict, predictions: pd.DataFrame, history: pd.DataFrame | None = None
) -> Path:
    """Write ``folder`` with ``meta`` (status finished) and the run's files; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    predictions.to_parquet(folder / "predictions.parquet", index=False)
    (HISTORY if history is None else history).to_csv(folder / "history.csv", index=False)
    save_file({"w": np.zeros((2, 2), np.float32)}, folder / "model.safetensors")
    record = {**meta, "status": "finished", "files": file_records(folder)}
    (folder / "run.json").write_text(json.dumps(record))
    return folder
