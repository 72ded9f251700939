"""Classification and fairness metrics from the predictions table alone (no torch).

Every metric is computed from ``y_true``, ``y_pred`` and the ``p_<emotion>`` columns of the
predictions table (one row per test image x model). Per-group results use fairlearn's
``MetricFrame``: one frame per (run_id, test_set), computed once, read as ``overall``,
``by_group`` and ``difference()``.

Conventions (each checked against scikit-learn in tests/test_metrics.py):
- balanced accuracy and macro-F1 average over the classes present in ``y_true`` (an external
  test set with four emotions is scored on those four; predicting a fifth still counts as an
  error), matching ``sklearn`` with ``labels=<classes in y_true>``;
- per-class precision/recall/F1 use ``zero_division=0``;
- cross-entropy is ``-mean(log p_true)`` with probabilities clipped to [1e-12, 1].
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

from ferbias.run_state import check_run

log = logging.getLogger(__name__)

PROBA_PREFIX = "p_"
EPSILON = 1e-12
SUMMARY_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "cross_entropy")
NO_PROBA_COLUMNS = "predictions have no '{prefix}<emotion>' columns; expected one per class"
MISSING_PREDICTION_COLUMNS = "predictions are missing column(s) {missing}; expected {expected}"
REQUIRED_COLUMNS = ("run_id", "test_set", "sample_id", "group", "y_true", "y_pred")
RUN_COLUMNS = ("run_id", "model", "variant", "train_group", "seed")
NO_FINISHED_RUNS = (
    "no finished runs under {path}: expected <run-id>/run.json with status 'finished'"
)
BAD_RUN_JSON = "{path}: run.json lacks key(s) {missing}; expected {expected}"
NOT_TRUSTED = "leaving out %s: %s"


def emotion_classes(predictions: pd.DataFrame) -> list[str]:
    """The model's classes, in the order of the ``p_<emotion>`` columns."""
    classes = [c[len(PROBA_PREFIX) :] for c in predictions.columns if c.startswith(PROBA_PREFIX)]
    if not classes:
        raise ValueError(NO_PROBA_COLUMNS.format(prefix=PROBA_PREFIX))
    return classes


def check_predictions(predictions: pd.DataFrame) -> None:
    """Raise ``ValueError`` naming the missing columns of a malformed predictions table."""
    missing = [c for c in REQUIRED_COLUMNS if c not in predictions.columns]
    if missing:
        raise ValueError(
            MISSING_PREDICTION_COLUMNS.format(missing=missing, expected=list(REQUIRED_COLUMNS))
        )
    emotion_classes(predictions)


def true_class_probability(predictions: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
    """The probability each row's model gave to the true class (0 when the class is unknown)."""
    proba = predictions[[PROBA_PREFIX + c for c in classes]].to_numpy(dtype=float)
    codes = pd.Categorical(predictions["y_true"], categories=list(classes)).codes
    picked = proba[np.arange(len(proba)), np.clip(codes, 0, None)]
    return np.where(codes >= 0, picked, 0.0)


def class_codes(values, classes: Sequence[str]) -> np.ndarray:
    """Index of each value in ``classes`` (-1 when absent)."""
    return pd.Categorical(np.asarray(values, dtype=object), categories=list(classes)).codes


def _confusion_codes(t: np.ndarray, p: np.ndarray, k: int) -> np.ndarray:
    t, p = np.asarray(t, np.int64), np.asarray(p, np.int64)
    keep = (t >= 0) & (p >= 0)
    return np.bincount(t[keep] * k + p[keep], minlength=k * k).reshape(k, k)


def confusion(y_true, y_pred, classes: Sequence[str]) -> np.ndarray:
    """Counts ``C[i, j]`` of true class i predicted as j (rows/cols in ``classes`` order)."""
    codes = class_codes(y_true, classes), class_codes(y_pred, classes)
    return _confusion_codes(*codes, len(classes))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(np.shape(num), float), where=np.asarray(den) > 0)


def per_class_rates(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall (TPR), F1, FPR and support per class from a confusion matrix."""
    tp = np.diag(matrix).astype(float)
    support = matrix.sum(axis=1).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    negatives = matrix.sum() - support
    precision, recall = _ratio(tp, predicted), _ratio(tp, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "fpr": _ratio(predicted - tp, negatives),
        "support": support,
    }


def _present_mean(matrix: np.ndarray, rate: str) -> float:
    rates = per_class_rates(matrix)
    return float(rates[rate][rates["support"] > 0].mean())


def accuracy(y_true, y_pred) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def balanced_accuracy(y_true, y_pred, *, classes: Sequence[str]) -> float:
    return _present_mean(confusion(y_true, y_pred, classes), "recall")


def macro_f1(y_true, y_pred, *, classes: Sequence[str]) -> float:
    return _present_mean(confusion(y_true, y_pred, classes), "f1")


def cross_entropy(y_true, y_pred, *, p_true) -> float:
    """Mean ``-log p_true``; ``y_true``/``y_pred`` are unused (MetricFrame's signature)."""
    return float(np.mean(-np.log(np.clip(np.asarray(p_true, float), EPSILON, 1.0))))


def _code_metrics(k: int) -> dict[str, Callable]:
    """MetricFrame metrics on integer class codes. Only two: fairlearn re-stacks the inputs per
    metric and group, so the summary scalars are derived from the confusion matrix instead."""
    return {"confusion": partial(_confusion_codes, k=k), "cross_entropy": cross_entropy}


def _with_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Add accuracy, balanced accuracy, macro-F1 and n from each row's confusion matrix."""
    matrices = table["confusion"]
    return table.assign(
        n=[int(m.sum()) for m in matrices],
        accuracy=[float(np.trace(m) / m.sum()) if m.sum() else np.nan for m in matrices],
        balanced_accuracy=[_present_mean(m, "recall") for m in matrices],
        macro_f1=[_present_mean(m, "f1") for m in matrices],
    )


def group_metric_frame(
    frame: pd.DataFrame,
    *,
    classes: Sequence[str],
    group_col: str = "group",
    by: Sequence[str] = ("run_id", "test_set"),
) -> MetricFrame:
    """All metrics per ``by`` key (control features) overall and per ``group_col`` value,
    computed once; column ``confusion`` holds confusion matrices (per-class rates derive
    from them). Key x group combinations that do not occur are NaN rows (see ``_valid``)."""
    groups = frame[group_col].astype("string").fillna("unknown").to_numpy(dtype=object)
    return MetricFrame(
        metrics=_code_metrics(len(classes)),
        y_true=class_codes(frame["y_true"], classes),
        y_pred=class_codes(frame["y_pred"], classes),
        sensitive_features=pd.Series(groups, name=group_col),
        control_features=frame[list(by)].astype(str).reset_index(drop=True),
        sample_params={"cross_entropy": {"p_true": true_class_probability(frame, classes)}},
    )


def _valid(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of a MetricFrame table whose key (x group) occurs in the data, with the summary."""
    return _with_summary(table[table["confusion"].map(lambda m: isinstance(m, np.ndarray))])


def _keys(names: Sequence[str], key) -> dict:
    return dict(zip(names, key if isinstance(key, tuple) else (key,), strict=True))


def _summary_rows(overall: pd.DataFrame, by_group: pd.DataFrame, by: list[str]) -> list[dict]:
    rows = []
    columns = ["n", *SUMMARY_METRICS]
    for key, row in overall[columns].iterrows():
        rows.append({**_keys(by, key), "group": "all", **row})
    for key, row in by_group[columns].iterrows():
        rows.append({**_keys([*by, "group"], key), **row})
    return rows


def _class_rows(overall, by_group, by: list[str], classes: Sequence[str]) -> list[dict]:
    matrices = [({**_keys(by, k), "group": "all"}, m) for k, m in overall["confusion"].items()]
    matrices += [(_keys([*by, "group"], k), m) for k, m in by_group["confusion"].items()]
    rows = []
    for keys, matrix in matrices:
        rates = pd.DataFrame(per_class_rates(matrix)).assign(emotion=list(classes))
        rates["support"] = rates["support"].astype(int)
        rows += [{**keys, **r} for r in rates.to_dict(orient="records")]
    return rows


def _gap_rows(by_group: pd.DataFrame, by: list[str], classes: Sequence[str]) -> list[dict]:
    """Per key and emotion: max - min over groups of recall (TPR) and FPR (0 with one group)."""
    rows = []
    for key, matrices in by_group["confusion"].groupby(level=list(range(len(by))), sort=True):
        rates = [per_class_rates(m) for m in matrices]
        recall = np.ptp(np.stack([r["recall"] for r in rates]), axis=0)
        fpr = np.ptp(np.stack([r["fpr"] for r in rates]), axis=0)
        rows += [
            {**_keys(by, key), "emotion": e, "recall_gap": float(r), "fpr_gap": float(f)}
            for e, r, f in zip(classes, recall, fpr, strict=True)
        ]
    return rows


def metric_tables(
    predictions: pd.DataFrame,
    *,
    by: Sequence[str] = ("run_id", "test_set"),
    group_col: str = "group",
) -> dict[str, pd.DataFrame]:
    """Tidy tables per ``by`` key: ``summary`` (one row per key x group, group "all" = overall),
    ``per_class`` (key x group x emotion), ``gaps`` (key x emotion: recall and FPR gaps) and
    ``differences`` (key: each summary metric's gap). Gaps are max minus min over groups, as
    ``MetricFrame.difference(method="between_groups")``; 0 where a test set has one group."""
    check_predictions(predictions)
    classes, by = emotion_classes(predictions), list(by)
    mf = group_metric_frame(predictions, classes=classes, group_col=group_col, by=by)
    overall, by_group = _valid(mf.overall), _valid(mf.by_group)
    levels = list(range(len(by)))
    grouped = by_group[list(SUMMARY_METRICS)].astype(float).groupby(level=levels, sort=True)
    differences = (grouped.max() - grouped.min()).add_suffix("_gap").reset_index()
    return {
        "summary": pd.DataFrame(_summary_rows(overall, by_group, by)),
        "per_class": pd.DataFrame(_class_rows(overall, by_group, by, classes)),
        "gaps": pd.DataFrame(_gap_rows(by_group, by, classes)),
        "differences": differences,
    }


def max_rate_gaps(
    gaps: pd.DataFrame, *, by: Sequence[str] = ("run_id", "test_set")
) -> pd.DataFrame:
    """Per key: the largest per-emotion TPR (recall; equal opportunity) and FPR gap."""
    return (
        gaps.groupby(list(by), sort=True)
        .agg(max_tpr_gap=("recall_gap", "max"), max_fpr_gap=("fpr_gap", "max"))
        .reset_index()
    )


def confusion_table(
    predictions: pd.DataFrame, *, classes: Sequence[str] | None = None, normalize: bool = True
) -> pd.DataFrame:
    """Confusion matrix (rows true, columns predicted); rows sum to 1 when ``normalize``."""
    classes = list(classes or emotion_classes(predictions))
    matrix = confusion(predictions["y_true"], predictions["y_pred"], classes).astype(float)
    if normalize:
        matrix = _ratio(matrix, matrix.sum(axis=1, keepdims=True))
    return pd.DataFrame(matrix, index=pd.Index(classes, name="true"), columns=classes)


def add_image_scores(predictions: pd.DataFrame) -> pd.DataFrame:
    """Copy with per-image ``correct`` (0/1), ``cross_entropy`` (-log p_true) and ``test_group``
    (the image's group as text; "unknown" when missing)."""
    scored = predictions.copy()
    scored["correct"] = (scored["y_true"] == scored["y_pred"]).astype(float)
    p_true = true_class_probability(scored, emotion_classes(scored))
    scored["cross_entropy"] = -np.log(np.clip(p_true, EPSILON, 1.0))
    scored["test_group"] = scored["group"].astype("string").fillna("unknown").astype(str)
    return scored


@dataclass(frozen=True)
class ExperimentResults:
    """Everything the statistics need from ``runs/<experiment>/``."""

    directory: Path
    record: dict  # experiment.json ({} when absent)
    runs: pd.DataFrame  # one row per finished run: RUN_COLUMNS + the rest of run.json's scalars
    predictions: pd.DataFrame  # every run's predictions joined with RUN_COLUMNS
    histories: pd.DataFrame  # every run's history.csv joined with RUN_COLUMNS


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        log.warning("skipping unreadable %s: %s", path, error)
        return {}


def _finished_runs(directory: Path) -> list[tuple[Path, dict]]:
    """Runs whose files verify (``ferbias.run_state``); others are logged and left out."""
    found = []
    for meta_path in sorted(directory.glob("*/run.json")):
        check = check_run(meta_path.parent)
        if check.state == "corrupt":
            log.warning(NOT_TRUSTED, meta_path.parent, check.problem)
        if not check.finished:
            continue
        meta = check.meta
        missing = [k for k in RUN_COLUMNS if k not in meta]
        if missing:
            raise ValueError(
                BAD_RUN_JSON.format(path=meta_path, missing=missing, expected=list(RUN_COLUMNS))
            )
        found.append((meta_path.parent, meta))
    return found


def _run_row(meta: dict) -> dict:
    """run.json's scalars, nested mappings flattened one level (``runtime.device``, ...)."""
    row = {}
    for key, value in meta.items():
        if isinstance(value, dict):
            row |= {f"{key}.{k}": v for k, v in value.items() if not isinstance(v, dict | list)}
        elif not isinstance(value, list):
            row[key] = value
    return row


def load_experiment(directory: str | Path) -> ExperimentResults:
    """Load experiment.json and every finished run (run.json, predictions, history); when
    experiment.json lists ``runs``, only those run ids count."""
    directory = Path(directory)
    record = (
        _read_json(directory / "experiment.json")
        if (directory / "experiment.json").is_file()
        else {}
    )
    found = _finished_runs(directory)
    planned = {r.get("run_id") for r in record.get("runs", []) if isinstance(r, dict)}
    if planned:  # runs of an older spec in the same folder are not part of this experiment
        stale = [meta["run_id"] for _, meta in found if meta["run_id"] not in planned]
        if stale:
            log.info("ignoring %d run(s) not planned by experiment.json: %s", len(stale), stale)
        found = [(folder, meta) for folder, meta in found if meta["run_id"] in planned]
    if not found:
        raise FileNotFoundError(NO_FINISHED_RUNS.format(path=directory))
    runs = pd.DataFrame([_run_row(meta) for _, meta in found])
    keys = runs[list(RUN_COLUMNS)]
    predictions = pd.concat(
        [pd.read_parquet(folder / "predictions.parquet") for folder, _ in found], ignore_index=True
    )
    if "subject_id" not in predictions:
        predictions["subject_id"] = pd.NA
    check_predictions(predictions)
    predictions = predictions.merge(keys, on="run_id", how="left")
    histories = [
        pd.read_csv(folder / "history.csv").assign(run_id=meta["run_id"])
        for folder, meta in found
        if (folder / "history.csv").is_file()
    ]
    histories = pd.concat(histories, ignore_index=True) if histories else pd.DataFrame()
    if len(histories):
        histories = histories.merge(keys, on="run_id", how="left")
    return ExperimentResults(directory, record, runs, predictions, histories)
