"""Accuracy that the emotion mix cannot move: per-image weights that standardise each group.

Two test groups rarely hold the same emotions in the same proportions (FER-2013's female test
faces are 34% happy, its male ones 19%). Plain accuracy then mixes how well a model reads each
emotion with how often each emotion occurs in that group. Weighting every image of group g with
emotion e by ``mix[e] / share[g, e]`` gives each group the same emotion mix, so the weighted
accuracy is ``sum_e mix[e] * recall[g, e]``:

- ``standardised_accuracy``: ``mix`` is the pooled emotion mix of all the images being compared
  (e.g. a test set's female and male images together). It equals plain accuracy when the groups'
  mixes match, so it can always be the headline measure (no data-dependent switch).
- ``balanced_accuracy``: ``mix`` is uniform over the emotions (mean per-emotion recall).
- ``accuracy``: every weight is 1.

The weights are computed once from the whole set of images and then held fixed: bootstrap
resamples and permutations carry them (:mod:`ferbias.analysis.stats`), they are never
re-estimated per resample. A group that lacks an emotion is standardised over the emotions it
has (the reference mix renormalised over them), as balanced accuracy averages over the classes
present. Weights average 1 within each group, so weighted sums read as image counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

PLAIN = "accuracy"
STANDARDISED = "standardised_accuracy"
BALANCED = "balanced_accuracy"
MEASURES = (PLAIN, STANDARDISED, BALANCED)  # the headline (verdicts) is STANDARDISED
MEASURE_LABELS = {
    PLAIN: "plain accuracy",
    STANDARDISED: "emotion-standardised accuracy",
    BALANCED: "balanced accuracy",
}
UNKNOWN_MEASURE = "unknown measure {name!r}; expected one of {known}"
LENGTH_MISMATCH = "emotions has {n} entries but groups has {m}; pass one group per image"


def check_measure(measure: str) -> str:
    """``measure`` itself, or ``ValueError`` listing the known measures."""
    if measure not in MEASURES:
        raise ValueError(UNKNOWN_MEASURE.format(name=measure, known=list(MEASURES)))
    return measure


def reference_mix(emotions: Sequence, *, measure: str = STANDARDISED) -> pd.Series:
    """Share of each emotion in the mix every group is standardised to (sums to 1): the pooled
    mix of ``emotions`` for ``standardised_accuracy``, uniform for ``balanced_accuracy``."""
    counts = pd.Series(np.asarray(emotions, dtype=object)).value_counts(sort=False)
    if check_measure(measure) == BALANCED:
        return pd.Series(1.0 / len(counts), index=counts.index)
    return counts / counts.sum()


def standardising_weights(
    emotions: Sequence,
    groups: Sequence | None = None,
    *,
    measure: str = STANDARDISED,
) -> np.ndarray:
    """One weight per image so that every group of ``groups`` (one group when None) has the
    reference emotion mix of ``measure``; all ones for plain ``accuracy``. The weights of a
    group average 1; a weighted mean of correctness is then ``sum_e mix[e] * recall[g, e]``."""
    emotions = np.asarray(emotions, dtype=object)
    if check_measure(measure) == PLAIN or not len(emotions):
        return np.ones(len(emotions))
    groups = np.zeros(len(emotions)) if groups is None else np.asarray(groups, dtype=object)
    if len(groups) != len(emotions):
        raise ValueError(LENGTH_MISMATCH.format(n=len(emotions), m=len(groups)))
    e, emotion_names = pd.factorize(emotions)
    g, group_names = pd.factorize(groups)
    counts = np.bincount(
        g * len(emotion_names) + e, minlength=len(group_names) * len(emotion_names)
    )
    counts = counts.reshape(len(group_names), len(emotion_names)).astype(float)
    mix = reference_mix(emotions, measure=measure).reindex(emotion_names).to_numpy()
    present = counts > 0
    group_mix = np.where(present, mix, 0.0)
    group_mix /= group_mix.sum(axis=1, keepdims=True)  # over each group's own emotions
    share = counts / counts.sum(axis=1, keepdims=True)
    table = np.divide(group_mix, share, out=np.zeros_like(share), where=present)
    return table[g, e]
