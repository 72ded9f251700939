"""Run an experiment spec end to end: plan the grid, write experiment.json, execute, dry-run ETA.

``prepare_experiment`` loads the data and plans the runs on the executor's runtime (no pixels:
cheap enough for ``--dry-run``); ``run_experiment`` prepares the pixels, skips finished runs and
sends the rest to an executor; ``dry_run_table`` lists the runs with an ETA from a short timing of
each model on a runtime (this CPU, or a CUDA device when one is present).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ferbias import __version__
from ferbias.experiment.data import ExperimentData, attach_pixels, build_data, label_audits
from ferbias.experiment.grid import (
    RunConfig,
    RunTask,
    is_finished,
    plan_runs,
    run_data,
    validate_names,
)
from ferbias.experiment.runner import SKIPPED, RunOutcome
from ferbias.experiment.spec import ExperimentSpec, output_path
from ferbias.io import write_json_atomic
from ferbias.run_state import check_run
from ferbias.training.runtime import Runtime

log = logging.getLogger(__name__)

# Power line: the smallest gap detectable at these settings; accuracy 0.5 maximises p(1-p), so
# the gap quoted is conservative for any true accuracy.
POWER_ALPHA, POWER_POWER, POWER_BASE_ACCURACY = 0.05, 0.8, 0.5
TIMING_STEPS = 5  # timed training steps per model for the ETA (after one warm-up step)


@dataclass
class PreparedExperiment:
    """A spec with its data and planned runs, bound to an output folder."""

    spec: ExperimentSpec
    data: ExperimentData
    runs: list[RunConfig]
    out_dir: Path

    def run_dir(self, run: RunConfig) -> Path:
        return output_path(self.out_dir, run.run_id)


def prepare_experiment(
    spec: ExperimentSpec, out: str | Path, *, runtime: Runtime
) -> PreparedExperiment:
    """Check names, load and split the data, plan the grid on ``runtime`` (from the executor:
    ``executor.runtime(device=..., precision=...)``) under ``out/<experiment>``."""
    validate_names(spec)
    data = build_data(spec)
    runs = plan_runs(spec, data, runtime)
    return PreparedExperiment(spec, data, runs, output_path(out, spec.name))


def reuse_other_runtimes(prepared: PreparedExperiment) -> PreparedExperiment:
    """The plan with each run not finished on its own runtime replaced by a finished run of the
    same config on another runtime (another device, precision or thread count, or a run from
    before ferbias recorded runtimes), where the output folder holds one whose files verify.

    Opt-in (``ferbias run --reuse-any-runtime``): such a run is a valid replicate of its config,
    but not what its planned id would give, so the report's "where runs ran" shows the mix.
    """
    runs = []
    for run in prepared.runs:
        if not is_finished(prepared.run_dir(run)):
            run = _finished_elsewhere(prepared.out_dir, run) or run
        runs.append(run)
    return replace(prepared, runs=runs)


def _finished_elsewhere(out_dir: Path, run: RunConfig) -> RunConfig | None:
    for folder in sorted(out_dir.glob(f"{run.config_id}*")):
        check = check_run(folder)
        if not check.finished:
            continue
        recorded = check.meta.get("runtime")
        other = run.on(Runtime(**recorded) if isinstance(recorded, dict) else None)
        if other.run_id == folder.name:
            log.info("reusing %s for %s", folder.name, run.run_id)
            return other
    return None


def run_experiment(
    prepared: PreparedExperiment, executor: Any
) -> Iterator[tuple[RunConfig, RunOutcome]]:
    """Write experiment.json, then yield each run's outcome (finished runs come back skipped)."""
    write_json_atomic(prepared.out_dir / "experiment.json", experiment_record(prepared))
    todo = [run for run in prepared.runs if not is_finished(prepared.run_dir(run))]
    for run in prepared.runs:
        if run not in todo:
            yield run, RunOutcome(run.run_id, SKIPPED)
    if not todo:
        return
    data = attach_pixels(prepared.data, size=prepared.spec.data.image_size)
    tasks = [RunTask(run, prepared.run_dir(run), run_data(run, data)) for run in todo]
    for task, outcome in executor.map(tasks):
        yield task.config, outcome


def experiment_record(prepared: PreparedExperiment) -> dict[str, Any]:
    """The content of experiment.json: spec, counts, label provenance, power inputs, runs."""
    spec, data = prepared.spec, prepared.data
    return {
        "experiment": spec.name,
        "spec": spec.model_dump(mode="json"),
        "emotions": list(spec.data.emotions),
        "group_col": spec.data.group_col,
        "groups": list(spec.data.groups),
        "train_groups": list(spec.train.groups),
        "test_sets": list(data.tests),
        "skipped_test_sets": dict(data.skipped_tests),
        "counts": data.counts().to_dict(orient="records"),
        "label_provenance": data.provenance().to_dict(orient="records"),
        "label_audit": label_audits(spec.data.sources),
        "power": power_inputs(data, list(spec.data.groups)),
        "runs": [{"run_id": run.run_id, **asdict(run)} for run in prepared.runs],
        "ferbias_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def power_inputs(data: ExperimentData, groups: list[str]) -> dict[str, Any]:
    """Test sizes per test set and group, and the smallest gap detectable between two groups."""
    from ferbias.analysis.stats import minimum_detectable_gap

    sizes = {
        name: {str(g): int(n) for g, n in frame.groupby("group").size().items()}
        for name, frame in data.tests.items()
    }
    gaps = {}
    for name, by_group in sizes.items():
        present = [g for g in groups if by_group.get(g, 0) > 0]
        if len(present) == 2:
            n_a, n_b = (by_group[g] for g in present)
            gaps[name] = float(
                minimum_detectable_gap(n_a, n_b, POWER_BASE_ACCURACY, POWER_ALPHA, POWER_POWER)
            )
    return {
        "alpha": POWER_ALPHA,
        "power": POWER_POWER,
        "base_accuracy": POWER_BASE_ACCURACY,
        "test_sizes": sizes,
        "minimum_detectable_gap": gaps,
    }


def dry_run_table(
    prepared: PreparedExperiment,
    *,
    runtime: Runtime | None = None,
    timer: Callable[[RunConfig], tuple[float, float]] | None = None,
) -> pd.DataFrame:
    """One row per run: sizes, status and ETA seconds of the run on ``runtime`` (default: the
    runtime it was planned on).

    The ETA comes from ``timer(run)`` -> (training, inference) images/s on the run's runtime,
    measured by default with ``fit``'s own training step and ``predict_proba``'s folded model.
    Runs that may stop early are counted with every epoch (an upper bound).
    """
    timer = timer or measure_throughput
    speeds: dict[tuple, tuple[float, float]] = {}
    n_test = sum(len(frame) for frame in prepared.data.tests.values())
    rows = []
    for planned in prepared.runs:
        run = planned if runtime is None else planned.on(runtime)
        n_train = len(prepared.data.train[run.train_group])
        n_val = len(prepared.data.val[run.train_group])
        finished = is_finished(prepared.run_dir(run))
        train_ips = predict_ips = float("nan")  # a finished run is not timed
        eta = 0.0
        if not finished:
            key = (run.model, repr(sorted(run.model_options.items())))
            key += (repr(sorted(run.recipe.items())), run.runtime)
            if key not in speeds:
                speeds[key] = timer(run)
            train_ips, predict_ips = speeds[key]
            per_epoch = n_train / train_ips + n_val / predict_ips
            eta = run.epochs * per_epoch + n_test / predict_ips
        rows.append(
            {
                "run_id": run.run_id,
                "train_group": run.train_group,
                "variant": run.variant,
                "model": run.model,
                "seed": run.seed,
                "epochs": run.epochs,
                "n_train": n_train,
                "n_val": n_val,
                "n_test": n_test,
                "status": "finished" if finished else "to run",
                "eta_s": eta,
                "train_ips": train_ips,
                "infer_ips": predict_ips,
            }
        )
    return pd.DataFrame(rows)


def measure_throughput(run: RunConfig) -> tuple[float, float]:
    """Training and inference images/s of ``run`` on its runtime (device, precision, threads).

    Times what a run does: ``fit``'s training step (channels_last, the recipe's optimiser, loss,
    augmentation and precision) and inference with BatchNorm folded, as ``predict_proba`` runs
    it; on a CPU in CPU seconds (see ``_time_steps``), on CUDA waiting for the device.
    """
    import torch

    from ferbias.models import create_model
    from ferbias.training.augment import create_augmentation
    from ferbias.training.fit import make_optimizer, memory_format, to_float, train_step
    from ferbias.training.predict import folded, predict_batch
    from ferbias.training.runtime import autocast, keep_freed_memory
    from ferbias.training.variants import Recipe

    recipe, runtime = Recipe(**run.recipe), run.runtime
    device = torch.device(runtime.device)
    previous = torch.get_num_threads()
    torch.set_num_threads(runtime.threads)
    keep_freed_memory()
    try:
        model = create_model(run.model, num_classes=len(run.emotions), seed=0, **run.model_options)
        model = model.to(device, memory_format=memory_format(device))
        optimizer = make_optimizer(model, recipe)
        augmentation = create_augmentation(recipe.augmentation)
        generator = torch.Generator().manual_seed(0)
        side, infer_batch = run.image_size, predict_batch(device, runtime.precision)
        batch = max(recipe.batch_size, infer_batch)
        pixels = torch.randint(0, 256, (batch, side, side), dtype=torch.uint8, generator=generator)
        labels = torch.randint(0, len(run.emotions), (batch,), generator=generator)
        pixels, labels = pixels.to(device), labels.to(device)
        train_x, train_y = pixels[: recipe.batch_size], labels[: recipe.batch_size]
        model.train()
        train_s = _time_steps(
            lambda: train_step(
                model,
                optimizer,
                to_float(train_x, augmentation, generator),
                train_y,
                recipe,
                precision=runtime.precision,
            ),
            device,
            runtime.threads,
        )
        net, infer_x = folded(model), to_float(pixels[:infer_batch], None, None)
        with torch.inference_mode(), autocast(device, runtime.precision):
            predict_s = _time_steps(lambda: net(infer_x), device, runtime.threads)
    finally:
        torch.set_num_threads(previous)
    return recipe.batch_size / train_s, len(infer_x) / predict_s


def _time_steps(step: Callable[[], object], device, threads: int) -> float:
    """Median seconds of ``TIMING_STEPS`` calls after one warm-up call.

    On a CPU, seconds of this process's CPU time divided by its threads: what the step takes
    with the cores to itself, so an ETA measured while other jobs share the machine is not
    inflated by them. On CUDA, wall time with the device synchronised.
    """
    import torch

    cuda = device.type == "cuda"
    clock = time.perf_counter if cuda else time.process_time
    divisor = 1 if cuda else threads

    def timed() -> float:
        start = clock()
        step()
        if cuda:
            torch.cuda.synchronize(device)
        return (clock() - start) / divisor

    timed()
    return float(np.median([timed() for _ in range(TIMING_STEPS)]))
