"""What was run and on what: the setup, the data counts and label provenance, and the power."""

from __future__ import annotations

import pandas as pd

from ferbias.analysis import stats
from ferbias.analysis.blocks import Heading, Paragraph, Table, pp
from ferbias.analysis.metrics import emotion_classes
from ferbias.analysis.tables import Analysis

DEFAULT_BASE_ACCURACY = 0.5  # the largest gap in pp for a given Cohen's h: the cautious default
ALPHA, POWER = 0.05, 0.8


def setup_blocks(a: Analysis) -> list:
    record, runs = a.results.record, a.results.runs
    spec = record.get("spec") or {}
    epochs = (spec.get("train") or {}).get("epochs", runs.get("epochs", pd.Series()).max())
    rows = {
        "experiment": a.name,
        "models": ", ".join(sorted(runs["model"].astype(str).unique())),
        "variants": ", ".join(sorted(runs["variant"].astype(str).unique())),
        "train groups": ", ".join(sorted(runs["train_group"].astype(str).unique())),
        "seeds": ", ".join(str(s) for s in sorted(runs["seed"].unique())),
        "epochs": str(epochs),
        "emotions": ", ".join(record.get("emotions") or emotion_classes(a.scored)),
        "grouping column": str(record.get("group_col", "gender")),
        "test sets": ", ".join(sorted(a.scored["test_set"].unique())),
        "finished runs": str(len(runs)),
    }
    for name, why in (record.get("skipped_test_sets") or {}).items():
        rows[f"test set left out: {name}"] = why
    table = pd.DataFrame({"setting": list(rows), "value": list(rows.values())})
    return [Heading("Setup"), Table(table)]


def _counts_table(counts: object) -> pd.DataFrame | None:
    frame = pd.DataFrame(counts) if isinstance(counts, list) and counts else None
    if frame is None or not {"split", "group", "n"} <= set(frame.columns):
        return frame
    if "emotion" not in frame:
        return frame[["split", "group", "n"]]
    wide = frame.pivot_table(index=["split", "group"], columns="emotion", values="n", aggfunc="sum")
    wide = wide.fillna(0).astype(int)
    wide["total"] = wide.sum(axis=1)
    return wide.reset_index().rename_axis(columns=None)


def data_blocks(a: Analysis) -> list:
    record = a.results.record
    blocks: list = [Heading("Data: counts and label provenance")]
    counts = _counts_table(record.get("counts"))
    tested = a.scored.drop_duplicates(["test_set", "sample_id"])
    test_counts = tested.groupby(["test_set", "test_group"]).size().rename("images").reset_index()
    blocks.append(
        Table(counts, "Images per split x group x emotion")
        if counts is not None
        else Paragraph("experiment.json gives no data counts.")
    )
    blocks.append(Table(test_counts, "Test images per test set and group (from the predictions)"))
    provenance = record.get("label_provenance")
    if isinstance(provenance, list) and provenance:
        blocks.append(Table(pd.DataFrame(provenance), "Where the group labels came from"))
    else:
        blocks.append(Paragraph("Label provenance: not given in experiment.json."))
    return blocks


def power_blocks(a: Analysis) -> list:
    power = a.results.record.get("power") or {}
    sizes = power.get("test_sizes")
    if not isinstance(sizes, dict):
        tested = a.scored.drop_duplicates(["test_set", "sample_id"])
        sizes = {t: f.groupby("test_group").size().to_dict() for t, f in tested.groupby("test_set")}
    base = float(power.get("base_accuracy", DEFAULT_BASE_ACCURACY))
    alpha, strength = float(power.get("alpha", ALPHA)), float(power.get("power", POWER))
    blocks: list = [Heading("Power (before training)")]
    for test_set, by_group in sorted(sizes.items()):
        n = [int(by_group.get(g, 0)) for g in a.groups[:2]]
        if len(n) == 2 and min(n) > 0:
            gap = stats.minimum_detectable_gap(n[0], n[1], base, alpha, strength)
            blocks.append(
                Paragraph(
                    f"{test_set}: with {n[0]} {a.groups[0]} and {n[1]} {a.groups[1]} test "
                    f"images, a two-sided two-proportion test at alpha {alpha:g} has "
                    f"{100 * strength:.0f}% power to detect an accuracy gap of {gap:.1f} pp or "
                    f"more (base accuracy {pp(base)}%)."
                )
            )
    if len(blocks) == 1:
        blocks.append(Paragraph("No test set holds images of two groups; no power line."))
    blocks.append(
        Paragraph(
            "Comparisons of two models on the same images are paired (McNemar, sign-flip "
            "permutation) and usually detect smaller gaps than this unpaired bound."
        )
    )
    return blocks
