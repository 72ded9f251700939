"""Train/val/test splits that can be trusted, and size matching between groups.

Rows that must stay together (same subject, same exact or near duplicate group) form one unit;
units are assigned whole. An official test split (``original_split == "test"``) is kept and
validation is carved from the rest (an official validation split is kept as it is);
otherwise test and validation are carved from all rows. Units of several rows are assigned
greedily, largest first in seeded random order, to the split whose strata (e.g. emotion x
gender) are furthest below their target share; single rows then fill each stratum's quota.
Rows that would put a duplicate group on both sides of an official split are dropped (NA) and
counted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ferbias.data.schema import SPLITS

log = logging.getLogger(__name__)

SUBJECT_STRADDLES = (
    "subject(s) {examples} appear in more than one split; splits must be subject-disjoint"
)
DUPLICATE_STRADDLES = "duplicate group(s) {examples} appear in test and in train/val"
BAD_FRACTIONS = "val_fraction={val} and test_fraction={test} must be >= 0 and sum to < 1"
DUPLICATES_MISALIGNED = (
    "duplicate_groups must have a sample_id for every manifest row; missing e.g. {examples}"
)
UNKNOWN_COLUMN = "manifest has no column {column!r}; expected one of {columns}"
NO_EMOTION_IMAGES = (
    "{where}: no images of emotion(s) {missing}, so a model would have an empty class; "
    "images exist for {present}. Drop the emotion(s) or add images"
)


def make_splits(
    manifest: pd.DataFrame,
    *,
    seed: int,
    val_fraction: float = 0.1,
    test_fraction: float = 0.15,
    stratify: Sequence[str] = ("emotion", "gender"),
    duplicate_groups: pd.DataFrame | None = None,
    subject_col: str = "subject_id",
    keep_official_test: bool = True,
) -> pd.Series:
    """ "train"/"val"/"test" per manifest row (same index); NA for rows dropped as duplicates.

    ``duplicate_groups``: ``quality.find_duplicates`` output; its groups never straddle splits.
    """
    if not (val_fraction >= 0 and test_fraction >= 0 and val_fraction + test_fraction < 1):
        raise ValueError(BAD_FRACTIONS.format(val=val_fraction, test=test_fraction))
    for column in (*stratify, subject_col):
        if column not in manifest:
            raise ValueError(UNKNOWN_COLUMN.format(column=column, columns=list(manifest.columns)))
    units = _units(manifest, duplicate_groups, subject_col)
    strata = _strata(manifest, stratify)
    rng = np.random.default_rng(seed)
    splits = np.full(len(manifest), None, dtype=object)
    official = manifest["original_split"].astype("string").fillna("").to_numpy()
    if keep_official_test and (official == "test").any():
        is_test = official == "test"
        splits[is_test] = "test"
        train_val = ~is_test & ~np.isin(units, np.unique(units[is_test]))
        dropped = int((~is_test & ~train_val).sum())
        if dropped:
            log.info("dropped %d train/val rows whose duplicate group has a test member", dropped)
        if (official[train_val] == "val").any():  # an official validation split too: keep it
            splits[train_val] = np.where(official[train_val] == "val", "val", "train")
        else:
            share = {"train": 1 - val_fraction, "val": val_fraction}
            splits[train_val] = _assign(units[train_val], strata[train_val], share, rng)
    else:
        share = {
            "train": 1 - val_fraction - test_fraction,
            "val": val_fraction,
            "test": test_fraction,
        }
        splits[:] = _assign(units, strata, share, rng)
    result = pd.Series(splits, index=manifest.index, dtype="string", name="split")
    check_disjoint(manifest, result, duplicate_groups, subject_col)
    return result


def _units(manifest: pd.DataFrame, duplicates: pd.DataFrame | None, subject_col: str) -> np.ndarray:
    """Component id per row linking rows of one subject and of one duplicate group."""
    n = len(manifest)
    label_columns = [manifest[subject_col].astype("string").to_numpy()]
    if duplicates is not None:
        missing = sorted(set(manifest["sample_id"]) - set(duplicates["sample_id"]))
        if missing:
            raise ValueError(DUPLICATES_MISALIGNED.format(examples=missing[:3]))
        aligned = duplicates.set_index("sample_id").reindex(manifest["sample_id"])
        label_columns += [aligned[c].to_numpy() for c in ("exact_group", "near_group")]
    rows, cols = [np.arange(n)], [np.arange(n)]
    for labels in label_columns:
        frame = pd.DataFrame({"label": labels, "row": np.arange(n)}).dropna()
        first = frame.groupby("label")["row"].transform("min").to_numpy()
        rows.append(frame["row"].to_numpy())
        cols.append(first)
    graph = coo_matrix(
        (np.ones(sum(map(len, rows))), (np.concatenate(rows), np.concatenate(cols))), (n, n)
    )
    return connected_components(graph, directed=False)[1]


def _strata(manifest: pd.DataFrame, stratify: Sequence[str]) -> np.ndarray:
    """One integer stratum per row (missing values form their own stratum)."""
    if not stratify:
        return np.zeros(len(manifest), dtype=np.int64)
    codes = [pd.factorize(manifest[c].astype(object).fillna("<NA>"))[0] for c in stratify]
    keys = pd.MultiIndex.from_arrays(codes)
    return pd.factorize(keys)[0]


def _assign(units: np.ndarray, strata: np.ndarray, share: dict[str, float], rng) -> np.ndarray:
    """Stratified assignment of whole units to the splits in ``share`` (split name per row)."""
    names = list(share)
    targets = np.outer(np.bincount(strata), [share[name] for name in names])  # stratum x split
    counts = np.zeros_like(targets)
    choice = np.full(len(units), -1, dtype=np.int64)
    _, inverse, sizes = np.unique(units, return_inverse=True, return_counts=True)
    multi = sizes[inverse] > 1
    members = pd.Series(np.flatnonzero(multi)).groupby(inverse[multi]).agg(list)
    order = rng.permutation(len(members))
    lengths = np.array([len(rows) for rows in members], dtype=np.int64)
    order = order[np.argsort(-lengths[order], kind="stable")]
    for rows in members.iloc[order]:
        unit_strata = strata[rows]
        deficit = (targets[unit_strata] - counts[unit_strata]).sum(axis=0)
        best = int(np.argmax(deficit))  # ties go to the first name (train)
        choice[rows] = best
        np.add.at(counts[:, best], unit_strata, 1)
    _fill_singletons(choice, strata, targets - counts, rng)
    return np.array(names, dtype=object)[choice]


def _fill_singletons(choice: np.ndarray, strata: np.ndarray, deficit: np.ndarray, rng) -> None:
    """Give unassigned rows (``choice == -1``) to splits by each stratum's remaining deficit."""
    for stratum in np.unique(strata[choice < 0]):
        rows = rng.permutation(np.flatnonzero((choice < 0) & (strata == stratum)))
        need = np.clip(deficit[stratum], 0, None)
        quota = (
            need / need.sum() * len(rows)
            if need.sum() > 0
            else np.full(len(need), len(rows) / len(need))
        )
        whole = np.floor(quota).astype(int)
        remainder_order = np.argsort(-(quota - whole), kind="stable")
        whole[remainder_order[: len(rows) - whole.sum()]] += 1
        choice[rows] = np.repeat(np.arange(len(whole)), whole)


def check_disjoint(
    manifest: pd.DataFrame,
    splits: pd.Series,
    duplicate_groups: pd.DataFrame | None = None,
    subject_col: str = "subject_id",
) -> None:
    """Raise ``AssertionError`` if a subject spans splits or a duplicate group spans test."""
    frame = pd.DataFrame({"split": splits.to_numpy(), "subject": manifest[subject_col].to_numpy()})
    frame = frame.dropna()
    spread = frame.groupby("subject")["split"].nunique()
    if (spread > 1).any():
        raise AssertionError(SUBJECT_STRADDLES.format(examples=list(spread[spread > 1].index[:3])))
    if duplicate_groups is None:
        return
    aligned = duplicate_groups.set_index("sample_id").reindex(manifest["sample_id"])
    labels = splits.astype("string").fillna("").to_numpy()
    for column in ("exact_group", "near_group"):
        groups = pd.DataFrame({"g": aligned[column].to_numpy(), "test": labels == "test"})
        groups = groups[(labels != "") & groups["g"].notna().to_numpy()]
        mixed = groups.groupby("g")["test"].nunique()
        if (mixed > 1).any():
            raise AssertionError(
                DUPLICATE_STRADDLES.format(examples=list(mixed[mixed > 1].index[:3]))
            )


def require_every_emotion(present: Iterable[str], emotions: Sequence[str], *, where: str) -> None:
    """Raise ``ValueError`` naming ``where`` and each of ``emotions`` absent from ``present``."""
    seen = set(present)
    missing = [e for e in emotions if e not in seen]
    if missing:
        have = [e for e in emotions if e in seen]
        raise ValueError(NO_EMOTION_IMAGES.format(where=where, missing=missing, present=have))


def match_group_sizes(
    manifest: pd.DataFrame,
    *,
    group_col: str = "gender",
    groups: Sequence[str] = ("female", "male"),
    seed: int,
    splits: pd.Series | None = None,
) -> pd.DataFrame:
    """Subset of ``manifest`` with equal counts per emotion per group (per split if given).

    Each (split, emotion) cell keeps ``min`` over ``groups`` rows of every group, drawn by a
    seeded down-sampling; rows of other groups are left out.
    """
    if group_col not in manifest:
        raise ValueError(UNKNOWN_COLUMN.format(column=group_col, columns=list(manifest.columns)))
    rng = np.random.default_rng(seed)
    split = (
        splits.reindex(manifest.index)
        if splits is not None
        else pd.Series("all", index=manifest.index)
    )
    frame = manifest[manifest[group_col].isin(list(groups)) & split.notna()]
    keep: list = []
    for _, cell in frame.groupby([split[frame.index], frame["emotion"]], sort=True, dropna=False):
        counts = cell[group_col].value_counts().reindex(list(groups), fill_value=0)
        target = int(counts.min())
        for group in groups:
            index = cell.index[cell[group_col] == group].to_numpy()
            keep.extend(index[np.sort(rng.choice(len(index), size=target, replace=False))])
    return manifest.loc[sorted(keep, key=manifest.index.get_loc)]


def split_summary(
    manifest: pd.DataFrame, splits: pd.Series, by: Sequence[str] = ("emotion", "gender")
) -> pd.DataFrame:
    """Counts per split (columns, incl. "dropped") and ``by`` values (rows)."""
    labels = splits.reindex(manifest.index).astype("string").fillna("dropped")
    keys = [manifest[c].astype("string").fillna("<NA>") for c in by]
    table = pd.crosstab(keys, labels)
    ordered = [s for s in (*SPLITS, "dropped") if s in table.columns]
    return table[ordered]
