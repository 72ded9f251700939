"""Shared pieces of every source: the registry, ``LoadResult`` and small layout helpers.

Policy on bad input (same for every source):
- a missing path, an empty folder, or a folder that does not have the expected layout raises an
  error naming the folder and the layout that was expected;
- an unknown emotion *folder* (a whole class) raises ``ValueError`` naming the folder and the
  allowed names: it almost always means the wrong folder was given;
- a single file whose *name* cannot be parsed (UTKFace, CFD, JAFFE, CK+ names, unknown codes) is a
  counted skip: it appears in ``LoadResult.skipped`` with the reason, never silently dropped;
- so is every odd directory entry (``list_files`` / ``sub_folders`` / ``walk_files``): a broken
  or looping symbolic link, a name that is not UTF-8 or holds ``::`` (reserved for
  ``<csv>::<row>`` references), an entry that cannot be read, a FIFO, socket or device, and (in
  ``walk_files``) a folder reached a second time through a link. Hidden entries (".name") are
  ignored.
"""

from __future__ import annotations

import errno
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
UNUSABLE_ROOT = "{source}: cannot use {path}: {problem}; rename or move the folder"
CSV_REFERENCE = "::"  # "<csv path>::<row>" names one image of a CSV (see ferbias.data.images)
BROKEN_LINK = "broken symbolic link (its target does not exist)"
LINK_LOOP = "symbolic link loop"
NOT_UTF8 = "name is not valid UTF-8; rename it"
RESERVED_NAME = "name contains '::', which ferbias reserves for <csv>::<row> references; rename it"
UNREADABLE_ENTRY = "cannot read this directory entry: {error}"
SPECIAL_FILE = "not a regular file (a FIFO, socket or device)"
FOLDER_SEEN = "symbolic link to a folder already searched (a link cycle, or a second way in)"
UNREADABLE_FOLDER = "cannot list this folder: {error}"
EMPTY_CSV = "{path} is empty (not even a header row); expected {expected}"
UNREADABLE_CSV = "cannot read {path} as a table ({error}); expected {expected}"


@dataclass(frozen=True)
class LoadResult:
    """A source's Manifest, every file seen but not turned into a row (``path``, ``reason``), and
    notes about the load as a whole (e.g. label rows that matched no image), one line each."""

    manifest: pd.DataFrame
    skipped: pd.DataFrame
    notes: tuple[str, ...] = ()

    def __repr__(self) -> str:
        counts = f"rows={len(self.manifest)}, skipped={len(self.skipped)}"
        return f"LoadResult({counts}, notes={len(self.notes)})"


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
    """``path`` resolved; raise ``FileNotFoundError``/``NotADirectoryError`` naming the layout,
    ``ValueError`` when the path itself is unusable (not UTF-8, holds ``::``)."""
    path = _usable(path, source=source)
    if not path.exists():
        raise FileNotFoundError(MISSING_PATH.format(source=source, path=path, layout=layout))
    if not path.is_dir():
        raise NotADirectoryError(NOT_A_FOLDER.format(source=source, path=path, layout=layout))
    return path.resolve()


def require_file(path: Path, *, source: str, layout: str) -> Path:
    """``path`` resolved; raise ``FileNotFoundError`` naming the expected layout when missing."""
    path = _usable(path, source=source)
    if not path.is_file():
        raise FileNotFoundError(MISSING_PATH.format(source=source, path=path, layout=layout))
    return path.resolve()


def _usable(path: Path, *, source: str) -> Path:
    """``path`` expanded; ``ValueError`` when its text is unusable (not UTF-8, holds ``::``)."""
    path = Path(path).expanduser()
    problem = name_problem(str(path))
    if problem is not None:
        raise ValueError(UNUSABLE_ROOT.format(source=source, path=printable(path), problem=problem))
    return path


def read_csv_file(path: Path, *, expected: str, **options) -> pd.DataFrame:
    """``pd.read_csv(path, **options)``; an empty or unparsable file raises ``ValueError`` naming
    it and ``expected`` (what the file should hold)."""
    try:
        return pd.read_csv(path, **options)
    except pd.errors.EmptyDataError:
        raise ValueError(EMPTY_CSV.format(path=path, expected=expected)) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ValueError(UNREADABLE_CSV.format(path=path, error=error, expected=expected)) from None


def empty_folder_error(path: Path, *, source: str, layout: str) -> ValueError:
    return ValueError(EMPTY_FOLDER.format(source=source, path=path, layout=layout))


def printable(path: str | os.PathLike) -> str:
    """``path`` as text that can be printed and stored: undecodable bytes become ``\\xNN``."""
    return os.fspath(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def name_problem(name: str) -> str | None:
    """Why ferbias cannot use this file name or path (not UTF-8, holds ``::``), or None."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return NOT_UTF8
    return RESERVED_NAME if CSV_REFERENCE in name else None


def sub_folders(path: Path, skipped: list[tuple[str, str]]) -> list[Path]:
    """Visible sub-folders of ``path``, sorted by name; odd entries are appended to ``skipped``."""
    return [Path(path) / name for name in _scan(path, skipped, want_dirs=True)]


def list_files(path: Path, skipped: list[tuple[str, str]]) -> list[str]:
    """Names of the visible regular files in ``path``, sorted (no image decoding); odd entries
    (see the module docstring) are appended to ``skipped`` as ``(path, reason)``."""
    return _scan(path, skipped, want_dirs=False)


def walk_files(root: Path, skipped: list[tuple[str, str]]) -> list[Path]:
    """Every visible regular file under ``root``, recursively, sorted by path. Links to folders
    are followed after every real folder has been searched, and no folder is searched twice;
    odd entries and sub-folders that cannot be listed are appended to ``skipped``."""
    files: list[Path] = []
    searched: set[str] = set()
    folders, linked = [Path(root)], []
    while folders or linked:
        folder = folders.pop() if folders else linked.pop()
        real = os.path.realpath(folder)
        if real in searched:
            skipped.append((printable(folder), FOLDER_SEEN))
            continue
        searched.add(real)
        try:
            files += [folder / name for name in list_files(folder, skipped)]
            found = sub_folders(folder, [])  # its odd entries were counted just above
        except OSError as error:
            if folder == Path(root):
                raise
            skipped.append((printable(folder), UNREADABLE_FOLDER.format(error=error.strerror)))
            continue
        folders += [f for f in found if not f.is_symlink()]
        linked += [f for f in found if f.is_symlink()]
    return sorted(files)


def _scan(path: Path, skipped: list[tuple[str, str]], *, want_dirs: bool) -> list[str]:
    """Sorted names of the wanted kind of entry; problems of any entry go to ``skipped``."""
    names = []
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            kind, problem = _entry_kind(entry)
            if problem is not None:
                skipped.append((printable(entry.path), problem))
            elif kind == ("dir" if want_dirs else "file"):
                names.append(entry.name)
    return sorted(names)


def _entry_kind(entry: os.DirEntry) -> tuple[str | None, str | None]:
    """("file" | "dir" | None, problem or None) of one directory entry, links followed."""
    try:
        if entry.is_dir():
            kind = "dir"
        elif entry.is_file():
            kind = "file"
        elif entry.is_symlink():
            return None, BROKEN_LINK
        else:
            return None, SPECIAL_FILE
    except OSError as error:
        problem = LINK_LOOP if error.errno == errno.ELOOP else None
        return None, problem or UNREADABLE_ENTRY.format(error=error.strerror or error)
    return kind, name_problem(entry.name)


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
