"""One source's images for training: train / validation / official test arrays, and their cache.

``load_training_data`` prepares a source (faces, duplicates, subject-safe splits) into uint8
arrays; ``TrainingData.save`` / ``TrainingData.load`` keep them in one compressed ``.npz`` so a
machine without the data layer's dependencies or the raw images (a GPU box) can train on them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from ferbias.data import images, quality, splits
from ferbias.data.sources import load_source
from ferbias.io import write_atomic

log = logging.getLogger(__name__)

ALL_GROUPS = "all"
NO_GROUP_ROWS = "group {group!r}: no {source} images with gender {group!r}; present: {present}"
IMAGES_FAILED = "%d image(s) could not be prepared and are left out"
BAD_ARRAYS = "{path} is not a ferbias training-data file: missing {missing}"


class EmptyGroup(ValueError):
    """The source has no images of the requested gender group."""


@dataclass
class TrainingData:
    """uint8 images and class indices for train, validation and the official test split."""

    emotions: list[str]
    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray

    def save(self, path: Path) -> Path:
        """Write every array (and the emotion names) to one compressed ``.npz``, atomically."""
        arrays = {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, **arrays)

        return write_atomic(path, write)

    @classmethod
    def load(cls, path: Path) -> TrainingData:
        """Read a file written by ``save``."""
        with np.load(path, allow_pickle=False) as archive:
            missing = [f.name for f in fields(cls) if f.name not in archive.files]
            if missing:
                raise ValueError(BAD_ARRAYS.format(path=path, missing=", ".join(missing)))
            values = {f.name: archive[f.name] for f in fields(cls)}
        values["emotions"] = [str(e) for e in values["emotions"]]
        return cls(**values)


def load_training_data(
    source: str,
    path: Path,
    *,
    group: str,
    emotions: list[str],
    split_seed: int = 0,
    val_fraction: float = 0.1,
    limit: int | None = None,
    face_crop: bool | None = None,
) -> TrainingData:
    """Load ``source``, keep ``emotions`` (and gender ``group``), prepare, split.

    ``face_crop``: detect and crop faces (None: as the source needs, see ``images.prepare``).
    The official test split is kept; validation is carved from train; train/val rows in an exact
    duplicate group with a test member are dropped (``data.splits.make_splits``). ``limit``
    keeps a random ``limit`` of the train images (and a tenth of that for val and test).
    """
    manifest = load_source(source, path).manifest
    manifest = manifest[manifest["emotion"].isin(emotions).fillna(False)]
    if group != ALL_GROUPS:
        present = sorted(manifest["gender"].dropna().unique())
        manifest = manifest[manifest["gender"] == group]
        if manifest.empty:
            raise EmptyGroup(NO_GROUP_ROWS.format(group=group, source=source, present=present))
    manifest = manifest.reset_index(drop=True)
    prepared = images.prepare(manifest, face_crop=face_crop)
    if len(prepared.failures):
        log.warning(IMAGES_FAILED, len(prepared.failures))
    manifest = manifest.set_index("sample_id").loc[prepared.sample_ids].reset_index()
    split = splits.make_splits(
        manifest,
        seed=split_seed,
        val_fraction=val_fraction,
        stratify=("emotion",),
        duplicate_groups=quality.find_duplicates(manifest),
    )
    labels = manifest["emotion"].map({e: i for i, e in enumerate(emotions)}).to_numpy(np.int64)
    parts = [(split == name).fillna(False).to_numpy() for name in ("train", "val", "test")]
    if limit:
        rng = np.random.default_rng(split_seed)
        caps = (limit, max(limit // 10, 1), max(limit // 10, 1))
        parts = [keep_random(mask, cap, rng) for mask, cap in zip(parts, caps, strict=True)]
    arrays = [a for m in parts for a in (prepared.pixels[m], labels[m])]
    return TrainingData(list(emotions), *arrays)


def keep_random(mask: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    """``mask`` with all but a random ``cap`` of its True entries cleared."""
    rows = np.flatnonzero(mask)
    kept = np.zeros_like(mask)
    kept[rng.permutation(rows)[:cap]] = True
    return kept
