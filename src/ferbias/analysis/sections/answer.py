"""The answer first: one paragraph of verdicts, then forest plots of the in-group advantage and
of the model gap per test cell, each showing plain and emotion-standardised accuracy.

Verdicts always use emotion-standardised accuracy (:mod:`ferbias.analysis.standardise`); it
equals plain accuracy when the groups' emotion mixes match, so no switch depends on the data.
"""

from __future__ import annotations

import pandas as pd

from ferbias.analysis import plots
from ferbias.analysis.blocks import FigureBlock, Heading, Paragraph, p_equals, pp, signed_pp
from ferbias.analysis.standardise import PLAIN, STANDARDISED
from ferbias.analysis.tables import Analysis

SIGNIFICANCE = 0.05
MIN_SEEDS_FOR_CONCLUSIONS = 3
FOREST_MEASURES = (PLAIN, STANDARDISED)
NO_VERDICTS = "No verdicts: the experiment lacks models of both groups or their test images."
VERDICT_ANCHOR = "verdict"


def _measure(table: pd.DataFrame, measure: str) -> pd.DataFrame:
    part = table[table["measure"] == measure]
    return part.assign(condition=plots.condition_label(part)).reset_index(drop=True)


def _items(rows: pd.DataFrame) -> str:
    return "; ".join(
        f"{r.condition} {signed_pp(r.advantage)} pp (95% CI {pp(r.low)} to {pp(r.high)})"
        for r in rows.itertuples()
    )


def _advantage_sentence(a: Analysis) -> str:
    std = _measure(a.advantage, STANDARDISED)
    significant = std["p_holm"] < SIGNIFICANCE
    own, other = std[significant & (std.advantage > 0)], std[significant & (std.advantage < 0)]
    none = std[~significant]
    n = len(std)
    parts = [f"models did better on their own group in {len(own)} of {n} condition(s)"]
    parts[0] += f": {_items(own)}" if len(own) else ""
    if len(other):
        parts.append(f"better on the other group in {len(other)}: {_items(other)}")
    if len(none):
        parts.append(f"no evidence of an in-group advantage in {len(none)}: {_items(none)}")
    return (
        "On emotion-standardised accuracy (each group's test images weighted to their pooled "
        f"emotion mix; Holm across {n} condition(s), {a.seeds} seed(s) each), "
        + "; ".join(parts[:1])
        + "".join(f". {p[0].upper()}{p[1:]}" for p in parts[1:])
        + "."
    )


def mix_sentence(a: Analysis) -> str:
    """How much of the plain-accuracy in-group advantage the emotion mix accounts for."""
    plain, std = _measure(a.advantage, PLAIN), _measure(a.advantage, STANDARDISED)
    plain_mean, std_mean = plain["advantage"].mean(), std["advantage"].mean()
    mix = plain_mean - std_mean
    sentence = (
        f"On plain accuracy the advantage averages {pp(plain_mean)} pp over conditions, "
        f"standardised {pp(std_mean)} pp: the emotion mix accounts for {pp(mix)} pp"
    )
    if plain_mean > 0.0005:
        sentence += f" ({100 * mix / plain_mean:.0f}% of it)"
    called = int((plain["p_holm"] < SIGNIFICANCE).sum())
    standing = int((std["p_holm"] < SIGNIFICANCE).sum())
    if called != standing:
        sentence += (
            f"; plain accuracy alone would call {called} condition(s) significant, not {standing}"
        )
    return sentence + "."


def _gap_sentence(a: Analysis) -> str:
    """How often each group's own models beat the other group's on that group's faces."""
    std = _measure(a.comparison, STANDARDISED)
    first, second = a.groups
    parts = []
    for group, sign in ((first, 1), (second, -1)):
        test_set, test_group = a.cells[group]
        cell = std[(std.test_set == test_set) & (std.test_group == test_group)]
        wins = int(((sign * cell.difference > 0) & (cell.p_holm < SIGNIFICANCE)).sum())
        rival = second if group == first else first
        parts.append(
            f"on {group} faces ({test_set}), {group}-trained models were significantly more "
            f"accurate than {rival}-trained ones in {wins} of {len(cell)} condition(s)"
        )
    return f"{parts[0][0].upper()}{parts[0][1:]}; {parts[1]} (standardised, Holm)."


def verdict_paragraph(a: Analysis) -> str:
    """The report's answer in one paragraph."""
    if a.cells is None or not len(a.advantage) or not len(a.comparison):
        return NO_VERDICTS
    return " ".join([_advantage_sentence(a), mix_sentence(a), _gap_sentence(a)])


def seed_caveat(a: Analysis) -> list[str]:
    """A warning when too few seeds were trained to separate a group effect from training noise."""
    if a.seeds >= MIN_SEEDS_FOR_CONCLUSIONS:
        return []
    return [
        f"Caution: {a.seeds} seed(s) per condition. Each comparison pits one trained model "
        "against another, so a gap mixes any group effect with training randomness "
        "(initialisation, data order, augmentation draws), which the p-values cannot see. Read "
        f"these verdicts as descriptive; train at least {MIN_SEEDS_FOR_CONCLUSIONS} seeds "
        "(full.yaml uses 5) before concluding."
    ]


def _forest_rows(table: pd.DataFrame, estimate: str) -> pd.DataFrame:
    """Plain and standardised rows labelled "condition (n seeds)"."""
    rows = table[table["measure"].isin(FOREST_MEASURES)]
    seeds = [f" ({n} seed{'s' * (n != 1)})" for n in rows["n_seeds"]]
    return rows.assign(label=plots.condition_label(rows) + seeds, estimate=rows[estimate])


def forest_blocks(a: Analysis) -> list:
    if not len(a.advantage):
        return []
    advantage = _forest_rows(a.advantage, "advantage")
    first, second = a.groups
    gaps = _forest_rows(a.comparison[a.comparison["test_group"] != "all"], "difference")
    gaps = gaps.assign(panel=gaps["test_set"] + " / " + gaps["test_group"] + " faces")
    return [
        FigureBlock(
            "forest_advantage",
            plots.plot_forest(
                advantage,
                title="In-group advantage: acc(own group) - acc(other group), summed over groups",
                xlabel="in-group advantage (pp), 95% CI",
            ),
            "In-group advantage acc(F->F) + acc(M->M) - acc(F->M) - acc(M->F) per condition "
            "(seed count in brackets): plain accuracy (open) and emotion-standardised (filled), "
            "95% hierarchical bootstrap CI.",
        ),
        FigureBlock(
            "forest_gap",
            plots.plot_forest(
                gaps,
                panel="panel",
                title=f"{first}-trained minus {second}-trained model, per test set and group",
                xlabel="accuracy difference (pp), 95% CI",
            ),
            f"Accuracy of the {first}-trained minus the {second}-trained models on each test set "
            "and group (seed count in brackets): plain (open) and emotion-standardised (filled), "
            "paired 95% CI.",
        ),
    ]


def answer_blocks(a: Analysis) -> list:
    """The first screen: the verdict paragraph, the seed caveat and the forest plots."""
    blocks = [Heading("Answer"), Paragraph(verdict_paragraph(a), anchor=VERDICT_ANCHOR)]
    blocks += [Paragraph(text) for text in seed_caveat(a)]
    return blocks + forest_blocks(a)


def _difference_words(row) -> str:
    """ "2.1 pp (95% CI 0.4 to 3.8) more accurate", flipped to "less" for negative gaps."""
    if pp(abs(row.difference)) == "0.0":
        return f"as accurate (0.0 pp, 95% CI {pp(row.low)} to {pp(row.high)})"
    sign = 1 if row.difference > 0 else -1
    low, high = sorted((sign * row.low, sign * row.high))
    size = f"{pp(abs(row.difference))} pp (95% CI {pp(low)} to {pp(high)})"
    return f"{size} {'more' if sign > 0 else 'less'} accurate"


def _significance(p: float, p_holm: float) -> str:
    verdict = "significant" if p_holm < SIGNIFICANCE else "not significant"
    return f"{verdict} after Holm correction (p {p_equals(p)}, Holm p {p_equals(p_holm)})"


def verdict_sentences(a: Analysis) -> list[str]:
    """Per condition, in standardised accuracy (plain in brackets): each model comparison on
    the in-distribution test cells, then the in-group advantage."""
    if a.cells is None or not len(a.comparison):
        return [NO_VERDICTS]
    first, second = a.groups
    std = _measure(a.comparison, STANDARDISED)
    plain = _measure(a.comparison, PLAIN).set_index(["condition", "test_set", "test_group"])
    advantage = _measure(a.advantage, STANDARDISED).set_index("condition")
    plain_advantage = _measure(a.advantage, PLAIN).set_index("condition")
    sentences = []
    for condition, rows in std.groupby("condition", sort=False):
        for group, (test_set, test_group) in a.cells.items():
            row = rows[(rows.test_set == test_set) & (rows.test_group == test_group)].iloc[0]
            plain_row = plain.loc[(condition, test_set, test_group)]
            words = _difference_words(row)
            than = "as" if words.startswith("as ") else "than"
            sentences.append(
                f"{condition}: {first}-trained models were {words} on {group} faces "
                f"({test_set}) {than} {second}-trained models (plain accuracy: "
                f"{signed_pp(plain_row.difference)} pp); {_significance(row.p_value, row.p_holm)}."
            )
        if condition in advantage.index:
            adv, plain_adv = advantage.loc[condition], plain_advantage.loc[condition]
            meaning = "no evidence of an in-group advantage"
            if adv.p_holm < SIGNIFICANCE:
                better = "their own" if adv.advantage > 0 else "the other"
                meaning = f"models did better on {better} group"
            sentences.append(
                f"{condition}: in-group advantage {pp(adv.advantage)} pp (95% CI {pp(adv.low)} "
                f"to {pp(adv.high)}; plain accuracy {pp(plain_adv.advantage)} pp); {meaning}; "
                f"{_significance(adv.p_value, adv.p_holm)}."
            )
    return sentences


def detail_blocks(a: Analysis) -> list:
    """Every verdict in words, and how to read the intervals and p-values."""
    return [
        Heading("Verdicts in detail"),
        *(Paragraph(s) for s in verdict_sentences(a)),
        Paragraph(
            "Reading the numbers: the 95% CI resamples seeds and test images (clustered by "
            "subject), so it includes seed-to-seed variation; the p-values (paired sign-flip "
            "permutation, McNemar) treat the trained models as fixed and ask whether they differ "
            "on these images. Near the 5% line the two can disagree; Holm corrects across "
            "variants. The standardising weights are fixed from the test images and carried "
            "through every resample and permutation."
        ),
    ]
