"""Decode any image of a Manifest to gray uint8 and prepare FER-2013-geometry arrays (cached).

``load_gray`` reads JPEG, PNG, TIFF (incl. palette) and BMP files with Pillow, and the FER-2013
CSV format through "<csv path>::<row>" references. ``prepare`` turns a Manifest into
``PreparedImages``: tight face crops (FER-2013, CK+48) are only resized; photos get a face
detected and cropped (see ``ferbias.data.faces``). Every file that fails is listed in
``failures`` with its reason; nothing is dropped silently. Results are cached as ``.npz``
(no pickle) under ``$FERBIAS_CACHE`` (default ~/.cache/ferbias), keyed by a hash of the file
list, file sizes and modification times, the settings and ``CACHE_VERSION``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ferbias.data import faces
from ferbias.io import atomic_path

log = logging.getLogger(__name__)

CACHE_VERSION = 2  # bump whenever decoding, detection or cropping changes
CSV_SEPARATOR = "::"
FAILURE_COLUMNS = ("sample_id", "path", "reason")
NO_FACE = "no face found"
NO_FACE_CENTRE = "no face found; centre crop used"
ON_NO_FACE = ("report", "center")
PARALLEL_MIN_ROWS = 256  # below this a process pool costs more than it saves

UNREADABLE = "cannot decode image {path!r}: {error}; expected a readable JPEG, PNG, TIFF or BMP"
BAD_CSV_ROW = "{path!r} row {row}: {error}; expected a 'pixels' column of 2304 (48x48) integers"
BAD_ON_NO_FACE = "on_no_face={value!r}; expected one of {allowed}"


class ImageReadError(OSError):
    """An image file (or CSV row) that cannot be decoded; the message names the file."""


@dataclass(frozen=True)
class PreparedImages:
    """Prepared arrays: ``pixels[i]`` is the image of ``sample_ids[i]`` (manifest order)."""

    pixels: np.ndarray  # uint8, N x size x size
    sample_ids: np.ndarray  # str, N
    failures: pd.DataFrame  # sample_id, path, reason (unreadable files, faces not found)
    cache_path: Path | None = None
    from_cache: bool = False


def cache_root() -> Path:
    """``$FERBIAS_CACHE`` or ~/.cache/ferbias."""
    return Path(os.environ.get("FERBIAS_CACHE", Path.home() / ".cache" / "ferbias"))


def load_gray(path: str | os.PathLike) -> np.ndarray:
    """Decode ``path`` to a gray uint8 H x W array; raise ``ImageReadError`` naming the file."""
    text = str(path)
    if CSV_SEPARATOR in text:
        csv_path, row = text.rsplit(CSV_SEPARATOR, 1)
        return _csv_row(csv_path, int(row))
    try:
        with Image.open(text) as image:
            image.load()
            gray = image.convert("L")
    except Exception as error:  # Pillow raises several types for corrupt data
        raise ImageReadError(UNREADABLE.format(path=text, error=error)) from error
    return np.asarray(gray, dtype=np.uint8)


def _csv_row(csv_path: str, row: int) -> np.ndarray:
    """One 48x48 image from a FER-2013 style CSV (the file is parsed once and cached)."""
    try:
        stat = os.stat(csv_path)
        column = _csv_pixels(csv_path, stat.st_size, stat.st_mtime_ns)
        values = np.array(column[row].split(), dtype=np.int64)
    except Exception as error:
        raise ImageReadError(BAD_CSV_ROW.format(path=csv_path, row=row, error=error)) from error
    if values.size != 48 * 48 or values.min() < 0 or values.max() > 255:
        error = f"{values.size} values in [{values.min()}, {values.max()}]"
        raise ImageReadError(BAD_CSV_ROW.format(path=csv_path, row=row, error=error))
    return values.astype(np.uint8).reshape(48, 48)


@lru_cache(maxsize=4)
def _csv_pixels(csv_path: str, size: int, mtime_ns: int) -> np.ndarray:
    """The 'pixels' column of ``csv_path`` (cache keyed by size and mtime)."""
    return pd.read_csv(csv_path, usecols=["pixels"], dtype={"pixels": str})["pixels"].to_numpy()


def _prepare_one(task: tuple[str, bool, int, str]) -> tuple[np.ndarray | None, str | None]:
    """(pixels or None, failure reason or None) for one image."""
    path, face_crop, size, on_no_face = task
    try:
        gray = load_gray(path)
    except ImageReadError as error:
        return None, str(error)
    if not face_crop:
        return faces.resize_square(gray, size), None
    face = faces.detect_face(gray)
    if face is not None:
        return faces.crop_face(gray, face, size), None
    if on_no_face == "center":
        return faces.centre_crop(gray, size), NO_FACE_CENTRE
    return None, NO_FACE


def _face_crop_flags(manifest: pd.DataFrame, face_crop: bool | None) -> np.ndarray:
    """Per row: whether to detect and crop a face (None: photos yes, tight crops no)."""
    if face_crop is not None:
        return np.full(len(manifest), bool(face_crop))
    from ferbias.data.sources import SOURCES, is_face_cropped

    # Sources not registered (a user manifest's own names) are treated as photos.
    names = manifest["source"].dropna().unique()
    cropped = {name: name in SOURCES and is_face_cropped(name) for name in names}
    return ~manifest["source"].map(cropped).fillna(False).to_numpy(dtype=bool)


def cache_key(manifest: pd.DataFrame, flags: np.ndarray, size: int, on_no_face: str) -> str:
    """Hash of sample ids, paths, file sizes and mtimes, settings and ``CACHE_VERSION``."""
    paths = manifest["path"].astype(str).tolist()
    files = {path.rsplit(CSV_SEPARATOR, 1)[0] for path in paths}
    stats = {file: _file_stamp(file) for file in files}
    lines = [
        f"{sample_id}\0{path}\0{stats[path.rsplit(CSV_SEPARATOR, 1)[0]]}\0{int(flag)}"
        for sample_id, path, flag in zip(
            manifest["sample_id"].tolist(), paths, flags.tolist(), strict=True
        )
    ]
    header = json.dumps([CACHE_VERSION, size, on_no_face])
    return hashlib.sha256("\n".join([header, *lines]).encode()).hexdigest()[:32]


def _file_stamp(path: str) -> str:
    """ "size:mtime_ns" of ``path`` ("missing" when it cannot be stat'ed)."""
    try:
        stat = os.stat(path)
    except OSError:
        return "missing"
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _run_tasks(tasks: list[tuple[str, bool, int, str]], workers: int) -> list:
    """Run ``_prepare_one`` over ``tasks``, in a process pool when it pays off."""
    if workers <= 1 or len(tasks) < PARALLEL_MIN_ROWS:
        return [_prepare_one(task) for task in tasks]
    chunk = max(16, len(tasks) // (workers * 8))
    with get_context("fork").Pool(workers) as pool:
        return pool.map(_prepare_one, tasks, chunksize=chunk)


def prepare(
    manifest: pd.DataFrame,
    *,
    size: int = 48,
    face_crop: bool | None = None,
    on_no_face: str = "report",
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    workers: int | None = None,
) -> PreparedImages:
    """Gray uint8 ``size`` x ``size`` arrays for the rows of ``manifest`` (see module docstring).

    ``face_crop``: None decides per source (photos are detected and cropped), True/False forces
    it. ``on_no_face``: "report" leaves the image out and lists it in ``failures``; "center"
    keeps a centre crop and still lists it. ``workers``: processes (default: CPU count).
    """
    if on_no_face not in ON_NO_FACE:
        raise ValueError(BAD_ON_NO_FACE.format(value=on_no_face, allowed=ON_NO_FACE))
    flags = _face_crop_flags(manifest, face_crop)
    key = cache_key(manifest, flags, size, on_no_face)
    path = Path(cache_dir or cache_root()) / f"prepared-{size}-{key}.npz"
    if use_cache and path.is_file():
        return _load_cache(path)
    tasks = [
        (str(p), bool(f), size, on_no_face) for p, f in zip(manifest["path"], flags, strict=True)
    ]
    results = _run_tasks(tasks, workers or os.cpu_count() or 1)
    prepared = _collect(manifest, results, size)
    if use_cache:
        _save_cache(path, prepared)
        prepared = PreparedImages(prepared.pixels, prepared.sample_ids, prepared.failures, path)
    if len(prepared.failures):
        log.warning("%d of %d images failed or had no face", len(prepared.failures), len(manifest))
    return prepared


def _collect(manifest: pd.DataFrame, results: list, size: int) -> PreparedImages:
    """Stack the kept images and tabulate failures."""
    sample_ids = manifest["sample_id"].astype(str).to_numpy()
    paths = manifest["path"].astype(str).to_numpy()
    kept = [i for i, (pixels, _) in enumerate(results) if pixels is not None]
    failed = [i for i, (_, reason) in enumerate(results) if reason is not None]
    pixels = (
        np.stack([results[i][0] for i in kept]) if kept else np.zeros((0, size, size), np.uint8)
    )
    failures = pd.DataFrame(
        {
            "sample_id": sample_ids[failed],
            "path": paths[failed],
            "reason": [results[i][1] for i in failed],
        },
        columns=list(FAILURE_COLUMNS),
        dtype="string",
    )
    return PreparedImages(pixels.astype(np.uint8), sample_ids[kept], failures)


def _save_cache(path: Path, prepared: PreparedImages) -> None:
    """Write ``prepared`` to ``path`` atomically as a plain (pickle-free) npz."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle,
            pixels=prepared.pixels,
            sample_ids=prepared.sample_ids.astype(str),
            **{f"failure_{c}": prepared.failures[c].to_numpy(dtype=str) for c in FAILURE_COLUMNS},
        )


def _load_cache(path: Path) -> PreparedImages:
    """Read a cache file written by ``_save_cache``."""
    with np.load(path, allow_pickle=False) as data:
        failures = pd.DataFrame({c: data[f"failure_{c}"] for c in FAILURE_COLUMNS}, dtype="string")
        log.debug("prepared images loaded from cache %s", path)
        return PreparedImages(data["pixels"], data["sample_ids"], failures, path, from_cache=True)
