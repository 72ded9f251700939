"""The ``data.gold_test`` option: hand-reviewed faces held out of training as their own test set.

The gold file's faces of the chosen parts (by default the random sample: random-fit and
random-audit) leave the training and validation pools together with every exact or near
duplicate among the spec's images (a twin in training would let a model memorise a test face).
The decidable ones form an extra test set whose group is the gold consensus (two blind passes),
so a conclusion can be checked on labels independent of the automatic labeller. Faces the
annotators could not call are held out but not tested on.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ferbias.data import quality
from ferbias.experiment.spec import GoldTestSpec

log = logging.getLogger(__name__)

GOLD_SOURCE = "annotator:gold-consensus"  # gender_source of the test set's rows
NO_GOLD_ROWS = (
    "data.gold_test: none of the {n} gold faces of parts {parts} is among the {source!r} images"
)


def gold_rows(manifest: pd.DataFrame, spec: GoldTestSpec) -> pd.DataFrame:
    """Rows of ``manifest`` named by the gold file's ``spec.parts``, with ``consensus``."""
    from ferbias.gender.domain_gold import read_gold

    gold = read_gold(spec.resolved_path())
    gold = gold[gold["part"].isin(spec.parts)]
    ids = spec.source + ":" + gold["file"]
    rows = manifest[manifest["sample_id"].isin(ids)]
    if rows.empty:
        raise ValueError(NO_GOLD_ROWS.format(n=len(gold), parts=spec.parts, source=spec.source))
    consensus = pd.Series(gold["consensus"].to_numpy(), index=ids.to_numpy())
    return rows.assign(consensus=consensus.reindex(rows["sample_id"]).to_numpy())


def held_out_ids(
    manifest: pd.DataFrame, gold: pd.DataFrame, pixels: dict[str, np.ndarray]
) -> set[str]:
    """Sample ids of the gold faces and of every exact or near duplicate of one in ``manifest``
    (``pixels``: prepared image per sample id; rows that could not be prepared never train)."""
    rows = manifest[manifest["sample_id"].astype(str).isin(pixels)].reset_index(drop=True)
    stack = np.stack([pixels[i] for i in rows["sample_id"].astype(str)])
    groups = quality.find_duplicates(rows, stack).dropna(subset=["near_group"])
    held = set(gold["sample_id"].astype(str))
    hit = set(groups.loc[groups["sample_id"].isin(held), "near_group"])  # near includes exact
    return held | set(groups.loc[groups["near_group"].isin(hit), "sample_id"].astype(str))


def gold_test_set(gold: pd.DataFrame, group_col: str) -> pd.DataFrame:
    """The decidable gold faces, grouped by their consensus (no labeller P(female))."""
    decided = gold[gold["consensus"].isin(["female", "male"])]
    return (
        decided.assign(
            **{group_col: decided["consensus"], "group": decided["consensus"]},
            gender_source=GOLD_SOURCE,
            p_female=pd.NA,
        )
        .drop(columns=["consensus"])
        .reset_index(drop=True)
    )
