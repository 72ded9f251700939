"""Decode any image of a Manifest and prepare square face arrays (cached).

``load_gray`` / ``load_rgb`` read image files with ``ferbias.data.decode`` (bit depth, alpha), and
the FER-2013 CSV format through "<csv path>::<row>" references. ``prepare`` turns a Manifest into
``PreparedImages``: tight face crops (FER-2013, CK+48) are only resized; photos get a face
detected and cropped (see ``ferbias.data.faces``); rows that carry a face box (``face_x``,
``face_y``, ``face_w``, ``face_h`` in pixels of the original image, see ``BOX_COLUMNS``) are
cropped from that box, with the same margin rule, instead of being detected. Arrays are gray
(N x size x size, FER-2013 geometry by default) or RGB (N x size x size x 3) at any size and crop
scale. Every file that fails is listed in ``failures`` with its reason; nothing is dropped
silently. Results are cached as ``.npz`` (no pickle) under ``$FERBIAS_CACHE`` (default
~/.cache/ferbias), keyed by a hash of the file list, file sizes and modification times, the face
boxes, the settings and ``CACHE_VERSION``.
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
from ferbias.data.decode import ImageReadError, decode_gray, decode_rgb
from ferbias.io import atomic_path

log = logging.getLogger(__name__)

CACHE_VERSION = 3  # bump whenever decoding, detection or cropping changes
CSV_SEPARATOR = "::"
FAILURE_COLUMNS = ("sample_id", "path", "reason")
# Optional Manifest columns of a face box given by the data set (pixels of the original image).
BOX_COLUMNS = ("face_x", "face_y", "face_w", "face_h")
FACE_INDEX = "face_index"
COLORS = ("gray", "rgb")
NO_FACE = "no face found"
NO_FACE_CENTRE = "no face found; centre crop used"
ON_NO_FACE = ("report", "center")
PARALLEL_MIN_ROWS = 256  # below this a process pool costs more than it saves

# Names the row by its reference "<csv>::<row>", the row's path in a Manifest, so that a summary
# of many bad rows groups them as one reason (data.problems.reason_kind).
BAD_CSV_ROW = "{path!r}: {error}; expected a 'pixels' column of 2304 (48x48) integers in 0-255"
BAD_ON_NO_FACE = "on_no_face={value!r}; expected one of {allowed}"
BAD_COLOR = "color={value!r}; expected one of {allowed}"
PARTIAL_BOX = "manifest has face box column(s) {present} but lacks {missing}; expected all of {all}"
BAD_SIZE = "size={value!r}; expected the output side in pixels, a whole number >= 1 (e.g. 48)"


@dataclass(frozen=True)
class PreparedImages:
    """Prepared arrays: ``pixels[i]`` is the image of ``sample_ids[i]`` (manifest order)."""

    pixels: np.ndarray  # uint8, N x size x size (gray) or N x size x size x 3 (rgb)
    sample_ids: np.ndarray  # str, N
    failures: pd.DataFrame  # sample_id, path, reason (unreadable files, faces not found)
    cache_path: Path | None = None
    from_cache: bool = False


def cache_root() -> Path:
    """``$FERBIAS_CACHE`` or ~/.cache/ferbias."""
    return Path(os.environ.get("FERBIAS_CACHE", Path.home() / ".cache" / "ferbias"))


def face_sample_id(source: str, relative: str, face_index: int, box) -> str:
    """The sample id of one face of a photo: ``<source>:<relative>#<index>@<x>,<y>,<w>,<h>``
    (box values rounded to integer pixels)."""
    x, y, w, h = (round(float(v)) for v in box)
    return f"{source}:{relative}#{int(face_index)}@{x},{y},{w},{h}"


def load_gray(path: str | os.PathLike) -> np.ndarray:
    """Decode ``path`` to a gray uint8 H x W array; raise ``ImageReadError`` naming the file."""
    text = str(path)
    if CSV_SEPARATOR in text:
        return _csv_row(text)
    return decode_gray(text)


def load_rgb(path: str | os.PathLike) -> np.ndarray:
    """Decode ``path`` to an RGB uint8 H x W x 3 array (gray images get three equal channels)."""
    text = str(path)
    if CSV_SEPARATOR in text:
        return np.repeat(load_gray(text)[:, :, None], 3, axis=2)
    return decode_rgb(text)


def _csv_row(reference: str) -> np.ndarray:
    """One 48x48 image from a FER-2013 style CSV, ``<csv path>::<row>`` (the file is parsed once
    and cached)."""
    csv_path, row = reference.rsplit(CSV_SEPARATOR, 1)
    try:
        stat = os.stat(csv_path)
        column = _csv_pixels(csv_path, stat.st_size, stat.st_mtime_ns)
        values = np.array(column[int(row)].split(), dtype=np.int64)
    except Exception as error:
        raise ImageReadError(BAD_CSV_ROW.format(path=reference, error=error)) from error
    if values.size != 48 * 48 or values.min() < 0 or values.max() > 255:
        error = f"{values.size} values" + (
            f" in [{values.min()}, {values.max()}]" if values.size else ""
        )
        raise ImageReadError(BAD_CSV_ROW.format(path=reference, error=error))
    return values.astype(np.uint8).reshape(48, 48)


@lru_cache(maxsize=4)
def _csv_pixels(csv_path: str, size: int, mtime_ns: int) -> np.ndarray:
    """The 'pixels' column of ``csv_path`` (cache keyed by size and mtime)."""
    return pd.read_csv(csv_path, usecols=["pixels"], dtype={"pixels": str})["pixels"].to_numpy()


@dataclass(frozen=True)
class _Task:
    """What ``_prepare_one`` needs for one row (picklable for the process pool)."""

    path: str
    face_crop: bool
    box: tuple[float, float, float, float] | None
    size: int
    on_no_face: str
    color: str
    crop_scale: float


def _prepare_one(task: _Task) -> tuple[np.ndarray | None, str | None]:
    """(pixels or None, failure reason or None) for one image."""
    try:
        image = load_gray(task.path) if task.color == "gray" else load_rgb(task.path)
    except ImageReadError as error:
        return None, str(error)
    gray = image if image.ndim == 2 else np.asarray(Image.fromarray(image).convert("L"))
    if task.box is not None:
        try:
            face = faces.face_from_box(gray, task.box)
        except ValueError as error:
            return None, f"{task.path}: {error}"
        return faces.crop_face(image, face, task.size, scale=task.crop_scale), None
    if not task.face_crop:
        return faces.resize_square(image, task.size), None
    face = faces.detect_face(gray)
    if face is not None:
        return faces.crop_face(image, face, task.size, scale=task.crop_scale), None
    if task.on_no_face == "center":
        return faces.centre_crop(image, task.size), NO_FACE_CENTRE
    return None, NO_FACE


def face_boxes(manifest: pd.DataFrame) -> list[tuple[float, float, float, float] | None]:
    """Per row: the face box (x, y, w, h) the manifest gives, or None (no box columns, or all
    four empty). A row with some but not all four values gets NaN there (reported as bad)."""
    present = [c for c in BOX_COLUMNS if c in manifest.columns]
    if not present:
        return [None] * len(manifest)
    if len(present) < len(BOX_COLUMNS):
        missing = [c for c in BOX_COLUMNS if c not in present]
        raise ValueError(PARTIAL_BOX.format(present=present, missing=missing, all=BOX_COLUMNS))
    values = manifest[list(BOX_COLUMNS)].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    empty = np.isnan(values).all(axis=1)
    return [None if none else tuple(row) for row, none in zip(values.tolist(), empty, strict=True)]


def _face_crop_flags(manifest: pd.DataFrame, face_crop: bool | None) -> np.ndarray:
    """Per row: whether to detect and crop a face (None: photos yes, tight crops no)."""
    if face_crop is not None:
        return np.full(len(manifest), bool(face_crop))
    from ferbias.data.sources import SOURCES, is_face_cropped

    # Sources not registered (a user manifest's own names) are treated as photos.
    names = manifest["source"].dropna().unique()
    cropped = {name: name in SOURCES and is_face_cropped(name) for name in names}
    return ~manifest["source"].map(cropped).fillna(False).to_numpy(dtype=bool)


def cache_key(
    manifest: pd.DataFrame,
    flags: np.ndarray,
    size: int,
    on_no_face: str,
    *,
    color: str = "gray",
    crop_scale: float = faces.CROP_SCALE,
) -> str:
    """Hash of sample ids, paths, file sizes and mtimes, face boxes, settings and
    ``CACHE_VERSION``. Rows without a box and the default colour and crop scale hash as before
    boxes, colour and scale existed, so caches of earlier versions stay valid."""
    paths = manifest["path"].astype(str).tolist()
    files = {path.rsplit(CSV_SEPARATOR, 1)[0] for path in paths}
    stats = {file: _file_stamp(file) for file in files}
    lines = [
        f"{sample_id}\0{path}\0{stats[path.rsplit(CSV_SEPARATOR, 1)[0]]}\0{int(flag)}"
        + ("" if box is None else f"\0box={box!r}")
        for sample_id, path, flag, box in zip(
            manifest["sample_id"].tolist(), paths, flags.tolist(), face_boxes(manifest), strict=True
        )
    ]
    settings: list = [CACHE_VERSION, size, on_no_face]
    if color != "gray" or crop_scale != faces.CROP_SCALE:
        settings += [color, crop_scale]
    header = json.dumps(settings)
    return hashlib.sha256("\n".join([header, *lines]).encode()).hexdigest()[:32]


def _file_stamp(path: str) -> str:
    """ "size:mtime_ns" of ``path`` ("missing" when it cannot be stat'ed)."""
    try:
        stat = os.stat(path)
    except OSError:
        return "missing"
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _run_tasks(tasks: list[_Task], workers: int) -> list:
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
    color: str = "gray",
    crop_scale: float = faces.CROP_SCALE,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    workers: int | None = None,
) -> PreparedImages:
    """uint8 ``size`` x ``size`` arrays for the rows of ``manifest`` (see module docstring).

    ``face_crop``: None decides per source (photos are detected and cropped), True/False forces
    it; rows with a face box are always cropped from their box. ``on_no_face``: "report" leaves
    the image out and lists it in ``failures``; "center" keeps a centre crop and still lists it.
    ``color``: "gray" (N x size x size) or "rgb" (N x size x size x 3). ``crop_scale``: crop
    side / face box side (ferbias's FER-2013 geometry: ``faces.CROP_SCALE``). ``workers``:
    processes (default: CPU count).
    """
    if on_no_face not in ON_NO_FACE:
        raise ValueError(BAD_ON_NO_FACE.format(value=on_no_face, allowed=ON_NO_FACE))
    if color not in COLORS:
        raise ValueError(BAD_COLOR.format(value=color, allowed=COLORS))
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(BAD_SIZE.format(value=size))
    flags = _face_crop_flags(manifest, face_crop)
    key = cache_key(manifest, flags, size, on_no_face, color=color, crop_scale=crop_scale)
    path = Path(cache_dir or cache_root()) / f"prepared-{size}-{key}.npz"
    if use_cache and path.is_file():
        return _load_cache(path)
    tasks = [
        _Task(str(p), bool(f), box, size, on_no_face, color, crop_scale)
        for p, f, box in zip(manifest["path"], flags, face_boxes(manifest), strict=True)
    ]
    results = _run_tasks(tasks, workers or os.cpu_count() or 1)
    prepared = _collect(manifest, results, (size, size) if color == "gray" else (size, size, 3))
    if use_cache:
        _save_cache(path, prepared)
        prepared = PreparedImages(prepared.pixels, prepared.sample_ids, prepared.failures, path)
    if len(prepared.failures):
        log.warning("%d of %d images failed or had no face", len(prepared.failures), len(manifest))
    return prepared


def _collect(manifest: pd.DataFrame, results: list, shape: tuple[int, ...]) -> PreparedImages:
    """Stack the kept images and tabulate failures."""
    sample_ids = manifest["sample_id"].astype(str).to_numpy()
    paths = manifest["path"].astype(str).to_numpy()
    kept = [i for i, (pixels, _) in enumerate(results) if pixels is not None]
    failed = [i for i, (_, reason) in enumerate(results) if reason is not None]
    pixels = np.stack([results[i][0] for i in kept]) if kept else np.zeros((0, *shape), np.uint8)
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
