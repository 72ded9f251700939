"""Transfer tables of an experiment from scored predictions (``metrics.add_image_scores``)
joined with run metadata: accuracy with CIs per train group x test cell, the paired F-vs-M
comparison, the in-group advantage and McNemar's tests, each Holm-corrected across variants.

Columns used: model, variant, train_group, seed, run_id, test_set, test_group, sample_id,
subject_id, correct, cross_entropy. A condition is one (model, variant); seeds replicate it. A
test cell is (test_set, test_group); test_group "all" pools a test set's groups.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ferbias.analysis.stats import (
    N_RESAMPLES,
    TransferCells,
    bootstrap_difference,
    bootstrap_mean,
    cluster_codes,
    holm,
    in_group_advantage,
    in_group_advantage_pvalue,
    mcnemar_test,
    paired_permutation_pvalue,
)

CONDITION = ["model", "variant"]
CELL = ["test_set", "test_group"]
NO_PRIMARY_TEST_SET = "no test set holds every group of {groups}; test sets: {names}"


def with_pooled_cells(scored: pd.DataFrame) -> pd.DataFrame:
    """``scored`` plus, for test sets holding several groups, their rows with test_group "all"."""
    mixed = scored.groupby("test_set")["test_group"].transform("nunique") > 1
    return pd.concat([scored, scored[mixed].assign(test_group="all")], ignore_index=True)


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
    seen = frame.drop_duplicates(["run_id", "sample_id"]).groupby("sample_id", sort=True).size()
    common = seen.index[seen.to_numpy() == frame["run_id"].nunique()].to_numpy(dtype=object)
    subjects = frame.drop_duplicates("sample_id").set_index("sample_id")["subject_id"]
    return common, cluster_codes(subjects.reindex(common).to_numpy(), 0)


def _seed_matrix(
    frame: pd.DataFrame, sample_ids: np.ndarray, value: str = "correct"
) -> tuple[np.ndarray, np.ndarray]:
    """Seeds and the seeds x images matrix of a per-image value (images in ``sample_ids``
    order; NaN where a seed lacks an image)."""
    seeds, rows = np.unique(frame["seed"].to_numpy(), return_inverse=True)
    cols = pd.Index(sample_ids).get_indexer(frame["sample_id"])
    keep = cols >= 0
    flat = rows[keep] * len(sample_ids) + cols[keep]
    size = len(seeds) * len(sample_ids)
    sums = np.bincount(flat, weights=frame[value].to_numpy(float)[keep], minlength=size)
    counts = np.bincount(flat, minlength=size)
    matrix = np.divide(sums, counts, out=np.full(size, np.nan), where=counts > 0)
    return seeds, matrix.reshape(len(seeds), len(sample_ids))


def _matrix(frame: pd.DataFrame, sample_ids: np.ndarray, value: str = "correct") -> np.ndarray:
    return _seed_matrix(frame, sample_ids, value)[1]


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
        if not {first, second} <= set(frame["train_group"]):
            continue
        pair = frame[frame["train_group"].isin([first, second])]
        ids, _ = _images(pair)
        seeds_a, a = _seed_matrix(pair[pair["train_group"] == first], ids)
        seeds_b, b = _seed_matrix(pair[pair["train_group"] == second], ids)
        for seed in sorted(set(seeds_a) & set(seeds_b)):
            i, j = np.flatnonzero(seeds_a == seed)[0], np.flatnonzero(seeds_b == seed)[0]
            result = mcnemar_test(a[i] > 0.5, b[j] > 0.5)
            names = dict(zip([*CONDITION, *CELL], key, strict=True))
            rows.append({**names, "seed": seed, **vars(result)})
    table = pd.DataFrame(rows)
    if len(table):
        table["p_holm"] = table.groupby([*CELL, "seed"])["p_value"].transform(holm)
    return table
