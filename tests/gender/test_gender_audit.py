"""Photo gold-set audit arithmetic: coverage, per-gender errors, curves, calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from ferbias.gender import audit
from ferbias.gender.base import Thresholds
from ferbias.gender.evaluate import POOLED, audit_photos

Y = np.array(["female", "female", "female", "male", "male", "male"])
P = np.array([0.95, 0.7, 0.2, 0.1, 0.45, 0.99])


def test_gold_metrics_counts_by_hand():
    m = audit.gold_metrics(Y, P, thresholds=Thresholds.symmetric(0.9))
    # labelled: 0.95 (F ok), 0.1 (M ok), 0.99 (M wrong -> female)
    assert m["coverage"] == pytest.approx(0.5)
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["error_female"] == 0.0 and m["error_male"] == pytest.approx(0.5)
    assert m["coverage_female"] == pytest.approx(1 / 3) and m["coverage_male"] == pytest.approx(
        2 / 3
    )


def test_curve_coverage_falls_with_tau():
    rng = np.random.default_rng(0)
    y = rng.choice(["female", "male"], 2000)
    margin = rng.uniform(0, 0.5, 2000)
    right = rng.uniform(0, 1, 2000) < 0.5 + margin  # confident faces are right more often
    p = np.where((y == "female") == right, 0.5 + margin, 0.5 - margin)
    curve = audit.coverage_curve(y, p)
    assert (np.diff(curve["coverage"]) <= 0).all()
    assert curve["accuracy"].iloc[-1] > curve["accuracy"].iloc[0] + 0.2


def test_calibration_of_a_calibrated_labeller_is_small():
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 20000)
    y = np.where(rng.uniform(0, 1, 20000) < p, "female", "male")
    assert audit.expected_calibration_error(y, p) < 0.02
    assert audit.expected_calibration_error(y, np.round(p)) > 0.2
    table = audit.calibration_table(y, p, bins=5)
    assert table["count"].sum() == 20000 and len(table) == 5


def test_bad_truth_refused():
    with pytest.raises(ValueError, match="female"):
        audit.gold_metrics(np.array(["woman"]), np.array([0.9]), thresholds=Thresholds(0.5, 0.5))


def test_evaluate_builds_table_curves_and_figures(tmp_path):
    predictions = {
        "a": {"cfd": (Y, P), POOLED: (Y, P)},
        "b": {"cfd": (Y, 1 - P), POOLED: (Y, 1 - P)},
    }
    result = audit_photos(predictions, thresholds=Thresholds(0.6, 0.7), show="a")
    assert set(result.table["labeller"]) == {"a", "b"}
    assert isinstance(result.figures["photo_coverage_vs_tau"], Figure)
    out = result.save(tmp_path)
    assert (out / "photo_coverage_vs_tau.png").stat().st_size > 1000
    assert pd.read_csv(out / "photo_audit.csv").shape[0] == 4
