"""One run of a grid: train (resuming from the last epoch checkpoint), predict, save.

``execute_run`` is what every executor calls, in this process, a worker process or a Ray worker.
It trains on the run's ``Runtime`` (device kind, precision, threads: part of its id) and never
raises for a failing run: the outcome says ``failed`` with the error, run.json records it, and
the next ``ferbias run`` resumes the run from its last epoch checkpoint. A finished run's
run.json lists its files with sizes and SHA-256 (``ferbias.run_state``) and the machine it ran on.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ferbias.experiment.grid import RunConfig, RunData, RunTask
from ferbias.io import write_json_atomic, write_parquet_atomic
from ferbias.run_state import FINISHED, check_run, file_records

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
    node: str | None = None  # where it ran: host, plus the Ray node id on a cluster
    resumed_after: int = 0  # the checkpoint's epoch it went on from (0: from the start)
    warnings: tuple[str, ...] = ()  # what the run warned about (e.g. a checkpoint it dropped)


def execute_run(task: RunTask, *, node: str | None = None) -> RunOutcome:
    """Train, evaluate and save one run unless it is finished already; never raises.

    ``node`` names the cluster node it runs on (recorded in run.json and the outcome).
    """
    config, run_dir = task.config, Path(task.run_dir)
    if check_run(run_dir).finished:  # the grid has said why when it is not
        return RunOutcome(config.run_id, SKIPPED, val_acc=_best_val_acc(run_dir))
    start = time.perf_counter()
    machine = _machine(config, node)
    where = machine.get("node", machine["host"])
    _write_meta(run_dir, config, RUNNING, machine=machine)
    with captured_warnings() as warnings:
        try:
            with torch_threads(config.runtime.threads):
                result = train_run(config, task.data, run_dir)
                predictions = predict_run(result.model, config, task.data)
            write_parquet_atomic(run_dir / "predictions.parquet", predictions)
        except Exception as error:  # recorded and reported; the grid goes on
            log.error("run %s failed: %s", config.run_id, error)
            trace = traceback.format_exc(limit=8)
            _write_meta(run_dir, config, FAILED, machine=machine, error=trace)
            seconds = time.perf_counter() - start
            failed = RunOutcome(config.run_id, FAILED, seconds, error=str(error), node=where)
            return replace(failed, warnings=tuple(warnings))
    seconds = time.perf_counter() - start
    extra = {"seconds": seconds, "epochs_run": len(result.history) - result.resumed_after}
    _write_meta(run_dir, config, FINISHED, machine=machine, **extra, files=file_records(run_dir))
    return RunOutcome(
        config.run_id,
        TRAINED,
        seconds,
        _best_val_acc(run_dir),
        node=where,
        resumed_after=result.resumed_after,
        warnings=tuple(warnings),
    )


@contextmanager
def captured_warnings() -> Iterator[list[str]]:
    """Collect what ``ferbias`` loggers warn about during a run, for its outcome, instead of
    printing it (a worker process or Ray node has no console the user sees)."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger("ferbias")
    handler, propagate = Collect(logging.WARNING), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run with ``threads`` torch intra-op threads, then restore the previous count."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _machine(config: RunConfig, node: str | None) -> dict:
    from ferbias.training.runtime import machine_info

    info = machine_info(config.runtime.device)
    return info if node is None else {**info, "node": node}


def train_run(config: RunConfig, data: RunData, run_dir: Path):
    """Fit the run's model on its runtime (a ``FitResult``); ``fit`` checkpoints each epoch and
    resumes."""
    from ferbias.training.fit import train_model
    from ferbias.training.variants import Recipe

    return train_model(
        config.model,
        data,
        num_classes=len(config.emotions),
        recipe=Recipe(**config.recipe),
        seed=config.seed,
        options=config.model_options,
        run_dir=run_dir,
        device=config.runtime.device,
        precision=config.runtime.precision,
    )


def predict_run(model: object, config: RunConfig, data: RunData) -> pd.DataFrame:
    """Predictions of ``model`` on every test set, in the columns the statistics side reads."""
    from ferbias.training.predict import predict_proba

    emotions = list(config.emotions)
    precision = config.runtime.precision
    frames = []
    for batch in data.tests:
        proba = predict_proba(model, batch.pixels, precision=precision).astype(np.float64)
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
