"""Standardising weights: each group gets the reference emotion mix; balanced accuracy matches
scikit-learn; equal mixes leave plain accuracy unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from ferbias.analysis import standardise

EMOTIONS = np.array(["happy"] * 6 + ["angry"] * 2 + ["happy"] * 2 + ["angry"] * 6)
GROUPS = np.array(["female"] * 8 + ["male"] * 8)
CORRECT = np.array([1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 0, 0], dtype=float)  # F then M


def _weighted(weights, mask):
    return float((weights * CORRECT)[mask].sum() / weights[mask].sum())


def test_weights_give_each_group_the_pooled_mix():
    weights = standardise.standardising_weights(EMOTIONS, GROUPS)
    for group in ("female", "male"):
        mask = np.equal(GROUPS, group)
        assert weights[mask].mean() == pytest.approx(1.0)
        recall = {e: CORRECT[mask & np.equal(EMOTIONS, e)].mean() for e in ("happy", "angry")}
        # pooled mix: 8 happy, 8 angry
        assert _weighted(weights, mask) == pytest.approx(
            0.5 * recall["happy"] + 0.5 * recall["angry"]
        )
    assert _weighted(weights, GROUPS == "female") == pytest.approx(0.5 * 5 / 6 + 0.5 * 1 / 2)


def test_equal_mixes_leave_plain_accuracy_unchanged():
    emotions = np.array(["happy", "angry", "sad"] * 4)
    groups = np.repeat(["female", "male"], 6)
    weights = standardise.standardising_weights(emotions, groups)
    np.testing.assert_allclose(weights, 1.0)


def test_balanced_weights_match_scikit_learn():
    rng = np.random.default_rng(0)
    y_true = rng.choice(["angry", "happy", "sad", "fear"], size=200, p=[0.1, 0.5, 0.3, 0.1])
    y_pred = np.where(rng.random(200) < 0.6, y_true, "happy")
    weights = standardise.standardising_weights(y_true, measure=standardise.BALANCED)
    correct = (y_true == y_pred).astype(float)
    assert (weights * correct).sum() / weights.sum() == pytest.approx(
        balanced_accuracy_score(y_true, y_pred)
    )


def test_a_group_lacking_an_emotion_is_standardised_over_the_ones_it_has():
    emotions = np.array(["happy", "angry", "sad", "happy", "angry"])
    groups = np.array(["a", "a", "a", "b", "b"])
    weights = standardise.standardising_weights(emotions, groups)
    # pooled mix happy 2/5, angry 2/5, sad 1/5; group b renormalises over happy and angry
    np.testing.assert_allclose(weights[3:], [1.0, 1.0])
    np.testing.assert_allclose(weights[:3], [1.2, 1.2, 0.6])
    assert weights[groups == "a"].mean() == pytest.approx(1.0)


def test_plain_weights_are_ones_and_bad_input_is_refused():
    np.testing.assert_allclose(standardise.standardising_weights(EMOTIONS, measure="accuracy"), 1)
    with pytest.raises(ValueError, match="unknown measure 'median'"):
        standardise.standardising_weights(EMOTIONS, measure="median")
    with pytest.raises(ValueError, match="one group per image"):
        standardise.standardising_weights(EMOTIONS, GROUPS[:3])
