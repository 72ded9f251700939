"""The calibrated combiner and its thresholds, on synthetic scores."""

from __future__ import annotations

import numpy as np
import pytest

from ferbias.gender.audit import expected_calibration_error
from ferbias.gender.base import Thresholds, decide
from ferbias.gender.ensemble import Combiner, fit_combiner
from ferbias.gender.thresholds import ERROR_GAP, choose_thresholds, pair_grid, running_minimum


def scores(n: int, *, shift: float = 0.0, seed: int = 0):
    """Truth and a calibrated P(female) (logit +-2.5 plus noise), shifted towards male."""
    rng = np.random.default_rng(seed)
    truth = np.where(rng.random(n) < 0.5, "female", "male")
    z = np.where(truth == "female", 2.5, -2.5) + rng.normal(0, 1.5, n)
    return truth, 1 / (1 + np.exp(-(z - shift)))


def test_a_tie_is_never_labelled():
    p = np.array([0.5, 0.5 + 1e-9, 0.5 - 1e-9, np.nan])
    assert decide(p, 0.5).tolist() == ["unknown", "female", "male", "unknown"]
    assert decide(p, Thresholds(0.5, 0.5)).tolist()[0] == "unknown"


def test_per_gender_thresholds_apply_to_their_side():
    p = np.array([0.95, 0.75, 0.25, 0.05])
    assert decide(p, Thresholds(0.7, 0.9)).tolist() == ["female", "female", "unknown", "male"]
    assert decide(p, Thresholds(0.9, 0.7)).tolist() == ["female", "unknown", "male", "male"]
    assert Thresholds.parse("0.7,0.9") == Thresholds(0.7, 0.9)
    assert Thresholds.parse("0.8") == Thresholds(0.8, 0.8)
    with pytest.raises(ValueError, match="pair"):
        Thresholds.parse("0.7,0.8,0.9")
    with pytest.raises(ValueError, match=r"\[0.5, 1.0\]"):
        Thresholds(0.4, 0.9)


def test_pair_grid_counts_match_decide():
    truth, p = scores(500)
    grid = np.array([0.5, 0.7, 0.9])
    table = pair_grid(truth, p, grid)
    pred = decide(p, Thresholds(0.7, 0.9))
    labelled = pred != "unknown"
    women = truth == "female"
    assert table.coverage[1, 2] == pytest.approx(labelled.mean())
    assert table.accuracy[1, 2] == pytest.approx((pred == truth)[labelled].mean())
    assert table.error_female[1, 2] == pytest.approx((pred[women & labelled] == "male").mean())
    assert table.coverage_male[1, 2] == pytest.approx(labelled[~women].mean())


def test_running_minimum_ignores_a_lucky_dip():
    values = np.array([[0.99, 0.90], [0.96, 0.98]])
    assert running_minimum(values).tolist() == [[0.9, 0.9], [0.96, 0.98]]


def test_symmetric_scores_get_one_threshold_reaching_the_target():
    truth, p = scores(4000)
    choice = choose_thresholds(truth, p, target=0.97)
    assert not choice.per_gender and choice.thresholds.female == choice.thresholds.male
    assert choice.fit["accuracy"] >= 0.97
    pred = decide(p, choice.thresholds)
    assert (pred == truth)[pred != "unknown"].mean() == pytest.approx(choice.fit["accuracy"])


def test_skewed_scores_get_per_gender_thresholds_with_symmetric_errors():
    truth, p = scores(4000, shift=1.2)  # women's scores pulled towards male
    choice = choose_thresholds(truth, p, target=0.97)
    assert choice.per_gender and choice.thresholds.male > choice.thresholds.female
    assert "one threshold" in choice.reason
    assert abs(choice.fit["error_female"] - choice.fit["error_male"]) <= ERROR_GAP
    assert abs(choice.fit["coverage_female"] - choice.fit["coverage_male"]) <= 0.05
    assert choice.fit["accuracy"] >= 0.97


def test_unreachable_target_is_refused():
    truth, _ = scores(200)
    with pytest.raises(ValueError, match="no thresholds reach accuracy"):
        choose_thresholds(truth, np.full(200, 0.7), target=0.97)


def test_combiner_is_calibrated_and_weighs_the_better_member(tmp_path):
    rng = np.random.default_rng(1)
    truth, p_good = scores(3000, seed=1)
    p_weak = 1 / (1 + np.exp(-0.3 * np.log(p_good / (1 - p_good)) + rng.normal(0, 1, 3000)))
    fitted = fit_combiner(p_good, p_weak, truth, targets=(0.97, 0.99), seed=0)
    combiner = fitted.combiner
    assert combiner.coef[0] > 5 * abs(combiner.coef[1])
    assert expected_calibration_error(truth, fitted.out_of_fold) < 0.03
    assert combiner.thresholds(0.99).female >= combiner.thresholds(0.97).female
    loaded = Combiner.load(combiner.save(tmp_path / "c.json"))
    assert loaded == combiner
    p = loaded.p_female(p_good[:5], p_weak[:5])
    assert np.allclose(p, combiner.p_female(p_good[:5], p_weak[:5]))
    with pytest.raises(KeyError, match=r"0\.98"):
        loaded.thresholds(0.98)


def test_targeted_faces_join_only_when_they_help():
    truth, p = scores(1500, seed=2)
    wrong = np.where(truth[:600] == "female", "male", "female")  # mislabelled "targeted" faces
    fitted = fit_combiner(p, p, truth, targeted=(p[:600], p[:600], wrong), targets=(0.97,))
    record = fitted.combiner.metadata
    assert record["fit_on"] == "random-fit"
    assert set(record["out_of_fold_log_loss"]) == {"random-fit", "random-fit+targeted"}
