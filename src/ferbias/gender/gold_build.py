"""The committed in-domain gold file from two blind passes, and how well the passes agree.

``labels/fer2013_gender_gold.csv``: ``file, emotion, pass_<a>, pass_<b>, consensus, part`` with
each pass's F / M / U answer and ``consensus``:

- ``female`` / ``male``: both passes answered F / both answered M ("decidable" faces);
- ``unknown``: both answered U (neither could tell);
- ``disagree``: anything else (F vs M, or one U and one F/M).

Only Training files of the plan are accepted: a PublicTest/PrivateTest file, or any file not in
the plan, is refused. The agreement report gives raw agreement, Cohen's kappa over F/M/U with a
95% CI (statsmodels), kappa over the faces both passes decided, the U rate per pass and per
emotion, and consensus counts per part x emotion.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix
from statsmodels.stats.inter_rater import cohens_kappa

from ferbias.gender import passes
from ferbias.gender.gold_sample import PARTS, require_training_files

CONSENSUS = {"F": "female", "M": "male", "U": "unknown"}
DISAGREE = "disagree"
CONSENSUS_VALUES = ("female", "male", "unknown", DISAGREE)

TWO_PASSES = "gold build needs exactly two passes, got {n} ({ids})"
NOT_IN_PLAN = "pass {pass_id}: {n} answered file(s) are not in the plan, e.g. {file!r}"
UNANSWERED = (
    "pass {pass_id} has no answer for {n} plan face(s), e.g. {file!r}; finish the pass, or "
    "pass --partial to keep only faces every pass answered"
)
NOTHING_ANSWERED = "no plan face is answered by both passes"


def gold_columns(pass_ids: list[str]) -> list[str]:
    return ["file", "emotion", *[f"pass_{p.lower()}" for p in pass_ids], "consensus", "part"]


def build_gold(
    plan: pd.DataFrame, answers: dict[str, pd.DataFrame], *, partial: bool = False
) -> pd.DataFrame:
    """One row per plan face answered by both passes (``answers``: pass id -> pass frame)."""
    if len(answers) != 2:
        raise ValueError(TWO_PASSES.format(n=len(answers), ids=list(answers)))
    require_training_files(plan["file"], where="plan")
    gold = plan[["file", "emotion", "part"]].set_index("file")
    for pass_id, frame in answers.items():
        require_training_files(frame["file"], where=f"pass {pass_id}")
        outside = frame.loc[~frame["file"].isin(gold.index), "file"]
        if len(outside):
            raise ValueError(
                NOT_IN_PLAN.format(pass_id=pass_id, n=len(outside), file=outside.iloc[0])
            )
        unanswered = gold.index.difference(frame["file"])
        if len(unanswered) and not partial:
            raise ValueError(
                UNANSWERED.format(pass_id=pass_id, n=len(unanswered), file=unanswered[0])
            )
        gold[f"pass_{pass_id.lower()}"] = frame.set_index("file")["answer"]
    columns = gold_columns(list(answers))
    gold = gold.dropna(subset=columns[2:4]).reset_index()
    if gold.empty:
        raise ValueError(NOTHING_ANSWERED)
    first, second = gold[columns[2]], gold[columns[3]]
    gold["consensus"] = first.map(CONSENSUS).where(first == second, DISAGREE)
    return gold[columns].sort_values(["part", "emotion", "file"], ignore_index=True)


def agreement(gold: pd.DataFrame) -> dict:
    """Agreement between the two pass columns of ``gold`` (see the module docstring)."""
    first, second = [c for c in gold.columns if c.startswith("pass_")]
    a, b = gold[first].astype(str), gold[second].astype(str)
    decided = a.isin(["F", "M"]) & b.isin(["F", "M"])
    return {
        "faces": len(gold),
        "raw_agreement": round(float((a == b).mean()), 4),
        "kappa_fmu": _kappa(a, b, ["F", "M", "U"]),
        "kappa_decided_fm": _kappa(a[decided], b[decided], ["F", "M"]),
        "decidable": int(gold["consensus"].isin(["female", "male"]).sum()),
        "u_rate": {
            "by_pass": {c: round(float((gold[c] == "U").mean()), 4) for c in (first, second)},
            "by_emotion": _u_by_emotion(gold, [first, second]),
        },
        "consensus_by_part_emotion": consensus_counts(gold).reset_index().to_dict(orient="records"),
    }


def _kappa(a: pd.Series, b: pd.Series, categories: list[str]) -> dict:
    """Cohen's kappa with its asymptotic 95% CI (None where undefined, e.g. one answer only)."""
    if len(a) == 0:
        return {"kappa": None, "ci95": None, "n": 0}
    with np.errstate(invalid="ignore", divide="ignore"):
        result = cohens_kappa(confusion_matrix(a, b, labels=categories))
    kappa = float(result.kappa)
    if not np.isfinite(kappa):
        return {"kappa": None, "ci95": None, "n": len(a)}
    bounds = (float(result.kappa_low), float(result.kappa_upp))
    ci = [round(x, 4) + 0.0 for x in bounds] if np.isfinite(bounds).all() else None
    return {"kappa": round(kappa, 4) + 0.0, "ci95": ci, "n": len(a)}


def _u_by_emotion(gold: pd.DataFrame, columns: list[str]) -> dict:
    rates = gold.groupby("emotion")[columns].agg(lambda s: round(float((s == "U").mean()), 4))
    return rates.to_dict(orient="index")


def consensus_counts(gold: pd.DataFrame) -> pd.DataFrame:
    """Faces per (part, emotion) x consensus value, with totals per part and overall."""
    rows = []
    for part in [p for p in PARTS if p in set(gold["part"])]:
        frame = gold[gold["part"] == part]
        rows += [(part, emotion, group) for emotion, group in frame.groupby("emotion")]
        rows.append((part, "all", frame))
    rows.append(("all", "all", gold))
    table = pd.DataFrame(
        [
            {
                "part": p,
                "emotion": e,
                **g["consensus"].value_counts().reindex(CONSENSUS_VALUES, fill_value=0),
            }
            for p, e, g in rows
        ]
    )
    table["agreement"] = (
        (table["female"] + table["male"] + table["unknown"])
        / table[list(CONSENSUS_VALUES)].sum(axis=1)
    ).round(3)
    return table.set_index(["part", "emotion"])


def pass_summary(frame: pd.DataFrame) -> dict:
    """Who made a pass and when, from its file (annotators, answer counts, date range)."""
    recorded = frame["recorded_at"].dropna()
    return {
        "answers": len(frame),
        "annotators": sorted(frame["annotator"].dropna().unique().tolist()),
        "answer_counts": frame["answer"]
        .value_counts()
        .reindex(list(passes.ANSWERS), fill_value=0)
        .to_dict(),
        "recorded_from": recorded.min() if len(recorded) else None,
        "recorded_to": recorded.max() if len(recorded) else None,
        "sources": sorted(
            {"contact sheets" if pd.notna(s) else "annotate --blind" for s in frame["sheet_id"]}
        ),
    }
