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
override the gender the source itself gave. Keys that match no Manifest row are reported in
``skipped`` (path = the key) and logged, unless they name an image the source already skipped
(e.g. one that FER+ dropped): that image is reported once, by the source.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ferbias.data.schema import GENDERS, make_manifest
from ferbias.data.sources.base import SOURCES, LoadResult, register_source, skipped_frame

log = logging.getLogger(__name__)

LAYOUT = "a CSV or Parquet labels file with a key column (file or sample_id) and gender"
NO_KEY = "labels file {path}: needs a key column 'file' or 'sample_id'; found {columns}"
NO_GENDER = "labels file {path}: needs a 'gender' column; found {columns}"
BAD_GENDER = "labels file {path}, row {row}: gender {value!r} is not one of {allowed}"
BAD_P_FEMALE = "labels file {path}, row {row}: p_female {value!r} is not a number in [0, 1]"
MISSING_LABELS = "labels file {path} does not exist; expected " + LAYOUT
UNKNOWN_KEY = "labels file {path}, row {row}: key matches no image of the manifest"
AMBIGUOUS_KEY = "labels file {path}, row {row}: file key matches images of several sources"

GENDER_ALIASES = {
    "female": "female",
    "f": "female",
    "male": "male",
    "m": "male",
    "unknown": "unknown",
    "abstain": "unknown",
    "": "unknown",
}


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file (by suffix) as a DataFrame."""
    if path.suffix.lower() in {".parquet", ".pq"}:
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


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
    labels = read_labels(labels_path)
    manifest = result.manifest.copy()
    known = _positions(manifest["sample_id"], labels["sample_id"]) >= 0
    by_id = labels["sample_id"].where(known)
    by_file = _file_index(manifest)
    from_file = pd.Series(by_file.reindex(labels["file"].fillna("")).to_numpy(), dtype="string")
    labels["target"] = by_id.where(labels["sample_id"].notna(), from_file)
    labels = labels[~labels["file"].isin(_skipped_files(result))]
    skipped = _unmatched(labels, by_file, labels_path)
    labels = labels.dropna(subset=["target"])
    labels["rank"] = labels["gender_source"].str.startswith("annotator").astype(int)
    labels = labels.sort_values(["rank", "row"], kind="stable")
    labels = labels.drop_duplicates("target", keep="last").set_index("target")
    manifest = _apply(manifest, labels)
    if skipped:
        log.warning("%d label row(s) of %s matched no image", len(skipped), labels_path)
    all_skipped = pd.concat([result.skipped, skipped_frame(skipped)], ignore_index=True)
    return LoadResult(manifest=make_manifest(manifest), skipped=all_skipped)


def _unmatched(labels: pd.DataFrame, by_file: pd.Series, path: Path) -> list[tuple[str, str]]:
    """(key, reason) for every label row that names no image, or an ambiguous file."""
    ambiguous_files = set(by_file.index[by_file.isna()])
    out = []
    for r in labels[labels["target"].isna()].itertuples(index=False):
        if pd.notna(r.sample_id):
            out.append((r.sample_id, UNKNOWN_KEY.format(path=path, row=r.row)))
        else:
            message = AMBIGUOUS_KEY if r.file in ambiguous_files else UNKNOWN_KEY
            out.append((str(r.file), message.format(path=path, row=r.row)))
    return out


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
