"""Shared pieces of every source: the registry, ``LoadResult`` and small layout helpers.

Policy on bad input (same for every source):
- a missing path, an empty folder, or a folder that does not have the expected layout raises an
  error naming the folder and the layout that was expected;
- an unknown emotion *folder* (a whole class) raises ``ValueError`` naming the folder and the
  allowed names: it almost always means the wrong folder was given;
- a single file whose *name* cannot be parsed (UTKFace, CFD, JAFFE, CK+ names, unknown codes) is a
  counted skip: it appears in ``LoadResult.skipped`` with the reason, never silently dropped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ferbias.data.schema import make_manifest
from ferbias.registry import Registry

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".pgm", ".webp"})
SKIPPED_COLUMNS = ("path", "reason")

MISSING_PATH = "{source}: {path} does not exist; expected {layout}"
NOT_A_FOLDER = "{source}: {path} is not a folder; expected {layout}"
EMPTY_FOLDER = "{source}: folder {path} is empty or holds no images; expected {layout}"
UNKNOWN_EMOTION_FOLDER = (
    "{source}: unknown emotion folder {path} (name {name!r}); allowed folder names: {allowed}"
)
NOT_AN_IMAGE = "not an image file (suffix {suffix!r}; expected one of {allowed})"


@dataclass(frozen=True)
class LoadResult:
    """A source's Manifest plus every file seen but not turned into a row (``path``, ``reason``)."""

    manifest: pd.DataFrame
    skipped: pd.DataFrame

    def __repr__(self) -> str:
        return f"LoadResult(rows={len(self.manifest)}, skipped={len(self.skipped)})"


@dataclass(frozen=True)
class Source:
    """A registered source: ``load(path, **options) -> LoadResult`` plus facts about its images."""

    name: str
    load: Callable[..., LoadResult]
    face_cropped: bool  # True: images are tight face crops (FER-2013 geometry), no detection needed
    layout: str  # the on-disk layout the loader expects, shown in errors and `ferbias data list`

    def __call__(self, path: str | os.PathLike, **options) -> LoadResult:
        return self.load(Path(path), **options)


SOURCES: Registry[LoadResult] = Registry("source")


def register_source(name: str, *, face_cropped: bool, layout: str):
    """Decorator: register ``load(path, **options)`` as source ``name``."""

    def decorate(load: Callable[..., LoadResult]) -> Callable[..., LoadResult]:
        source = Source(name=name, load=load, face_cropped=face_cropped, layout=layout)
        SOURCES.register(name)(source)
        return load

    return decorate


def require_dir(path: Path, *, source: str, layout: str) -> Path:
    """``path`` resolved; raise ``FileNotFoundError``/``NotADirectoryError`` naming the layout."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(MISSING_PATH.format(source=source, path=path, layout=layout))
    if not path.is_dir():
        raise NotADirectoryError(NOT_A_FOLDER.format(source=source, path=path, layout=layout))
    return path.resolve()


def require_file(path: Path, *, source: str, layout: str) -> Path:
    """``path`` resolved; raise ``FileNotFoundError`` naming the expected layout when missing."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(MISSING_PATH.format(source=source, path=path, layout=layout))
    return path.resolve()


def empty_folder_error(path: Path, *, source: str, layout: str) -> ValueError:
    return ValueError(EMPTY_FOLDER.format(source=source, path=path, layout=layout))


def sub_folders(path: Path) -> list[Path]:
    """Visible sub-folders of ``path``, sorted by name."""
    with os.scandir(path) as entries:
        return sorted(Path(e.path) for e in entries if e.is_dir() and not e.name.startswith("."))


def list_files(path: Path) -> list[str]:
    """Names of the visible plain files in ``path``, sorted (no image decoding)."""
    with os.scandir(path) as entries:
        return sorted(e.name for e in entries if e.is_file() and not e.name.startswith("."))


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def not_an_image_reason(name: str) -> str:
    suffix = os.path.splitext(name)[1]
    return NOT_AN_IMAGE.format(suffix=suffix, allowed=sorted(IMAGE_SUFFIXES))


def emotion_for_folder(folder: Path, mapping: dict[str, str], *, source: str) -> str:
    """Canonical emotion for an emotion folder; unknown folder -> ``ValueError`` naming it."""
    try:
        return mapping[folder.name]
    except KeyError:
        raise ValueError(
            UNKNOWN_EMOTION_FOLDER.format(
                source=source, path=folder, name=folder.name, allowed=sorted(mapping)
            )
        ) from None


def skipped_frame(items: Iterable[tuple[str, str]]) -> pd.DataFrame:
    """``(path, reason)`` pairs as the ``skipped`` table."""
    frame = pd.DataFrame(list(items), columns=list(SKIPPED_COLUMNS))
    return frame.astype({"path": "string", "reason": "string"})


def finish(rows: list[dict] | pd.DataFrame, skipped: Iterable[tuple[str, str]]) -> LoadResult:
    """Validate ``rows`` into a Manifest and pair it with the skipped files."""
    return LoadResult(manifest=make_manifest(rows), skipped=skipped_frame(skipped))


def row(source: str, root: Path, relative: str, *, emotion: str | None, **fields) -> dict:
    """One Manifest row for ``root/relative`` (POSIX relative path); ``sample_id`` is
    ``"<source>:<relative>"`` so it is stable across machines."""
    return {
        "sample_id": f"{source}:{relative}",
        "source": source,
        "path": os.path.join(root, relative),
        "emotion": emotion,
        **fields,
    }


def dataset_root(path: Path, inner: str, *, source: str, layout: str) -> Path:
    """``path/inner`` when it exists (the shared folder), else ``path`` itself (must exist)."""
    path = require_dir(path, source=source, layout=layout)
    return path / inner if (path / inner).is_dir() else path
