"""Data quality: exact and near duplicates, and per-split image statistics with a drift warning.

Exact duplicates share a hash of their decoded pixels (or of the file bytes when no pixels are
given). Near duplicates have 64-bit difference hashes (dHash, computed with numpy/OpenCV on the
prepared arrays) within ``near_threshold`` bits; candidate pairs come from multi-index hashing
(split the hash into ``near_threshold + 1`` blocks: two hashes within t bits share a block), so
35,887 FER-2013 images take well under a second. Groups are connected components.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ferbias.data.images import CSV_SEPARATOR, load_gray

log = logging.getLogger(__name__)

NEAR_THRESHOLD = 6  # dHash bits (of 64) apart; FER-2013 re-crops and re-contrasts stay within it
NEAR_MAX_MAD = 14.0  # and 16x16 thumbnails within this mean absolute difference (gray levels)
NEAR_BLANK_STD = 1.0  # per-image pixel std below this: a blank frame, not a face
SHARPNESS_RATIO_WARN = 2.0  # median Laplacian variance of two splits differ more than 2x
CONTRAST_RATIO_WARN = 1.25  # median per-image std of two splits differ more than 25%
PIXELS_MISMATCH = "pixels has {n} rows but the manifest has {m}; pass prepare(...).pixels for it"
SPLITS_DIFFER = (
    "WARNING: image statistics differ markedly between splits: {details}. A processed copy "
    "(e.g. a blurred FER-2013 train folder) makes models fail on the test split; check the data."
)


def find_duplicates(
    manifest: pd.DataFrame,
    pixels: np.ndarray | None = None,
    *,
    near_threshold: int = NEAR_THRESHOLD,
    near_max_mad: float = NEAR_MAX_MAD,
) -> pd.DataFrame:
    """DataFrame(sample_id, exact_group, near_group): Int64 group ids, NA for unique images.

    ``pixels`` (rows aligned with ``manifest``) enables near duplicates; without it only exact
    (file-byte) duplicates are found and ``near_group`` repeats ``exact_group``.
    """
    if pixels is not None and len(pixels) != len(manifest):
        raise ValueError(PIXELS_MISMATCH.format(n=len(pixels), m=len(manifest)))
    if pixels is None:
        keys = [_file_digest(path) for path in manifest["path"].astype(str)]
    else:
        keys = [hashlib.blake2b(image.tobytes(), digest_size=16).digest() for image in pixels]
    codes = pd.factorize(pd.Series(keys))[0]
    exact = _label_groups(codes)
    if pixels is None:
        near = exact.copy()
    else:
        pairs = np.concatenate(
            [
                _near_pairs(dhash(pixels), thumbnails(pixels), near_threshold, near_max_mad),
                _same_label_pairs(codes),
            ]
        )
        near = _label_groups(_components(len(codes), pairs))
    return pd.DataFrame(
        {"sample_id": manifest["sample_id"].to_numpy(), "exact_group": exact, "near_group": near}
    )


def _file_digest(path: str) -> bytes:
    """Digest of a file's bytes (or of the decoded pixels of a CSV reference)."""
    if CSV_SEPARATOR in path:
        return hashlib.blake2b(load_gray(path).tobytes(), digest_size=16).digest()
    with open(path, "rb") as handle:
        return hashlib.blake2b(handle.read(), digest_size=16).digest()


def thumbnails(pixels: np.ndarray, side: int = 16) -> np.ndarray:
    """Area-downsampled float32 N x side x side copies, to verify near-duplicate candidates."""
    return np.stack(
        [cv2.resize(im, (side, side), interpolation=cv2.INTER_AREA) for im in pixels]
    ).astype(np.float32)


def dhash(pixels: np.ndarray) -> np.ndarray:
    """64-bit difference hashes (uint64) of uint8 N x H x W images (9x8 area-resized)."""
    small = np.stack([cv2.resize(image, (9, 8), interpolation=cv2.INTER_AREA) for image in pixels])
    bits = (small[:, :, 1:] > small[:, :, :-1]).reshape(len(pixels), 64)
    return np.packbits(bits, axis=1).view(">u8").ravel().astype(np.uint64)


def _near_pairs(
    hashes: np.ndarray, small: np.ndarray, threshold: int, max_mad: float
) -> np.ndarray:
    """Pairs (i, j) with hashes within ``threshold`` bits and thumbnails within ``max_mad``."""
    edges = np.linspace(0, 64, threshold + 2).astype(int)
    found = []
    for low, high in itertools.pairwise(edges):
        block = (hashes >> np.uint64(low)) & np.uint64((1 << (high - low)) - 1)
        candidates = _bucket_pairs(block)
        distance = np.bitwise_count(hashes[candidates[:, 0]] ^ hashes[candidates[:, 1]])
        candidates = candidates[distance <= threshold]
        mad = np.abs(small[candidates[:, 0]] - small[candidates[:, 1]]).mean(axis=(1, 2))
        found.append(candidates[mad <= max_mad])
    return np.unique(np.concatenate(found), axis=0)


def _bucket_pairs(labels: np.ndarray) -> np.ndarray:
    """All pairs (i < j) of rows sharing a label."""
    order = np.argsort(labels, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(labels[order]) != 0, True])
    pairs = [np.zeros((0, 2), np.int64)]
    for start, stop in itertools.pairwise(starts):
        if stop - start > 1:
            members = np.sort(order[start:stop])
            first, second = np.triu_indices(len(members), k=1)
            pairs.append(np.stack([members[first], members[second]], axis=1))
    return np.concatenate(pairs)


def _same_label_pairs(labels: np.ndarray) -> np.ndarray:
    """Pairs (first member, other member) linking every row to the first row with its label."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_labels)) + 1]
    first = np.repeat(order[starts], np.diff(np.r_[starts, len(order)]))
    mask = first != order
    return np.stack([first[mask], order[mask]], axis=1)


def _components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected-component label per row of the graph with edges ``pairs``."""
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _label_groups(labels: np.ndarray) -> pd.Series:
    """Group ids 0..k-1 for labels shared by >= 2 rows, NA otherwise (Int64)."""
    labels = np.asarray(labels)
    counts = pd.Series(labels).map(pd.Series(labels).value_counts())
    shared = counts.to_numpy() > 1
    ids = pd.Series(pd.NA, index=range(len(labels)), dtype="Int64")
    ids[shared] = pd.factorize(labels[shared])[0]
    return ids


@dataclass(frozen=True)
class SplitStatistics:
    """Per-split image statistics and whether (and how) the splits differ markedly."""

    table: pd.DataFrame  # index split; n, mean, std, median_contrast, median_sharpness, near_blank
    warnings: list[str]

    @property
    def differ(self) -> bool:
        return bool(self.warnings)


def image_statistics(pixels: np.ndarray, chunk: int = 4096) -> pd.DataFrame:
    """Per image: mean, contrast (pixel std) and sharpness (4-neighbour Laplacian variance)."""
    rows = []
    for start in range(0, len(pixels), chunk):
        batch = pixels[start : start + chunk].astype(np.float32)
        lap = (
            4 * batch[:, 1:-1, 1:-1]
            - batch[:, :-2, 1:-1]
            - batch[:, 2:, 1:-1]
            - batch[:, 1:-1, :-2]
            - batch[:, 1:-1, 2:]
        )
        rows.append(
            pd.DataFrame(
                {
                    "mean": batch.mean(axis=(1, 2)),
                    "contrast": batch.std(axis=(1, 2)),
                    "sharpness": lap.var(axis=(1, 2)),
                }
            )
        )
    return (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(columns=["mean", "contrast", "sharpness"])
    )


def split_statistics(pixels: np.ndarray, splits: pd.Series | np.ndarray) -> SplitStatistics:
    """Statistics per split label (aligned with ``pixels``) and a loud warning on drift."""
    per_image = image_statistics(pixels)
    per_image["split"] = np.asarray(pd.Series(splits).astype("string").fillna("none"))
    table = per_image.groupby("split").agg(
        n=("mean", "size"),
        mean=("mean", "mean"),
        median_contrast=("contrast", "median"),
        median_sharpness=("sharpness", "median"),
        near_blank=("contrast", lambda c: int((c < NEAR_BLANK_STD).sum())),
    )
    warnings = _drift_warnings(table)
    for message in warnings:
        log.warning(message)
    return SplitStatistics(table, warnings)


def _drift_warnings(table: pd.DataFrame) -> list[str]:
    """Messages for sharpness or contrast ratios between splits above the thresholds."""
    details = []
    for column, limit in (
        ("median_sharpness", SHARPNESS_RATIO_WARN),
        ("median_contrast", CONTRAST_RATIO_WARN),
    ):
        values = table[column].clip(lower=1e-6)
        ratio = values.max() / values.min()
        if len(values) > 1 and ratio > limit:
            details.append(
                f"{column} {values.idxmax()}={values.max():.1f} vs {values.idxmin()}="
                f"{values.min():.1f} (ratio {ratio:.1f} > {limit})"
            )
    return [SPLITS_DIFFER.format(details="; ".join(details))] if details else []
