"""The audit API: one model's accuracy per group and the gap between two groups, plain and
standardised, with a clustered bootstrap CI and a permutation test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferbias.analysis.group_gap import group_accuracy_table, group_gap, group_gap_table

RECALL = {"happy": 0.85, "angry": 0.40, "neutral": 0.55}
MIXES = {"female": [0.6, 0.15, 0.25], "male": [0.15, 0.6, 0.25]}  # happy, angry, neutral


def _images(rng, n_per_group: int, bonus: float = 0.0):
    """One model's correctness on two groups with different emotion mixes; ``bonus`` recall on
    female faces for every emotion (a real per-face gap of ``bonus``)."""
    emotions = np.concatenate(
        [rng.choice(list(RECALL), size=n_per_group, p=MIXES[g]) for g in MIXES]
    )
    groups = np.repeat(list(MIXES), n_per_group)
    p = np.array([RECALL[e] for e in emotions]) + np.where(groups == "female", bonus, 0.0)
    return rng.random(len(p)) < p, groups, emotions


def test_a_gap_made_of_the_emotion_mix_only_is_not_a_standardised_gap():
    rng = np.random.default_rng(0)
    correct, groups, emotions = _images(rng, 1500)
    table = group_gap_table(
        correct,
        groups=groups,
        emotions=emotions,
        first="female",
        second="male",
        n_resamples=500,
        rng=rng,
    ).set_index("measure")
    plain, std = table.loc["accuracy"], table.loc["standardised_accuracy"]
    # plain: 0.6*.85+.15*.4+.25*.55 - (.15*.85+.6*.4+.25*.55) = 0.2025
    assert plain.gap == pytest.approx(0.2025, abs=0.04)
    assert plain.gap_low > 0.1 and plain.p_value < 0.01
    assert std.gap_low < 0 < std.gap_high and std.p_value > 0.05
    assert (
        table.loc["balanced_accuracy", "gap_low"] < 0 < table.loc["balanced_accuracy", "gap_high"]
    )
    assert list(table.n_first) == [1500] * 3


def test_a_real_per_face_gap_survives_standardisation():
    rng = np.random.default_rng(1)
    correct, groups, emotions = _images(rng, 1500, bonus=0.08)
    gap = group_gap(
        correct,
        groups=groups,
        emotions=emotions,
        first="female",
        second="male",
        n_resamples=500,
        rng=rng,
    )
    assert gap.measure == "standardised_accuracy"
    assert gap.gap.estimate == pytest.approx(0.08, abs=0.04)
    assert gap.gap.low > 0 and gap.p_value < 0.01
    assert gap.first_accuracy.estimate - gap.second_accuracy.estimate == pytest.approx(
        gap.gap.estimate
    )


def test_standardised_permutation_test_holds_its_level_when_mixes_differ():
    """Equal recall per emotion, different mixes: the standardised test rejects ~5 %."""
    rng = np.random.default_rng(2)
    rejections = 0
    for _ in range(100):
        correct, groups, emotions = _images(rng, 150)
        gap = group_gap(
            correct,
            groups=groups,
            emotions=emotions,
            first="female",
            second="male",
            n_resamples=199,
            rng=rng,
        )
        rejections += gap.p_value < 0.05
    assert 1 <= rejections <= 12


def test_subject_clusters_move_together_and_must_lie_in_one_group():
    rng = np.random.default_rng(3)
    correct, groups, emotions = _images(rng, 300)
    subjects = np.array([f"s{i // 3}" for i in range(600)], dtype=object)
    options = {"groups": groups, "emotions": emotions, "first": "female", "second": "male"}
    clustered = group_gap(correct, clusters=subjects, n_resamples=300, rng=rng, **options)
    assert np.isfinite(clustered.p_value) and clustered.gap.low < clustered.gap.high
    subjects[299:301] = "s-both"  # one subject with a female and a male image
    with pytest.raises(ValueError, match="cluster 's-both' holds images of both"):
        group_gap(correct, clusters=subjects, n_resamples=50, rng=rng, **options)
    with pytest.raises(ValueError, match="no test image has group 'other'"):
        group_gap(correct, **{**options, "second": "other"}, n_resamples=50, rng=rng)
    with pytest.raises(ValueError, match="emotions has 5"):
        group_gap(correct, **{**options, "emotions": emotions[:5]}, n_resamples=50, rng=rng)


def test_group_accuracy_table_per_group_and_overall_with_seeds():
    rng = np.random.default_rng(4)
    correct, groups, emotions = _images(rng, 400)
    seeds = np.stack([correct, rng.random(800) < 0.5])
    table = group_accuracy_table(seeds, groups=groups, emotions=emotions, n_resamples=200, rng=rng)
    assert set(table.group) == {"female", "male", "all"}
    plain = table[table.measure == "accuracy"].set_index("group")
    assert plain.loc["all", "accuracy"] == pytest.approx(seeds.mean())
    assert plain.loc["female", "n_images"] == 400
    assert (table.low <= table.accuracy).all() and (table.accuracy <= table.high).all()
    std = table[table.measure == "standardised_accuracy"].set_index("group")
    assert std.loc["all", "accuracy"] == pytest.approx(seeds.mean())  # pooled = its own mix
    assert isinstance(table, pd.DataFrame)
