"""Bootstrap coverage, permutation false-positive rate, McNemar, Holm and power by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from ferbias.analysis import standardise, stats


def test_bootstrap_covers_truth_in_about_95_percent():
    rng = np.random.default_rng(0)
    truth, covered = 0.6, 0
    for _ in range(200):
        correct = rng.random(400) < truth
        ci = stats.bootstrap_mean(correct, n_resamples=1000, rng=rng)
        covered += ci.covers(truth)
    assert 180 <= covered <= 198  # 90-99 %


def test_clustered_bootstrap_covers_truth_where_naive_one_does_not():
    """Subjects with their own accuracy: the clustered CI keeps ~95 %, the naive one drops."""
    rng = np.random.default_rng(1)
    truth, clustered, naive = 0.5, 0, 0
    subjects = np.repeat(np.arange(40), 10)
    for _ in range(200):
        subject_p = np.clip(truth + rng.normal(0, 0.25, 40), 0, 1)
        correct = rng.random(400) < subject_p[subjects]
        clustered += stats.bootstrap_mean(
            correct, clusters=subjects, n_resamples=500, rng=rng
        ).covers(truth)
        naive += stats.bootstrap_mean(correct, n_resamples=500, rng=rng).covers(truth)
    assert 180 <= clustered <= 198
    assert naive < clustered


def test_weighted_bootstrap_covers_the_standardised_truth_in_about_95_percent():
    """Emotion-standardised accuracy of one group (subjects with their own accuracy, two groups
    with different emotion mixes): the truth is sum_e mix[e] * recall[e] for the test set's
    pooled mix, the fixed standard the weights are computed from. 200 simulations with seed 3;
    tolerance: 90-99 % coverage (binomial sd at 95 % is 1.5 %)."""
    rng = np.random.default_rng(3)
    recall = {"happy": 0.8, "angry": 0.35, "sad": 0.5}
    names = list(recall)
    covered = 0
    for _ in range(200):
        emotions = np.r_[
            rng.choice(names, size=300, p=[0.6, 0.2, 0.2]),
            rng.choice(names, size=300, p=[0.2, 0.5, 0.3]),
        ]
        groups = np.repeat(["female", "male"], 300)
        subjects = np.arange(600) // 3
        p = np.array([recall[e] for e in emotions]) + rng.uniform(-0.1, 0.1, 200)[subjects]
        correct = rng.random(600) < p
        weights = standardise.standardising_weights(emotions, groups)
        female = groups == "female"
        ci = stats.bootstrap_mean(
            correct[female],
            clusters=subjects[female],
            weights=weights[female],
            n_resamples=400,
            rng=rng,
        )
        mix = standardise.reference_mix(emotions)
        covered += ci.covers(sum(mix[e] * recall[e] for e in names))
    assert 180 <= covered <= 198


def test_hierarchical_bootstrap_widens_with_seed_spread():
    rng = np.random.default_rng(2)
    base = rng.random(500) < 0.5
    same = np.stack([base] * 5)
    spread = np.stack([rng.random(500) < p for p in (0.4, 0.45, 0.5, 0.55, 0.6)])
    narrow = stats.bootstrap_mean(same, rng=rng)
    wide = stats.bootstrap_mean(spread, rng=rng)
    assert wide.high - wide.low > narrow.high - narrow.low
    assert wide.estimate == pytest.approx(spread.mean())


def test_subject_ids_make_clusters_and_missing_ids_are_singletons():
    codes = stats.cluster_codes(["a", None, "a", "b", None], 5)
    assert codes[0] == codes[2]
    assert len(set(codes)) == 4


def test_permutation_false_positive_rate_near_alpha():
    rng = np.random.default_rng(4)
    rejections = 0
    for _ in range(200):
        p_correct = rng.uniform(0.3, 0.7, size=(2, 150))  # per-image difficulty, same for both
        cells = stats.TransferCells(
            ff=rng.random((1, 150)) < p_correct[0],
            mf=rng.random((1, 150)) < p_correct[0],
            fm=rng.random((1, 150)) < p_correct[1],
            mm=rng.random((1, 150)) < p_correct[1],
        )
        p = stats.in_group_advantage_pvalue(cells, n_permutations=500, rng=rng)
        rejections += p < 0.05
    assert 0.01 <= rejections / 200 <= 0.10


def test_permutation_detects_a_real_in_group_advantage():
    rng = np.random.default_rng(5)
    cells = stats.TransferCells(
        ff=rng.random((1, 600)) < 0.6,
        mf=rng.random((1, 600)) < 0.45,
        fm=rng.random((1, 600)) < 0.45,
        mm=rng.random((1, 600)) < 0.6,
    )
    assert stats.in_group_advantage_pvalue(cells, rng=rng) < 0.01
    ci = stats.in_group_advantage(cells, rng=rng)
    assert ci.low > 0
    expected = cells.ff.mean() + cells.mm.mean() - cells.fm.mean() - cells.mf.mean()
    assert ci.estimate == pytest.approx(expected)


def test_mcnemar_exact_and_chi2_by_hand():
    def pair(b: int, c: int, both: int = 20):
        first = np.r_[np.ones(both), np.ones(b), np.zeros(c), np.zeros(7)].astype(bool)
        second = np.r_[np.ones(both), np.zeros(b), np.ones(c), np.zeros(7)].astype(bool)
        return first, second

    small = stats.mcnemar_test(*pair(3, 12))
    assert (small.b, small.c, small.exact) == (3, 12, True)
    assert small.p_value == pytest.approx(2 * (1 + 15 + 105 + 455) / 2**15)
    large = stats.mcnemar_test(*pair(30, 55))
    assert not large.exact
    assert large.statistic == pytest.approx(24**2 / 85)
    assert large.p_value == pytest.approx(sps.chi2.sf(24**2 / 85, df=1))


def test_holm_by_hand_and_against_statsmodels():
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005, np.nan])
    np.testing.assert_allclose(adjusted[:4], [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(adjusted[4])
    p = np.random.default_rng(6).random(12) ** 3
    np.testing.assert_allclose(stats.holm(p), multipletests(p, method="holm")[1])


def test_minimum_detectable_gap_known_value():
    # Cohen's h = (z_.975 + z_.8) * sqrt(1/n_a + 1/n_b); p2 = sin(asin(sqrt(p1)) + h/2)^2
    h = (sps.norm.ppf(0.975) + sps.norm.ppf(0.8)) * np.sqrt(1 / 588 + 1 / 820)
    expected = 100 * (np.sin(np.arcsin(np.sqrt(0.45)) + h / 2) ** 2 - 0.45)
    gap = stats.minimum_detectable_gap(588, 820, 0.45)
    assert gap == pytest.approx(expected, abs=0.02)
    assert gap == pytest.approx(7.5, abs=0.1)  # the study's test sizes: ~7.5 pp
    assert stats.minimum_detectable_gap(5000, 5000, 0.45) < gap
    with pytest.raises(ValueError, match="base_accuracy"):
        stats.minimum_detectable_gap(10, 10, 1.2)
