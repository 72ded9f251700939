"""Gold-set audit of a labeller: accuracy, per-gender errors, coverage vs threshold, calibration.

Pure numpy/pandas/matplotlib (no torch). ``y_true`` holds "female"/"male"; ``p_female`` the
labeller's P(female). Errors count among the labelled (non-abstained) faces. Used for the photo
sets (secondary evidence); the audit on FER-2013 itself is ``gender.domain_audit``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ferbias.gender.base import Thresholds, decide

DEFAULT_TAUS = np.round(np.arange(0.5, 1.0, 0.01), 2)
TARGET_ACCURACY = 0.97
BAD_TRUTH = "gold labels must be 'female' or 'male'; got {bad}"


def _truth(y_true) -> np.ndarray:
    y = np.asarray(y_true, dtype=object)
    bad = sorted(set(y) - {"female", "male"})
    if bad:
        raise ValueError(BAD_TRUTH.format(bad=bad[:5]))
    return y


def gold_metrics(y_true, p_female, *, thresholds: Thresholds) -> dict[str, float]:
    """n, coverage, accuracy on labelled, per-gender error and coverage, ECE (all faces)."""
    y = _truth(y_true)
    p = np.asarray(p_female, dtype=float)
    pred = decide(p, thresholds)
    covered = pred != "unknown"
    out: dict[str, float] = {"n": len(y), "coverage": covered.mean() if len(y) else np.nan}
    out["accuracy"] = (pred[covered] == y[covered]).mean() if covered.any() else np.nan
    for gender in ("female", "male"):
        mine = y == gender
        labelled = mine & covered
        out[f"n_{gender}"] = int(mine.sum())
        out[f"coverage_{gender}"] = labelled.sum() / mine.sum() if mine.any() else np.nan
        wrong = pred[labelled] != gender
        out[f"error_{gender}"] = wrong.mean() if labelled.any() else np.nan
    out["ece"] = expected_calibration_error(y, p)
    return out


def coverage_curve(y_true, p_female, taus=DEFAULT_TAUS) -> pd.DataFrame:
    """Per tau: coverage and accuracy among the labelled faces."""
    y = _truth(y_true)
    p = np.asarray(p_female, dtype=float)
    rows = []
    for tau in taus:
        pred = decide(p, float(tau))
        covered = pred != "unknown"
        accuracy = (pred[covered] == y[covered]).mean() if covered.any() else np.nan
        rows.append(
            {
                "tau": float(tau),
                "coverage": covered.mean(),
                "accuracy": accuracy,
                "n_labelled": int(covered.sum()),
            }
        )
    return pd.DataFrame(rows)


def calibration_table(y_true, p_female, *, bins: int = 10) -> pd.DataFrame:
    """Reliability table: per P(female) bin, mean prediction, observed female rate, count."""
    y = _truth(y_true) == "female"
    p = np.asarray(p_female, dtype=float)
    keep = np.isfinite(p)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p[keep], edges[1:-1]), 0, bins - 1)
    frame = pd.DataFrame({"bin": which, "p": p[keep], "female": y[keep]})
    table = frame.groupby("bin").agg(
        mean_p=("p", "mean"), frac_female=("female", "mean"), count=("p", "size")
    )
    table["lo"], table["hi"] = edges[table.index], edges[table.index + 1]
    return table.reset_index()


def expected_calibration_error(y_true, p_female, *, bins: int = 10) -> float:
    """ECE of P(female): count-weighted |mean prediction - observed female rate| over bins."""
    table = calibration_table(y_true, p_female, bins=bins)
    if table["count"].sum() == 0:
        return float("nan")
    gap = (table["mean_p"] - table["frac_female"]).abs()
    return float((gap * table["count"]).sum() / table["count"].sum())


def audit_table(gold: dict[str, tuple], *, thresholds: Thresholds) -> pd.DataFrame:
    """One row per gold set (name -> (y_true, p_female)) at ``thresholds``."""
    rows = [
        {"gold_set": name, **gold_metrics(y, p, thresholds=thresholds)}
        for name, (y, p) in gold.items()
    ]
    return pd.DataFrame(rows)


def plot_coverage(
    curves: dict[str, pd.DataFrame], *, thresholds: Thresholds | None = None
) -> Figure:
    """Coverage and accuracy against a symmetric threshold tau, one line per gold set; the
    labeller's thresholds (female, male) dashed."""
    figure = Figure(figsize=(9, 3.6), layout="constrained")
    ax_cov, ax_acc = figure.subplots(1, 2, sharex=True)
    for name, curve in curves.items():
        ax_cov.plot(curve["tau"], curve["coverage"], label=name)
        ax_acc.plot(curve["tau"], curve["accuracy"], label=name)
    ax_acc.axhline(TARGET_ACCURACY, color="gray", lw=0.8)
    for ax, label in ((ax_cov, "coverage (labelled share)"), (ax_acc, "accuracy on labelled")):
        ax.set_xlabel("tau (confidence threshold)")
        ax.set_ylabel(label)
        for value in {thresholds.female, thresholds.male} if thresholds else ():
            ax.axvline(value, color="k", ls="--", lw=0.8)
    ax_cov.legend(fontsize=8)
    return figure


def plot_calibration(gold: dict[str, tuple], *, bins: int = 10) -> Figure:
    """Reliability diagram of P(female), one line per gold set."""
    figure = Figure(figsize=(4.2, 4), layout="constrained")
    ax = figure.subplots()
    ax.plot([0, 1], [0, 1], color="gray", lw=0.8)
    for name, (y, p) in gold.items():
        table = calibration_table(y, p, bins=bins)
        ax.plot(table["mean_p"], table["frac_female"], marker="o", ms=3, label=name)
    ax.set_xlabel("predicted P(female)")
    ax.set_ylabel("observed female share")
    ax.legend(fontsize=8)
    return figure
