"""The details behind the tables: other metrics, McNemar's tests and the figures."""

from __future__ import annotations

import pandas as pd

from ferbias.analysis import plots
from ferbias.analysis.blocks import FigureBlock, Heading, Table, p_text
from ferbias.analysis.metrics import confusion_table, emotion_classes, max_rate_gaps
from ferbias.analysis.tables import Analysis


def other_metrics(a: Analysis) -> pd.DataFrame:
    """Seed means of balanced accuracy, macro-F1, cross-entropy and the max TPR/FPR gaps."""
    summary = a.run_metrics["summary"].query("group == 'all'")
    gaps = max_rate_gaps(a.run_metrics["gaps"])
    frame = summary.merge(gaps, on=["run_id", "test_set"])
    columns = ["accuracy", "balanced_accuracy", "macro_f1", "max_tpr_gap", "max_fpr_gap"]
    frame = frame.assign(condition=plots.condition_label(frame))
    table = frame.groupby(["condition", "train_group", "test_set"])[
        [*columns, "cross_entropy"]
    ].mean()
    table[columns] = (100 * table[columns]).round(1)
    return table.round({"cross_entropy": 3}).reset_index()


def metric_blocks(a: Analysis) -> list:
    blocks: list = [
        Heading("Other metrics and McNemar's tests"),
        Table(
            other_metrics(a),
            "Seed means (%, cross-entropy in nats); gaps: largest per-emotion TPR / FPR "
            "difference between test groups.",
        ),
    ]
    if len(a.mcnemar):
        m = a.mcnemar
        shown = m.assign(condition=plots.condition_label(m))[
            ["condition", "test_set", "test_group", "seed", "n", "b", "c", "exact"]
        ]
        shown = shown.assign(p=m["p_value"].map(p_text), p_holm=m["p_holm"].map(p_text))
        blocks.append(
            Table(
                shown,
                f"McNemar's test (plain accuracy), {a.groups[0]} vs {a.groups[1]} model (b: only "
                f"the {a.groups[0]} model right; c: only the {a.groups[1]} model right; exact "
                "binomial below 25 discordant pairs); Holm across variants.",
            )
        )
    return blocks


def figure_blocks(a: Analysis) -> list:
    blocks: list = [
        Heading("Figures"),
        FigureBlock(
            "transfer_heatmap",
            plots.plot_transfer_heatmap(a.transfer),
            "Transfer matrix: plain accuracy % [95% CI] per condition and train group (rows) x "
            "test set / group (columns).",
        ),
    ]
    if a.cells:
        blocks.append(
            FigureBlock(
                "variant_metrics",
                plots.plot_variant_metrics(a.transfer, a.cells),
                "Accuracy and cross-entropy of each variant's models on own and other group "
                "(95% CI).",
            )
        )
    per_class = a.run_metrics["per_class"].query("group != 'all'")
    recall = per_class.groupby(["train_group", "group", "emotion"], sort=False)["recall"].mean()
    recall = recall.reset_index().rename(columns={"group": "test_group"})
    blocks.append(
        FigureBlock(
            "recall_by_group",
            plots.plot_recall_by_group(recall),
            "Per-emotion recall by test group (mean over variants, seeds and test sets).",
        )
    )
    primary = {c[0] for c in a.cells.values()} if a.cells else set(a.scored["test_set"])
    on_primary = a.scored[a.scored["test_set"].isin(primary)]
    classes = emotion_classes(a.scored)
    matrices = {
        f"{g} models": confusion_table(part, classes=classes)
        for g, part in on_primary.groupby("train_group", sort=True)
    }
    blocks.append(
        FigureBlock(
            "confusion",
            plots.plot_confusion_matrices(matrices),
            f"Row-normalised confusion matrices on {', '.join(sorted(primary))} "
            "(pooled over variants and seeds).",
        )
    )
    if len(a.results.histories):
        blocks.append(
            FigureBlock(
                "learning_curves",
                plots.plot_learning_curves(a.results.histories),
                "Learning curves: train (solid) and validation (dashed); mean over seeds, "
                "band min-max.",
            )
        )
    return blocks
