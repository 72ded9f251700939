"""Gender data: the ferbias-gender training split and the gold sets the audit uses.

UTKFace has no identities: a seeded 70/10/20 split stratified by gender x adult keeps each md5
duplicate group on one side and drops groups whose copies disagree on gender. CelebA keeps its
official (identity-disjoint) partitions. Gold sets are never trained on: UTKFace "test",
CelebA test, CFD (self-reported) and JAFFE (all female). Photos are face-cropped to the
FER-2013 geometry by ``ferbias.data.images.prepare`` (faces not found are left out, counted).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ferbias.data.images import prepare
from ferbias.data.sources import load_source
from ferbias.data.sources.fairface import below_age
from ferbias.data.sources.utkface import duplicate_groups
from ferbias.data.splits import make_splits

log = logging.getLogger(__name__)

ADULT_AGE = 13  # UTKFace age >= 13 counts as adult for reporting (children: age < 13)
UTKFACE_SEED = 0
UTKFACE_VAL, UTKFACE_TEST = 0.1, 0.2
FOLDERS = {"utkface": "utkface", "celeba": "celeba_gender5k", "cfd": "cfd_subset", "jaffe": "jaffe"}
DATA_ENV = "FERBIAS_DATA"
MISSING_ROOT = "gender data folder {path} not found; set --data or ${env}"


@dataclass(frozen=True)
class FaceSet:
    """Prepared faces with their gold gender: pixels uint8 N x 48 x 48, meta (Manifest rows)."""

    name: str
    pixels: np.ndarray
    meta: pd.DataFrame

    @property
    def gender(self) -> np.ndarray:
        return self.meta["gender"].astype(str).to_numpy()

    def subset(self, name: str, mask: np.ndarray) -> FaceSet:
        return FaceSet(name, self.pixels[mask], self.meta[mask].reset_index(drop=True))


def data_root(path: str | os.PathLike | None = None) -> Path:
    root = Path(path or os.environ.get(DATA_ENV, "../shared/data"))
    if not root.is_dir():
        raise FileNotFoundError(MISSING_ROOT.format(path=root, env=DATA_ENV))
    return root


def prepared_faces(manifest: pd.DataFrame, name: str) -> FaceSet:
    """Face-crop all ``manifest`` rows to 48x48 (one cache entry per source), keep known gender.

    Faces not found are left out and logged.
    """
    prepared = prepare(manifest, face_crop=True, on_no_face="report")
    if len(prepared.failures):
        log.info("%s: %d of %d faces not prepared", name, len(prepared.failures), len(manifest))
    meta = manifest.set_index("sample_id").loc[prepared.sample_ids].reset_index()
    known = meta["gender"].isin(["female", "male"]).to_numpy()
    return FaceSet(name, prepared.pixels[known], meta[known].reset_index(drop=True))


def utkface_splits(manifest: pd.DataFrame, folder: Path, *, seed: int = UTKFACE_SEED) -> pd.Series:
    """train/val/test per UTKFace row; NA for rows of gender-conflicting duplicate groups."""
    dups = duplicate_groups(folder)
    dups["sample_id"] = "utkface:" + dups["file"]
    conflict = set(dups.loc[dups["gender_conflict"], "sample_id"])
    groups = dups.set_index("sample_id")["group"].reindex(manifest["sample_id"]).to_numpy()
    table = pd.DataFrame(
        {"sample_id": manifest["sample_id"].to_numpy(), "exact_group": groups, "near_group": pd.NA}
    )
    frame = manifest.assign(adult=(manifest["age"].fillna(0) >= ADULT_AGE).astype(str))
    splits = make_splits(
        frame,
        seed=seed,
        val_fraction=UTKFACE_VAL,
        test_fraction=UTKFACE_TEST,
        stratify=("gender", "adult"),
        duplicate_groups=table,
    )
    splits[manifest["sample_id"].isin(conflict).to_numpy()] = pd.NA
    return splits


def gender_data(root: str | os.PathLike | None = None) -> dict[str, FaceSet]:
    """UTKFace and CelebA faces by split: ``utkface-train`` ... ``celeba-test``."""
    root = data_root(root)
    utk = load_source("utkface", root / FOLDERS["utkface"]).manifest
    utk = utk.assign(split=utkface_splits(utk, root / FOLDERS["utkface"]).to_numpy())
    celeba = load_source("celeba", root / FOLDERS["celeba"]).manifest
    celeba = celeba.assign(split=celeba["original_split"].to_numpy())
    out = {}
    for name, manifest in (("utkface", utk), ("celeba", celeba)):
        faces = prepared_faces(manifest, name)
        for split in ("train", "val", "test"):
            mask = faces.meta["split"].eq(split).fillna(False).to_numpy(dtype=bool)
            out[f"{name}-{split}"] = faces.subset(f"{name}-{split}", mask)
    return out


def fairface_faces(path: str | os.PathLike, *, min_age: int | None = None) -> dict[str, FaceSet]:
    """FairFace faces by official split: ``fairface-train`` and ``fairface-val``.

    The source drops val images that copy a train image pixel for pixel; ``min_age`` leaves out
    the age bands wholly below it (0-2 and 3-9 for 13).
    """
    manifest = load_source("fairface", path).manifest
    if min_age is not None:
        manifest = manifest[~below_age(manifest["age_band"], min_age).to_numpy()]
    faces = prepared_faces(manifest.reset_index(drop=True), "fairface")
    split = faces.meta["original_split"].astype("string")
    return {
        f"fairface-{s}": faces.subset(f"fairface-{s}", split.eq(s).fillna(False).to_numpy(bool))
        for s in ("train", "val")
    }


def gold_sets(root: str | os.PathLike | None = None) -> dict[str, FaceSet]:
    """The audit's gold sets, adults and children of UTKFace apart."""
    root = data_root(root)
    data = gender_data(root)
    utk = data["utkface-test"]
    adult = (utk.meta["age"].fillna(0) >= ADULT_AGE).to_numpy()
    sets = {
        "utkface-test-adult": utk.subset("utkface-test-adult", adult),
        "utkface-test-child": utk.subset("utkface-test-child", ~adult),
        "celeba-test": data["celeba-test"],
    }
    for name in ("cfd", "jaffe"):
        sets[name] = prepared_faces(load_source(name, root / FOLDERS[name]).manifest, name)
    return sets


ADULT_GOLD = ("utkface-test-adult", "celeba-test", "cfd", "jaffe")
