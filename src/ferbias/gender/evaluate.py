"""Run labellers on the gold sets and build the audit: table, coverage curves, tau, figures."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ferbias.gender import audit
from ferbias.gender.base import Labeller
from ferbias.gender.ensemble import EnsembleLabeller
from ferbias.gender.gold import ADULT_GOLD, FaceSet
from ferbias.io import write_atomic, write_csv_atomic, write_json_atomic

POOLED = "adult-gold-pooled"


@dataclass
class Evaluation:
    """Audit of several labellers on the gold sets at one tau (chosen for ``chosen_for``)."""

    tau: float
    chosen_for: str
    table: pd.DataFrame  # labeller x gold set metrics at tau
    curves: pd.DataFrame  # labeller, gold_set, tau, coverage, accuracy, n_labelled
    figures: dict[str, Figure] = field(default_factory=dict)

    def save(self, out: str | os.PathLike) -> Path:
        out = Path(out)
        write_csv_atomic(out / "audit.csv", self.table)
        write_csv_atomic(out / "coverage_curves.csv", self.curves)
        write_json_atomic(
            out / "tau.json",
            {
                "tau": self.tau,
                "chosen_for": self.chosen_for,
                "target_accuracy": audit.TARGET_ACCURACY,
            },
        )
        for name, figure in self.figures.items():
            write_atomic(
                out / f"{name}.png", lambda tmp, f=figure: f.savefig(tmp, format="png", dpi=120)
            )
        return out


def gold_predictions(labellers: dict[str, Labeller], gold: dict[str, FaceSet]) -> dict:
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
    from ferbias.gender.ensemble import combine

    a, b = (predictions[m.name] for m in ensemble.members)
    return {s: (a[s][0], combine(a[s][1], b[s][1])) for s in a}


def evaluate(predictions: dict, *, choose_for: str, tau: float | None = None) -> Evaluation:
    """Audit ``predictions``; tau (if not given) is chosen on ``choose_for``'s pooled adults."""
    curves = pd.concat(
        [
            audit.coverage_curve(y, p).assign(labeller=lab, gold_set=s)
            for lab, sets in predictions.items()
            for s, (y, p) in sets.items()
        ],
        ignore_index=True,
    )
    if tau is None:
        pooled = curves[(curves["labeller"] == choose_for) & (curves["gold_set"] == POOLED)]
        tau = audit.choose_tau(pooled)
    table = pd.concat(
        [
            audit.audit_table(sets, tau=tau).assign(labeller=lab)
            for lab, sets in predictions.items()
        ],
        ignore_index=True,
    )
    chosen = predictions[choose_for]
    figures = {
        "coverage_vs_tau": audit.plot_coverage(
            {
                s: curves[(curves["labeller"] == choose_for) & (curves["gold_set"] == s)]
                for s in chosen
            },
            tau=tau,
        ),
        "calibration": audit.plot_calibration(chosen),
    }
    columns = ["labeller", "gold_set"] + [
        c for c in table.columns if c not in ("labeller", "gold_set")
    ]
    return Evaluation(tau, choose_for, table[columns], curves, figures)
