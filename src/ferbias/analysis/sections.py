"""The content of the report: one analysis of an experiment's saved predictions, as blocks.

What is read from experiment.json (every key optional): ``experiment``, ``spec.description``,
``spec.data.name`` (the held-out test set), ``spec.train.epochs``, ``emotions``, ``group_col``,
``groups``, ``test_sets``, ``counts`` (records group/split/emotion/n), ``label_provenance``
(records), ``power`` (``test_sizes`` {test set: {group: n}}, ``base_accuracy``, ``alpha``,
``power``) and ``published`` (see :mod:`ferbias.analysis.study_results`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure

from ferbias.analysis import plots, stats
from ferbias.analysis import transfer as transfer_tables
from ferbias.analysis.metrics import (
    RUN_COLUMNS,
    ExperimentResults,
    add_image_scores,
    emotion_classes,
    max_rate_gaps,
    metric_tables,
)
from ferbias.analysis.study_results import published_results, side_by_side

DEFAULT_BASE_ACCURACY = 0.5  # the largest gap in pp for a given Cohen's h: the cautious default
ALPHA, POWER = 0.05, 0.8
SIGNIFICANCE = 0.05
DEFAULT_HELDOUT = "heldout"  # the spec's default data.name: the groups' held-out test images


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Table:
    frame: pd.DataFrame
    caption: str = ""


@dataclass(frozen=True)
class FigureBlock:
    name: str
    figure: Figure
    caption: str


@dataclass
class Analysis:
    """Every table the report shows, computed once."""

    name: str
    results: ExperimentResults
    scored: pd.DataFrame
    run_metrics: dict[str, pd.DataFrame]
    transfer: pd.DataFrame
    groups: list[str]
    cells: dict[str, tuple[str, str]] | None
    advantage: pd.DataFrame
    comparison: pd.DataFrame
    mcnemar: pd.DataFrame


def pp(value: float) -> str:
    """A fraction as percent (or percentage points) with one decimal; never "-0.0"."""
    text = f"{100 * value:.1f}"
    return "0.0" if text == "-0.0" else text


def with_ci(estimate: float, low: float, high: float) -> str:
    return f"{pp(estimate)} ({pp(low)} to {pp(high)})"


def p_text(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _groups(record: dict, runs: pd.DataFrame) -> list[str]:
    given = record.get("groups")
    if isinstance(given, list) and given:
        return [str(g) for g in given]
    return sorted(g for g in runs["train_group"].astype(str).unique() if g != "mixed")


def _cells(scored: pd.DataFrame, groups: list[str], record: dict) -> dict | None:
    data = (record.get("spec") or {}).get("data") or {}
    name = data.get("name", DEFAULT_HELDOUT)
    primary = name if name in set(scored["test_set"]) else None
    try:
        cells = transfer_tables.primary_cells(scored, groups, primary)
    except KeyError:
        return None
    present = set(zip(scored["test_set"], scored["test_group"], strict=True))
    return cells if all(cell in present for cell in cells.values()) else None


def analyse(results: ExperimentResults, *, n_resamples: int = 2000, seed: int = 0) -> Analysis:
    """Metrics, transfer table, comparisons and tests of every finished run."""
    record, runs = results.record, results.runs
    scored = add_image_scores(results.predictions)
    keys = runs[list(RUN_COLUMNS)]
    run_metrics = {k: v.merge(keys, on="run_id") for k, v in metric_tables(scored).items()}
    groups = _groups(record, runs)
    cells = _cells(scored, groups, record)
    transfer = transfer_tables.transfer_table(scored, n_resamples=n_resamples, seed=seed)
    empty = pd.DataFrame()
    advantage, comparison, mcnemar = empty, empty, empty
    if cells and len(groups) == 2 and set(groups) <= set(runs["train_group"]):
        first, second = groups
        options = {"n_resamples": n_resamples, "seed": seed}
        advantage = transfer_tables.advantage_table(
            scored, cells=cells, groups=(first, second), **options
        )
        comparison = transfer_tables.comparison_table(scored, first=first, second=second, **options)
        mcnemar = transfer_tables.mcnemar_table(scored, first=first, second=second)
    name = str(record.get("experiment") or results.directory.name)
    return Analysis(
        name, results, scored, run_metrics, transfer, groups, cells, advantage, comparison, mcnemar
    )


def _label(frame: pd.DataFrame) -> pd.Series:
    return plots.condition_label(frame)


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
    table = pd.DataFrame({"setting": list(rows), "value": list(rows.values())})
    blocks = [Heading(f"ferbias report: {a.name}", 1)]
    if spec.get("description"):
        blocks.append(Paragraph(str(spec["description"])))
    return [*blocks, Heading("Setup"), Table(table)]


def _counts_table(counts: object) -> pd.DataFrame | None:
    frame = pd.DataFrame(counts) if isinstance(counts, list) and counts else None
    if frame is None or not {"split", "group", "n"} <= set(frame.columns):
        return frame
    if "emotion" not in frame:
        return frame[["split", "group", "n"]]
    wide = frame.pivot_table(index=["split", "group"], columns="emotion", values="n", aggfunc="sum")
    wide = wide.fillna(0).astype(int)
    wide["total"] = wide.sum(axis=1)
    return wide.reset_index()


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


def _cell_label(test_set: str, test_group: str) -> str:
    return f"{test_set} / {test_group}"


def transfer_wide(transfer: pd.DataFrame) -> pd.DataFrame:
    """Condition x train group rows, one "accuracy % (95% CI)" column per test cell."""
    frame = transfer.assign(
        condition=_label(transfer),
        cell=[
            _cell_label(s, g) for s, g in zip(transfer.test_set, transfer.test_group, strict=True)
        ],
        text=[
            with_ci(*r) for r in transfer[["accuracy", "accuracy_low", "accuracy_high"]].to_numpy()
        ],
    )
    wide = frame.pivot(index=["condition", "train_group"], columns="cell", values="text")
    wide = wide.reindex(columns=list(dict.fromkeys(frame["cell"])))
    return wide.fillna("").reset_index().rename(columns={"train_group": "train group"})


def other_metrics(a: Analysis) -> pd.DataFrame:
    """Seed means of balanced accuracy, macro-F1, cross-entropy and the max TPR/FPR gaps."""
    summary = a.run_metrics["summary"].query("group == 'all'")
    gaps = max_rate_gaps(a.run_metrics["gaps"])
    frame = summary.merge(gaps, on=["run_id", "test_set"])
    columns = ["accuracy", "balanced_accuracy", "macro_f1", "max_tpr_gap", "max_fpr_gap"]
    frame = frame.assign(condition=_label(frame))
    table = frame.groupby(["condition", "train_group", "test_set"])[
        [*columns, "cross_entropy"]
    ].mean()
    table[columns] = (100 * table[columns]).round(1)
    return table.round({"cross_entropy": 3}).reset_index()


def results_blocks(a: Analysis) -> list:
    blocks: list = [Heading("Results")]
    seeds = a.results.runs["seed"].nunique()
    blocks.append(
        Table(
            transfer_wide(a.transfer),
            f"Accuracy % (95% CI) per train group x test "
            f"set / group; mean over {seeds} seed(s); CI: hierarchical bootstrap "
            "(seeds, then test images clustered by subject).",
        )
    )
    blocks.append(
        Table(
            other_metrics(a),
            "Seed means (%, cross-entropy in nats); gaps: largest "
            "per-emotion TPR / FPR difference between test groups.",
        )
    )
    if len(a.advantage):
        f, m = (g[0].upper() for g in a.groups)
        table = a.advantage.assign(condition=_label(a.advantage))
        shown = pd.DataFrame({"condition": table["condition"]})
        for key in ("ff", "fm", "mf", "mm"):
            shown[f"{f if key[0] == 'f' else m}->{f if key[1] == 'f' else m} %"] = table[
                f"acc_{key}"
            ].map(pp)
        shown["in-group advantage pp (95% CI)"] = [
            with_ci(*r) for r in table[["advantage", "low", "high"]].to_numpy()
        ]
        shown["p (permutation)"] = table["p_value"].map(p_text)
        shown["p (Holm)"] = table["p_holm"].map(p_text)
        blocks.append(
            Table(
                shown,
                "2x2 transfer table per variant and the in-group advantage "
                "acc(F->F) + acc(M->M) - acc(F->M) - acc(M->F).",
            )
        )
    if len(a.comparison):
        c = a.comparison
        shown = pd.DataFrame(
            {
                "condition": _label(c),
                "test set / group": [
                    _cell_label(s, g) for s, g in zip(c.test_set, c.test_group, strict=True)
                ],
                f"{a.groups[0]} model - {a.groups[1]} model, pp (95% CI)": [
                    with_ci(*r) for r in c[["difference", "low", "high"]].to_numpy()
                ],
                "p (permutation)": c["p_value"].map(p_text),
                "p (Holm)": c["p_holm"].map(p_text),
            }
        )
        blocks.append(
            Table(shown, "Paired comparison of the two single-group models on each test set.")
        )
    if len(a.mcnemar):
        m = a.mcnemar
        shown = m.assign(condition=_label(m))[
            ["condition", "test_set", "test_group", "seed", "n", "b", "c", "exact"]
        ]
        shown = shown.assign(p=m["p_value"].map(p_text), p_holm=m["p_holm"].map(p_text))
        blocks.append(
            Table(
                shown,
                f"McNemar's test, {a.groups[0]} vs {a.groups[1]} model (b: only the "
                f"{a.groups[0]} model right; c: only the {a.groups[1]} model right; exact "
                "binomial below 25 discordant pairs); Holm across variants.",
            )
        )
    return blocks


def _significance(p: float, p_holm: float) -> str:
    verdict = "significant" if p_holm < SIGNIFICANCE else "not significant"
    return f"{verdict} after Holm correction (p {_equals(p)}, Holm p {_equals(p_holm)})"


def _equals(p: float) -> str:
    """``"= 0.012"`` or ``"< 0.001"``, to follow a "p"."""
    text = p_text(p)
    return f"< {text[1:]}" if text.startswith("<") else f"= {text}"


def _difference_words(row: pd.Series) -> str:
    """ "2.1 pp (95% CI 0.4 to 3.8) more accurate", flipped to "less" for negative gaps."""
    if pp(abs(row.difference)) == "0.0":
        return f"as accurate (0.0 pp, 95% CI {pp(row.low)} to {pp(row.high)})"
    sign = 1 if row.difference > 0 else -1
    low, high = sorted((sign * row.low, sign * row.high))
    size = f"{pp(abs(row.difference))} pp (95% CI {pp(low)} to {pp(high)})"
    return f"{size} {'more' if sign > 0 else 'less'} accurate"


def verdict_sentences(a: Analysis) -> list[str]:
    """Plain-word verdicts per condition: each model comparison on the in-distribution test
    cells, then the in-group advantage."""
    if a.cells is None or not len(a.comparison):
        return ["No verdicts: the experiment lacks models of both groups or their test images."]
    first, second = a.groups
    sentences = []
    comparison = a.comparison.assign(condition=_label(a.comparison))
    advantage = a.advantage.assign(condition=_label(a.advantage)).set_index("condition")
    for condition, rows in comparison.groupby("condition", sort=False):
        for group, (test_set, test_group) in a.cells.items():
            row = rows[(rows.test_set == test_set) & (rows.test_group == test_group)].iloc[0]
            words = _difference_words(row)
            than = "as" if words.startswith("as ") else "than"
            sentences.append(
                f"{condition}: {first}-trained models were {words} on {group} "
                f"faces ({test_set}) {than} {second}-trained models; "
                f"{_significance(row.p_value, row.p_holm)}."
            )
        if condition in advantage.index:
            adv = advantage.loc[condition]
            meaning = "no evidence of an in-group advantage"
            if adv.p_holm < SIGNIFICANCE:
                meaning = (
                    "models did better on their own group"
                    if adv.advantage > 0
                    else "models did better on the other group"
                )
            sentences.append(
                f"{condition}: in-group advantage {pp(adv.advantage)} pp (95% CI {pp(adv.low)} "
                f"to {pp(adv.high)}); {meaning}; {_significance(adv.p_value, adv.p_holm)}."
            )
    return sentences


def published_table(a: Analysis) -> pd.DataFrame:
    """ferbias's accuracy next to the study's for every variant x train group x test group."""
    return side_by_side(
        a.transfer,
        variants=sorted(a.results.runs["variant"].astype(str).unique()),
        groups=a.groups,
        cells=a.cells or {},
        published=published_results(a.results.record),
    )


MIN_SEEDS_FOR_CONCLUSIONS = 3


def seed_caveat(a: Analysis) -> list[str]:
    """A warning when too few seeds were trained to separate a group effect from training noise."""
    seeds = a.results.runs["seed"].nunique()
    if seeds >= MIN_SEEDS_FOR_CONCLUSIONS:
        return []
    return [
        f"Caution: {seeds} seed(s) per condition. Each comparison above pits one trained model "
        "against another, so a gap mixes any group effect with training randomness "
        "(initialisation, data order, augmentation draws), which the p-values cannot see. Read "
        f"these verdicts as descriptive; train at least {MIN_SEEDS_FOR_CONCLUSIONS} seeds "
        "(full.yaml uses 5) before concluding."
    ]


def build_blocks(a: Analysis) -> list:
    """The whole report, top to bottom, except the figures (``report.figure_blocks``)."""
    verdicts = [
        Heading("Verdicts"),
        *(Paragraph(s) for s in seed_caveat(a) + verdict_sentences(a)),
        Paragraph(
            "Reading the numbers: the 95% CI resamples seeds and test images (clustered by "
            "subject), so it includes seed-to-seed variation; the p-values (paired sign-flip "
            "permutation, McNemar) treat the trained models as fixed and ask whether they differ "
            "on these images. Near the 5% line the two can disagree; Holm corrects across variants."
        ),
    ]
    published = [
        Heading("ferbias vs the published study"),
        Table(published_table(a)),
        Paragraph(
            "Study numbers come from ferbias.analysis.study_results or the experiment's "
            "'published' "
            "mapping; 'not given' means neither supplies that cell (none are guessed)."
        ),
    ]
    return [
        *setup_blocks(a),
        *data_blocks(a),
        *power_blocks(a),
        *results_blocks(a),
        *verdicts,
        *published,
    ]
