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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower

N_RESAMPLES = 2000
CONFIDENCE = 0.95
EXACT_MCNEMAR_BELOW = 25  # discordant pairs below which McNemar uses the exact binomial test
SHAPE_MISMATCH = "values have {n} images but clusters has {m}; pass one cluster id per image"
BAD_PROPORTION = "base_accuracy must lie in (0, 1), got {value!r}"


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile bootstrap interval."""

    estimate: float
    low: float
    high: float

    @classmethod
    def from_draws(cls, estimate: float, draws: np.ndarray, confidence: float) -> Interval:
        tail = (1 - confidence) / 2
        low, high = np.quantile(draws, [tail, 1 - tail])
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
    """Per-seed sums of a per-image value over clusters: ``sums`` (S x K), ``sizes`` (K)."""

    sums: np.ndarray
    sizes: np.ndarray

    @classmethod
    def build(cls, values: np.ndarray, clusters: np.ndarray | None = None) -> ClusteredSample:
        values = np.atleast_2d(np.asarray(values, dtype=float))
        codes = np.arange(values.shape[1]) if clusters is None else np.asarray(clusters)
        if len(codes) != values.shape[1]:
            raise ValueError(SHAPE_MISMATCH.format(n=values.shape[1], m=len(codes)))
        k = int(codes.max()) + 1 if len(codes) else 0
        sums = np.stack([np.bincount(codes, weights=row, minlength=k) for row in values])
        return cls(sums, np.bincount(codes, minlength=k).astype(float))

    @property
    def mean(self) -> float:
        """Seed-averaged mean of the value over all images."""
        return float((self.sums.sum(axis=1) / self.sizes.sum()).mean())

    def resampled_means(self, image_draws: np.ndarray, seed_draws: np.ndarray) -> np.ndarray:
        """One mean per resample: draw rows of cluster and seed indices (B x K, B x S)."""
        sizes = self.sizes[image_draws].sum(axis=1)
        per_seed = np.stack([row[image_draws].sum(axis=1) for row in self.sums]) / sizes
        return np.take_along_axis(per_seed.T, seed_draws, axis=1).mean(axis=1)


def draw_indices(n: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """A (n_resamples x n) matrix of indices drawn with replacement."""
    return rng.integers(0, n, size=(n_resamples, n), dtype=np.int32)


def bootstrap_mean(
    values: np.ndarray,
    *,
    clusters: np.ndarray | None = None,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    rng: np.random.Generator,
) -> Interval:
    """CI of a per-image mean (e.g. correctness -> accuracy); ``values`` is N or S x N."""
    sample = ClusteredSample.build(values, clusters)
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
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    rng: np.random.Generator,
) -> Interval:
    """CI of mean(first) - mean(second) on the same images (paired image draw)."""
    a, b = ClusteredSample.build(first, clusters), ClusteredSample.build(second, clusters)
    images = draw_indices(len(a.sizes), n_resamples, rng)
    draws = a.resampled_means(images, draw_indices(len(a.sums), n_resamples, rng))
    draws = draws - b.resampled_means(images, draw_indices(len(b.sums), n_resamples, rng))
    return Interval.from_draws(a.mean - b.mean, draws, confidence)


@dataclass(frozen=True)
class TransferCells:
    """Per-image correctness (S x N) of the F- and M-models on the female and male test sets."""

    ff: np.ndarray
    fm: np.ndarray
    mf: np.ndarray
    mm: np.ndarray
    clusters_f: np.ndarray | None = None
    clusters_m: np.ndarray | None = None


def in_group_advantage(
    cells: TransferCells,
    *,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    rng: np.random.Generator,
) -> Interval:
    """acc(F->F) + acc(M->M) - acc(F->M) - acc(M->F) with a hierarchical bootstrap CI."""
    ff, mf = (ClusteredSample.build(v, cells.clusters_f) for v in (cells.ff, cells.mf))
    fm, mm = (ClusteredSample.build(v, cells.clusters_m) for v in (cells.fm, cells.mm))
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
    diffs: Sequence[np.ndarray], clusters: Sequence, weights: Sequence[float], n: int, rng
) -> tuple[float, np.ndarray]:
    """Observed and sign-flipped values of sum_j weight_j * mean(diff_j)."""
    observed, flipped = 0.0, np.zeros(n)
    for diff, codes, weight in zip(diffs, clusters, weights, strict=True):
        sample = ClusteredSample.build(diff, codes)
        sums, total = sample.sums[0], sample.sizes.sum()
        signs = rng.integers(0, 2, size=(n, len(sums)), dtype=np.int8) * 2 - 1
        observed += weight * sums.sum() / total
        flipped += weight * (signs @ sums) / total
    return observed, flipped


def paired_permutation_pvalue(
    diffs: Sequence[np.ndarray],
    *,
    clusters: Sequence[np.ndarray | None] | None = None,
    weights: Sequence[float] | None = None,
    n_permutations: int = N_RESAMPLES,
    rng: np.random.Generator,
) -> float:
    """Two-sided sign-flip p-value of sum_j weight_j * mean(diffs_j) (see module docstring)."""
    clusters = clusters or [None] * len(diffs)
    weights = weights or [1.0] * len(diffs)
    observed, flipped = _flip_statistics(diffs, clusters, weights, n_permutations, rng)
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
        weights=[1.0, -1.0],
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
    """Holm-adjusted p-values; NaN entries stay NaN and are not counted as tests."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        adjusted[ok] = multipletests(p[ok], method="holm")[1]
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


# --- tables from scored predictions (metrics.add_image_scores) joined with run metadata -------
# Columns used: model, variant, train_group, seed, run_id, test_set, test_group, sample_id,
# subject_id, correct, cross_entropy. A condition is one (model, variant); seeds replicate it.
# A test cell is (test_set, test_group); test_group "all" pools a test set's groups.

CONDITION = ["model", "variant"]
CELL = ["test_set", "test_group"]
NO_PRIMARY_TEST_SET = "no test set holds every group of {groups}; test sets: {names}"


def with_pooled_cells(scored: pd.DataFrame) -> pd.DataFrame:
    """``scored`` plus a copy of every row with test_group "all"."""
    return pd.concat([scored, scored.assign(test_group="all")], ignore_index=True)


def primary_cells(
    scored: pd.DataFrame, groups: Sequence[str], primary: str | None = None
) -> dict[str, tuple[str, str]]:
    """The in-distribution test cell of each group: ``(primary, g)``; else test sets named
    '<source>:<g>'; else the largest test set holding every group."""
    names = sorted(scored["test_set"].unique())
    suffixed = {g: [n for n in names if n.endswith(f":{g}")] for g in groups}
    if primary is None and all(suffixed.values()):
        return {g: (suffixed[g][0], g) for g in groups}
    if primary is None:
        holding = scored.groupby("test_set")["test_group"].agg(set)
        full = [n for n in names if set(groups) <= holding[n]]
        if not full:
            raise KeyError(NO_PRIMARY_TEST_SET.format(groups=list(groups), names=names))
        primary = max(full, key=lambda n: int((scored["test_set"] == n).sum()))
    return {g: (primary, g) for g in groups}


def _images(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Sample ids seen by every run of ``frame`` (sorted) and their cluster codes."""
    per_run = frame.groupby("run_id")["sample_id"].agg(frozenset)
    common = sorted(frozenset.intersection(*per_run)) if len(per_run) else []
    subjects = frame.drop_duplicates("sample_id").set_index("sample_id")["subject_id"]
    return np.asarray(common, dtype=object), cluster_codes(subjects.reindex(common).to_numpy(), 0)


def _matrix(frame: pd.DataFrame, sample_ids: np.ndarray, value: str = "correct") -> np.ndarray:
    """Seeds x images matrix of a per-image value, images in ``sample_ids`` order."""
    table = frame.pivot_table(index="seed", columns="sample_id", values=value, aggfunc="mean")
    return table.reindex(columns=sample_ids).to_numpy(dtype=float)


def transfer_table(
    scored: pd.DataFrame, *, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> pd.DataFrame:
    """Accuracy and cross-entropy (seed mean, 95% CI) per condition x train group x test cell."""
    rng, rows = np.random.default_rng(seed), []
    for key, frame in with_pooled_cells(scored).groupby([*CONDITION, *CELL], sort=True):
        sample_ids, clusters = _images(frame)
        for train_group, part in frame.groupby("train_group", sort=True):
            row = dict(zip([*CONDITION, *CELL], key, strict=True), train_group=train_group)
            row.update(n_seeds=part["seed"].nunique(), n_images=len(sample_ids))
            for value, name in (("correct", "accuracy"), ("cross_entropy", "cross_entropy")):
                matrix = _matrix(part, sample_ids, value)
                ci = bootstrap_mean(matrix, clusters=clusters, n_resamples=n_resamples, rng=rng)
                row.update({name: ci.estimate, f"{name}_low": ci.low, f"{name}_high": ci.high})
            rows.append(row)
    return pd.DataFrame(rows)


def _pair(frame: pd.DataFrame, first: str, second: str):
    """Images both models saw, their clusters, and the two seeds x images correctness matrices."""
    pair = frame[frame["train_group"].isin([first, second])]
    ids, clusters = _images(pair)
    a = _matrix(pair[pair["train_group"] == first], ids)
    return ids, clusters, a, _matrix(pair[pair["train_group"] == second], ids)


def comparison_table(
    scored: pd.DataFrame,
    *,
    first: str = "female",
    second: str = "male",
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> pd.DataFrame:
    """Per condition x test cell: acc(first-trained) - acc(second-trained), paired CI, sign-flip
    p-value, and Holm-adjusted p (family: the conditions evaluated on that cell)."""
    rng, rows = np.random.default_rng(seed), []
    for key, frame in with_pooled_cells(scored).groupby([*CONDITION, *CELL], sort=True):
        if not {first, second} <= set(frame["train_group"]):
            continue
        ids, clusters, a, b = _pair(frame, first, second)
        ci = bootstrap_difference(a, b, clusters=clusters, n_resamples=n_resamples, rng=rng)
        diff = [a.mean(axis=0) - b.mean(axis=0)]
        p = paired_permutation_pvalue(
            diff, clusters=[clusters], n_permutations=n_resamples, rng=rng
        )
        row = dict(zip([*CONDITION, *CELL], key, strict=True), first=first, second=second)
        row.update(n_images=len(ids), accuracy_first=a.mean(), accuracy_second=b.mean())
        rows.append(
            {**row, "difference": ci.estimate, "low": ci.low, "high": ci.high, "p_value": p}
        )
    table = pd.DataFrame(rows)
    if len(table):
        table["p_holm"] = table.groupby(CELL)["p_value"].transform(holm)
    return table


def advantage_table(
    scored: pd.DataFrame,
    *,
    cells: dict[str, tuple[str, str]] | None = None,
    groups: tuple[str, str] = ("female", "male"),
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> pd.DataFrame:
    """Per condition: the 2x2 transfer accuracies on the in-distribution cells, the in-group
    advantage with a CI, its permutation p-value and Holm-adjusted p across conditions."""
    f, m = groups
    cells = cells or primary_cells(scored, groups)
    rng, rows = np.random.default_rng(seed), []
    for key, frame in scored.groupby(CONDITION, sort=True):
        if not {f, m} <= set(frame["train_group"]):
            continue
        on = {
            g: frame[(frame["test_set"] == c[0]) & (frame["test_group"] == c[1])]
            for g, c in cells.items()
        }
        _, clusters_f, ff, mf = _pair(on[f], f, m)
        _, clusters_m, fm, mm = _pair(on[m], f, m)
        transfer = TransferCells(ff, fm, mf, mm, clusters_f, clusters_m)
        ci = in_group_advantage(transfer, n_resamples=n_resamples, rng=rng)
        p = in_group_advantage_pvalue(transfer, n_permutations=n_resamples, rng=rng)
        row = dict(zip(CONDITION, key, strict=True))
        row.update(
            {f"acc_{k}": float(np.mean(v)) for k, v in vars(transfer).items() if len(k) == 2}
        )
        rows.append({**row, "advantage": ci.estimate, "low": ci.low, "high": ci.high, "p_value": p})
    table = pd.DataFrame(rows)
    if len(table):
        table["p_holm"] = holm(table["p_value"])
    return table


def mcnemar_table(
    scored: pd.DataFrame, *, first: str = "female", second: str = "male"
) -> pd.DataFrame:
    """McNemar's test, first- vs second-trained model, per condition x test cell x seed (models
    paired by seed), with Holm-adjusted p across conditions per test cell and seed."""
    rows = []
    for key, frame in with_pooled_cells(scored).groupby([*CONDITION, *CELL], sort=True):
        pair = frame[frame["train_group"].isin([first, second])]
        ids, _ = _images(pair)
        wide = pair.pivot_table(
            index=["train_group", "seed"], columns="sample_id", values="correct"
        )
        wide = wide.reindex(columns=ids)
        seeds = sorted(
            set(wide.loc[first].index) & set(wide.loc[second].index)
            if {first, second} <= set(pair["train_group"])
            else ()
        )
        for seed in seeds:
            result = mcnemar_test(wide.loc[(first, seed)] > 0.5, wide.loc[(second, seed)] > 0.5)
            rows.append(
                {**dict(zip([*CONDITION, *CELL], key, strict=True)), "seed": seed, **vars(result)}
            )
    table = pd.DataFrame(rows)
    if len(table):
        table["p_holm"] = table.groupby([*CELL, "seed"])["p_value"].transform(holm)
    return table
