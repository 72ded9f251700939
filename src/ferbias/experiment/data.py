"""The data of an experiment: train/val sets per train group and the test sets, then pixels.

Steps, all deterministic from ``data.split_seed``: load and concatenate the sources; keep the
spec's emotions and groups; split (the official test split is kept, validation carved from
train); cap sizes per group and split (stratified by emotion); match group sizes; draw the mixed
control (same size and per-emotion counts as one group, half from each group); load the external
test sets. Pixels are prepared once for every row in use (cached on disk by ``images.prepare``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ferbias.data import images, quality, sources, splits
from ferbias.experiment import gold_test
from ferbias.experiment.spec import MIXED, DataSpec, ExperimentSpec, SourceSpec

log = logging.getLogger(__name__)

NO_ROWS = "data: no images left for group {group!r} in split {split!r} (emotions {emotions})"
NO_MATCHED_ROWS = (
    "data: matching sizes leaves no images for group {group!r} in split {split!r}: no emotion has "
    "images in every group there"
)
SIZE_SHORT = "data.sizes.%s.%s asks for %d images; only %d available, using all"
OPTIONAL_MISSING = "{path} not found"
SKIPPED_TEST_SET = "test set %s skipped (optional): %s"
IMAGES_FAILED = "%d image(s) could not be prepared and are left out, e.g. %s"
SPLITS = ("train", "val")


@dataclass
class ExperimentData:
    """Manifest rows per train group (train, val) and per test set (with a ``group`` column)."""

    emotions: list[str]
    group_col: str
    train: dict[str, pd.DataFrame]
    val: dict[str, pd.DataFrame]
    tests: dict[str, pd.DataFrame]
    pixels: dict[str, np.ndarray] = field(default_factory=dict)  # sample_id -> HxW uint8
    skipped_tests: dict[str, str] = field(default_factory=dict)  # optional test set -> why

    def fingerprint(self, train_group: str) -> str:
        """Hash of the sample ids and labels a run of ``train_group`` trains and tests on."""
        digest = hashlib.sha256()
        frames = [self.train[train_group], self.val[train_group], *self.tests.values()]
        for frame in frames:
            rows = frame[["sample_id", "emotion"]].astype(str).sort_values("sample_id")
            digest.update(rows.to_csv(index=False).encode())
        return digest.hexdigest()[:16]

    def counts(self) -> pd.DataFrame:
        """Images per group x split x emotion (train groups, then each test set by group)."""
        parts = [
            _count(frame, group=group, split=split)
            for split, table in (("train", self.train), ("val", self.val))
            for group, frame in table.items()
        ]
        for name, frame in self.tests.items():
            for group, rows in frame.groupby("group", sort=True):
                parts.append(_count(rows, group=str(group), split=f"test:{name}"))
        return pd.concat(parts, ignore_index=True)

    def provenance(self) -> pd.DataFrame:
        """Where each train group's group labels came from (gender_source counts)."""
        parts = [
            frame.assign(group=group)
            .groupby(["group", "gender_source"], dropna=False)
            .size()
            .rename("n")
            .reset_index()
            for group, frame in self.train.items()
        ]
        return pd.concat(parts, ignore_index=True).fillna({"gender_source": "unknown"})


def _count(frame: pd.DataFrame, *, group: str, split: str) -> pd.DataFrame:
    counts = frame.groupby("emotion").size().rename("n").reset_index()
    return counts.assign(group=group, split=split)[["group", "split", "emotion", "n"]]


def load_manifest(source_specs: list[SourceSpec]) -> pd.DataFrame:
    """Load and concatenate sources; every skipped file is logged by count."""
    frames = []
    for spec in source_specs:
        result = sources.load_source(spec.source, spec.resolved_path(), **spec.options)
        if len(result.skipped):
            log.info("%s: %d file(s) skipped", spec.source, len(result.skipped))
        for note in result.notes:
            log.info("%s: %s", spec.source, note)
        frames.append(result.manifest.assign(face_crop=spec.face_crop))
    return pd.concat(frames, ignore_index=True)


def label_audits(source_specs: list[SourceSpec]) -> list[dict]:
    """The audit of each labels file the sources join, from its provenance sidecar
    (``label_audit``, written by ``ferbias gender label --gold``): what the report's
    label-noise section reads."""
    from ferbias.data.sources.fer2013 import gender_labels_file

    out = []
    for spec in source_specs:
        if spec.source == "fer2013":
            path = gender_labels_file(spec.options.get("gender_labels", "default"))
        elif spec.source == "labels":
            path = spec.resolved_path()
        else:
            continue
        sidecar = path.with_suffix(".provenance.json") if path is not None else None
        if sidecar is None or not sidecar.is_file():
            continue
        audit = json.loads(sidecar.read_text(encoding="utf-8")).get("label_audit")
        if audit:
            out.append({"source": spec.source, "labels_file": path.name, **audit})
    return out


def build_data(spec: ExperimentSpec) -> ExperimentData:
    """Manifest-level data of ``spec`` (no pixels yet): what ``--dry-run`` counts."""
    cfg = spec.data
    loaded = load_manifest(cfg.sources)
    loaded = loaded[loaded["emotion"].isin(cfg.emotions)].reset_index(drop=True)
    keep = loaded[cfg.group_col].astype("string").isin(cfg.groups).fillna(False)
    manifest = loaded[keep.to_numpy()].reset_index(drop=True)
    held_out, gold = set(), None
    if cfg.gold_test is not None:
        gold = gold_test.gold_rows(loaded, cfg.gold_test)
        pixels = prepare_rows(loaded, size=cfg.image_size)
        held_out = gold_test.held_out_ids(loaded, gold, pixels)
        log.info("data.gold_test: %d gold faces and twins kept out of training", len(held_out))
    manifest, duplicates = find_duplicates(manifest, cfg)
    split = splits.make_splits(
        manifest,
        seed=cfg.split_seed,
        val_fraction=cfg.val_fraction,
        test_fraction=cfg.test_fraction,
        stratify=("emotion", cfg.group_col),
        duplicate_groups=duplicates,
    )
    rng = np.random.default_rng(cfg.split_seed)
    training = split.isin(SPLITS).fillna(False).to_numpy(dtype=bool)
    split[training & manifest["sample_id"].astype(str).isin(held_out).to_numpy()] = pd.NA
    by_split = {
        name: _capped_groups(manifest[(split == name).fillna(False).to_numpy()], cfg, name, rng)
        for name in ("train", "val", "test")
    }
    train, val = (_train_tables(by_split[name], spec, name, rng) for name in SPLITS)
    tests = {cfg.name: _with_group(by_split["test"], cfg.group_col)}
    skipped_tests = {}
    if gold is not None:
        tests[cfg.gold_test.name] = gold_test.gold_test_set(gold, cfg.group_col)
    for test_set in spec.test_sets:
        path = test_set.source.resolved_path()
        if test_set.optional and not path.exists():
            skipped_tests[test_set.name] = OPTIONAL_MISSING.format(path=path)
            log.warning(SKIPPED_TEST_SET, test_set.name, skipped_tests[test_set.name])
            continue
        external = load_manifest([test_set.source])
        external = external[external["emotion"].isin(cfg.emotions)]
        tests[test_set.name] = _with_group(external, cfg.group_col)
    return ExperimentData(cfg.emotions, cfg.group_col, train, val, tests, {}, skipped_tests)


def _train_tables(
    frame: pd.DataFrame, spec: ExperimentSpec, split: str, rng: np.random.Generator
) -> dict[str, pd.DataFrame]:
    """Rows of each train group in one split: matched sizes (if asked), then the mixed draw."""
    cfg = spec.data
    _check_groups(frame, cfg, split)
    if cfg.match_sizes and len(cfg.groups) > 1:
        frame = splits.match_group_sizes(
            frame, group_col=cfg.group_col, groups=cfg.groups, seed=cfg.split_seed
        )
    table = {g: _rows_of(frame, cfg, g, split) for g in cfg.groups}
    if MIXED in spec.train.groups:
        table[MIXED] = draw_mixed(table, cfg.groups, rng)
    return {g: table[g] for g in spec.train.groups}


def _check_groups(frame: pd.DataFrame, cfg: DataSpec, split: str) -> None:
    """Every group has images in ``split`` and, in train, images of every emotion (named if not),
    checked before matching sizes, which would empty the other groups too."""
    for group in cfg.groups:
        rows = frame[frame[cfg.group_col].astype("string") == group]
        if rows.empty:
            raise ValueError(NO_ROWS.format(group=group, split=split, emotions=cfg.emotions))
        if split == "train":
            where = f"data: group {group!r}, split {split!r}"
            splits.require_every_emotion(rows["emotion"], cfg.emotions, where=where)


def find_duplicates(
    manifest: pd.DataFrame, cfg: DataSpec
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Exact (file bytes) or near (perceptual hash) duplicate groups; "near" prepares every image
    and leaves out those that cannot be prepared."""
    if cfg.duplicates == "none":
        return manifest, None
    if cfg.duplicates == "exact":
        return manifest, quality.find_duplicates(manifest)
    prepared = prepare_rows(manifest, size=cfg.image_size)
    manifest = manifest[manifest["sample_id"].astype(str).isin(prepared)].reset_index(drop=True)
    pixels = np.stack([prepared[i] for i in manifest["sample_id"].astype(str)])
    return manifest, quality.find_duplicates(manifest, pixels)


def _rows_of(frame: pd.DataFrame, cfg: DataSpec, group: str, split: str) -> pd.DataFrame:
    rows = frame[frame[cfg.group_col].astype("string") == group].reset_index(drop=True)
    if rows.empty:
        raise ValueError(NO_MATCHED_ROWS.format(group=group, split=split))
    return rows


def _with_group(frame: pd.DataFrame, group_col: str) -> pd.DataFrame:
    group = frame[group_col].astype("string").fillna("unknown")
    return frame.assign(group=group).reset_index(drop=True)


def _capped_groups(
    frame: pd.DataFrame, cfg: DataSpec, split: str, rng: np.random.Generator
) -> pd.DataFrame:
    """Each group's rows, cut to ``data.sizes`` (drawn stratified by emotion) where set."""
    parts = []
    for group in cfg.groups:
        rows = frame[frame[cfg.group_col].astype("string") == group]
        cap = cfg.sizes.for_split(split, group)
        if cap is not None and cap < len(rows):
            rows = stratified_sample(rows, cap, rng)
        elif cap is not None and cap > len(rows):
            log.warning(SIZE_SHORT, split, group, cap, len(rows))
        parts.append(rows)
    return pd.concat(parts, ignore_index=True)


def stratified_sample(frame: pd.DataFrame, total: int, rng: np.random.Generator) -> pd.DataFrame:
    """``total`` rows keeping emotion proportions (largest remainder), drawn without replacement."""
    sizes = frame.groupby("emotion").size()
    exact = sizes / sizes.sum() * total
    quota = np.floor(exact).astype(int)
    remainder = (exact - quota).sort_values(ascending=False, kind="stable")
    quota[remainder.index[: total - int(quota.sum())]] += 1
    return _draw(frame, quota.to_dict(), rng)


def draw_mixed(
    table: dict[str, pd.DataFrame], groups: list[str], rng: np.random.Generator
) -> pd.DataFrame:
    """Same per-emotion counts as the smaller group, half drawn from each of the two groups.

    With matched sizes both groups have equal counts, so the mixed set has the same total size and
    per-emotion counts as each single-group set. Odd counts alternate which group gives one more.
    """
    first, second = (table[g] for g in groups)
    target = pd.concat(
        [first.groupby("emotion").size(), second.groupby("emotion").size()], axis=1
    ).min(axis=1)
    target = target.fillna(0).astype(int)
    quota_first, quota_second = {}, {}
    for index, (emotion, n) in enumerate(sorted(target.items())):
        extra = n % 2 if index % 2 == 0 else 0
        quota_first[emotion] = n // 2 + extra
        quota_second[emotion] = n - quota_first[emotion]
    parts = [_draw(first, quota_first, rng), _draw(second, quota_second, rng)]
    return pd.concat(parts, ignore_index=True)


def _draw(frame: pd.DataFrame, quota: dict[str, int], rng: np.random.Generator) -> pd.DataFrame:
    parts = []
    for emotion, rows in frame.groupby("emotion", sort=True):
        n = min(int(quota.get(emotion, 0)), len(rows))
        chosen = rng.choice(len(rows), size=n, replace=False)
        parts.append(rows.iloc[np.sort(chosen)])
    return pd.concat(parts).reset_index(drop=True)


def attach_pixels(data: ExperimentData, *, size: int) -> ExperimentData:
    """Prepare every image in use once; rows whose image failed are dropped (and logged)."""
    frames = [*data.train.values(), *data.val.values(), *data.tests.values()]
    union = pd.concat(frames, ignore_index=True).drop_duplicates("sample_id")
    pixels = prepare_rows(union.drop(columns=["group"], errors="ignore"), size=size)

    def kept(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["sample_id"].astype(str).isin(pixels)].reset_index(drop=True)

    return ExperimentData(
        data.emotions,
        data.group_col,
        {g: kept(f) for g, f in data.train.items()},
        {g: kept(f) for g, f in data.val.items()},
        {n: kept(f) for n, f in data.tests.items()},
        pixels,
        data.skipped_tests,
    )


def prepare_rows(frame: pd.DataFrame, *, size: int) -> dict[str, np.ndarray]:
    """sample_id -> prepared image, per the sources' ``face_crop``; failures are logged."""
    pixels: dict[str, np.ndarray] = {}
    for face_crop, rows in frame.groupby(frame["face_crop"].astype(object).fillna("auto")):
        prepared = images.prepare(
            rows.drop(columns=["face_crop"]).reset_index(drop=True),
            size=size,
            face_crop=None if face_crop == "auto" else bool(face_crop),
        )
        if len(prepared.failures):
            failed = list(prepared.failures.sample_id[:3])
            log.warning(IMAGES_FAILED, len(prepared.failures), failed)
        pixels.update(zip(map(str, prepared.sample_ids), prepared.pixels, strict=True))
    return pixels
