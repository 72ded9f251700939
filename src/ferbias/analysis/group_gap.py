"""One model's accuracy per group and the gap between two groups, plain and mix-standardised.

This is the API for a single model (or one condition's seeds) tested on group-labelled images,
as ``ferbias audit`` needs it; inputs are plain arrays, one entry per test image:

- ``correct``: 0/1 correctness, N, or S x N for S seeds of the same model recipe;
- ``groups``: each image's group label (e.g. apparent gender);
- ``emotions``: each image's true emotion (the standardisation is over these);
- ``clusters``: optional subject ids (None or missing: the image is its own cluster).

The gap ``acc(first) - acc(second)`` compares different images, so it is unpaired:

- CI: hierarchical bootstrap (seeds, then clusters drawn from all of the images); the
  per-image weights of :mod:`ferbias.analysis.standardise` are fixed before resampling.
- p-value: whole clusters swap group labels. For plain accuracy any two clusters may swap (H0:
  accuracy does not depend on the group). For the standardised and balanced measures only clusters
  with the same emotion counts swap (with one image per cluster: a permutation within each
  emotion), so every group keeps its emotion counts and the weights stay fixed (H0: given the
  emotion, correctness does not depend on the group). Each cluster must lie in one group.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ferbias.analysis.standardise import MEASURES, PLAIN, STANDARDISED, standardising_weights
from ferbias.analysis.stats import (
    CONFIDENCE,
    N_RESAMPLES,
    ClusteredSample,
    Interval,
    cluster_codes,
    draw_indices,
)

log = logging.getLogger(__name__)

PERMUTATION_CHUNK = 256  # permutations computed at once (memory: chunk x clusters floats)
BAD_LENGTHS = "correct has {n} images but {name} has {m}; pass one entry per image"
NO_IMAGES = "no test image has group {group!r}; groups present: {present}"
MIXED_CLUSTER = (
    "cluster {cluster!r} holds images of both {first!r} and {second!r}; the group test swaps "
    "whole clusters, so each cluster (subject) must belong to one group"
)
NOTHING_TO_SWAP = (
    "%s: no two clusters of different groups have the same emotion counts, so no permutation "
    "can change the statistic and p = 1"
)


@dataclass(frozen=True)
class GroupGap:
    """``first_accuracy - second_accuracy`` of one measure, with CIs and a permutation p."""

    measure: str
    first: str
    second: str
    n_first: int
    n_second: int
    first_accuracy: Interval
    second_accuracy: Interval
    gap: Interval
    p_value: float

    def as_row(self) -> dict:
        """Flat record: measure, groups, counts, each estimate with its _low/_high, p_value."""
        row = {k: getattr(self, k) for k in ("measure", "first", "second", "n_first", "n_second")}
        for name in ("first_accuracy", "second_accuracy", "gap"):
            interval = getattr(self, name)
            row |= {name: interval.estimate, f"{name}_low": interval.low}
            row[f"{name}_high"] = interval.high
        return {**row, "p_value": self.p_value}


def _inputs(correct, groups, emotions, clusters) -> tuple[np.ndarray, ...]:
    correct = np.atleast_2d(np.asarray(correct, dtype=float))
    n = correct.shape[1]
    arrays = {"groups": groups, "emotions": emotions}
    if clusters is not None:
        arrays["clusters"] = clusters
    for name, values in arrays.items():
        if len(values) != n:
            raise ValueError(BAD_LENGTHS.format(n=n, name=name, m=len(values)))
    groups = np.asarray(pd.Series(groups, dtype="string").fillna("unknown"), dtype=object)
    return correct, groups, np.asarray(emotions, dtype=object), cluster_codes(clusters, n)


def group_gap(
    correct: np.ndarray,
    *,
    groups: Sequence,
    emotions: Sequence,
    first: str,
    second: str,
    clusters: Sequence | None = None,
    measure: str = STANDARDISED,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    rng: np.random.Generator,
) -> GroupGap:
    """Accuracy (``measure``) on ``first``'s and ``second``'s images and their gap, with
    bootstrap CIs and a permutation p-value (module docstring). Images of other groups are left
    out; the standardised measure uses the pooled emotion mix of the two groups' images."""
    correct, groups, emotions, codes = _inputs(correct, groups, emotions, clusters)
    for group in (first, second):
        if not np.any(groups == group):
            raise ValueError(NO_IMAGES.format(group=group, present=sorted(set(groups))))
    keep = np.isin(groups, [first, second])
    correct, groups, emotions = correct[:, keep], groups[keep], emotions[keep]
    names = np.asarray(clusters, dtype=object)[keep] if clusters is not None else None
    codes = pd.factorize(codes[keep])[0]
    weights = standardising_weights(emotions, groups, measure=measure)
    is_first = groups == first
    labels = _cluster_labels(is_first, codes, names, (first, second))
    a = ClusteredSample.build(correct, codes, weights * is_first)
    b = ClusteredSample.build(correct, codes, weights * ~is_first)
    images = draw_indices(len(a.sizes), n_resamples, rng)
    seeds = draw_indices(len(a.sums), n_resamples, rng)
    draws_a, draws_b = a.resampled_means(images, seeds), b.resampled_means(images, seeds)
    p = _permutation_pvalue(
        correct.mean(axis=0), emotions, is_first, codes, labels, weights, measure, n_resamples, rng
    )
    return GroupGap(
        measure=measure,
        first=first,
        second=second,
        n_first=int(is_first.sum()),
        n_second=int((~is_first).sum()),
        first_accuracy=Interval.from_draws(a.mean, draws_a, confidence),
        second_accuracy=Interval.from_draws(b.mean, draws_b, confidence),
        gap=Interval.from_draws(a.mean - b.mean, draws_a - draws_b, confidence),
        p_value=p,
    )


def _cluster_labels(is_first, codes, names, pair: tuple[str, str]) -> np.ndarray:
    """True per cluster whose images are the first group's; ``ValueError`` naming a cluster
    (its subject id, ``names``) that spans both groups."""
    share = np.bincount(codes, weights=is_first) / np.bincount(codes)
    mixed = np.flatnonzero((share > 0) & (share < 1))
    if len(mixed):
        image = int(np.flatnonzero(codes == mixed[0])[0])
        name = names[image] if names is not None else image
        raise ValueError(MIXED_CLUSTER.format(cluster=name, first=pair[0], second=pair[1]))
    return share == 1


def _strata(emotions: np.ndarray, codes: np.ndarray, measure: str) -> np.ndarray:
    """Stratum per cluster: one stratum for plain accuracy, else the cluster's emotion counts."""
    k = int(codes.max()) + 1
    if measure == PLAIN:
        return np.zeros(k, dtype=np.int64)
    e, names = pd.factorize(emotions)
    profile = np.bincount(codes * len(names) + e, minlength=k * len(names))
    return np.unique(profile.reshape(k, len(names)), axis=0, return_inverse=True)[1].ravel()


def _sums_as(group_mask, emotion_codes, codes, weights, correct, k):
    """Per cluster: weighted correct and weight sums if the cluster were in the masked group
    (0 for clusters whose emotions that group lacks: they are never relabelled into it)."""
    table = np.zeros(int(emotion_codes.max()) + 1)
    table[emotion_codes[group_mask]] = weights[group_mask]  # one weight per group x emotion
    w = table[emotion_codes]
    return np.bincount(codes, w * correct, minlength=k), np.bincount(codes, w, minlength=k)


def _permuted_first_totals(labels, strata, columns: np.ndarray, n: int, rng) -> np.ndarray:
    """n x C: per permutation, the sums of ``columns`` (K x C) over the clusters labelled first
    when labels are shuffled within each stratum (strata holding one group never change)."""
    totals = np.zeros((n, columns.shape[1]))
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum)
        chosen = labels[members].astype(float)
        if chosen.min() == chosen.max():
            totals += chosen @ columns[members]
            continue
        for start in range(0, n, PERMUTATION_CHUNK):
            b = min(PERMUTATION_CHUNK, n - start)
            shuffled = rng.permuted(np.tile(chosen, (b, 1)), axis=1)
            totals[start : start + b] += shuffled @ columns[members]
    return totals


def _permutation_pvalue(
    correct, emotions, is_first, codes, labels, weights, measure: str, n: int, rng
) -> float:
    """Two-sided p of the gap over ``n`` cluster-label permutations (module docstring)."""
    k = len(labels)
    strata = _strata(emotions, codes, measure)
    if measure != PLAIN and not any(len(set(labels[strata == s])) == 2 for s in set(strata)):
        log.warning(NOTHING_TO_SWAP, measure)
        return 1.0
    emotion_codes = pd.factorize(emotions)[0]
    columns = np.column_stack(
        [
            *_sums_as(is_first, emotion_codes, codes, weights, correct, k),
            *_sums_as(~is_first, emotion_codes, codes, weights, correct, k),
        ]
    )
    observed_f = labels.astype(float) @ columns
    totals_m = columns[:, 2:].sum(axis=0)
    observed = observed_f[0] / observed_f[1] - (totals_m[0] - observed_f[2]) / (
        totals_m[1] - observed_f[3]
    )
    first = _permuted_first_totals(labels, strata, columns, n, rng)
    flipped = first[:, 0] / first[:, 1] - (totals_m[0] - first[:, 2]) / (totals_m[1] - first[:, 3])
    hits = np.count_nonzero(np.abs(flipped) >= abs(observed) - 1e-12)
    return float((1 + hits) / (1 + n))


def group_gap_table(
    correct: np.ndarray,
    *,
    groups: Sequence,
    emotions: Sequence,
    first: str,
    second: str,
    clusters: Sequence | None = None,
    measures: Sequence[str] = MEASURES,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """``group_gap`` for each measure, one row each (columns of ``GroupGap.as_row``)."""
    options = {"groups": groups, "emotions": emotions, "first": first, "second": second}
    options |= {"clusters": clusters, "n_resamples": n_resamples, "confidence": confidence}
    rows = [group_gap(correct, measure=m, rng=rng, **options).as_row() for m in measures]
    return pd.DataFrame(rows)


def group_accuracy_table(
    correct: np.ndarray,
    *,
    groups: Sequence,
    emotions: Sequence,
    clusters: Sequence | None = None,
    measures: Sequence[str] = MEASURES,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Accuracy of every group (and "all") per measure with a bootstrap CI: columns group,
    measure, n_images, accuracy, low, high. Standardised to the pooled mix of all images."""
    correct, groups, emotions, codes = _inputs(correct, groups, emotions, clusters)
    rows = []
    for measure in measures:
        weights = standardising_weights(emotions, groups, measure=measure)
        overall = standardising_weights(emotions, None, measure=measure)
        for group in [*sorted(set(groups)), "all"]:
            mask = np.ones(len(groups), bool) if group == "all" else groups == group
            w = (overall if group == "all" else weights) * mask
            sample = ClusteredSample.build(correct, codes, w)
            draws = sample.resampled_means(
                draw_indices(len(sample.sizes), n_resamples, rng),
                draw_indices(len(sample.sums), n_resamples, rng),
            )
            ci = Interval.from_draws(sample.mean, draws, confidence)
            rows.append(
                {"group": group, "measure": measure, "n_images": int(mask.sum())}
                | {"accuracy": ci.estimate, "low": ci.low, "high": ci.high}
            )
    return pd.DataFrame(rows)
