"""Transfer tables of an experiment from scored predictions (``metrics.add_image_scores``)
joined with run metadata: accuracy with CIs per train group x test cell, the paired F-vs-M
comparison, the in-group advantage and McNemar's tests, each Holm-corrected across variants.

Columns used: model, variant, train_group, seed, run_id, test_set, test_group, sample_id,
subject_id, y_true, correct, cross_entropy. A condition is one (model, variant); seeds replicate
it. A test cell is (test_set, test_group); test_group "all" pools a test set's groups.

Every accuracy comes in the three measures of :mod:`ferbias.analysis.standardise`: plain,
emotion-standardised (each group of a test set weighted to the test set's pooled emotion mix) and
balanced. The weights belong to the test images, fixed once per test set, so every model is
scored on the same weighted images and the paired tests stay paired.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ferbias.analysis.standardise import MEASURES, PLAIN, standardising_weights
from ferbias.analysis.stats import (
    N_RESAMPLES,
    Interval,
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
from ferbias.registry import UnknownNameError

CONDITION = ["model", "variant"]
CELL = ["test_set", "test_group"]
NO_PRIMARY_TEST_SET = "no test set holds every group of {groups}; test sets: {names}"


def weight_column(measure: str) -> str:
    return f"weight_{measure}"


def with_pooled_cells(scored: pd.DataFrame) -> pd.DataFrame:
    """``scored`` plus, for test sets holding several groups, their rows with test_group "all";
    with a ``weight_<measure>`` column per measure (see ``cell_weights``)."""
    mixed = scored.groupby("test_set")["test_group"].transform("nunique") > 1
    frame = pd.concat([scored, scored[mixed].assign(test_group="all")], ignore_index=True)
    keys = [*CELL, "sample_id"]
    images = frame.drop_duplicates(keys)[[*keys, "y_true"]]
    weights = pd.concat([cell_weights(part) for _, part in images.groupby("test_set")])
    return frame.merge(weights.drop(columns="y_true"), on=keys, how="left")


def cell_weights(images: pd.DataFrame) -> pd.DataFrame:
    """``images`` (one row per test cell x image: test_group, y_true) with a weight column per
    measure: each group standardised to the pooled emotion mix of all the groups' images; the
    pooled cell "all" is one group (its standardised weights are 1)."""
    pooled = images["test_group"] == "all"
    parts = []
    for part, groups in (
        (images[~pooled], images.loc[~pooled, "test_group"]),
        (images[pooled], None),
    ):
        weights = {
            weight_column(m): standardising_weights(part["y_true"], groups, measure=m)
            for m in MEASURES
        }
        parts.append(part.assign(**weights))
    return pd.concat(parts)


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
            raise UnknownNameError(NO_PRIMARY_TEST_SET.format(groups=list(groups), names=names))
        primary = max(full, key=lambda n: int((scored["test_set"] == n).sum()))
    return {g: (primary, g) for g in groups}


def _images(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Sample ids seen by every run of ``frame`` (sorted) and their cluster codes."""
    seen = frame.drop_duplicates(["run_id", "sample_id"]).groupby("sample_id", sort=True).size()
    common = seen.index[seen.to_numpy() == frame["run_id"].nunique()].to_numpy(dtype=object)
    subjects = frame.drop_duplicates("sample_id").set_index("sample_id")["subject_id"]
    return common, cluster_codes(subjects.reindex(common).to_numpy(), 0)


def _weights(frame: pd.DataFrame, sample_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Per measure, the weight of each image of ``sample_ids`` in ``frame``'s one test cell."""
    images = frame.drop_duplicates("sample_id").set_index("sample_id").reindex(sample_ids)
    return {m: images[weight_column(m)].to_numpy(dtype=float) for m in MEASURES}


def _interval_columns(name: str, interval: Interval) -> dict[str, float]:
    return {name: interval.estimate, f"{name}_low": interval.low, f"{name}_high": interval.high}


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
    """Per condition x train group x test cell: each measure of accuracy and the cross-entropy
    (seed means with 95% CIs: columns ``<name>``, ``<name>_low``, ``<name>_high``). A measure
    whose weights are all 1 on a cell (e.g. standardised on a pooled cell) repeats the plain
    interval."""
    rng, rows = np.random.default_rng(seed), []
    for key, frame in with_pooled_cells(scored).groupby([*CONDITION, *CELL], sort=True):
        sample_ids, clusters = _images(frame)
        weights = _weights(frame, sample_ids)
        for train_group, part in frame.groupby("train_group", sort=True):
            row = dict(zip([*CONDITION, *CELL], key, strict=True), train_group=train_group)
            row.update(n_seeds=part["seed"].nunique(), n_images=len(sample_ids))
            correct = _matrix(part, sample_ids)
            for measure in MEASURES:
                w = weights[measure]
                if measure != PLAIN and np.allclose(w, 1.0):
                    row.update({measure + k: row[PLAIN + k] for k in ("", "_low", "_high")})
                    continue
                ci = bootstrap_mean(
                    correct, clusters=clusters, weights=w, n_resamples=n_resamples, rng=rng
                )
                row.update(_interval_columns(measure, ci))
            loss = _matrix(part, sample_ids, "cross_entropy")
            ci = bootstrap_mean(loss, clusters=clusters, n_resamples=n_resamples, rng=rng)
            rows.append({**row, **_interval_columns("cross_entropy", ci)})
    return pd.DataFrame(rows)


def _pair(frame: pd.DataFrame, first: str, second: str):
    """Images both models saw, their clusters, and the two seeds x images correctness matrices."""
    pair = frame[frame["train_group"].isin([first, second])]
    ids, clusters = _images(pair)
    a = _matrix(pair[pair["train_group"] == first], ids)
    return ids, clusters, a, _matrix(pair[pair["train_group"] == second], ids)


def _weighted_mean(matrix: np.ndarray, weights: np.ndarray) -> float:
    """Seed mean of the weighted mean over images of a seeds x images matrix."""
    return float(np.mean(matrix @ weights / weights.sum()))


def comparison_table(
    scored: pd.DataFrame,
    *,
    first: str = "female",
    second: str = "male",
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> pd.DataFrame:
    """Per condition x test cell x measure: acc(first-trained) - acc(second-trained), paired
    CI, sign-flip p-value, and Holm-adjusted p (family: the conditions evaluated on that cell,
    per measure)."""
    rng, rows = np.random.default_rng(seed), []
    for key, frame in with_pooled_cells(scored).groupby([*CONDITION, *CELL], sort=True):
        if not {first, second} <= set(frame["train_group"]):
            continue
        ids, clusters, a, b = _pair(frame, first, second)
        names = dict(zip([*CONDITION, *CELL], key, strict=True), first=first, second=second)
        names["n_seeds"] = _fewest_seeds(frame, (first, second))
        for measure, w in _weights(frame, ids).items():
            ci = bootstrap_difference(
                a, b, clusters=clusters, weights=w, n_resamples=n_resamples, rng=rng
            )
            p = paired_permutation_pvalue(
                [a.mean(axis=0) - b.mean(axis=0)],
                clusters=[clusters],
                weights=[w],
                n_permutations=n_resamples,
                rng=rng,
            )
            rows.append(
                {**names, "measure": measure, "n_images": len(ids)}
                | {"accuracy_first": _weighted_mean(a, w), "accuracy_second": _weighted_mean(b, w)}
                | {"difference": ci.estimate, "low": ci.low, "high": ci.high, "p_value": p}
            )
    table = pd.DataFrame(rows)
    if len(table):
        table["p_holm"] = table.groupby(["measure", *CELL])["p_value"].transform(holm)
    return table


def _advantage_weights(on: dict[str, pd.DataFrame], ids: dict[str, np.ndarray]) -> dict:
    """Per measure, (weights on the first cell's images, on the second's): both cells
    standardised to the pooled emotion mix of their images together."""
    images = pd.concat(
        [
            frame.drop_duplicates("sample_id")
            .set_index("sample_id")
            .reindex(ids[group])[["y_true"]]
            .assign(test_group=group)
            for group, frame in on.items()
        ]
    )
    weights = cell_weights(images)
    split = len(next(iter(ids.values())))
    return {
        m: (
            weights[weight_column(m)].to_numpy()[:split],
            weights[weight_column(m)].to_numpy()[split:],
        )
        for m in MEASURES
    }


def _fewest_seeds(frame: pd.DataFrame, groups: Sequence[str]) -> int:
    """The smaller seed count of the groups' models (the seeds the advantage averages)."""
    trained = frame[frame["train_group"].isin(groups)]
    return int(trained.groupby("train_group")["seed"].nunique().min())


def advantage_table(
    scored: pd.DataFrame,
    *,
    cells: dict[str, tuple[str, str]] | None = None,
    groups: tuple[str, str] = ("female", "male"),
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> pd.DataFrame:
    """Per condition x measure: the 2x2 transfer accuracies on the in-distribution cells, the
    in-group advantage with a CI, its permutation p-value and Holm-adjusted p across conditions
    (per measure)."""
    f, m = groups
    cells = cells or primary_cells(scored, groups)
    rng, rows = np.random.default_rng(seed), []
    for key, frame in scored.groupby(CONDITION, sort=True):
        if not {f, m} <= set(frame["train_group"]):
            continue
        on = {
            g: frame[(frame["test_set"] == cells[g][0]) & (frame["test_group"] == cells[g][1])]
            for g in (f, m)
        }
        ids_f, clusters_f, ff, mf = _pair(on[f], f, m)
        ids_m, clusters_m, fm, mm = _pair(on[m], f, m)
        weights = _advantage_weights(on, {f: ids_f, m: ids_m})
        for measure, (weights_f, weights_m) in weights.items():
            transfer = TransferCells(
                ff, fm, mf, mm, clusters_f, clusters_m, weights_f=weights_f, weights_m=weights_m
            )
            ci = in_group_advantage(transfer, n_resamples=n_resamples, rng=rng)
            p = in_group_advantage_pvalue(transfer, n_permutations=n_resamples, rng=rng)
            row = dict(zip(CONDITION, key, strict=True), measure=measure)
            row |= {f"acc_{k}": v for k, v in transfer.accuracies().items()}
            row |= {"n_seeds": _fewest_seeds(frame, (f, m))}
            rows.append(
                {**row, "advantage": ci.estimate, "low": ci.low, "high": ci.high, "p_value": p}
            )
    table = pd.DataFrame(rows)
    if len(table):
        table["p_holm"] = table.groupby("measure")["p_value"].transform(holm)
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
