"""The in-domain gold: FER-2013 Training faces judged F / M / U in two blind passes.

``labels/fer2013_gender_gold.csv`` has one row per face: ``file`` (relative to the fer2013
folder, e.g. ``train/angry/Training_10118481.jpg``), each pass's answer, ``consensus`` (female,
male, unknown: both U, disagree) and ``part``:

- ``random-fit``: half of a random sample stratified by emotion; the combiner and the thresholds
  are chosen on it (and the CNN may train on it, cross-fitted);
- ``random-audit``: the other half; nothing trains or is tuned on it; every label figure of the
  README comes from it;
- ``targeted``: faces where the old labellers were unsure or disagreed (not a random sample); the
  CNN may train on them.

A face is *decidable* when the consensus is female or male. Faces are matched to the fer2013
source and prepared like every FER-2013 face; near-duplicate groups among the gold faces (the
same picture twice in FER-2013) are found so that a face and its twin are never on two sides of
a cross-fitting or audit split.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ferbias.data.images import prepare
from ferbias.data.quality import find_duplicates
from ferbias.data.sources import load_source
from ferbias.gender.gold_build import CONSENSUS_VALUES
from ferbias.gender.gold_sample import PARTS, is_training_file

DEFAULT_GOLD = Path(__file__).resolve().parents[3] / "labels" / "fer2013_gender_gold.csv"
TRAINING_PARTS = ("random-fit", "targeted")  # the CNN may train on these, never on the audit
REQUIRED = ("file", "consensus", "part")

MISSING_GOLD = "gold file {path} not found; expected a CSV with columns file, consensus, part"
MISSING_COLUMNS = "gold file {path}: missing column(s) {missing}; required {required}"
BAD_VALUE = "gold file {path}, row {row}: {column} {value!r}; expected one of {allowed}"
NOT_TRAINING = "gold file {path}, row {row}: {file!r} is not a FER-2013 Training face"
DUPLICATE_FILE = "gold file {path}: {file!r} appears more than once"
NOT_IN_SOURCE = "gold file {path}: {n} file(s) are not in the fer2013 folder {root}, e.g. {file!r}"
OTHER_EMOTION = (
    "gold file {path}: {file!r} has emotion {given!r} but the fer2013 folder says {found!r}"
)
NOT_PREPARED = "gold file {path}: {n} face(s) could not be read, e.g. {sample_id} ({reason})"


def read_gold(path: str | os.PathLike = DEFAULT_GOLD) -> pd.DataFrame:
    """The gold table, validated, with ``decidable`` (bool) and ``truth`` (female/male/NA)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(MISSING_GOLD.format(path=path))
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in REQUIRED if c not in table]
    if missing:
        raise ValueError(MISSING_COLUMNS.format(path=path, missing=missing, required=REQUIRED))
    for column, allowed in (("consensus", CONSENSUS_VALUES), ("part", PARTS)):
        bad = np.flatnonzero(~table[column].isin(allowed))
        if len(bad):
            value = table[column].iat[bad[0]]
            raise ValueError(
                BAD_VALUE.format(
                    path=path, row=bad[0], column=column, value=value, allowed=list(allowed)
                )
            )
    training = table["file"].map(is_training_file)
    if not training.all():
        row = int(np.flatnonzero(~training)[0])
        raise ValueError(NOT_TRAINING.format(path=path, row=row, file=table["file"].iat[row]))
    repeated = table["file"][table["file"].duplicated()]
    if len(repeated):
        raise ValueError(DUPLICATE_FILE.format(path=path, file=repeated.iat[0]))
    table["decidable"] = table["consensus"].isin(["female", "male"])
    table["truth"] = table["consensus"].where(table["decidable"]).astype("string")
    return table


@dataclass(frozen=True)
class DomainGold:
    """Gold rows (file, sample_id, emotion, consensus, part, decidable, truth, twin_group) and
    their prepared 48x48 faces, aligned."""

    table: pd.DataFrame
    pixels: np.ndarray

    def mask(self, *parts: str, decidable: bool = False) -> np.ndarray:
        keep = self.table["part"].isin(parts).to_numpy()
        return keep & self.table["decidable"].to_numpy() if decidable else keep

    def subset(self, mask: np.ndarray) -> DomainGold:
        return DomainGold(self.table[mask].reset_index(drop=True), self.pixels[mask])


def load_domain_gold(
    path: str | os.PathLike = DEFAULT_GOLD, fer_root: str | os.PathLike | None = None
) -> DomainGold:
    """Read the gold file, match it to the fer2013 folder and prepare its faces."""
    from ferbias.gender.gold import data_root

    table = read_gold(path)
    root = Path(fer_root) if fer_root else data_root() / "fer2013"
    manifest = load_source("fer2013", root, gender_labels=None).manifest
    manifest = manifest.assign(file=manifest["sample_id"].str.split(":", n=1).str[1])
    given = table.pop("emotion") if "emotion" in table else None
    rows = table.merge(manifest[["file", "sample_id", "emotion", "path"]], on="file", how="left")
    absent = rows["sample_id"].isna()
    if absent.any():
        raise ValueError(
            NOT_IN_SOURCE.format(
                path=path, n=int(absent.sum()), root=root, file=rows["file"][absent].iat[0]
            )
        )
    if given is not None and (given.to_numpy() != rows["emotion"].to_numpy()).any():
        i = int(np.flatnonzero(given.to_numpy() != rows["emotion"].to_numpy())[0])
        raise ValueError(
            OTHER_EMOTION.format(
                path=path,
                file=rows["file"].iat[i],
                given=given.iat[i],
                found=rows["emotion"].iat[i],
            )
        )
    prepared = prepare(manifest)  # the whole folder: one shared cache entry
    position = pd.Index(prepared.sample_ids).get_indexer(rows["sample_id"])
    if (position < 0).any():
        first = rows["sample_id"][position < 0].iat[0]
        reasons = prepared.failures.set_index("sample_id")["reason"]
        raise ValueError(
            NOT_PREPARED.format(
                path=path,
                n=int((position < 0).sum()),
                sample_id=first,
                reason=reasons.get(first, "not prepared"),
            )
        )
    pixels = prepared.pixels[position]
    rows["twin_group"] = twin_groups(rows, pixels)
    return DomainGold(rows.drop(columns=["path"]), pixels)


def twin_groups(rows: pd.DataFrame, pixels: np.ndarray) -> np.ndarray:
    """One id per group of exact or near duplicates (a face without a twin is its own group)."""
    near = find_duplicates(rows[["sample_id", "path"]], pixels)["near_group"]
    own = len(rows) + np.arange(len(rows))
    return np.where(near.isna(), own, near.fillna(-1).to_numpy(dtype=np.int64))
