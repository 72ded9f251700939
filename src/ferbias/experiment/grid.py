"""The grid of an experiment: run configs and ids, the arrays a run needs, finished checks.

Layout (see DESIGN.md "On-disk results")::

    runs/<experiment>/experiment.json              resolved spec, data counts, provenance, power
    runs/<experiment>/<run-id>/run.json            resolved run config, fingerprint, status
    runs/<experiment>/<run-id>/history.csv         per epoch losses, accuracies, seconds
    runs/<experiment>/<run-id>/model.safetensors   best-by-validation weights
    runs/<experiment>/<run-id>/predictions.parquet one row per test image

A run id is ``<group>-<variant>-<model>-s<seed>-<hash>-<device>-<precision>-t<threads>``: the
hash covers the resolved run config and the data fingerprint, so a changed spec or data set never
reuses stale results; the suffix is the run's ``Runtime`` (device kind, resolved precision,
threads per run), which change the numbers too (training is not thread-count invariant). So one
run id stands for one result, and a grid resumed with another executor or on another machine
kind trains its own runs instead of mixing them in. CPU model and library versions change results
only by float rounding and are recorded in run.json, not in the id.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ferbias.experiment.data import ExperimentData
from ferbias.experiment.spec import ExperimentSpec, TrainSpec
from ferbias.models import list_models
from ferbias.run_state import check_run
from ferbias.training.runtime import Runtime
from ferbias.training.variants import get_variant, list_variants

log = logging.getLogger(__name__)
NOT_TRUSTED = "%s: %s; training it again"
UNKNOWN_VARIANT = "train.variants: unknown variant {bad!r}; valid: {valid}"
UNKNOWN_MODEL = "train.models: unknown model {bad!r}; valid: {valid}"


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides one run's result; its hash is part of the run id."""

    experiment: str
    model: str
    variant: str
    train_group: str
    seed: int
    epochs: int
    batch_size: int
    emotions: tuple[str, ...]
    image_size: int
    data_fingerprint: str
    model_options: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)  # the variant's resolved recipe
    # Device kind, resolved precision and threads; None only for runs from before ferbias
    # recorded them (their id is the bare config id).
    runtime: Runtime | None = None

    def __hash__(self) -> int:
        return hash(self.run_id)

    @property
    def config_id(self) -> str:
        """``<group>-<variant>-<model>-s<seed>-<hash of the config>``, without the runtime."""
        resolved = {k: v for k, v in asdict(self).items() if k not in ("experiment", "runtime")}
        text = json.dumps(resolved, sort_keys=True, default=list)
        digest = hashlib.sha256(text.encode()).hexdigest()[:10]
        return f"{self.train_group}-{self.variant}-{self.model}-s{self.seed}-{digest}"

    @property
    def run_id(self) -> str:
        return self.config_id if self.runtime is None else f"{self.config_id}-{self.runtime.tag}"

    def on(self, runtime: Runtime | None) -> RunConfig:
        """The same config with another runtime."""
        return replace(self, runtime=runtime)


@dataclass
class TestBatch:
    """One test set's pixels and the columns its predictions carry."""

    name: str
    pixels: np.ndarray
    rows: pd.DataFrame  # sample_id, subject_id, group, y_true, labeller_prob_female


@dataclass
class RunData:
    """The arrays one run needs: labels are indices into the run's emotion tuple."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    tests: list[TestBatch]


@dataclass
class RunTask:
    """What an executor ships to a worker: the config, the run folder and the arrays."""

    config: RunConfig
    run_dir: Path
    data: RunData


def validate_names(spec: ExperimentSpec) -> None:
    """Raise ``ValueError`` naming the field when a variant or model is not registered."""
    for bad in set(spec.train.variants) - set(list_variants()):
        raise ValueError(UNKNOWN_VARIANT.format(bad=bad, valid=", ".join(list_variants())))
    for bad in set(spec.train.models) - set(list_models()):
        raise ValueError(UNKNOWN_MODEL.format(bad=bad, valid=", ".join(list_models())))


def plan_runs(spec: ExperimentSpec, data: ExperimentData, runtime: Runtime) -> list[RunConfig]:
    """The grid in a stable order: model, variant, train group, seed; every run on ``runtime``."""
    fingerprints = {group: data.fingerprint(group) for group in spec.train.groups}
    runs = []
    for model in spec.train.models:
        for name in spec.train.variants_for(model):
            variant = resolved_variant(name, spec.train)
            runs.extend(
                RunConfig(
                    experiment=spec.name,
                    model=model,
                    variant=name,
                    train_group=group,
                    seed=seed,
                    epochs=variant.recipe.epochs,
                    batch_size=variant.recipe.batch_size,
                    emotions=tuple(spec.data.emotions),
                    image_size=spec.data.image_size,
                    data_fingerprint=fingerprints[group],
                    model_options={
                        **variant.model_options,
                        **spec.train.model_options.get(model, {}),
                    },
                    recipe=variant.recipe.to_dict(),
                    runtime=runtime,
                )
                for group in spec.train.groups
                for seed in spec.train.seeds
            )
    return runs


def resolved_variant(name: str, train: TrainSpec):
    """The registered variant with the spec's epochs, batch size (where set) and early stopping
    (for recipes whose learning rate does not depend on the planned epochs)."""
    variant = get_variant(name)
    overrides: dict[str, Any] = {"epochs": train.epochs}
    if train.batch_size is not None:
        overrides["batch_size"] = train.batch_size
    if train.early_stopping_patience is not None and variant.recipe.schedule == "constant":
        overrides["early_stopping_patience"] = train.early_stopping_patience
    return variant.with_overrides(**overrides)


def is_finished(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a finished run whose files verify (``run_state.check_run``).

    A folder that claims to be finished but does not verify is logged with its path and what is
    wrong, and counts as not finished: it is trained again, never trusted.
    """
    check = check_run(run_dir)
    if check.state == "corrupt":
        log.warning(NOT_TRUSTED, run_dir, check.problem)
    return check.finished


def labeller_prob_female(frame: pd.DataFrame) -> np.ndarray:
    """The gender labeller's P(female) per row; NaN where none, or where a person gave the
    label (gender_source "annotator:..."), so label-noise filters never drop hand labels."""
    if "p_female" not in frame:
        return np.full(len(frame), np.nan)
    p = pd.to_numeric(frame["p_female"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    source = frame.get("gender_source", pd.Series(pd.NA, index=frame.index)).astype("string")
    by_hand = source.str.startswith("annotator").fillna(False).to_numpy(dtype=bool)
    return np.where(by_hand, np.nan, p)


def run_data(config: RunConfig, data: ExperimentData) -> RunData:
    """Stack the pixels and label indices of ``config``'s train group and every test set."""
    index = {emotion: i for i, emotion in enumerate(config.emotions)}

    def stack(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        ids = frame["sample_id"].astype(str)
        side = config.image_size
        pixels = np.stack([data.pixels[i] for i in ids]) if len(ids) else np.empty((0, side, side))
        labels = frame["emotion"].map(index).to_numpy(dtype=np.int64, copy=True)
        return pixels.astype(np.uint8), labels

    train_x, train_y = stack(data.train[config.train_group])
    val_x, val_y = stack(data.val[config.train_group])
    tests = []
    for name, frame in data.tests.items():
        pixels, _ = stack(frame)
        rows = pd.DataFrame(
            {
                "sample_id": frame["sample_id"].astype(str),
                "subject_id": frame["subject_id"].astype("string"),
                "group": frame["group"].astype(str),
                "y_true": frame["emotion"].astype(str),
                "labeller_prob_female": labeller_prob_female(frame),
            }
        )
        tests.append(TestBatch(name, pixels, rows))
    return RunData(train_x, train_y, val_x, val_y, tests)
