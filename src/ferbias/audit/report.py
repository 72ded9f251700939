"""The audit report: one model x group-labelled test sets, as blocks rendered by the experiment
report's writer (``analysis.report.write_blocks``: self-contained HTML and Markdown).

Per test set, from ``analysis.group_gap`` (the single-model API the experiment's statistics
share): plain, emotion-standardised and balanced accuracy per group with subject-clustered
bootstrap CIs; the gap between the spec's first two groups in each measure with its CI and a
cluster permutation p-value, Holm-corrected across test sets (the verdict leads with the
standardised gap, as the experiment's report does). From ``analysis.metrics``: per-emotion recall
and precision per group and row-normalised confusion matrices. Also the power line, the share of
probability the model put on emotions the set does not have, and every overlap warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ferbias.analysis import plots
from ferbias.analysis.blocks import (
    FigureBlock,
    Heading,
    Paragraph,
    Table,
    p_text,
    pp,
    signed_pp,
    with_ci,
)
from ferbias.analysis.group_gap import group_accuracy_table, group_gap_table
from ferbias.analysis.metrics import add_image_scores, confusion_table, metric_tables
from ferbias.analysis.report import REPORT_DIR, ReportPaths, write_blocks
from ferbias.analysis.sections.answer import SIGNIFICANCE
from ferbias.analysis.sections.setup import ALPHA, DEFAULT_BASE_ACCURACY, POWER
from ferbias.analysis.standardise import MEASURE_LABELS, MEASURES, PLAIN, STANDARDISED
from ferbias.analysis.stats import holm, minimum_detectable_gap
from ferbias.audit.evaluate import OTHER_MASS, AuditResults, SetResult


@dataclass
class SetAnalysis:
    """The figures of one test set."""

    result: SetResult
    accuracy: pd.DataFrame  # group (and "all") x measure: n_images, accuracy, low, high
    per_class: pd.DataFrame  # group x emotion: recall, precision, support
    other_mass: dict[str, float]  # group (and "all") -> mean probability on other emotions
    gaps: pd.DataFrame | None  # one row per measure (GroupGap.as_row); None: one group only
    p_holm: dict[str, float] = field(default_factory=dict)  # measure -> Holm p across sets

    def gap(self, measure: str) -> pd.Series:
        return self.gaps.set_index("measure").loc[measure]

    def accuracy_of(self, group: str, measure: str = PLAIN) -> pd.Series:
        table = self.accuracy.set_index(["group", "measure"])
        return table.loc[(group, measure)]


def analyse_set(result: SetResult, *, n_resamples: int, rng: np.random.Generator) -> SetAnalysis:
    scored = add_image_scores(result.predictions)
    arrays = {
        "groups": scored["group"].to_numpy(),
        "emotions": scored["y_true"].to_numpy(),
        "clusters": scored["subject_id"].to_numpy(),
        "n_resamples": n_resamples,
        "rng": rng,
    }
    correct = scored["correct"].to_numpy(float)
    accuracy = group_accuracy_table(correct, **arrays)
    gaps = None
    if len(result.groups) >= 2:
        first, second = result.groups[:2]
        gaps = group_gap_table(correct, first=first, second=second, **arrays)
    per_class = metric_tables(scored, by=("run_id", "test_set"))["per_class"]
    other = {"all": scored[OTHER_MASS].mean(), **scored.groupby("group")[OTHER_MASS].mean()}
    return SetAnalysis(
        result, accuracy, per_class.drop(columns=["run_id", "test_set"]), other, gaps
    )


def analyse(results: AuditResults) -> list[SetAnalysis]:
    """Every test set's figures; gap p-values Holm-corrected across the test sets."""
    rng = np.random.default_rng(results.spec.seed)
    analyses = [analyse_set(s, n_resamples=results.spec.n_resamples, rng=rng) for s in results.sets]
    with_gap = [a for a in analyses if a.gaps is not None]
    for measure in MEASURES:
        adjusted = holm([a.gap(measure).p_value for a in with_gap])
        for analysis, p in zip(with_gap, adjusted, strict=True):
            analysis.p_holm[measure] = float(p)
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
        counts = a.accuracy[a.accuracy["measure"] == PLAIN].set_index("group")["n_images"]
        rows.append(
            {
                "test set": r.name,
                "images scored": f"{int(counts['all']):,}",
                "per group": ", ".join(
                    f"{g} {int(counts[g]):,}" for g in counts.index if g != "all"
                ),
                "emotions scored": ", ".join(r.shared),
                "left out": "; ".join(f"{n:,} {why}" for why, n in r.left_out.items()) or "none",
                "mass on other emotions %": pp(a.other_mass["all"]),
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


def _gap_words(gap: pd.Series, first: str, second: str, measure: str) -> str:
    """ "emotion-standardised accuracy was 3.2 pp (95% CI -1.0 to 7.4) higher on female than
    on male faces (81.0% vs 77.8%)", the CI turned with the words."""
    sign = -1 if gap.gap < 0 else 1
    low, high = sorted((sign * gap.gap_low, sign * gap.gap_high))
    ci = f"95% CI {pp(low)} to {pp(high)}"
    rates = f"{pp(gap.first_accuracy)}% vs {pp(gap.second_accuracy)}%"
    label = MEASURE_LABELS[measure]
    if pp(abs(gap.gap)) == "0.0":
        return f"{label} was the same on {first} and {second} faces (0.0 pp, {ci}; {rates})"
    words = "higher" if sign > 0 else "lower"
    size = f"{pp(abs(gap.gap))} pp ({ci})"
    return f"{label} was {size} {words} on {first} than on {second} faces ({rates})"


def _verdict(a: SetAnalysis) -> str:
    r = a.result
    if a.gaps is None:
        group = r.groups[0]
        row = a.accuracy_of(group)
        return (
            f"{r.name}: one group only ({group}, {int(row.n_images):,} images): accuracy "
            f"{pp(row.accuracy)}% (95% CI {pp(row.low)} to {pp(row.high)}); no gap can be "
            "estimated."
        )
    first, second = r.groups[:2]
    headline, plain = a.gap(STANDARDISED), a.gap(PLAIN)
    significant = "significant" if a.p_holm[STANDARDISED] < SIGNIFICANCE else "not significant"
    return (
        f"{r.name}: {_gap_words(headline, first, second, STANDARDISED)}; {significant} after "
        f"Holm correction across test sets (permutation p {p_text(headline.p_value)}, Holm p "
        f"{p_text(a.p_holm[STANDARDISED])}). Plain accuracy gap: {signed_pp(plain.gap)} pp "
        f"(95% CI {pp(plain.gap_low)} to {pp(plain.gap_high)}; Holm p {p_text(a.p_holm[PLAIN])})."
    )


def verdict_blocks(analyses: list[SetAnalysis]) -> list:
    blocks: list = [Heading("Verdicts"), *(Paragraph(_verdict(a)) for a in analyses)]
    blocks.append(
        Paragraph(
            "Emotion-standardised accuracy weights each group's images to the same emotion mix "
            "(the pooled mix of the set), so a gap is not an artefact of one group posing more "
            "easy emotions. CIs resample subjects (clusters); p-values swap whole subjects' "
            "group labels."
        )
    )
    blocks.append(Heading("Power"))
    for a in analyses:
        if a.gaps is None:
            blocks.append(Paragraph(f"{a.result.name}: one group; no gap to detect."))
            continue
        first, second = a.result.groups[:2]
        row = a.gap(PLAIN)
        n_a, n_b = int(row.n_first), int(row.n_second)
        detectable = minimum_detectable_gap(n_a, n_b, DEFAULT_BASE_ACCURACY, ALPHA, POWER)
        blocks.append(
            Paragraph(
                f"{a.result.name}: with {n_a:,} {first} and {n_b:,} {second} images, a two-sided "
                f"two-proportion test at alpha {ALPHA:g} has {100 * POWER:.0f}% power to detect "
                f"an accuracy gap of {detectable:.1f} pp or more (base accuracy "
                f"{pp(DEFAULT_BASE_ACCURACY)}%); smaller true gaps may go unseen."
            )
        )
    return blocks


def result_blocks(analyses: list[SetAnalysis]) -> list:
    rows = []
    for a in analyses:
        table = a.accuracy.set_index(["group", "measure"])
        for group in [*a.result.groups, "all"]:
            row = {"test set": a.result.name, "group": group}
            row["images"] = int(table.loc[(group, PLAIN), "n_images"])
            for measure in MEASURES:
                cell = table.loc[(group, measure)]
                row[f"{MEASURE_LABELS[measure]} % (95% CI)"] = with_ci(
                    cell.accuracy, cell.low, cell.high
                )
            row["mass on other emotions %"] = pp(a.other_mass[group])
            rows.append(row)
    gaps = []
    for a in (a for a in analyses if a.gaps is not None):
        for measure in MEASURES:
            gap = a.gap(measure)
            gaps.append(
                {
                    "test set": a.result.name,
                    "measure": MEASURE_LABELS[measure],
                    f"{gap['first']} - {gap['second']}, pp (95% CI)": with_ci(
                        gap.gap, gap.gap_low, gap.gap_high
                    ),
                    "p (permutation)": p_text(gap.p_value),
                    "p (Holm)": p_text(a.p_holm[measure]),
                }
            )
    per_class = pd.concat([a.per_class.assign(test_set=a.result.name) for a in analyses])
    per_class = per_class[per_class["support"] > 0]
    wide = per_class.pivot_table(
        index=["test_set", "emotion"], columns="group", values=["recall", "precision"], sort=False
    )
    wide = (100 * wide).round(1).astype(object).where(wide.notna(), "-")
    wide.columns = [f"{metric} {group} %" for metric, group in wide.columns]
    blocks = [
        Heading("Results"),
        Table(pd.DataFrame(rows), "Per test set and group; CI: bootstrap over subjects."),
    ]
    if gaps:
        blocks.append(Table(pd.DataFrame(gaps), "Group gaps; Holm across test sets per measure."))
    wide = wide.reset_index().rename(columns={"test_set": "test set"})
    return [*blocks, Table(wide, "Per-emotion recall and precision by group (%).")]


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
