"""Run the labellers on gold faces and build the audit.

First the domain of use: the random-audit half of the in-domain FER-2013 gold (which no labeller
trained or was tuned on), with the ensemble at its thresholds and at stricter accuracy targets,
its members alone, and optionally a labels file (e.g. the labels committed before) side by side.
Then the photo sets (UTKFace, CelebA, CFD, JAFFE) at the same thresholds, as secondary evidence.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ferbias.gender import audit, domain_audit
from ferbias.gender.base import Thresholds, decide
from ferbias.gender.domain_gold import DomainGold
from ferbias.gender.ensemble import EnsembleLabeller
from ferbias.gender.gold import ADULT_GOLD, FaceSet
from ferbias.io import write_atomic, write_csv_atomic, write_json_atomic

POOLED = "adult-gold-pooled"
STRICTER = (0.98, 0.99)  # the accuracy targets of the label-noise sensitivity analysis
LABELS = "labels"  # the operating point a labels file was made at


@dataclass
class DomainAudit:
    """The audit half: one row per labeller / operating point, per emotion, contamination."""

    overall: pd.DataFrame
    by_emotion: pd.DataFrame
    contamination: pd.DataFrame  # per target x predicted gender x emotion
    curves: pd.DataFrame
    thresholds: dict[str, Thresholds]  # operating point ("target 0.97") -> thresholds
    figures: dict[str, Figure] = field(default_factory=dict)


def score_audit(gold: DomainGold, ensemble: EnsembleLabeller) -> dict[str, np.ndarray]:
    """P(female) of the audit faces from each member and from the ensemble."""
    p_onnx, p_cnn = ensemble.member_p_female(gold.pixels)
    return {
        "onnx-cc0": p_onnx,
        "ferbias-gender": p_cnn,
        "ensemble": ensemble.combiner.p_female(p_onnx, p_cnn),
    }


def labels_file_predictions(labels: pd.DataFrame, files: pd.Series) -> tuple:
    """(decision, p_female) of a labels table (file, gender, p_female) for ``files``."""
    table = labels.drop_duplicates("file", keep="last").set_index("file")
    gender = table["gender"].reindex(files).fillna("unknown").to_numpy(dtype=object)
    p = pd.to_numeric(table["p_female"].reindex(files), errors="coerce").to_numpy(dtype=float)
    return gender, p


def audit_domain(
    gold: DomainGold,
    scores: dict[str, np.ndarray],
    *,
    thresholds: dict[str, Thresholds],
    default: str,
    before: pd.DataFrame | None = None,
) -> DomainAudit:
    """Audit-half tables and figures (``gold``: the audit faces only) at each named operating
    point of the ensemble; per-emotion figures at ``default``."""
    truth = gold.table["truth"]
    emotion = gold.table["emotion"].to_numpy(dtype=object)
    rows, points = [], {}
    for name, pair in thresholds.items():
        pred = decide(scores["ensemble"], pair)
        label = f"ensemble, {name} ({pair.text()})"
        rows.append({"labeller": label, **domain_audit.headline(truth, pred, scores["ensemble"])})
        points[label] = (rows[-1]["coverage"], rows[-1]["accuracy"])
    for member in ("onnx-cc0", "ferbias-gender"):
        pred = decide(scores[member], 0.5)
        rows.append(
            {
                "labeller": f"{member} alone, every face",
                **domain_audit.headline(truth, pred, scores[member]),
            }
        )
    reliability = {name: scores[name] for name in ("ensemble", "onnx-cc0", "ferbias-gender")}
    if before is not None:
        pred, p = labels_file_predictions(before, gold.table["file"])
        rows.append({"labeller": "labels before", **domain_audit.headline(truth, pred, p)})
        points["labels before"] = (rows[-1]["coverage"], rows[-1]["accuracy"])
        reliability["labels before"] = p
    default_pred = decide(scores["ensemble"], thresholds[default])
    contamination = pd.concat(
        [
            domain_audit.contamination(emotion, truth, decide(scores["ensemble"], pair)).assign(
                operating_point=name
            )
            for name, pair in thresholds.items()
        ],
        ignore_index=True,
    )
    curves = {
        name: domain_audit.coverage_accuracy_curve(truth, scores[name])
        for name in ("ensemble", "onnx-cc0", "ferbias-gender")
    }
    figures = {
        "coverage_accuracy": domain_audit.plot_coverage_accuracy(curves, points),
        "reliability": domain_audit.plot_reliability(truth, reliability),
    }
    return DomainAudit(
        overall=pd.DataFrame(rows),
        by_emotion=domain_audit.by_emotion(emotion, truth, default_pred),
        contamination=contamination,
        curves=pd.concat([c.assign(labeller=n) for n, c in curves.items()], ignore_index=True),
        thresholds=thresholds,
        figures=figures,
    )


def save_figures(out: Path, figures: dict[str, Figure]) -> None:
    for name, figure in figures.items():
        write_atomic(
            out / f"{name}.png", lambda tmp, f=figure: f.savefig(tmp, format="png", dpi=120)
        )


def save_domain_audit(result: DomainAudit, out: str | os.PathLike, *, goals: pd.DataFrame) -> Path:
    out = Path(out)
    write_csv_atomic(out / "domain_audit.csv", result.overall)
    write_csv_atomic(out / "domain_by_emotion.csv", result.by_emotion)
    write_csv_atomic(out / "contamination.csv", result.contamination)
    write_csv_atomic(out / "coverage_accuracy.csv", result.curves)
    write_csv_atomic(out / "goals.csv", goals)
    save_figures(out, result.figures)
    return out


@dataclass
class PhotoAudit:
    """Photo gold sets at the ensemble's thresholds (secondary evidence)."""

    thresholds: Thresholds
    table: pd.DataFrame  # labeller x gold set metrics
    curves: pd.DataFrame  # labeller, gold_set, tau, coverage, accuracy, n_labelled
    figures: dict[str, Figure] = field(default_factory=dict)

    def save(self, out: str | os.PathLike) -> Path:
        out = Path(out)
        write_csv_atomic(out / "photo_audit.csv", self.table)
        write_csv_atomic(out / "photo_coverage_curves.csv", self.curves)
        write_json_atomic(
            out / "photo_thresholds.json",
            {"female": self.thresholds.female, "male": self.thresholds.male},
        )
        save_figures(out, self.figures)
        return out


def gold_predictions(labellers: dict, gold: dict[str, FaceSet]) -> dict:
    """{labeller: {gold set: (y_true, p_female)}}, plus the pooled adult gold set."""
    out: dict[str, dict] = {}
    for name, labeller in labellers.items():
        per_set = {}
        for set_name, faces in gold.items():
            per_set[set_name] = (faces.gender, labeller.predict_p_female(faces.pixels))
        adults = [per_set[s] for s in ADULT_GOLD if s in per_set]
        per_set[POOLED] = tuple(np.concatenate(parts) for parts in zip(*adults, strict=True))
        out[name] = per_set
    return out


def ensemble_from_members(predictions: dict, ensemble: EnsembleLabeller) -> dict:
    """The ensemble's gold predictions from its members' (no second pass over the images)."""
    a, b = (predictions[m.name] for m in ensemble.members)
    return {s: (a[s][0], ensemble.combiner.p_female(a[s][1], b[s][1])) for s in a}


def audit_photos(predictions: dict, *, thresholds: Thresholds, show: str) -> PhotoAudit:
    """Every labeller on every photo set at ``thresholds``; figures for labeller ``show``."""
    curves = pd.concat(
        [
            audit.coverage_curve(y, p).assign(labeller=lab, gold_set=s)
            for lab, sets in predictions.items()
            for s, (y, p) in sets.items()
        ],
        ignore_index=True,
    )
    table = pd.concat(
        [
            audit.audit_table(sets, thresholds=thresholds).assign(labeller=lab)
            for lab, sets in predictions.items()
        ],
        ignore_index=True,
    )
    chosen = predictions[show]
    mine = curves[curves["labeller"] == show]
    figures = {
        "photo_coverage_vs_tau": audit.plot_coverage(
            {s: mine[mine["gold_set"] == s] for s in chosen}, thresholds=thresholds
        ),
        "photo_calibration": audit.plot_calibration(chosen),
    }
    columns = ["labeller", "gold_set"] + [
        c for c in table.columns if c not in ("labeller", "gold_set")
    ]
    return PhotoAudit(thresholds, table[columns], curves, figures)


def label_audit_record(result: DomainAudit, *, gold_file: str) -> dict:
    """What a labels file's provenance says about its own noise, for experiments to carry: the
    thresholds of each operating point (``LABELS``, "target 0.98", ...) and the audit's
    headline and contamination tables at each."""
    ensemble_rows = result.overall[result.overall["labeller"].str.startswith("ensemble")]
    decidable = int(result.overall["n"].iat[0])
    return {
        "measured_on": f"random-audit half of {gold_file} ({decidable} decidable faces)",
        "thresholds": {
            name: {"female": pair.female, "male": pair.male}
            for name, pair in result.thresholds.items()
        },
        "overall": ensemble_rows.round(4).to_dict(orient="records"),
        "contamination": result.contamination.round(4).to_dict(orient="records"),
    }
