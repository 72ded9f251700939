"""The audit on the domain of use: labels against the random-audit half of the in-domain gold.

Pure numpy / pandas / statsmodels / matplotlib. Inputs per audit face: ``truth`` (female, male,
or NA where the annotators could not call the face), ``pred`` (female / male / unknown: the
labeller's decision) and, where known, ``p_female``. Accuracy, errors and coverage count the
decidable faces (truth female or male); "error on women" is the share of labelled women called
male, "coverage of women" the share of women labelled at all. Intervals are Wilson 95% intervals
(faces are independent draws of a random sample). Undecidable faces get their own figure: how
often the labeller labels a face two annotators could not call.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from statsmodels.stats.proportion import proportion_confint

from ferbias.gender.audit import calibration_table, expected_calibration_error
from ferbias.gender.base import Thresholds, decide
from ferbias.gender.thresholds import GRID

GOALS = {  # issue 9's goals, measured on the audit half
    "accuracy": 0.97,
    "coverage": 0.80,
    "error_gap": 0.02,
    "coverage_gap": 0.05,
    "emotion_accuracy": 0.94,
    "fer_coverage": 0.75,
    "ece": 0.03,
}
SAME_LENGTH = "truth, pred and p_female must have one entry per audit face; got {lengths}"


def proportion(hits: int, n: int) -> tuple[float, float, float]:
    """(share, low, high): Wilson 95% interval; NaNs when ``n`` is 0."""
    if n == 0:
        return (np.nan, np.nan, np.nan)
    low, high = proportion_confint(hits, n, alpha=0.05, method="wilson")
    return (hits / n, float(low), float(high))


def _with_ci(out: dict, name: str, hits: int, n: int) -> None:
    out[name], out[f"{name}_low"], out[f"{name}_high"] = proportion(int(hits), int(n))


def headline(truth, pred, p_female=None) -> dict[str, float]:
    """Coverage, accuracy, per-gender error and coverage (with CIs), ECE, undecidable labelled."""
    truth = pd.Series(truth, dtype="string").to_numpy(dtype=object, na_value=None)
    pred = np.asarray(pred, dtype=object)
    if len(truth) != len(pred) or (p_female is not None and len(p_female) != len(pred)):
        lengths = [len(truth), len(pred), None if p_female is None else len(p_female)]
        raise ValueError(SAME_LENGTH.format(lengths=lengths))
    decidable = np.isin(truth, ["female", "male"])
    labelled = pred != "unknown"
    out: dict[str, float] = {"n": int(decidable.sum())}
    _with_ci(out, "coverage", (labelled & decidable).sum(), decidable.sum())
    _with_ci(
        out,
        "accuracy",
        (labelled & decidable & (pred == truth)).sum(),
        (labelled & decidable).sum(),
    )
    for gender, other in (("female", "male"), ("male", "female")):
        mine = decidable & (truth == gender)
        out[f"n_{gender}"] = int(mine.sum())
        _with_ci(out, f"error_{gender}", (mine & (pred == other)).sum(), (mine & labelled).sum())
        _with_ci(out, f"coverage_{gender}", (mine & labelled).sum(), mine.sum())
    out["n_undecidable"] = int((~decidable).sum())
    _with_ci(out, "undecidable_labelled", (~decidable & labelled).sum(), (~decidable).sum())
    if p_female is not None:
        p = np.asarray(p_female, dtype=float)
        keep = decidable & np.isfinite(p)
        out["ece"] = expected_calibration_error(truth[keep], p[keep]) if keep.any() else np.nan
    return out


def by_emotion(emotion, truth, pred) -> pd.DataFrame:
    """One ``headline`` row per emotion (no ECE), then "all"."""
    emotion = np.asarray(emotion, dtype=object)
    rows = [
        {
            "emotion": e,
            **headline(
                np.asarray(truth, dtype=object)[emotion == e], np.asarray(pred)[emotion == e]
            ),
        }
        for e in sorted(set(emotion))
    ]
    rows.append({"emotion": "all", **headline(truth, pred)})
    return pd.DataFrame(rows)


def contamination(emotion, truth, pred) -> pd.DataFrame:
    """Per predicted gender x emotion: labelled audit faces, the share of the other gender among
    the decidable ones (Wilson CI), and the share the annotators could not call."""
    emotion = np.asarray(emotion, dtype=object)
    truth = pd.Series(truth, dtype="string").to_numpy(dtype=object, na_value=None)
    pred = np.asarray(pred, dtype=object)
    decidable = np.isin(truth, ["female", "male"])
    rows = []
    for gender in ("female", "male"):
        for e in [*sorted(set(emotion)), "all"]:
            cell = (pred == gender) & ((emotion == e) if e != "all" else True)
            row = {"group": gender, "emotion": e, "n_labelled": int(cell.sum())}
            known = cell & decidable
            _with_ci(row, "other_share", (known & (truth != gender)).sum(), known.sum())
            _with_ci(row, "undecidable_share", (cell & ~decidable).sum(), cell.sum())
            rows.append(row)
    return pd.DataFrame(rows)


def coverage_accuracy_curve(truth, p_female, grid: np.ndarray = GRID) -> pd.DataFrame:
    """Per symmetric threshold: coverage and accuracy on the decidable faces."""
    truth = pd.Series(truth, dtype="string").to_numpy(dtype=object, na_value=None)
    decidable = np.isin(truth, ["female", "male"])
    y, p = truth[decidable], np.asarray(p_female, dtype=float)[decidable]
    rows = []
    for t in grid:
        pred = decide(p, Thresholds.symmetric(float(t)))
        labelled = pred != "unknown"
        accuracy = (pred[labelled] == y[labelled]).mean() if labelled.any() else np.nan
        rows.append({"threshold": float(t), "coverage": labelled.mean(), "accuracy": accuracy})
    return pd.DataFrame(rows)


def plot_coverage_accuracy(
    curves: dict[str, pd.DataFrame], points: dict[str, tuple[float, float]]
) -> Figure:
    """Accuracy against coverage on the decidable audit faces: one line per labeller (symmetric
    thresholds swept), one marker per chosen operating point."""
    figure = Figure(figsize=(5.2, 4), layout="constrained")
    ax = figure.subplots()
    for name, curve in curves.items():
        ax.plot(curve["coverage"], curve["accuracy"], label=name)
    for name, (coverage, accuracy) in points.items():
        ax.plot([coverage], [accuracy], marker="o", ls="", label=name)
    ax.axhline(GOALS["accuracy"], color="gray", lw=0.8)
    ax.axvline(GOALS["coverage"], color="gray", lw=0.8, ls=":")
    ax.set_xlabel("coverage of decidable audit faces")
    ax.set_ylabel("accuracy on the labelled")
    ax.set_ylim(0.8, 1.0)
    ax.legend(fontsize=7)
    return figure


def plot_reliability(truth, p_by_labeller: dict[str, np.ndarray], *, bins: int = 10) -> Figure:
    """Reliability diagram of P(female) on the decidable audit faces, one line per labeller."""
    truth = pd.Series(truth, dtype="string").to_numpy(dtype=object, na_value=None)
    decidable = np.isin(truth, ["female", "male"])
    figure = Figure(figsize=(4.2, 4), layout="constrained")
    ax = figure.subplots()
    ax.plot([0, 1], [0, 1], color="gray", lw=0.8)
    for name, p in p_by_labeller.items():
        p = np.asarray(p, dtype=float)
        keep = decidable & np.isfinite(p)
        table = calibration_table(truth[keep], p[keep], bins=bins)
        ece = expected_calibration_error(truth[keep], p[keep], bins=bins)
        ax.plot(
            table["mean_p"], table["frac_female"], marker="o", ms=3, label=f"{name} (ECE {ece:.3f})"
        )
    ax.set_xlabel("predicted P(female)")
    ax.set_ylabel("female share (annotators)")
    ax.legend(fontsize=7)
    return figure


def goals_table(
    overall: dict, emotions: pd.DataFrame, *, fer_coverage: float | None
) -> pd.DataFrame:
    """Issue 9's goals, each with the measured value and whether it is met."""
    e_gap = abs(overall["error_female"] - overall["error_male"])
    c_gap = abs(overall["coverage_female"] - overall["coverage_male"])
    per = emotions[emotions["emotion"] != "all"]
    worst = per.loc[per["accuracy"].idxmin()] if len(per) else None
    rows = [
        ("accuracy >= 97%", overall["accuracy"] >= GOALS["accuracy"],
         _ci_text(overall, "accuracy")),
        ("coverage of decidable faces >= 80%", overall["coverage"] >= GOALS["coverage"],
         _ci_text(overall, "coverage")),
        ("error on women and on men within 2 pp", e_gap <= GOALS["error_gap"],
         f"{_ci_text(overall, 'error_female')} / {_ci_text(overall, 'error_male')}; "
         f"gap {100 * e_gap:.1f} pp"),
        ("coverage of women and of men within 5 pp", c_gap <= GOALS["coverage_gap"],
         f"{_ci_text(overall, 'coverage_female')} / {_ci_text(overall, 'coverage_male')}; "
         f"gap {100 * c_gap:.1f} pp"),
        ("no emotion below 94%",
         worst is not None and worst["accuracy"] >= GOALS["emotion_accuracy"],
         "" if worst is None else f"lowest {worst['emotion']}: {_ci_text(worst, 'accuracy')}"),
        ("coverage of FER-2013 six-emotion images >= 75%",
         fer_coverage is not None and fer_coverage >= GOALS["fer_coverage"],
         "not measured" if fer_coverage is None else f"{100 * fer_coverage:.1f}%"),
        ("ECE <= 0.03", overall.get("ece", np.nan) <= GOALS["ece"],
         f"{overall.get('ece', np.nan):.3f}"),
    ]  # fmt: skip
    return pd.DataFrame(
        [{"goal": g, "met": "met" if ok else "not met", "measured": m} for g, ok, m in rows]
    )


def _ci_text(row, name: str) -> str:
    return (
        f"{100 * row[name]:.1f}% ({100 * row[name + '_low']:.1f}-{100 * row[name + '_high']:.1f})"
    )
