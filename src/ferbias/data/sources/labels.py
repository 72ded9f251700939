"""Labels files: join per-image gender (and p_female) onto any source's Manifest.

A labels file is a CSV or Parquet with a key column and label columns:
- key: ``sample_id`` (as in the Manifest) or ``file`` (path relative to the source root, i.e. the
  ``sample_id`` without its ``"<source>:"`` prefix, e.g. ``train/angry/Training_10118481.jpg``);
- ``gender`` (female / male / unknown; also f / m; empty or "abstain" -> unknown);
- who labelled it: ``gender_source`` (used as is), or ``labeller`` (-> ``"labels:<labeller>"``,
  or as is when it starts with ``"annotator:"``), or ``annotator`` (-> ``"annotator:<name>"``);
  with none of them the gender_source is ``"labels:<file stem>"``;
- optional ``p_female`` (probability of female, 0..1).

Several rows may name the same image: a human annotator's row (gender_source starting with
``annotator``) wins over automatic ones; among rows of the same kind the last one wins. Labels
override the gender the source itself gave. Label rows are not files, so rows whose key matches
no Manifest row (e.g. a labels file of all FER-2013 joined onto a subset) are not ``skipped``:
they are counted in one line of ``LoadResult.notes``, with a few examples; rows naming an image
the source already skipped (e.g. one that FER+ dropped) are left out of that count, as the source
reports that image.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ferbias.data.schema import GENDERS, make_manifest
from ferbias.data.sources.base import (
    SOURCES,
    UNREADABLE_CSV,
    LoadResult,
    read_csv_file,
    register_source,
)

log = logging.getLogger(__name__)

LAYOUT = "a CSV or Parquet labels file with a key column (file or sample_id) and gender"
NO_KEY = "labels file {path}: needs a key column 'file' or 'sample_id'; found {columns}"
NO_GENDER = "labels file {path}: needs a 'gender' column; found {columns}"
BAD_GENDER = "labels file {path}, row {row}: gender {value!r} is not one of {allowed}"
BAD_P_FEMALE = "labels file {path}, row {row}: p_female {value!r} is not a number in [0, 1]"
MISSING_LABELS = "labels file {path} does not exist; expected " + LAYOUT
UNMATCHED_ROWS = (
    "labels file {path}: {count:,} of {total:,} row(s) name no image here, e.g. {examples}"
)
AMBIGUOUS_ROWS = (
    "labels file {path}: {count:,} row(s) name a file that several sources hold, e.g. {examples}; "
    "key them by sample_id instead"
)
NOTE_EXAMPLES = 3

GENDER_ALIASES = {
    "female": "female",
    "f": "female",
    "male": "male",
    "m": "male",
    "unknown": "unknown",
    "abstain": "unknown",
    "": "unknown",
}


def read_table(path: Path, *, expected: str = LAYOUT) -> pd.DataFrame:
    """A CSV (all text) or Parquet file (by suffix) as a DataFrame; an unreadable file raises
    ``ValueError`` naming it and ``expected``."""
    if path.suffix.lower() not in {".parquet", ".pq"}:
        return read_csv_file(path, expected=expected, dtype=str, keep_default_na=False)
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        raise ValueError(UNREADABLE_CSV.format(path=path, error=error, expected=expected)) from None


def read_labels(path: str | Path) -> pd.DataFrame:
    """Normalised labels: ``row``, ``sample_id`` / ``file``, gender, gender_source, p_female."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(MISSING_LABELS.format(path=path))
    table = read_table(path).reset_index(drop=True)
    columns = list(table.columns)
    if "file" not in table and "sample_id" not in table:
        raise ValueError(NO_KEY.format(path=path, columns=columns))
    if "gender" not in table:
        raise ValueError(NO_GENDER.format(path=path, columns=columns))
    out = pd.DataFrame({"row": range(len(table))})
    for key in ("sample_id", "file"):
        out[key] = _column(table, key).replace("", pd.NA)
    out["gender"] = normalise_genders(table["gender"], path)
    out["gender_source"] = _gender_sources(table, path)
    if "p_female" in table:
        out["p_female"] = parse_probabilities(table["p_female"], path)
    return out


def _column(table: pd.DataFrame, name: str) -> pd.Series:
    """Column ``name`` as stripped strings ("" when missing or NA)."""
    if name not in table:
        return pd.Series("", index=table.index, dtype="string")
    return table[name].astype("string").fillna("").str.strip()


def _first_bad(mask: pd.Series) -> int | None:
    hits = mask.to_numpy(dtype=bool).nonzero()[0]
    return int(hits[0]) if len(hits) else None


def normalise_genders(values: pd.Series, path: Path) -> pd.Series:
    """female / male / unknown from the accepted spellings; the first bad row is named."""
    genders = values.astype("string").fillna("").str.strip().str.lower().map(GENDER_ALIASES)
    bad = _first_bad(genders.isna())
    if bad is not None:
        value = values.iat[bad]
        raise ValueError(BAD_GENDER.format(path=path, row=bad, value=value, allowed=list(GENDERS)))
    return genders.astype("string")


def parse_probabilities(values: pd.Series, path: Path) -> pd.Series:
    """p_female as Float64 in [0, 1] (empty -> NA); the first bad row is named."""
    text = values.astype("string").fillna("").str.strip()
    numbers = pd.to_numeric(text.replace("", pd.NA), errors="coerce").astype("Float64")
    invalid = (text != "") & (numbers.isna() | (numbers < 0) | (numbers > 1)).fillna(True)
    bad = _first_bad(invalid)
    if bad is not None:
        raise ValueError(BAD_P_FEMALE.format(path=path, row=bad, value=values.iat[bad]))
    return numbers


def _gender_sources(table: pd.DataFrame, path: Path) -> pd.Series:
    """gender_source per row: given > labeller > annotator > the labels file's stem."""
    given, labeller = _column(table, "gender_source"), _column(table, "labeller")
    annotator = _column(table, "annotator")
    out = pd.Series(f"labels:{path.stem}", index=table.index, dtype="string")
    out = out.where(annotator == "", "annotator:" + annotator)
    from_labeller = labeller.where(labeller.str.startswith("annotator:"), "labels:" + labeller)
    out = out.where(labeller == "", from_labeller)
    return out.where(given == "", given)


def join_labels(result: LoadResult, labels_path: str | Path) -> LoadResult:
    """``result`` with gender / gender_source / p_female taken from the labels file."""
    labels_path = Path(labels_path)
    return join_label_table(result, read_labels(labels_path), labels_path)


def join_label_table(result: LoadResult, labels: pd.DataFrame, labels_path: Path) -> LoadResult:
    """``join_labels`` for labels already read (``read_labels``) from ``labels_path``."""
    manifest = result.manifest.copy()
    known = _positions(manifest["sample_id"], labels["sample_id"]) >= 0
    by_id = labels["sample_id"].where(known)
    by_file = _file_index(manifest)
    from_file = pd.Series(by_file.reindex(labels["file"].fillna("")).to_numpy(), dtype="string")
    labels = labels.assign(target=by_id.where(labels["sample_id"].notna(), from_file))
    labels = labels[~labels["file"].isin(_skipped_files(result))]
    notes = _unmatched_notes(labels, by_file, labels_path)
    labels = labels.dropna(subset=["target"])
    labels["rank"] = labels["gender_source"].str.startswith("annotator").astype(int)
    labels = labels.sort_values(["rank", "row"], kind="stable")
    labels = labels.drop_duplicates("target", keep="last").set_index("target")
    manifest = _apply(manifest, labels)
    for note in notes:
        log.debug(note)
    return LoadResult(make_manifest(manifest), result.skipped, (*result.notes, *notes))


def _unmatched_notes(labels: pd.DataFrame, by_file: pd.Series, path: Path) -> list[str]:
    """One line for the label rows that name no image, one for those naming an ambiguous file."""
    unmatched = labels[labels["target"].isna()]
    keys = unmatched["sample_id"].fillna(unmatched["file"]).astype(str)
    ambiguous = unmatched["sample_id"].isna() & unmatched["file"].isin(by_file.index)
    notes = []
    for mask, message in ((~ambiguous, UNMATCHED_ROWS), (ambiguous, AMBIGUOUS_ROWS)):
        if mask.any():
            examples = ", ".join(keys[mask].head(NOTE_EXAMPLES))
            count, total = int(mask.sum()), len(labels)
            notes.append(message.format(path=path, count=count, total=total, examples=examples))
    return notes


def _skipped_files(result: LoadResult) -> set[str]:
    """Source-relative paths of the images ``result`` already skipped (under its manifest roots)."""
    paths = result.manifest["path"].astype(str)
    relative = result.manifest["sample_id"].str.split(":", n=1).str[1].astype(str)
    roots = {p[: len(p) - len(r)] for p, r in zip(paths, relative, strict=True) if p.endswith(r)}
    return {
        str(path)[len(root) :]
        for path in result.skipped["path"].astype(str)
        for root in roots
        if str(path).startswith(root)
    }


def _file_index(manifest: pd.DataFrame) -> pd.Series:
    """relative path -> sample_id; a path shared by several sources maps to NA (ambiguous)."""
    relative = manifest["sample_id"].str.split(":", n=1).str[1]
    index = pd.Series(manifest["sample_id"].to_numpy(), index=relative.to_numpy())
    ambiguous = index.index.duplicated(keep=False)
    index[ambiguous] = pd.NA
    return index[~index.index.duplicated()]


def _positions(index: pd.Series, keys: pd.Series) -> np.ndarray:
    """Position of each key in ``index`` (-1 if absent), via object arrays (fast for strings)."""
    lookup = pd.Index(index.to_numpy(dtype=object, na_value=None))
    return lookup.get_indexer(keys.to_numpy(dtype=object, na_value=None))


def _apply(manifest: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    position = _positions(labels.index.to_series(), manifest["sample_id"])
    hit = position >= 0
    take = position[hit]
    columns = ["gender", "gender_source"] + (["p_female"] if "p_female" in labels else [])
    if "p_female" in labels and "p_female" not in manifest:
        manifest["p_female"] = pd.Series(pd.NA, index=manifest.index, dtype="Float64")
    for column in columns:
        manifest.loc[hit, column] = labels[column].to_numpy()[take]
    return manifest


@register_source("labels", face_cropped=False, layout=LAYOUT)
def load_labels(path: Path, *, source: str, source_path: str | Path, **options) -> LoadResult:
    """Load ``source`` from ``source_path`` (with ``options``), then join the labels file ``path``.

    A relative ``source_path`` is taken from the labels file's folder (so a spec can name both
    with one ``${FERBIAS_DATA}`` path). ``face_cropped`` of this entry is meaningless: the joined
    rows keep their own ``source``.
    """
    data = Path(path).parent / source_path
    return join_labels(SOURCES.get(source)(data, **options), path)
