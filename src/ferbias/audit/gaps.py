"""The accuracy gap between two groups of one test set, for one model (numpy only).

The two groups hold different images (unpaired), so the bootstrap resamples each group's
clusters (subjects; an image without a subject id is its own cluster) on its own and takes the
difference of the resampled accuracies. The permutation test shuffles the group label between
clusters (a subject's images keep one label), keeping each group's number of clusters, and
reports the two-sided share of shuffles with a gap at least as large: ``(1 + hits) / (1 + n)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ferbias.analysis.stats import (
    CONFIDENCE,
    ClusteredSample,
    Interval,
    bootstrap_mean,
    cluster_codes,
    draw_indices,
)


@dataclass(frozen=True)
class GroupGap:
    """Accuracy of each group with its CI, their difference with its CI, and the p-value."""

    first: Interval
    second: Interval
    gap: Interval
    p_value: float
    n_first: int
    n_second: int


def group_accuracy(correct: np.ndarray, subjects, *, n_resamples: int, rng) -> Interval:
    """Accuracy of one group with a bootstrap CI clustered by subject."""
    codes = cluster_codes(subjects, len(correct))
    return bootstrap_mean(correct, clusters=codes, n_resamples=n_resamples, rng=rng)


def group_gap(
    frame: pd.DataFrame, first: str, second: str, *, n_resamples: int, rng: np.random.Generator
) -> GroupGap:
    """Gap acc(first) - acc(second) of scored predictions (``correct``, ``group``,
    ``subject_id``) with a clustered bootstrap CI and a cluster permutation p-value."""
    parts = [frame[frame["group"] == g] for g in (first, second)]
    samples = [
        ClusteredSample.build(
            p["correct"].to_numpy(float), cluster_codes(p["subject_id"].to_numpy(), len(p))
        )
        for p in parts
    ]
    no_seeds = np.zeros((n_resamples, 1), dtype=np.int32)
    draws = [
        s.resampled_means(draw_indices(len(s.sizes), n_resamples, rng), no_seeds) for s in samples
    ]
    intervals = [
        Interval.from_draws(s.mean, d, CONFIDENCE) for s, d in zip(samples, draws, strict=True)
    ]
    gap = Interval.from_draws(samples[0].mean - samples[1].mean, draws[0] - draws[1], CONFIDENCE)
    p_value = _permutation_p(samples, n_resamples, rng)
    return GroupGap(intervals[0], intervals[1], gap, p_value, len(parts[0]), len(parts[1]))


def _permutation_p(samples: list[ClusteredSample], n: int, rng: np.random.Generator) -> float:
    """Two-sided p of the gap when group labels are shuffled between clusters."""
    sums = np.concatenate([s.sums[0] for s in samples])
    sizes = np.concatenate([s.sizes for s in samples])
    k_first = len(samples[0].sizes)
    observed = (
        sums[:k_first].sum() / sizes[:k_first].sum() - sums[k_first:].sum() / sizes[k_first:].sum()
    )
    labels = np.zeros(len(sums), dtype=bool)
    labels[:k_first] = True
    shuffled = rng.permuted(np.tile(labels, (n, 1)), axis=1).astype(np.float64)
    first = (shuffled @ sums) / (shuffled @ sizes)
    second = ((1 - shuffled) @ sums) / ((1 - shuffled) @ sizes)
    hits = np.count_nonzero(np.abs(first - second) >= abs(observed) - 1e-12)
    return float((1 + hits) / (1 + n))
