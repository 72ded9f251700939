"""The in-domain gold sample: which FER-2013 Training faces get two blind hand labels.

Only the Training split is ever sampled (PublicTest / PrivateTest faces carry no hand labels of
ours, so evaluation on them stays independent), only the six study emotions, and never a
Training face that is an exact or near duplicate of a test face (``find_duplicates`` groups):
such a face would hand-label its test twin by proxy. The plan has three parts:

- ``random-fit`` / ``random-audit``: ``n_random`` faces drawn at random, stratified by emotion in
  proportion to the Training split, then split once into halves (stratified by emotion). The fit
  half may tune combiners and thresholds; the audit half is never trained or tuned on.
- ``targeted``: ``n_targeted`` further faces where the committed automatic labels are unsure:
  labelled ``unknown`` (the labellers disagree or are below tau), missing, or with
  |p_female - 0.5| < ``UNSURE_MARGIN``. They are drawn at random from that unsure pool (random
  faces excluded), stratified by emotion in proportion to the pool, so the hard cases the
  labeller must learn are covered without piling up on exact ties.

Every draw is a function of ``seed`` alone (candidates are sorted by file before drawing).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ferbias.data.schema import STUDY_EMOTIONS
from ferbias.gender.apply import relative_file

log = logging.getLogger(__name__)

PARTS = ("random-fit", "random-audit", "targeted")
PLAN_COLUMNS = ("file", "emotion", "part")
TRAINING_USAGE = "Training"
TEST_USAGES = ("PublicTest", "PrivateTest")
UNSURE_MARGIN = 0.15  # |p_female - 0.5| below this counts as unsure (about 4,000 Training faces)

NOT_FOLDER_FORM = (
    "gold sample: {path} is not an image file of the FER-2013 folder export; the gold sample "
    "needs train/<emotion>/Training_<n>.jpg files"
)
TOO_FEW = "gold sample: {part} needs {want} {emotion} faces but only {have} are eligible"
BAD_SIZE = "gold sample: --{name} must be >= 0, got {value}"
NOT_TRAINING_FILE = (
    "{where}: {file!r} is not a FER-2013 Training file (train/<emotion>/Training_<n>.<ext>); "
    "PublicTest/PrivateTest faces never get hand labels"
)
MISSING_PLAN_COLUMNS = "plan {path}: missing column(s) {missing}; expected {expected}"
BAD_PLAN_PART = "plan {path}: part {part!r}; expected one of {parts}"
DUPLICATE_PLAN_FILE = "plan {path}: {file!r} appears more than once"


@dataclass(frozen=True)
class GoldSample:
    """A drawn plan and what was left out of the pool before drawing."""

    plan: pd.DataFrame  # file, emotion, part
    pool: int  # eligible Training faces of the six emotions
    excluded_test_duplicates: int  # Training faces in a duplicate group with a test face
    excluded_unreadable: int  # Training faces that could not be decoded for the duplicate search


def is_training_file(file: str) -> bool:
    """True for ``train/<emotion>/Training_<n>.<ext>`` (the folder export's Training faces)."""
    parts = Path(str(file)).parts
    return len(parts) == 3 and parts[0] == "train" and parts[2].startswith("Training_")


def require_training_files(files: pd.Series, *, where: str) -> None:
    """ValueError naming the first file that is not a FER-2013 Training file."""
    bad = [f for f in files.astype(str) if not is_training_file(f)]
    if bad:
        raise ValueError(NOT_TRAINING_FILE.format(where=where, file=bad[0]))


def twins_of_test_faces(manifest: pd.DataFrame, duplicates: pd.DataFrame) -> set[str]:
    """Sample ids of non-test faces sharing an exact or near duplicate group with a test face."""
    usage = manifest.set_index("sample_id")["usage"].astype("string")
    frame = duplicates.assign(test=usage.reindex(duplicates["sample_id"]).isin(TEST_USAGES).values)
    tainted: set[str] = set()
    for column in ("exact_group", "near_group"):
        grouped = frame.dropna(subset=[column])
        test_groups = set(grouped.loc[grouped["test"], column])
        hit = grouped[grouped[column].isin(test_groups) & ~grouped["test"]]
        tainted.update(hit["sample_id"].astype(str))
    return tainted


def find_test_twins(manifest: pd.DataFrame, *, workers: int | None = None) -> tuple[set, set]:
    """(sample ids of twins of test faces, sample ids that could not be decoded) over the whole
    of ``manifest`` (every emotion and split: a twin may carry another emotion label)."""
    from ferbias.data.images import prepare
    from ferbias.data.quality import find_duplicates

    prepared = prepare(manifest, workers=workers)
    kept = manifest.set_index("sample_id").loc[prepared.sample_ids].reset_index()
    twins = twins_of_test_faces(kept, find_duplicates(kept, prepared.pixels))
    return twins, set(prepared.failures["sample_id"].astype(str))


def draw_gold_sample(
    manifest: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    excluded: set[str],
    unreadable: set[str] = frozenset(),
    n_random: int = 3000,
    n_targeted: int = 1200,
    seed: int = 0,
) -> GoldSample:
    """Draw the plan from ``manifest`` (FER-2013 folder export) (see the module docstring).

    ``labels``: the committed automatic labels (file, gender, p_female); ``excluded``: sample
    ids of test duplicates; ``unreadable``: sample ids that could not be decoded.
    """
    for name, value in (("random", n_random), ("targeted", n_targeted)):
        if value < 0:
            raise ValueError(BAD_SIZE.format(name=name, value=value))
    training = _training_faces(manifest)
    ids = training["sample_id"]
    is_excluded, is_unreadable = ids.isin(excluded), ids.isin(unreadable) & ~ids.isin(excluded)
    pool = training[~is_excluded & ~is_unreadable]
    random_stream, halves_stream, targeted_stream = np.random.SeedSequence(seed).spawn(3)
    quotas = _allocate(training["emotion"].value_counts(), n_random)
    chosen = _draw(pool, quotas, np.random.default_rng(random_stream), part="random")
    halves = _halves(chosen, np.random.default_rng(halves_stream))
    unsure = _unsure(pool[~pool["file"].isin(chosen["file"])], labels)
    quotas = _allocate(unsure["emotion"].value_counts(), n_targeted)
    targeted = _draw(unsure, quotas, np.random.default_rng(targeted_stream), part="targeted")
    plan = pd.concat([halves, targeted.assign(part="targeted")], ignore_index=True)
    plan = plan[list(PLAN_COLUMNS)].sort_values(["part", "emotion", "file"], ignore_index=True)
    return GoldSample(plan, len(pool), int(is_excluded.sum()), int(is_unreadable.sum()))


def _training_faces(manifest: pd.DataFrame) -> pd.DataFrame:
    """Training faces of the six study emotions, sorted by file (the draw's fixed order)."""
    files = relative_file(manifest["sample_id"])
    frame = manifest.assign(file=files.to_numpy())[["sample_id", "file", "emotion", "usage"]]
    frame = frame[(frame["usage"] == TRAINING_USAGE) & frame["emotion"].isin(STUDY_EMOTIONS)]
    bad = frame[~frame["file"].map(is_training_file)]
    if len(bad):
        raise ValueError(NOT_FOLDER_FORM.format(path=bad["file"].iloc[0]))
    return frame.astype({"sample_id": str, "file": str}).sort_values("file", ignore_index=True)


def _allocate(counts: pd.Series, total: int) -> pd.Series:
    """``total`` split over ``counts``' keys in proportion to the counts (largest remainder)."""
    counts = counts[counts > 0].sort_index()
    exact = counts / counts.sum() * total
    quotas = np.floor(exact).astype(int)
    remainder = (exact - quotas).sort_values(ascending=False, kind="stable")
    quotas[remainder.index[: total - int(quotas.sum())]] += 1
    return quotas


def _draw(pool: pd.DataFrame, quotas: pd.Series, rng: np.random.Generator, *, part: str):
    """``quotas[emotion]`` faces of each emotion, uniformly without replacement."""
    drawn = []
    for emotion, want in quotas.items():
        candidates = pool[pool["emotion"] == emotion]
        if want > len(candidates):
            raise ValueError(
                TOO_FEW.format(part=part, want=want, emotion=emotion, have=len(candidates))
            )
        drawn.append(candidates.iloc[np.sort(rng.choice(len(candidates), want, replace=False))])
    return pd.concat(drawn, ignore_index=True) if drawn else pool.iloc[:0]


def _halves(chosen: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """``chosen`` with part random-fit / random-audit, halves stratified by emotion."""
    if len(chosen) < 2:
        return chosen.assign(part="random-fit")
    state = int(rng.integers(2**31 - 1))
    stratify = chosen["emotion"] if chosen["emotion"].value_counts().min() >= 2 else None
    fit, audit = train_test_split(chosen, test_size=0.5, stratify=stratify, random_state=state)
    return pd.concat([fit.assign(part="random-fit"), audit.assign(part="random-audit")])


def _unsure(pool: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Faces of ``pool`` whose automatic label is unknown, missing or within the margin."""
    auto = labels.drop_duplicates("file", keep="last").set_index("file")
    gender = auto["gender"].reindex(pool["file"]).to_numpy()
    margin = (auto["p_female"].astype(float) - 0.5).abs().reindex(pool["file"]).to_numpy()
    unsure = (
        pd.isna(gender) | (gender == "unknown") | (np.nan_to_num(margin, nan=0.0) < UNSURE_MARGIN)
    )
    return pool[unsure]


def read_plan(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate a plan CSV (Training files only, known parts, one row per file)."""
    path = Path(path)
    plan = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in PLAN_COLUMNS if c not in plan]
    if missing:
        raise ValueError(
            MISSING_PLAN_COLUMNS.format(path=path, missing=missing, expected=list(PLAN_COLUMNS))
        )
    require_training_files(plan["file"], where=f"plan {path}")
    bad = sorted(set(plan["part"]) - set(PARTS))
    if bad:
        raise ValueError(BAD_PLAN_PART.format(path=path, part=bad[0], parts=list(PARTS)))
    duplicated = plan.loc[plan["file"].duplicated(), "file"]
    if len(duplicated):
        raise ValueError(DUPLICATE_PLAN_FILE.format(path=path, file=duplicated.iloc[0]))
    return plan[list(PLAN_COLUMNS)]


def plan_counts(plan: pd.DataFrame) -> pd.DataFrame:
    """Faces per part x emotion, with totals."""
    table = pd.crosstab(plan["part"], plan["emotion"], margins=True, margins_name="all")
    return table.reindex([p for p in (*PARTS, "all") if p in table.index])
