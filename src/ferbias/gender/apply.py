"""Label a whole source with a labeller, let gold consensus override it, summarise coverage."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ferbias.data.images import prepare
from ferbias.data.schema import STUDY_EMOTIONS
from ferbias.gender import labels as lab
from ferbias.gender.base import Labeller, Thresholds, decide

log = logging.getLogger(__name__)

GOLD_LABELLER = "gold-consensus"  # the labeller named on rows the in-domain gold overrides
UNKNOWN_GOLD = "%d gold file(s) are not among the labelled images, e.g. %s"


def relative_file(sample_ids: pd.Series) -> pd.Series:
    """``file`` key of a sample id: the path relative to the source root."""
    return sample_ids.astype(str).str.split(":", n=1).str[1]


def label_manifest(
    manifest: pd.DataFrame, labeller: Labeller, *, thresholds: Thresholds
) -> pd.DataFrame:
    """Labels rows for every manifest row; images that could not be prepared are 'unknown'."""
    prepared = prepare(manifest, on_no_face="report")
    p = pd.Series(np.nan, index=manifest["sample_id"].astype(str).to_numpy())
    if len(prepared.pixels):
        p.loc[prepared.sample_ids] = labeller.predict_p_female(prepared.pixels)
    if len(prepared.failures):
        log.warning("%d image(s) not prepared: labelled unknown", len(prepared.failures))
    return lab.automatic_labels(
        relative_file(manifest["sample_id"]).tolist(),
        manifest["sample_id"].astype(str).tolist(),
        decide(p.to_numpy(), thresholds),
        p.to_numpy(),
        labeller=labeller.name,
        version=labeller.version,
    )


def override_with_gold(labels: pd.DataFrame, gold: pd.DataFrame) -> pd.DataFrame:
    """``labels`` with every gold face's gender replaced by its consensus (faces the annotators
    could not call become 'unknown'); the automatic p_female is kept beside it."""
    consensus = gold.set_index("file")["consensus"]
    hit = labels["file"].isin(consensus.index)
    missing = consensus.index.difference(labels["file"])
    if len(missing):
        log.warning(UNKNOWN_GOLD, len(missing), missing[0])
    out = labels.copy()
    gender = consensus.reindex(out.loc[hit, "file"]).to_numpy(dtype=object)
    out.loc[hit, "gender"] = np.where(np.isin(gender, ["female", "male"]), gender, "unknown")
    out.loc[hit, "labeller"] = GOLD_LABELLER
    return lab.make_labels(out)


def study_coverage(manifest: pd.DataFrame, labels: pd.DataFrame) -> dict[str, float]:
    """Coverage and female share over the six study emotions' images."""
    study = manifest[manifest["emotion"].isin(STUDY_EMOTIONS)]
    table = coverage_by(study.assign(all="six emotions"), labels, "all").iloc[0]
    counts = {k: int(table[k]) for k in ("female", "male", "unknown")}
    return {
        **counts,
        "coverage": float(table["coverage"]),
        "female_share": float(table["female_share"]),
    }


def coverage_by(manifest: pd.DataFrame, labels: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per value of ``column``: female / male / unknown counts, coverage and female share."""
    gender = (
        labels.set_index("sample_id")["gender"].reindex(manifest["sample_id"]).fillna("unknown")
    )
    keys = manifest[column].astype("string").fillna("(none)").to_numpy()
    table = pd.crosstab(pd.Series(keys, name=column), pd.Series(gender.to_numpy(), name="gender"))
    table = table.reindex(columns=["female", "male", "unknown"], fill_value=0)
    table.loc["all"] = table.sum()
    labelled = table["female"] + table["male"]
    table["coverage"] = (labelled / table.sum(axis=1)).round(3)
    table["female_share"] = (table["female"] / labelled.where(labelled > 0)).round(3)
    return table.reset_index()
