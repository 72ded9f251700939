"""One run of a grid: train (resuming from the last epoch checkpoint), predict, save.

``execute_run`` is what every executor calls, in this process, a worker process or a Ray worker.
It never raises for a failing run: the outcome says ``failed`` with the error, run.json records
it, and the next ``ferbias run`` resumes the run from its last epoch checkpoint.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ferbias.experiment.grid import FINISHED, RunConfig, RunData, RunTask, is_finished
from ferbias.io import write_json_atomic, write_parquet_atomic

log = logging.getLogger(__name__)

TRAINED, SKIPPED, FAILED, RUNNING = "trained", "skipped", "failed", "running"


@dataclass(frozen=True)
class RunOutcome:
    """What a worker reports back: status, seconds, best validation accuracy, error text."""

    run_id: str
    status: str
    seconds: float = 0.0
    val_acc: float | None = None
    error: str | None = None


def execute_run(task: RunTask) -> RunOutcome:
    """Train, evaluate and save one run unless it is finished already; never raises."""
    config, run_dir = task.config, Path(task.run_dir)
    if is_finished(run_dir):
        return RunOutcome(config.run_id, SKIPPED, val_acc=_best_val_acc(run_dir))
    start = time.perf_counter()
    _write_meta(run_dir, config, RUNNING)
    try:
        model, history = train_run(config, task.data, run_dir)
        predictions = predict_run(model, config, task.data)
    except Exception as error:  # recorded and reported; the grid goes on
        log.error("run %s failed: %s", config.run_id, error)
        _write_meta(run_dir, config, FAILED, error=traceback.format_exc(limit=8))
        return RunOutcome(config.run_id, FAILED, time.perf_counter() - start, error=str(error))
    write_parquet_atomic(run_dir / "predictions.parquet", predictions)
    seconds = time.perf_counter() - start
    _write_meta(run_dir, config, FINISHED, seconds=seconds, epochs_run=len(history))
    return RunOutcome(config.run_id, TRAINED, seconds, val_acc=_best_val_acc(run_dir))


def train_run(config: RunConfig, data: RunData, run_dir: Path) -> tuple[object, pd.DataFrame]:
    """Fit the run's model; ``fit`` checkpoints each epoch in ``run_dir`` and resumes from it."""
    from ferbias.training.fit import train_model
    from ferbias.training.variants import Recipe

    result = train_model(
        config.model,
        data,
        num_classes=len(config.emotions),
        recipe=Recipe(**config.recipe),
        seed=config.seed,
        options=config.model_options,
        run_dir=run_dir,
    )
    return result.model, result.history


def predict_run(model: object, config: RunConfig, data: RunData) -> pd.DataFrame:
    """Predictions of ``model`` on every test set, in the columns the statistics side reads."""
    from ferbias.training.predict import predict_proba

    emotions = list(config.emotions)
    frames = []
    for batch in data.tests:
        proba = np.asarray(predict_proba(model, batch.pixels), dtype=np.float64)
        frames.append(predictions_frame(config.run_id, batch.name, batch.rows, proba, emotions))
    return pd.concat(frames, ignore_index=True)


def predictions_frame(
    run_id: str, test_set: str, rows: pd.DataFrame, proba: np.ndarray, emotions: list[str]
) -> pd.DataFrame:
    """run_id, test_set, sample_id, subject_id, group, labeller_prob_female, y_true, y_pred,
    p_<emotion>..., loss. ``labeller_prob_female`` is the gender labeller's P(female) of the image
    (NaN where the group label was not made by the labeller): the label-noise analysis reads it.
    """
    truth = rows["y_true"].map({e: i for i, e in enumerate(emotions)}).to_numpy()
    picked = proba[np.arange(len(truth)), truth] if len(truth) else np.empty(0)
    frame = pd.DataFrame(
        {
            "run_id": run_id,
            "test_set": test_set,
            "sample_id": rows["sample_id"].to_numpy(),
            "subject_id": rows["subject_id"].to_numpy(),
            "group": rows["group"].to_numpy(),
            "labeller_prob_female": rows.get(
                "labeller_prob_female", pd.Series(np.nan, index=rows.index)
            ).to_numpy(dtype=float),
            "y_true": rows["y_true"].to_numpy(),
            "y_pred": np.asarray(emotions, dtype=object)[proba.argmax(axis=1)],
        }
    )
    for i, emotion in enumerate(emotions):
        frame[f"p_{emotion}"] = proba[:, i]
    frame["loss"] = -np.log(np.clip(picked, 1e-12, 1.0))
    return frame


def _write_meta(run_dir: Path, config: RunConfig, status: str, **extra: object) -> None:
    meta = {"run_id": config.run_id, **asdict(config), "status": status, **extra}
    write_json_atomic(run_dir / "run.json", meta)


def _best_val_acc(run_dir: Path) -> float | None:
    path = run_dir / "history.csv"
    if not path.is_file():
        return None
    history = pd.read_csv(path)
    return float(history["val_acc"].max()) if "val_acc" in history and len(history) else None
