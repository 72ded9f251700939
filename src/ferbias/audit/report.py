"""The audit report: one model x group-labelled test sets, as blocks rendered by the experiment
report's writer (``analysis.report.write_blocks``: self-contained HTML and Markdown).

Per test set: accuracy, balanced accuracy and macro-F1 per group (``analysis.metrics``), the
accuracy gap between the spec's first two groups with a subject-clustered bootstrap CI and a
cluster permutation test (Holm across test sets), per-emotion recall and precision per group,
row-normalised confusion matrices per group, the power line, the share of probability the model
put on emotions the set does not have, and every overlap warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ferbias.analysis import plots
from ferbias.analysis.metrics import add_image_scores, confusion_table, metric_tables
from ferbias.analysis.report import REPORT_DIR, ReportPaths, write_blocks
from ferbias.analysis.sections import FigureBlock, Heading, Paragraph, Table, p_text, pp, with_ci
from ferbias.analysis.stats import holm, minimum_detectable_gap
from ferbias.audit.evaluate import OTHER_MASS, AuditResults, SetResult
from ferbias.audit.gaps import GroupGap, group_accuracy, group_gap

ALPHA, POWER, BASE_ACCURACY = 0.05, 0.8, 0.5  # as the experiment's power line


@dataclass
class SetAnalysis:
    """The figures of one test set."""

    result: SetResult
    summary: pd.DataFrame  # group (and "all") x n, accuracy (+ CI), balanced accuracy, ...
    per_class: pd.DataFrame  # group x emotion: recall, precision, support
    gap: GroupGap | None  # None: fewer than two of the spec's groups in the set
    p_holm: float = float("nan")


def analyse_set(result: SetResult, *, n_resamples: int, rng: np.random.Generator) -> SetAnalysis:
    scored = add_image_scores(result.predictions)
    tables = metric_tables(scored, by=("run_id", "test_set"))
    summary = tables["summary"].drop(columns=["run_id", "test_set"])
    intervals = {
        group: group_accuracy(
            part["correct"].to_numpy(float),
            part["subject_id"].to_numpy(),
            n_resamples=n_resamples,
            rng=rng,
        )
        for group, part in [("all", scored), *scored.groupby("group", sort=True)]
    }
    summary["accuracy_low"] = summary["group"].map(lambda g: intervals[g].low)
    summary["accuracy_high"] = summary["group"].map(lambda g: intervals[g].high)
    other = {"all": scored[OTHER_MASS].mean(), **scored.groupby("group")[OTHER_MASS].mean()}
    summary[OTHER_MASS] = summary["group"].map(other)
    gap = None
    if len(result.groups) >= 2:
        first, second = result.groups[:2]
        gap = group_gap(scored, first, second, n_resamples=n_resamples, rng=rng)
    per_class = tables["per_class"].drop(columns=["run_id", "test_set"])
    return SetAnalysis(result, summary, per_class, gap)


def analyse(results: AuditResults) -> list[SetAnalysis]:
    """Every test set's figures; gap p-values Holm-corrected across the test sets."""
    rng = np.random.default_rng(results.spec.seed)
    analyses = [analyse_set(s, n_resamples=results.spec.n_resamples, rng=rng) for s in results.sets]
    with_gap = [a for a in analyses if a.gap is not None]
    for analysis, adjusted in zip(with_gap, holm([a.gap.p_value for a in with_gap]), strict=True):
        analysis.p_holm = float(adjusted)
    return analyses


def model_blocks(results: AuditResults) -> list:
    model, card = results.model, results.model.card
    spec, provenance = card.input, model.provenance
    rows = {
        "model": model.name,
        "kind": model.kind,
        "input": f"{spec.size}x{spec.size} {spec.color} {spec.layout}, pixel / {spec.scale:g}, "
        f"mean {spec.mean}, std {spec.std}",
        "face crop": f"detected, {card.face_crop.crop_scale:g}x the face box"
        if card.face_crop.enabled
        else "none (whole image resized)",
        "output": f"{card.output} over {', '.join(card.labels)}",
        "run id": provenance.run_id or "-",
        "data fingerprint": provenance.data_fingerprint or "-",
        "training data": ", ".join(provenance.training_sources or []) or "unknown",
    }
    table = pd.DataFrame({"setting": list(rows), "value": list(rows.values())})
    blocks = [Heading(f"ferbias audit: {results.spec.name}", 1)]
    if results.spec.description:
        blocks.append(Paragraph(results.spec.description))
    return [*blocks, Heading("Model"), Table(table)]


def data_blocks(analyses: list[SetAnalysis]) -> list:
    rows = []
    for a in analyses:
        r = a.result
        counts = a.summary.set_index("group")["n"]
        rows.append(
            {
                "test set": r.name,
                "images scored": int(counts["all"]),
                "per group": ", ".join(f"{g} {int(counts[g])}" for g in counts.index if g != "all"),
                "emotions scored": ", ".join(r.shared),
                "left out": "; ".join(f"{n} {why}" for why, n in r.left_out.items()) or "none",
                "mass on other emotions %": pp(
                    float(a.summary.set_index("group")[OTHER_MASS]["all"])
                ),
            }
        )
    warnings = [w for a in analyses for w in a.result.warnings]
    blocks = [
        Heading("Test sets"),
        Table(
            pd.DataFrame(rows),
            "Only emotions both the model and the set have are scored; the prediction is the "
            "argmax over them. 'mass on other emotions': mean probability the model put on its "
            "emotions the set does not have.",
        ),
        Heading("Training data overlap"),
    ]
    blocks += [Paragraph(f"Warning: {w}.") for w in warnings] or [
        Paragraph("No test image comes from data the model was trained on (by source and split).")
    ]
    return blocks


def _verdict(a: SetAnalysis) -> str:
    r, summary = a.result, a.summary.set_index("group")
    if a.gap is None:
        group = r.groups[0]
        row = summary.loc[group]
        return (
            f"{r.name}: one group only ({group}, {int(row.n)} images): accuracy "
            f"{with_ci(row.accuracy, row.accuracy_low, row.accuracy_high)}%; no gap can be "
            "estimated."
        )
    first, second = r.groups[:2]
    gap = a.gap.gap
    sign = -1 if gap.estimate < 0 else 1  # the CI of the gap in the direction the words give
    low, high = sorted((sign * gap.low, sign * gap.high))
    ci = f"95% CI {pp(low)} to {pp(high)}"
    rates = f"{pp(a.gap.first.estimate)}% vs {pp(a.gap.second.estimate)}%"
    if pp(abs(gap.estimate)) == "0.0":
        phrase = f"as accurate on {first} as on {second} faces (0.0 pp, {ci}; {rates})"
    else:
        words = "more" if sign > 0 else "less"
        phrase = (
            f"{pp(abs(gap.estimate))} pp ({ci}) {words} accurate on {first} than on {second} "
            f"faces ({rates})"
        )
    significant = "significant" if a.p_holm < ALPHA else "not significant"
    return (
        f"{r.name}: the model was {phrase}; {significant} after Holm correction across test "
        f"sets (permutation p {p_text(a.gap.p_value)}, Holm p {p_text(a.p_holm)})."
    )


def verdict_blocks(analyses: list[SetAnalysis]) -> list:
    blocks: list = [Heading("Verdicts"), *(Paragraph(_verdict(a)) for a in analyses)]
    blocks.append(Heading("Power"))
    for a in analyses:
        if a.gap is None:
            blocks.append(Paragraph(f"{a.result.name}: one group; no gap to detect."))
            continue
        first, second = a.result.groups[:2]
        n_a, n_b = a.gap.n_first, a.gap.n_second
        detectable = minimum_detectable_gap(n_a, n_b, BASE_ACCURACY, ALPHA, POWER)
        blocks.append(
            Paragraph(
                f"{a.result.name}: with {n_a} {first} and {n_b} {second} images, a two-sided "
                f"two-proportion test at alpha {ALPHA:g} has {100 * POWER:.0f}% power to detect "
                f"an accuracy gap of {detectable:.1f} pp or more (base accuracy "
                f"{pp(BASE_ACCURACY)}%); smaller true gaps may go unseen."
            )
        )
    return blocks


def result_blocks(analyses: list[SetAnalysis]) -> list:
    summary = pd.concat([a.summary.assign(test_set=a.result.name) for a in analyses])
    shown = pd.DataFrame(
        {
            "test set": summary["test_set"],
            "group": summary["group"],
            "images": summary["n"].astype(int),
            "accuracy % (95% CI)": [
                with_ci(*r)
                for r in summary[["accuracy", "accuracy_low", "accuracy_high"]].to_numpy()
            ],
            "balanced accuracy %": summary["balanced_accuracy"].map(pp),
            "macro-F1 %": summary["macro_f1"].map(pp),
            "mass on other emotions %": summary[OTHER_MASS].map(pp),
        }
    )
    per_class = pd.concat([a.per_class.assign(test_set=a.result.name) for a in analyses])
    per_class = per_class[per_class["support"] > 0]
    wide = per_class.pivot_table(
        index=["test_set", "emotion"], columns="group", values=["recall", "precision"], sort=False
    )
    wide = (100 * wide).round(1)
    wide.columns = [f"{metric} {group} %" for metric, group in wide.columns]
    return [
        Heading("Results"),
        Table(shown, "Per test set and group; CI: bootstrap over subjects (clusters)."),
        Table(wide.reset_index(), "Per-emotion recall and precision by group (%)."),
    ]


def figure_blocks(analyses: list[SetAnalysis]) -> list:
    blocks: list = [Heading("Confusion matrices")]
    for a in analyses:
        frame = a.result.predictions
        matrices = {
            f"{a.result.name} / {group}": confusion_table(part, classes=a.result.shared)
            for group, part in frame.groupby("group", sort=True)
        }
        blocks.append(
            FigureBlock(
                f"confusion_{a.result.name}",
                plots.plot_confusion_matrices(matrices),
                f"{a.result.name}: row-normalised confusion matrices per group.",
            )
        )
    return blocks


def write_audit_report(
    results: AuditResults, analyses: list[SetAnalysis], out_dir: Path
) -> ReportPaths:
    """Write ``out_dir``/report/index.html and report.md for ``analyses`` of ``results``."""
    blocks = [
        *model_blocks(results),
        *verdict_blocks(analyses),
        *data_blocks(analyses),
        *result_blocks(analyses),
        *figure_blocks(analyses),
    ]
    return write_blocks(blocks, out_dir / REPORT_DIR, f"ferbias audit: {results.spec.name}")
