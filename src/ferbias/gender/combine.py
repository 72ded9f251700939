"""Fit the packaged combiner: gold faces, cross-fitted ferbias-gender scores, onnx-cc0 scores.

The random-fit half's ferbias-gender scores must come from fold models (``gender.domain``): a
score from a model that trained on the face would flatter it and make the combiner trust it too
much. onnx-cc0 never saw FER-2013, so it scores every gold face directly.
"""

from __future__ import annotations

import hashlib
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ferbias.gender import domain_audit
from ferbias.gender.base import decide
from ferbias.gender.domain_gold import load_domain_gold
from ferbias.gender.ensemble import DEFAULT_COMBINER, CombinerFit, fit_combiner
from ferbias.gender.gold import data_root
from ferbias.gender.onnx_cc0 import OnnxCC0Labeller

NOT_CROSS_FITTED = (
    "scores {path}: {n} random-fit or targeted face(s) were scored by {models}, not by a fold "
    "model; rerun `ferbias gender train --gold`"
)
MISSING_SCORES = "scores {path} lack {n} gold face(s), e.g. {file!r}; they must match the gold file"


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def gold_scores(gold_path: Path, scores_path: Path, *, data=None) -> pd.DataFrame:
    """Gold table + ``p_cnn`` (cross-fitted) + ``p_onnx``, one row per gold face."""
    gold = load_domain_gold(gold_path, data_root(data) / "fer2013")
    scores = pd.read_csv(scores_path, dtype={"file": str})
    table = gold.table.merge(scores[["file", "scored_by", "p_cnn"]], on="file", how="left")
    absent = table["p_cnn"].isna()
    if absent.any():
        raise ValueError(
            MISSING_SCORES.format(
                path=scores_path, n=int(absent.sum()), file=table["file"][absent].iat[0]
            )
        )
    training = table["part"].isin(["random-fit", "targeted"]) & table["decidable"]
    leaked = training & ~table["scored_by"].astype(str).str.startswith("fold-")
    if leaked.any():
        models = sorted(set(table.loc[leaked, "scored_by"].astype(str)))
        raise ValueError(
            NOT_CROSS_FITTED.format(path=scores_path, n=int(leaked.sum()), models=models)
        )
    table["p_onnx"] = OnnxCC0Labeller().predict_p_female(gold.pixels)
    return table


def fit_packaged_combiner(
    gold_path: Path,
    scores_path: Path,
    *,
    data=None,
    out: str | os.PathLike | None = None,
    use_targeted: bool = True,
    seed: int = 0,
) -> tuple[CombinerFit, pd.DataFrame, pd.DataFrame]:
    """Fit, save (default: the packaged combiner); return the fit, the thresholds per target and
    the fit half's coverage and accuracy per emotion (out-of-fold, default target)."""
    table = gold_scores(gold_path, scores_path, data=data)
    fit_rows = table[(table["part"] == "random-fit") & table["decidable"]]
    targeted_rows = table[(table["part"] == "targeted") & table["decidable"]]
    targeted = None
    if use_targeted and len(targeted_rows):
        targeted = tuple(targeted_rows[c].to_numpy() for c in ("p_onnx", "p_cnn", "truth"))
    fitted = fit_combiner(
        fit_rows["p_onnx"].to_numpy(),
        fit_rows["p_cnn"].to_numpy(),
        fit_rows["truth"].to_numpy(dtype=object),
        targeted=targeted,
        seed=seed,
        metadata={
            "gold": f"{Path(gold_path).name}@{sha256(gold_path)}",
            "scores": f"{Path(scores_path).name}@{sha256(scores_path)}",
            "onnx_cc0": OnnxCC0Labeller().version,
            "command": " ".join(["ferbias", *sys.argv[1:]]),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    fitted.combiner.save(out or DEFAULT_COMBINER)
    return fitted, thresholds_table(fitted), fit_half_by_emotion(fit_rows, fitted)


def thresholds_table(fitted: CombinerFit) -> pd.DataFrame:
    """One row per accuracy target: thresholds and what they did on the fit half (OOF)."""
    rows = []
    for choice in fitted.combiner.choices:
        rows.append(
            {
                "target": choice.target,
                "female": choice.thresholds.female,
                "male": choice.thresholds.male,
                "per_gender": choice.per_gender,
                **{k: round(v, 4) for k, v in choice.fit.items() if k != "n"},
            }
        )
    return pd.DataFrame(rows)


def fit_half_by_emotion(fit_rows: pd.DataFrame, fitted: CombinerFit) -> pd.DataFrame:
    """Coverage and accuracy per emotion on the fit half (out-of-fold) at the default target."""
    pred = decide(fitted.out_of_fold, fitted.combiner.thresholds())
    return domain_audit.by_emotion(
        fit_rows["emotion"].to_numpy(dtype=object), fit_rows["truth"], pred
    )
