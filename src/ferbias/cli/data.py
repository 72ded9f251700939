"""`ferbias data ...`: list sources, summarise a data set, prepare arrays, fetch FER-2013."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ferbias.data.schema import EMOTIONS, STUDY_EMOTIONS

app = typer.Typer(help="List, summarise, prepare and fetch face data sets.", no_args_is_help=True)
console = Console()
log = logging.getLogger(__name__)

BAD_EMOTIONS = "--emotions {bad} not canonical; use 'study', 'all' or names from {allowed}"
NOT_NPZ = "--out {out} must end in .npz"
BAD_OPTION = "--option {item!r}: expected key=value, e.g. --option angles=all"
OPTION_HELP = "a source option key=value (repeatable), e.g. angles=all for kdef"
NO_IMAGES = "{source} at {path}: no images of the chosen emotions to summarise or prepare"


@app.command("list")
def list_sources() -> None:
    """Registered sources, whether their images are tight face crops, and their layout."""
    from ferbias.data.sources import SOURCES

    table = Table(title="ferbias data sources")
    table.add_column("source")
    table.add_column("face-cropped")
    table.add_column("reads", overflow="fold")
    for name in SOURCES.names():
        source = SOURCES.get(name)
        cropped = "yes" if source.face_cropped else "no: face detected"
        table.add_row(name, cropped, source.layout)
    console.print(table)


def _parse_emotions(emotions: str | None) -> tuple[str, ...] | None:
    """None (keep all), the study's six, or a comma-separated list of canonical names."""
    if emotions in (None, "", "all"):
        return None
    if emotions == "study":
        return STUDY_EMOTIONS
    names = tuple(e.strip() for e in emotions.split(",") if e.strip())
    bad = [e for e in names if e not in EMOTIONS]
    if bad:
        raise typer.BadParameter(BAD_EMOTIONS.format(bad=bad, allowed=list(EMOTIONS)))
    return names


def _parse_options(items: list[str] | None) -> dict:
    """``--option key=value`` pairs as source options (values parsed as YAML: 2, [S, HL], true)."""
    options = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(BAD_OPTION.format(item=item), param_hint="--option")
        options[key.strip()] = yaml.safe_load(text)
    return options


def _load(source: str, path: Path, emotions: str | None, options: list[str] | None = None):
    """LoadResult of ``source`` (with ``--option`` values) with rows restricted to ``emotions``;
    its notes are printed."""
    from ferbias.data.sources import load_source

    parsed = _parse_options(options)
    keep = _parse_emotions(emotions)
    try:
        result = load_source(source, path, **parsed)
    except TypeError as error:  # an --option the source does not take
        if not parsed:
            raise
        raise typer.BadParameter(str(error), param_hint="--option") from None
    for note in result.notes:
        console.print(f"note: {escape(note)}", soft_wrap=True, highlight=False)
    if keep is None:
        return result
    manifest = result.manifest[result.manifest["emotion"].isin(keep)].reset_index(drop=True)
    return replace(result, manifest=manifest)


def _report_problems(source: str, path: Path, skipped: pd.DataFrame, failures: pd.DataFrame):
    """Files skipped or failed: counts and a few examples per reason, the full list to a file."""
    from ferbias.data import problems
    from ferbias.data.images import cache_root

    table = problems.collect_problems(skipped, failures)
    if table.empty:
        return
    summary = problems.summarise_problems(table)
    console.print(_table(f"{source}: files skipped or failed, by reason", summary, index=False))
    full = problems.write_problems(
        problems.default_problems_file(cache_root(), source, path), table
    )
    console.print(f"full list of the {len(table):,} files: {full}", soft_wrap=True)


def _require_images(manifest: pd.DataFrame, source: str, path: Path) -> None:
    if manifest.empty:
        raise ValueError(NO_IMAGES.format(source=source, path=path))


def _table(title: str, frame: pd.DataFrame, *, index: bool = True) -> Table:
    """A rich table of ``frame`` (numbers right-aligned, floats with 1 decimal)."""
    table = Table(title=title)
    frame = frame.reset_index() if index else frame
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(
            *(
                f"{v:,.1f}"
                if isinstance(v, float)
                else f"{v:,}"
                if isinstance(v, int | np.integer)
                else escape(str(v))
                for v in row
            )
        )
    return table


def _counts(manifest: pd.DataFrame) -> pd.DataFrame:
    """Counts per emotion (rows) x gender/split (columns) with totals."""
    split = manifest["original_split"].astype("string").fillna("no split")
    emotion = manifest["emotion"].astype("string").fillna("<none>").rename("emotion")
    table = pd.crosstab(emotion, [manifest["gender"].astype("string"), split])
    table.columns = [f"{gender} {part}" for gender, part in table.columns]
    table["total"] = table.sum(axis=1)
    table.loc["total"] = table.sum(axis=0)
    return table


def _subjects(manifest: pd.DataFrame) -> pd.DataFrame | None:
    """Distinct subjects per gender (rows) x split (columns); None when no row has a subject id."""
    known = manifest[manifest["subject_id"].notna()]
    if known.empty:
        return None
    gender = known["gender"].astype("string").rename("gender")
    split = known["original_split"].astype("string").fillna("no split").rename("split")
    table = known.groupby([gender, split])["subject_id"].nunique().unstack(fill_value=0)
    table["all splits"] = known.groupby(gender)["subject_id"].nunique()
    everyone = known.groupby(split)["subject_id"].nunique()
    table.loc["all"] = [*everyone.reindex(table.columns[:-1]), known["subject_id"].nunique()]
    return table.astype(int)


def _straddling(manifest: pd.DataFrame, groups: pd.Series) -> int:
    """Duplicate groups with members in the official test split and outside it."""
    is_test = (manifest["original_split"].astype("string") == "test").fillna(False).to_numpy()
    frame = pd.DataFrame({"group": groups.to_numpy(), "test": is_test}).dropna()
    return int((frame.groupby("group")["test"].nunique() > 1).sum())


@app.command()
def summary(
    source: str = typer.Argument(..., help="registered source name (see `ferbias data list`)"),
    path: Path = typer.Option(..., "--path", help="the data set's folder (or file)"),
    emotions: str = typer.Option(None, "--emotions", help="'study', 'all' or a comma list"),
    workers: int = typer.Option(None, "--workers", help="processes for decoding (default: CPUs)"),
    option: list[str] = typer.Option(None, "--option", help=OPTION_HELP),
) -> None:
    """Counts per emotion x gender x split, subjects, duplicates, unreadable files, faces not
    found, skipped files and per-split image statistics."""
    from ferbias.data import images, quality

    result = _load(source, path, emotions, option)
    manifest = result.manifest
    _require_images(manifest, source, path)
    console.print(_table(f"{source}: images per emotion x gender/split", _counts(manifest)))
    subjects = _subjects(manifest)
    if subjects is not None:
        console.print(_table(f"{source}: subjects per gender x split", subjects))
    prepared = images.prepare(manifest, workers=workers)
    kept = manifest.set_index("sample_id").loc[prepared.sample_ids].reset_index()
    duplicates = quality.find_duplicates(kept, prepared.pixels)
    no_face = int(prepared.failures["reason"].str.startswith(images.NO_FACE).sum())
    unreadable = len(prepared.failures) - no_face
    overview = {
        "images in manifest": len(manifest),
        "unknown gender": int((manifest["gender"] == "unknown").sum()),
        "subjects": f"{n:,}" if (n := manifest["subject_id"].nunique()) else "no subject ids",
        "files skipped by the loader": len(result.skipped),
        "unreadable images": unreadable,
        "faces not found": no_face,
        "exact duplicate groups (files)": _groups(duplicates["exact_group"]),
        "near duplicate groups (files)": _groups(duplicates["near_group"]),
        "exact groups straddling the official split": _straddling(kept, duplicates["exact_group"]),
        "near groups straddling the official split": _straddling(kept, duplicates["near_group"]),
    }
    console.print(
        _table(
            f"{source}: quality", pd.Series(overview, name="value").rename_axis("check").to_frame()
        )
    )
    _report_problems(source, path, result.skipped, prepared.failures)
    _print_statistics(source, kept, prepared.pixels)


def _groups(groups: pd.Series) -> str:
    return f"{groups.nunique():,} ({int(groups.notna().sum()):,})"


def _print_statistics(source: str, manifest: pd.DataFrame, pixels: np.ndarray) -> None:
    """Per-split image statistics and, when splits drift apart, a loud warning."""
    from ferbias.data import quality

    stats = quality.split_statistics(
        pixels, manifest["original_split"].astype("string").fillna("none")
    )
    console.print(_table(f"{source}: image statistics per split", stats.table.round(1)))
    for message in stats.warnings:
        console.print(f"[bold red]{message}[/bold red]")


@app.command()
def prepare(
    source: str = typer.Argument(..., help="registered source name (see `ferbias data list`)"),
    path: Path = typer.Option(..., "--path", help="the data set's folder (or file)"),
    out: Path = typer.Option(None, "--out", help="also write pixels + labels to this .npz"),
    size: int = typer.Option(48, "--size", help="output side in pixels"),
    face_crop: bool = typer.Option(None, "--face-crop/--no-face-crop", help="default: per source"),
    on_no_face: str = typer.Option("report", "--on-no-face", help="report | center"),
    emotions: str = typer.Option(None, "--emotions", help="'study', 'all' or a comma list"),
    workers: int = typer.Option(None, "--workers", help="processes (default: CPUs)"),
    option: list[str] = typer.Option(None, "--option", help=OPTION_HELP),
) -> None:
    """Decode, crop and cache gray uint8 arrays (FER-2013 geometry); optionally export .npz."""
    from ferbias.data import images
    from ferbias.io import atomic_path

    if out is not None and out.suffix != ".npz":
        raise typer.BadParameter(NOT_NPZ.format(out=out), param_hint="--out")
    result = _load(source, path, emotions, option)
    manifest = result.manifest
    _require_images(manifest, source, path)
    prepared = images.prepare(
        manifest, size=size, face_crop=face_crop, on_no_face=on_no_face, workers=workers
    )
    state = "cache hit" if prepared.from_cache else "prepared"
    counts = f"{len(prepared.pixels):,} of {len(manifest):,} images"
    skips = f"{len(result.skipped):,} files skipped by the loader"
    console.print(f"{state}: {counts}, {len(prepared.failures):,} failures; {skips}")
    _report_problems(source, path, result.skipped, prepared.failures)
    console.print(f"cache: {prepared.cache_path}", soft_wrap=True)
    if out is not None:
        labels = manifest.set_index("sample_id").loc[prepared.sample_ids]
        columns = {
            c: labels[c].astype("string").fillna("").to_numpy(dtype=str)
            for c in ("emotion", "gender", "subject_id", "original_split")
        }
        with atomic_path(out) as tmp, open(tmp, "wb") as handle:
            np.savez(
                handle,
                pixels=prepared.pixels,
                sample_ids=prepared.sample_ids.astype(str),
                **columns,
            )
        console.print(f"wrote {out}")


@app.command()
def fetch(
    name: str = typer.Argument(..., help="data set to download (fer2013)"),
    to: Path = typer.Option(..., "--to", help="folder to put it in"),
    timeout: float = typer.Option(5.0, "--timeout", help="seconds to wait for the network"),
) -> None:
    """Download a data set (FER-2013 via kagglehub); offline -> a clear message and exit code 1."""
    from ferbias.data.fetch import fetch as fetch_dataset

    folder = fetch_dataset(name, to, timeout=timeout)
    console.print(f"{name} is in {folder}", soft_wrap=True)
