"""Predict the emotion of every face in files, folders, manifests or arrays (``ferbias predict``).

Inputs: image files; folders (searched recursively as ``sources.base.walk_files`` does: hidden
files ignored, odd entries such as link loops or names that are not UTF-8 skipped with their
reason); manifests (a CSV or
Parquet file in the ``manifest`` source's format, whose rows may carry a face box); uint8 arrays
(one H x W gray or H x W x 3 RGB image, a stack N x H x W or N x H x W x 3, or a list of them).

Each input is decoded in the colour the model wants, then:
- a manifest row with a face box is cropped from its box;
- an image already at the model's input size (a 48x48 gray crop such as FER-2013's) is used as
  it is, without detection, unless ``face_crop=True``; ``face_crop=False`` (the default when
  the model's card says ``face_crop: {enabled: false}``) resizes every image whole;
- otherwise every face is detected (``faces.detect_faces``) and cropped the way the model's card
  says.

The result has one row per face (input, face index, face box in input pixels, top emotion and a
probability per emotion in the model's label order); an input without a face, or that cannot be
read, gets one row with the reason in ``error``. Nothing is dropped silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ferbias.data import faces, images
from ferbias.data.sources.base import (
    is_image_name,
    name_problem,
    not_an_image_reason,
    printable,
    walk_files,
)

MANIFEST_SUFFIXES = frozenset({".csv", ".parquet", ".pq"})
CHUNK = 256  # inputs cropped per step: bounds memory, feeds the process pool, moves the bar
PARALLEL_MIN_INPUTS = 32  # below this a process pool costs more than it saves
BAD_ARRAY = "{name}: dtype {dtype}, shape {shape}; expected a uint8 H x W or H x W x 3 array"
MISSING_INPUT = "input {path} does not exist; expected an image file, a folder or a manifest"


@dataclass(frozen=True)
class Item:
    """One input: a file path or an array, and the face box a manifest gave (if any); or an
    input skipped before decoding (``image`` None, ``skipped`` the reason)."""

    name: str
    image: str | np.ndarray | None
    box: tuple[float, float, float, float] | None = None
    face_index: int = 0
    skipped: str | None = None


@dataclass
class PredictResult:
    """The predictions table and the end counts (inputs, faces, no face, unreadable)."""

    table: pd.DataFrame
    counts: dict[str, int]


def predict_inputs(
    model,
    inputs,
    *,
    face_crop: bool | None = None,
    progress: bool = False,
    workers: int | None = None,
) -> PredictResult:
    """One row per face of ``inputs`` (see the module docstring) predicted by ``model``
    (a ``ferbias.training.inference.FerModel``)."""
    if face_crop is None and not model.card.face_crop.enabled:
        face_crop = False  # the model takes whole images
    fast = _stack_at_size(model, inputs, face_crop)
    if fast is not None:
        whole = (0.0, 0.0, float(fast.shape[2]), float(fast.shape[1]))
        return _result(model, [(f"array:{i}", 0, whole, None) for i in range(len(fast))], fast)
    items = collect_inputs(inputs)
    rows: list[tuple] = []
    crops: list[np.ndarray] = []
    options = {**model.prepare_options(), "face_crop": face_crop}
    with _bar(progress, len(items)) as bar:
        for outcomes in _crop_chunks(items, options, workers or os.cpu_count() or 1):
            for item, outcome in outcomes:
                if isinstance(outcome, str):
                    rows.append((item.name, None, None, outcome))
                    continue
                for index, box, crop in outcome:
                    rows.append((item.name, index, box, None))
                    crops.append(crop)
            if bar is not None:
                bar.advance(bar.task_ids[0], len(outcomes))
    shape = (0, *_crop_shape(options))
    skipped = sum(item.skipped is not None for item in items)
    return _result(model, rows, np.stack(crops) if crops else np.zeros(shape, np.uint8), skipped)


def collect_inputs(inputs) -> list[Item]:
    """Every input in order, skipped ones included with their reason (non-images in folders,
    files a manifest lists but that do not exist)."""
    items: list[Item] = []
    for index, value in enumerate(_flatten(inputs)):
        if isinstance(value, np.ndarray):
            items.append(Item(f"array:{index}", value))
        else:
            items += _expand_path(Path(value))
    return items


def _flatten(inputs) -> Iterator:
    """Single inputs from arrays (stacks split), paths and lists of either."""
    if isinstance(inputs, np.ndarray):
        stacked = inputs.ndim == 4 or (inputs.ndim == 3 and inputs.shape[-1] != 3)
        yield from (inputs if stacked else [inputs])
    elif isinstance(inputs, str | os.PathLike):
        yield inputs
    else:
        for value in inputs:
            yield from _flatten(value)


def _expand_path(path: Path) -> list[Item]:
    """The items of one path argument: a folder's files, a manifest's rows, or the file."""
    if not path.exists():
        raise FileNotFoundError(MISSING_INPUT.format(path=printable(path)))
    problem = name_problem(str(path))
    if problem is not None:
        return [Item(printable(path), None, skipped=problem)]
    if path.is_dir():
        skipped: list[tuple[str, str]] = []
        items = [_file_item(p) for p in walk_files(path, skipped)]
        return items + [Item(name, None, skipped=reason) for name, reason in skipped]
    if path.suffix.lower() in MANIFEST_SUFFIXES:
        return _manifest_items(path)
    return [Item(str(path), str(path))]


def _file_item(path: Path) -> Item:
    """A file found in a folder: an image to predict, or a skip naming its suffix."""
    if is_image_name(path.name):
        return Item(str(path), str(path))
    return Item(str(path), None, skipped=not_an_image_reason(path.name))


def _manifest_items(path: Path) -> list[Item]:
    """The rows of a manifest (with their face boxes), then the files it lists but lacks."""
    from ferbias.data.sources import load_source

    result = load_source("manifest", path)
    boxes = images.face_boxes(result.manifest)
    index = result.manifest.get("face_index", pd.Series(0, index=result.manifest.index))
    items = [
        Item(str(p), str(p), box, int(i) if box is not None and pd.notna(i) else 0)
        for p, box, i in zip(result.manifest["path"], boxes, index, strict=True)
    ]
    skipped = zip(result.skipped["path"], result.skipped["reason"], strict=True)
    return items + [Item(str(name), None, skipped=str(reason)) for name, reason in skipped]


def _stack_at_size(model, inputs, face_crop: bool | None) -> np.ndarray | None:
    """``inputs`` as model-ready crops when it is one uint8 stack already at the input size."""
    options = model.prepare_options()
    if face_crop or not isinstance(inputs, np.ndarray) or inputs.dtype != np.uint8:
        return None
    gray_stack = inputs.ndim == 3 and inputs.shape[-1] != 3
    rgb_stack = inputs.ndim == 4 and inputs.shape[-1] == 3
    if not (gray_stack or rgb_stack) or inputs.shape[1:3] != (options["size"],) * 2:
        return None
    if (options["color"] == "gray") == gray_stack:
        return inputs
    return np.stack([_to_color(image, options["color"]) for image in inputs])


def _crop_shape(options: dict) -> tuple[int, ...]:
    size = options["size"]
    return (size, size) if options["color"] == "gray" else (size, size, 3)


def _crop_chunks(items: list[Item], options: dict, workers: int) -> Iterator[list]:
    """(item, outcome) per item, a chunk at a time; a process pool for many inputs."""
    chunks = [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
    tasks = [[(item, options) for item in chunk] for chunk in chunks]
    if workers <= 1 or len(items) < PARALLEL_MIN_INPUTS:
        for chunk, task in zip(chunks, tasks, strict=True):
            yield list(zip(chunk, map(_crop_task, task), strict=True))
        return
    with get_context("fork").Pool(workers) as pool:
        for chunk, task in zip(chunks, tasks, strict=True):
            size = max(1, len(task) // (workers * 4))
            yield list(zip(chunk, pool.map(_crop_task, task, chunksize=size), strict=True))


def _crop_task(task: tuple[Item, dict]) -> list | str:
    item, options = task
    return item.skipped if item.skipped is not None else crop_faces(item, **options)


def crop_faces(
    item: Item, *, size: int, color: str, crop_scale: float, face_crop: bool | None
) -> list[tuple[int, tuple, np.ndarray]] | str:
    """[(face index, box (x, y, w, h), crop)] for one input, or the reason it has none."""
    try:
        image = _decoded(item, color)
    except (images.ImageReadError, ValueError) as error:
        return str(error)
    gray = image if image.ndim == 2 else _to_color(image, "gray")
    height, width = gray.shape
    if item.box is not None:
        try:
            face = faces.face_from_box(gray, item.box)
        except ValueError as error:
            return f"{item.name}: {error}"
        return [(item.face_index, item.box, faces.crop_face(image, face, size, scale=crop_scale))]
    if face_crop is False or (face_crop is None and (height, width) == (size, size)):
        return [(0, (0.0, 0.0, float(width), float(height)), faces.resize_square(image, size))]
    found = faces.detect_faces(gray)
    if not found:
        return images.NO_FACE
    return [
        (i, face.box(), faces.crop_face(image, face, size, scale=crop_scale))
        for i, face in enumerate(found)
    ]


def _decoded(item: Item, color: str) -> np.ndarray:
    """A file decoded, or an array checked, in ``color`` ("gray" or "rgb")."""
    image = item.image
    if isinstance(image, str):
        return images.load_gray(image) if color == "gray" else images.load_rgb(image)
    ok = image.dtype == np.uint8 and (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3))
    if not ok:
        raise ValueError(BAD_ARRAY.format(name=item.name, dtype=image.dtype, shape=image.shape))
    return _to_color(image, color)


def _to_color(image: np.ndarray, color: str) -> np.ndarray:
    """A gray or RGB uint8 image in ``color`` (gray by Pillow's ITU-R 601-2 luma)."""
    if color == "gray":
        return image if image.ndim == 2 else np.asarray(Image.fromarray(image).convert("L"))
    return image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)


def _result(model, rows: list[tuple], crops: np.ndarray, skipped: int = 0) -> PredictResult:
    """The predictions table from (input, face index, box, error) rows and the crops of the
    rows without an error, in order."""
    proba = model.predict_proba(crops) if len(crops) else np.zeros((0, len(model.emotions)))
    ok = np.array([error is None for *_, error in rows], dtype=bool)
    table = pd.DataFrame({"input": pd.array([r[0] for r in rows], dtype="string")})
    table["face_index"] = pd.array([r[1] for r in rows], dtype="Int64")
    boxes = np.full((len(rows), 4), np.nan)
    boxes[ok] = np.array([r[2] for r in rows if r[3] is None], dtype=float).reshape(-1, 4)
    for column, values in zip(images.BOX_COLUMNS, boxes.T, strict=True):
        table[column] = pd.array(values, dtype="Float64")
    emotions = np.asarray(model.emotions, dtype=object)
    top = np.full(len(rows), None, dtype=object)
    top[ok] = emotions[proba.argmax(axis=1)] if len(proba) else []
    table["emotion"] = pd.array(top, dtype="string")
    for i, emotion in enumerate(model.emotions):
        column = np.full(len(rows), np.nan, dtype=np.float32)
        column[ok] = proba[:, i]
        table[f"p_{emotion}"] = column
    table["error"] = pd.array([r[3] for r in rows], dtype="string")
    no_face = int((table["error"] == images.NO_FACE).sum())
    counts = {
        "inputs": int(table["input"].nunique()),
        "faces": int(ok.sum()),
        "no face": no_face,
        "unreadable": int((~ok).sum()) - no_face - skipped,
        "skipped": skipped,
    }
    return PredictResult(table, counts)


def _bar(enabled: bool, total: int):
    """A rich progress bar over the inputs, or a no-op context yielding None."""
    if not enabled:
        return nullcontext()
    columns = (TextColumn("predict"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    progress = Progress(*columns, transient=True)
    progress.add_task("inputs", total=total)
    return progress
