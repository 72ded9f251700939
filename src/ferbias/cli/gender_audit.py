"""`ferbias gender evaluate`: the in-domain audit first, the photo sets after, then the goals."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ferbias.cli.gender import console, print_frame, resolve_tau


def percent_ci(frame: pd.DataFrame, name: str) -> pd.Series:
    """ "97.1 (95.9-98.0)" per row for a share with ``_low`` / ``_high`` columns."""
    return pd.Series(
        [
            "-" if pd.isna(v) else f"{100 * v:.1f} ({100 * lo:.1f}-{100 * hi:.1f})"
            for v, lo, hi in frame[[name, f"{name}_low", f"{name}_high"]].to_numpy()
        ],
        index=frame.index,
    )


def shown_audit(frame: pd.DataFrame, first: str) -> pd.DataFrame:
    """The audit columns people read, as percent with 95% CIs."""
    out = pd.DataFrame({first: frame[first], "n": frame["n"]})
    for name in ("coverage", "accuracy", "error_female", "error_male"):
        out[f"{name} %"] = percent_ci(frame, name)
    for name in ("coverage_female", "coverage_male"):
        out[f"{name} %"] = [f"{100 * v:.1f}" for v in frame[name]]
    if "ece" in frame:
        out["ECE"] = [f"{v:.3f}" for v in frame["ece"]]
    if "undecidable_labelled" in frame:
        out["undecidable labelled %"] = [f"{100 * v:.1f}" for v in frame["undecidable_labelled"]]
    return out


def fer_coverage(labeller, thresholds, data) -> float:
    """Share of all FER-2013 six-emotion images the labeller labels (no gold overrides)."""
    from ferbias.data.images import prepare
    from ferbias.data.schema import STUDY_EMOTIONS
    from ferbias.data.sources import load_source
    from ferbias.gender.base import decide
    from ferbias.gender.gold import data_root

    manifest = load_source("fer2013", data_root(data) / "fer2013", gender_labels=None).manifest
    prepared = prepare(manifest[manifest["emotion"].isin(STUDY_EMOTIONS)])
    decided = decide(labeller.predict_p_female(prepared.pixels), thresholds)
    return float((decided != "unknown").sum() / (len(prepared.pixels) + len(prepared.failures)))


def run_evaluate(*, out: Path, gold: Path, data, labeller, tau, before, photos) -> None:
    from ferbias.gender.domain_audit import goals_table
    from ferbias.gender.domain_gold import load_domain_gold
    from ferbias.gender.evaluate import (
        STRICTER,
        audit_domain,
        audit_photos,
        ensemble_from_members,
        gold_predictions,
        save_domain_audit,
        score_audit,
    )
    from ferbias.gender.gold import data_root, gold_sets
    from ferbias.gender.labels import read_labels

    thresholds, target = resolve_tau(labeller, tau)
    combiner = labeller.combiner
    chosen = f"target {target:g}" if target is not None else f"pair {thresholds.text()}"
    stricter = {f"target {t:g}": combiner.thresholds(t) for t in STRICTER if t != target}
    pairs = {chosen: thresholds} | stricter
    faces = load_domain_gold(gold, data_root(data) / "fer2013")
    faces = faces.subset(faces.mask("random-audit"))
    result = audit_domain(
        faces,
        score_audit(faces, labeller),
        thresholds=pairs,
        default=chosen,
        before=read_labels(before) if before else None,
    )
    n_undecidable = int((~faces.table["decidable"]).sum())
    print_frame(
        shown_audit(result.overall, "labeller"),
        f"FER-2013 audit half of {gold.name}: {len(faces.table) - n_undecidable} decidable, "
        f"{n_undecidable} undecidable faces (95% Wilson CIs)",
    )
    print_frame(shown_audit(result.by_emotion, "emotion"), f"per emotion, ensemble at {thresholds}")
    coverage = fer_coverage(labeller, thresholds, data)
    default_row = result.overall.iloc[0]
    goals = goals_table(default_row, result.by_emotion, fer_coverage=coverage)
    print_frame(goals, "issue 9 goals (audit half)")
    save_domain_audit(result, out, goals=goals)
    if photos:
        predictions = gold_predictions({m.name: m for m in labeller.members}, gold_sets(data))
        predictions["ensemble"] = ensemble_from_members(predictions, labeller)
        photo = audit_photos(predictions, thresholds=thresholds, show="ensemble")
        photo.save(out)
        shown = photo.table[
            ["labeller", "gold_set", "n", "coverage", "accuracy", "error_female", "error_male"]
        ]
        print_frame(shown, f"photo sets (secondary evidence) at {thresholds}")
    console.print(f"FER-2013 six-emotion coverage {100 * coverage:.1f}%; written to {out}")
