"""Uncertainty and tests for group-isolation experiments (numpy/scipy/statsmodels; no torch).

Resampling units. Test images are clustered by ``subject_id`` where ids exist (one subject's
photos move together); an image without an id is its own cluster. When a model group has several
seeds, the bootstrap is hierarchical: each resample draws seeds with replacement, then clusters
with replacement, and averages the per-seed accuracies. Models compared on the same test set share
the image draw (paired); seeds of different model groups are drawn independently.

Permutation test (paired, sign flip). For a test image i let ``d_i`` be the F-model's
correctness minus the M-model's (seed-averaged). Under H0 "which training group made the
prediction does not matter for this image", swapping the two models' predictions on an image
only flips the sign of ``d_i``; we flip signs per cluster (a subject's images together), recompute
the statistic and report the two-sided share of flips at least as extreme, ``(1 + hits) /
(1 + n_permutations)``. The in-group advantage ``acc(F->F) + acc(M->M) - acc(F->M) - acc(M->F)``
equals ``mean_female(d) - mean_male(d)``, so the same flips test it. Like McNemar's test, this
conditions on the trained models: it asks whether these models differ on this population of
images, and treats images (clusters) as independent; seed-to-seed variation enters the
bootstrap CI, not the p-value.

Weights. Every function takes optional per-image weights (``ferbias.analysis.standardise``:
emotion-standardised or balanced accuracy). A weighted mean is ``sum(w * value) / sum(w)`` over
the images drawn; the weights are fixed beforehand and travel with their images through every
bootstrap draw and sign flip, never re-estimated. Without weights every image counts 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.power import NormalIndPower

N_RESAMPLES = 2000
CONFIDENCE = 0.95
EXACT_MCNEMAR_BELOW = 25  # discordant pairs below which McNemar uses the exact binomial test
SHAPE_MISMATCH = (
    "values have {n} images but clusters / weights have {m}; pass one of each per image"
)
BAD_PROPORTION = "base_accuracy must lie in (0, 1), got {value!r}"


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile bootstrap interval."""

    estimate: float
    low: float
    high: float

    @classmethod
    def from_draws(cls, estimate: float, draws: np.ndarray, confidence: float) -> Interval:
        """Percentile interval; draws that are NaN (a resample without images of a group)
        are left out."""
        tail = (1 - confidence) / 2
        low, high = np.nanquantile(draws, [tail, 1 - tail])
        return cls(float(estimate), float(low), float(high))

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high


def cluster_codes(subject_ids: Sequence | None, n: int) -> np.ndarray:
    """Cluster index per image: its subject where known, else a cluster of its own."""
    if subject_ids is None:
        return np.arange(n)
    ids = pd.Series(subject_ids, dtype="string").reset_index(drop=True)
    own = "\x00image:" + pd.Series(np.arange(len(ids)).astype(str), dtype="string")
    return pd.factorize(ids.fillna(own))[0]


@dataclass(frozen=True)
class ClusteredSample:
    """Per-seed weighted sums of a per-image value over clusters: ``sums`` (S x K) and the
    clusters' summed weights ``sizes`` (K; image counts when unweighted)."""

    sums: np.ndarray
    sizes: np.ndarray

    @classmethod
    def build(
        cls,
        values: np.ndarray,
        clusters: np.ndarray | None = None,
        weights: np.ndarray | None = None,
    ) -> ClusteredSample:
        """``values`` is N or S x N (seeds x images); ``clusters`` and ``weights`` one per
        image (None: each image its own cluster; weight 1)."""
        values = np.atleast_2d(np.asarray(values, dtype=float))
        n = values.shape[1]
        codes = np.arange(n) if clusters is None else np.asarray(clusters)
        weights = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
        if len(codes) != n or len(weights) != n:
            raise ValueError(SHAPE_MISMATCH.format(n=n, m=f"{len(codes)} / {len(weights)}"))
        k = int(codes.max()) + 1 if len(codes) else 0
        sums = np.stack([np.bincount(codes, weights=row * weights, minlength=k) for row in values])
        return cls(sums, np.bincount(codes, weights=weights, minlength=k))

    @property
    def mean(self) -> float:
        """Seed-averaged weighted mean of the value over all images."""
        return float((self.sums.sum(axis=1) / self.sizes.sum()).mean())

    def resampled_means(self, image_draws: np.ndarray, seed_draws: np.ndarray) -> np.ndarray:
        """One mean per resample: draw rows of cluster and seed indices (B x K, B x S); NaN
        where the drawn clusters carry no weight. Gathers read float32 copies (half the memory
        traffic) and accumulate in float64."""
        if np.all(self.sizes == 1):
            sizes = np.full(len(image_draws), float(image_draws.shape[1]))
        else:
            sizes = self.sizes.astype(np.float32)[image_draws].sum(axis=1, dtype=np.float64)
        sums = self.sums.astype(np.float32)
        per_seed = np.stack([row[image_draws].sum(axis=1, dtype=np.float64) for row in sums])
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(sizes > 0, per_seed / sizes, np.nan)
        return np.take_along_axis(means.T, seed_draws, axis=1).mean(axis=1)


def draw_indices(n: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """A (n_resamples x n) matrix of indices drawn with replacement."""
    return rng.integers(0, n, size=(n_resamples, n), dtype=np.int32)


def bootstrap_mean(
    values: np.ndarray,
    *,
    clusters: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    rng: np.random.Generator,
) -> Interval:
    """CI of a per-image (weighted) mean (e.g. correctness -> accuracy); ``values`` is N or
    S x N (seeds x images)."""
    sample = ClusteredSample.build(values, clusters, weights)
    draws = sample.resampled_means(
        draw_indices(len(sample.sizes), n_resamples, rng),
        draw_indices(len(sample.sums), n_resamples, rng),
    )
    return Interval.from_draws(sample.mean, draws, confidence)


def bootstrap_difference(
    first: np.ndarray,
    second: np.ndarray,
    *,
    clusters: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    rng: np.random.Generator,
) -> Interval:
    """CI of mean(first) - mean(second) on the same images (paired image draw)."""
    a = ClusteredSample.build(first, clusters, weights)
    b = ClusteredSample.build(second, clusters, weights)
    images = draw_indices(len(a.sizes), n_resamples, rng)
    draws = a.resampled_means(images, draw_indices(len(a.sums), n_resamples, rng))
    draws = draws - b.resampled_means(images, draw_indices(len(b.sums), n_resamples, rng))
    return Interval.from_draws(a.mean - b.mean, draws, confidence)


@dataclass(frozen=True)
class TransferCells:
    """Per-image correctness (S x N) of the F- and M-models on the female and male test sets,
    with optional cluster codes and weights per image of each test set."""

    ff: np.ndarray
    fm: np.ndarray
    mf: np.ndarray
    mm: np.ndarray
    clusters_f: np.ndarray | None = None
    clusters_m: np.ndarray | None = None
    weights_f: np.ndarray | None = None
    weights_m: np.ndarray | None = None

    def accuracies(self) -> dict[str, float]:
        """Seed-averaged (weighted) accuracy of the four cells, keyed ff, fm, mf, mm."""
        on_f = {"ff": self.ff, "mf": self.mf}
        on_m = {"fm": self.fm, "mm": self.mm}
        means = {k: ClusteredSample.build(v, None, self.weights_f).mean for k, v in on_f.items()}
        means |= {k: ClusteredSample.build(v, None, self.weights_m).mean for k, v in on_m.items()}
        return {k: means[k] for k in ("ff", "fm", "mf", "mm")}


def in_group_advantage(
    cells: TransferCells,
    *,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    rng: np.random.Generator,
) -> Interval:
    """acc(F->F) + acc(M->M) - acc(F->M) - acc(M->F) with a hierarchical bootstrap CI."""
    on_f = (cells.clusters_f, cells.weights_f)
    on_m = (cells.clusters_m, cells.weights_m)
    ff, mf = (ClusteredSample.build(v, *on_f) for v in (cells.ff, cells.mf))
    fm, mm = (ClusteredSample.build(v, *on_m) for v in (cells.fm, cells.mm))
    img_f = draw_indices(len(ff.sizes), n_resamples, rng)
    img_m = draw_indices(len(fm.sizes), n_resamples, rng)
    seeds_f = draw_indices(len(ff.sums), n_resamples, rng)
    seeds_m = draw_indices(len(mm.sums), n_resamples, rng)
    draws = (
        ff.resampled_means(img_f, seeds_f)
        + mm.resampled_means(img_m, seeds_m)
        - fm.resampled_means(img_m, seeds_f)
        - mf.resampled_means(img_f, seeds_m)
    )
    estimate = ff.mean + mm.mean - fm.mean - mf.mean
    return Interval.from_draws(estimate, draws, confidence)


def _flip_statistics(
    diffs: Sequence[np.ndarray],
    clusters: Sequence,
    weights: Sequence,
    coefficients: Sequence[float],
    n: int,
    rng,
) -> tuple[float, np.ndarray]:
    """Observed and sign-flipped values of sum_j coefficient_j * weighted_mean(diff_j)."""
    observed, flipped = 0.0, np.zeros(n)
    for diff, codes, w, coefficient in zip(diffs, clusters, weights, coefficients, strict=True):
        sample = ClusteredSample.build(diff, codes, w)
        sums, total = sample.sums[0], sample.sizes.sum()
        signs = rng.integers(0, 2, size=(n, len(sums)), dtype=np.int8) * 2 - 1
        observed += coefficient * sums.sum() / total
        flipped += coefficient * (signs @ sums) / total
    return observed, flipped


def paired_permutation_pvalue(
    diffs: Sequence[np.ndarray],
    *,
    clusters: Sequence[np.ndarray | None] | None = None,
    weights: Sequence[np.ndarray | None] | None = None,
    coefficients: Sequence[float] | None = None,
    n_permutations: int = N_RESAMPLES,
    rng: np.random.Generator,
) -> float:
    """Two-sided sign-flip p-value of sum_j coefficient_j * weighted_mean(diffs_j); ``clusters``
    and ``weights`` hold one array (or None) per entry of ``diffs`` (see module docstring)."""
    clusters = clusters or [None] * len(diffs)
    weights = weights or [None] * len(diffs)
    coefficients = coefficients or [1.0] * len(diffs)
    observed, flipped = _flip_statistics(
        diffs, clusters, weights, coefficients, n_permutations, rng
    )
    hits = np.count_nonzero(np.abs(flipped) >= abs(observed) - 1e-12)
    return float((1 + hits) / (1 + n_permutations))


def in_group_advantage_pvalue(
    cells: TransferCells, *, n_permutations: int = N_RESAMPLES, rng: np.random.Generator
) -> float:
    """Permutation p-value of the in-group advantage (swap F/M predictions per cluster)."""
    d_female = np.mean(cells.ff, axis=0) - np.mean(cells.mf, axis=0)
    d_male = np.mean(cells.fm, axis=0) - np.mean(cells.mm, axis=0)
    return paired_permutation_pvalue(
        [np.atleast_1d(d_female), np.atleast_1d(d_male)],
        clusters=[cells.clusters_f, cells.clusters_m],
        weights=[cells.weights_f, cells.weights_m],
        coefficients=[1.0, -1.0],
        n_permutations=n_permutations,
        rng=rng,
    )


@dataclass(frozen=True)
class McNemarResult:
    """b: first right and second wrong; c: first wrong and second right."""

    n: int
    b: int
    c: int
    statistic: float
    p_value: float
    exact: bool


def mcnemar_test(first_correct: np.ndarray, second_correct: np.ndarray) -> McNemarResult:
    """McNemar's paired test; exact binomial when fewer than 25 discordant pairs."""
    first, second = np.asarray(first_correct, bool), np.asarray(second_correct, bool)
    b, c = int(np.sum(first & ~second)), int(np.sum(~first & second))
    both, neither = int(np.sum(first & second)), int(np.sum(~first & ~second))
    exact = b + c < EXACT_MCNEMAR_BELOW
    result = sm_mcnemar([[both, b], [c, neither]], exact=exact, correction=True)
    p_value = 1.0 if b + c == 0 else float(result.pvalue)
    return McNemarResult(len(first), b, c, float(result.statistic), p_value, exact)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values; NaN entries stay NaN and are not counted as tests.

    Same numbers as ``statsmodels.stats.multitest.multipletests(method="holm")`` (checked in
    tests), computed in numpy: that call runs ``gc.collect()`` each time, ~0.1 s in a report."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = (len(order) - np.arange(len(order))) * p[order]
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


def minimum_detectable_gap(
    n_a: int, n_b: int, base_accuracy: float, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Smallest accuracy gain over ``base_accuracy`` (in percentage points) that a two-sided
    two-proportion test with n_a and n_b images detects at ``alpha`` with ``power`` (Cohen's h)."""
    if not 0 < base_accuracy < 1:
        raise ValueError(BAD_PROPORTION.format(value=base_accuracy))
    h = NormalIndPower().solve_power(
        effect_size=None, nobs1=n_a, alpha=alpha, power=power, ratio=n_b / n_a
    )
    phi = np.arcsin(np.sqrt(base_accuracy)) + h / 2
    other = np.sin(min(phi, np.pi / 2)) ** 2
    return float(100 * (other - base_accuracy))
