"""Unit tests for ferbias.data.splits on synthetic manifests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferbias.data import splits
from ferbias.data.schema import make_manifest

EMOTIONS = ("angry", "happy", "sad")


def _manifest(n: int = 600, *, subjects: int | None = None, official: bool = False, seed: int = 0):
    gen = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        rows.append(
            {
                "sample_id": f"t:{i}",
                "source": "t",
                "path": f"/x/{i}.png",
                "emotion": EMOTIONS[gen.integers(3)],
                "gender": ("female", "male")[gen.integers(2)],
                "subject_id": f"S{i % subjects}" if subjects else None,
                "original_split": ("test" if i % 5 == 0 else "train") if official else None,
            }
        )
    return make_manifest(rows)


def _duplicates(manifest, groups: dict[int, list[int]]) -> pd.DataFrame:
    ids = pd.Series(pd.NA, index=range(len(manifest)), dtype="Int64")
    for group, members in groups.items():
        ids[members] = group
    return pd.DataFrame({"sample_id": manifest["sample_id"], "exact_group": ids, "near_group": ids})


def test_deterministic_from_seed_and_fractions():
    manifest = _manifest()
    first = splits.make_splits(manifest, seed=3)
    assert first.equals(splits.make_splits(manifest, seed=3))
    assert not first.equals(splits.make_splits(manifest, seed=4))
    shares = first.value_counts(normalize=True)
    assert abs(shares["test"] - 0.15) < 0.01 and abs(shares["val"] - 0.10) < 0.01


def test_stratified_by_emotion_and_gender():
    manifest = _manifest(1200)
    result = splits.make_splits(manifest, seed=0)
    table = pd.crosstab([manifest["emotion"], manifest["gender"]], result, normalize="index")
    assert (table["test"] - 0.15).abs().max() < 0.02
    assert (table["val"] - 0.10).abs().max() < 0.02


def test_subject_disjoint_and_assertion():
    manifest = _manifest(600, subjects=40)
    result = splits.make_splits(manifest, seed=1)
    assert (manifest.groupby("subject_id")["sample_id"].size() > 1).all()
    assert (
        pd.DataFrame({"s": manifest["subject_id"], "x": result}).groupby("s")["x"].nunique() == 1
    ).all()
    broken = result.copy()
    subject_rows = np.flatnonzero(manifest["subject_id"] == "S0")
    broken.iloc[subject_rows[0]] = "test" if broken.iloc[subject_rows[1]] != "test" else "train"
    with pytest.raises(AssertionError, match="S0"):
        splits.check_disjoint(manifest, broken)


def test_official_test_kept_and_val_carved_from_train():
    manifest = _manifest(500, official=True)
    result = splits.make_splits(manifest, seed=0, val_fraction=0.2)
    official_test = manifest["original_split"] == "test"
    assert (result[official_test] == "test").all()
    assert set(result[~official_test]) == {"train", "val"}
    assert abs((result[~official_test] == "val").mean() - 0.2) < 0.02


def test_official_validation_split_is_kept():
    manifest = _manifest(100, official=True)
    manifest.loc[manifest.index % 5 == 1, "original_split"] = "val"
    result = splits.make_splits(manifest, seed=0)
    assert result.equals(manifest["original_split"].rename("split"))


def test_duplicate_groups_never_straddle_and_drops_are_counted():
    manifest = _manifest(300, official=True)
    # group 0 links a test row (0) with train rows 1, 2; group 1 lies inside train (3, 4, 6).
    duplicates = _duplicates(manifest, {0: [0, 1, 2], 1: [3, 4, 6]})
    result = splits.make_splits(manifest, seed=0, duplicate_groups=duplicates)
    assert result[0] == "test" and result[[1, 2]].isna().all()
    assert result[[3, 4, 6]].nunique() == 1
    summary = splits.split_summary(manifest, result)
    assert summary["dropped"].sum() == 2
    unofficial = _manifest(300)
    dups = _duplicates(unofficial, {g: list(range(10 * g, 10 * g + 5)) for g in range(20)})
    free = splits.make_splits(unofficial, seed=2, duplicate_groups=dups)
    assert free.notna().all()
    for g in range(20):
        assert free[list(range(10 * g, 10 * g + 5))].nunique() == 1


def test_bad_arguments_are_named():
    manifest = _manifest(20)
    with pytest.raises(ValueError, match="val_fraction"):
        splits.make_splits(manifest, seed=0, val_fraction=0.6, test_fraction=0.5)
    with pytest.raises(ValueError, match="'race_band'"):
        splits.make_splits(manifest, seed=0, stratify=("race_band",))
    with pytest.raises(ValueError, match="sample_id"):
        splits.make_splits(manifest, seed=0, duplicate_groups=_duplicates(manifest.head(5), {}))


def test_match_group_sizes_exact_equality_per_split():
    manifest = _manifest(900)
    result = splits.make_splits(manifest, seed=0)
    matched = splits.match_group_sizes(manifest, seed=5, splits=result)
    counts = pd.crosstab([result[matched.index], matched["emotion"]], matched["gender"])
    assert (counts["female"] == counts["male"]).all()
    full = pd.crosstab([result, manifest["emotion"]], manifest["gender"])
    assert (counts["female"] == full.min(axis=1)).all()
    again = splits.match_group_sizes(manifest, seed=5, splits=result)
    assert matched.index.equals(again.index)
    other = splits.match_group_sizes(manifest, seed=6, splits=result)
    assert not matched.index.equals(other.index)
    whole = splits.match_group_sizes(manifest, seed=0)
    assert whole["gender"].value_counts().nunique() == 1
