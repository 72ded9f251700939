"""FER-2013: the image-folder export (Kaggle msambare layout) and the original fer2013.csv.

- Folder export: ``<root>/{train,test}/<emotion>/<Usage>_<n>.jpg``; the file-name prefix
  (Training_, PublicTest_, PrivateTest_) is kept in column ``usage``; original_split is the folder.
- CSV: ``fer2013.csv`` with columns emotion (0 angry, 1 disgust, 2 fear, 3 happy, 4 sad,
  5 surprise, 6 neutral), pixels (2,304 space-separated values) and Usage. ``path`` is
  ``"<csv>::<row>"`` with ``row`` the 0-based index of the data row (header excluded).
- ``labels="ferplus"`` replaces the FER emotion by the FER+ majority vote (see ``ferplus``).
- ``gender_labels``: a labels file joined by ``ferbias.data.sources.labels`` ("default" = the
  committed ``<repo>/labels/fer2013_gender.csv`` when it exists; None = no gender). Labels keyed
  by image-folder paths reach fer2013.csv rows through FER+ (``ferplus.folder_to_csv_rows``:
  fer2013new.csv and fer2013_folder_to_ferplus.csv beside the CSV, in ``ferplus/`` or in
  ``ferplus_dir``); without those files the load says in ``notes`` that no gender was joined.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ferbias.data.sources import ferplus
from ferbias.data.sources.base import (
    LoadResult,
    emotion_for_folder,
    empty_folder_error,
    finish,
    is_image_name,
    list_files,
    not_an_image_reason,
    read_csv_file,
    register_source,
    require_dir,
    require_file,
    row,
    sub_folders,
)
from ferbias.data.sources.labels import join_label_table, join_labels, read_labels

NAME = "fer2013"
LAYOUT = (
    "a folder with train/<emotion>/*.jpg and test/<emotion>/*.jpg (Kaggle msambare/fer2013), "
    "or the original fer2013.csv (emotion,pixels,Usage)"
)
FOLDER_EMOTIONS = {
    e: e for e in ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
}
CSV_EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
USAGE_SPLITS = {"Training": "train", "PublicTest": "test", "PrivateTest": "test"}
PIXELS = 48 * 48
DEFAULT_GENDER_LABELS = Path(__file__).resolve().parents[4] / "labels" / "fer2013_gender.csv"

NO_SPLIT_FOLDERS = "fer2013: {path} has neither train/ nor test/; expected " + LAYOUT
BAD_LABELS_OPTION = "fer2013: labels={value!r}; expected 'fer' or 'ferplus'"
CSV_COLUMNS = "fer2013 CSV {path}: missing column(s) {missing}; expected emotion, pixels, Usage"
# Reasons of skipped rows; their path, "<csv>::<row>", names the file and the row.
BAD_PIXEL_COUNT = "{count} pixel values; expected {expected}"
BAD_EMOTION_CODE = "emotion code {code!r}; expected 0-6 ({names})"
FERPLUS_LENGTH = "FER+ file {ferplus} has {n_plus} rows but {csv} has {n_csv}; they align by row"
FERPLUS_USAGE = "FER+ file {ferplus}, row {row}: Usage {plus!r} differs from {csv}'s {fer!r}"
CSV_LABELS_UNJOINED = (
    "labels file {labels} names image-folder files; they reach rows of {csv} only through FER+ "
    "({error}), so they were not joined"
)


@register_source(NAME, face_cropped=True, layout=LAYOUT)
def load_fer2013(
    path: Path,
    *,
    labels: str = "fer",
    ferplus_dir: str | Path | None = None,
    gender_labels: str | Path | None = "default",
) -> LoadResult:
    """Load FER-2013 from the folder export or fer2013.csv (see the module docstring)."""
    if labels not in ("fer", "ferplus"):
        raise ValueError(BAD_LABELS_OPTION.format(value=labels))
    path = Path(path).expanduser()
    labels_file = gender_labels_file(gender_labels)
    if path.is_file():
        return _load_csv(path.resolve(), labels, ferplus_dir, labels_file)
    result = _load_folder(path, labels, ferplus_dir)
    return result if labels_file is None else join_labels(result, labels_file)


def gender_labels_file(option: str | Path | None) -> Path | None:
    """The labels file to join: "default" -> the committed file if it exists; None -> none."""
    if option == "default":
        return DEFAULT_GENDER_LABELS if DEFAULT_GENDER_LABELS.is_file() else None
    return None if option is None else Path(option)


def _load_folder(path: Path, labels: str, ferplus_dir: str | Path | None) -> LoadResult:
    root = require_dir(path, source=NAME, layout=LAYOUT)
    splits = [root / s for s in ("train", "test") if (root / s).is_dir()]
    if not splits:
        raise FileNotFoundError(NO_SPLIT_FOLDERS.format(path=root))
    rows, skipped = [], []
    for split in splits:
        for folder in sub_folders(split, skipped):
            emotion = emotion_for_folder(folder, FOLDER_EMOTIONS, source=NAME)
            _scan_emotion_folder(root, folder, emotion, rows, skipped)
    if not rows:
        raise empty_folder_error(root, source=NAME, layout=LAYOUT)
    if labels == "ferplus":
        votes = ferplus.folder_labels(Path(ferplus_dir) if ferplus_dir else root / "ferplus")
        rows, skipped = _apply_folder_ferplus(rows, skipped, votes)
    return finish(rows, skipped)


def _scan_emotion_folder(root: Path, folder: Path, emotion: str, rows: list, skipped: list):
    prefix = f"{folder.parent.name}/{folder.name}/"
    for name in list_files(folder, skipped):
        if not is_image_name(name):
            skipped.append((str(folder / name), not_an_image_reason(name)))
            continue
        usage = name.split("_", 1)[0]
        rows.append(
            row(
                NAME,
                root,
                prefix + name,
                emotion=emotion,
                original_split=folder.parent.name,
                usage=usage if usage in USAGE_SPLITS else pd.NA,
            )
        )


def _apply_folder_ferplus(rows: list[dict], skipped: list, votes: pd.DataFrame):
    emotion_of, reason_of = votes["emotion"].to_dict(), votes["reason"].to_dict()
    kept = []
    for r in rows:
        relative = r["sample_id"].split(":", 1)[1]
        emotion = emotion_of.get(relative, pd.NA)
        reason = reason_of.get(relative, ferplus.NO_FOLDER_MATCH)
        if pd.isna(emotion):
            skipped.append((r["path"], reason))
        else:
            kept.append({**r, "emotion": emotion})
    return kept, skipped


def _load_csv(
    path: Path, labels: str, ferplus_dir: str | Path | None, labels_file: Path | None
) -> LoadResult:
    require_file(path, source=NAME, layout=LAYOUT)
    table = read_csv_file(path, expected=LAYOUT, dtype=str, keep_default_na=False)
    missing = [c for c in ("emotion", "pixels", "Usage") if c not in table]
    if missing:
        raise ValueError(CSV_COLUMNS.format(path=path, missing=missing))
    if table.empty:
        raise empty_folder_error(path, source=NAME, layout=LAYOUT)
    counts = table["pixels"].map(_pixel_count)
    codes = pd.to_numeric(table["emotion"], errors="coerce")
    emotions = codes.map(lambda c: CSV_EMOTIONS[int(c)] if c in range(7) else pd.NA)
    places = [Path(ferplus_dir)] if ferplus_dir else [path.parent, path.parent / "ferplus"]
    if labels == "ferplus":
        votes = _aligned_votes(path, table, places)
        emotions, plus_reasons = votes["emotion"], votes["reason"]
    else:
        plus_reasons = pd.Series(pd.NA, index=table.index, dtype="string")
    result = finish(*_csv_rows(path, table, counts, emotions, plus_reasons, labels))
    if labels_file is None:
        return result
    return _join_csv_labels(result, path, table, labels_file, places)


def _join_csv_labels(
    result: LoadResult, path: Path, table: pd.DataFrame, labels_file: Path, places: list[Path]
) -> LoadResult:
    """Join a labels file onto CSV rows; image-folder keys are mapped to rows through FER+."""
    labels = read_labels(labels_file)
    csv_key = labels["file"].str.startswith(f"{path.name}::").fillna(False)
    folder_keyed = labels["file"].notna() & ~csv_key
    if not folder_keyed.any():
        return join_label_table(result, labels, labels_file)
    try:
        votes = _aligned_votes(path, table, places)
        rows = ferplus.folder_to_csv_rows(votes, _vote_folder(places))
    except (OSError, ValueError) as error:
        note = CSV_LABELS_UNJOINED.format(labels=labels_file, csv=path, error=error)
        joined = join_label_table(result, labels[~folder_keyed], labels_file)
        return LoadResult(joined.manifest, joined.skipped, (*joined.notes, note))
    mapped = labels["file"].map(rows)
    keys = f"{path.name}::" + mapped.astype("Int64").astype("string")
    labels["file"] = keys.where(mapped.notna(), labels["file"])
    return join_label_table(result, labels, labels_file)


def _vote_folder(places: list[Path]) -> Path:
    return ferplus.find_ferplus_file(ferplus.VOTE_FILE, places).parent


def _csv_rows(path, table, counts, emotions, plus_reasons, labels) -> tuple[list, list]:
    """Rows and skips of fer2013.csv, iterating plain lists (pandas item access is slow)."""
    rows, skipped = [], []
    columns = (counts, emotions, plus_reasons, table["emotion"], table["Usage"])
    for i, (count, emotion, plus_reason, code, usage) in enumerate(
        zip(*(c.tolist() for c in columns), strict=True)
    ):
        where = f"{path}::{i}"
        if count != PIXELS:
            reason = BAD_PIXEL_COUNT.format(count=count, expected=PIXELS)
            skipped.append((where, reason))
        elif pd.isna(emotion):
            bad_code = BAD_EMOTION_CODE.format(code=code, names=CSV_EMOTIONS)
            skipped.append((where, plus_reason if labels == "ferplus" else bad_code))
        else:
            record = row(NAME, path.parent, f"{path.name}::{i}", emotion=emotion)
            split = USAGE_SPLITS.get(usage, pd.NA)
            rows.append({**record, "path": where, "usage": usage, "original_split": split})
    return rows, skipped


def _pixel_count(pixels: str) -> int:
    """Number of whitespace-separated values; fast path for the usual single spaces."""
    stripped = pixels.strip()
    fast = stripped.count(" ") + 1 if stripped else 0
    return fast if fast == PIXELS else len(stripped.split())


def _aligned_votes(path: Path, table: pd.DataFrame, places: list[Path]) -> pd.DataFrame:
    """fer2013new.csv's votes, checked to align row by row with the CSV ``table`` (by Usage)."""
    vote_file = ferplus.find_ferplus_file(ferplus.VOTE_FILE, places)
    votes = ferplus.read_votes(vote_file)
    if len(votes) != len(table):
        raise ValueError(
            FERPLUS_LENGTH.format(ferplus=vote_file, n_plus=len(votes), csv=path, n_csv=len(table))
        )
    differs = (votes["Usage"].str.strip() != table["Usage"].str.strip()).to_numpy().nonzero()[0]
    if len(differs):
        i = int(differs[0])
        raise ValueError(
            FERPLUS_USAGE.format(
                ferplus=vote_file,
                row=i,
                plus=votes["Usage"].iat[i],
                csv=path,
                fer=table["Usage"].iat[i],
            )
        )
    return votes
