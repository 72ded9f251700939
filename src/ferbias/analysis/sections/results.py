"""The transfer tables: accuracy per train group x test cell (plain and emotion-standardised),
the 2x2 transfer table and in-group advantage per condition in every measure, and the paired
comparison of the two single-group models on each test cell."""

from __future__ import annotations

import pandas as pd

from ferbias.analysis import plots
from ferbias.analysis.blocks import Heading, Table, p_text, pp, with_ci
from ferbias.analysis.standardise import BALANCED, MEASURE_LABELS, PLAIN, STANDARDISED
from ferbias.analysis.tables import Analysis


def cell_label(test_set: str, test_group: str) -> str:
    return f"{test_set} / {test_group}"


def transfer_wide(transfer: pd.DataFrame, measure: str = PLAIN) -> pd.DataFrame:
    """Condition x train group rows, one "accuracy % (95% CI)" column per test cell."""
    frame = transfer.assign(
        condition=plots.condition_label(transfer),
        cell=[
            cell_label(s, g) for s, g in zip(transfer.test_set, transfer.test_group, strict=True)
        ],
        text=[
            with_ci(*r) for r in transfer[[measure, f"{measure}_low", f"{measure}_high"]].to_numpy()
        ],
    )
    wide = frame.pivot(index=["condition", "train_group"], columns="cell", values="text")
    wide = wide.reindex(columns=list(dict.fromkeys(frame["cell"])))
    wide = wide.fillna("").reset_index().rename(columns={"train_group": "train group"})
    return wide.rename_axis(columns=None)


def _by_measure(table: pd.DataFrame, keys: list[str]) -> dict[str, pd.DataFrame]:
    labelled = table.assign(condition=plots.condition_label(table))
    return {m: part.set_index(keys) for m, part in labelled.groupby("measure", sort=False)}


def advantage_shown(a: Analysis) -> pd.DataFrame:
    """Per condition: the in-group advantage in each measure (95% CI), the share of the plain
    one that the emotion mix accounts for, and p-values (standardised: the verdict's)."""
    measures = _by_measure(a.advantage, ["condition"])
    plain, std, balanced = measures[PLAIN], measures[STANDARDISED], measures[BALANCED]
    ci = ["advantage", "low", "high"]
    return pd.DataFrame(
        {
            "condition": plain.index,
            "seeds": plain["n_seeds"].to_numpy(),
            "plain pp (95% CI)": [with_ci(*r) for r in plain[ci].to_numpy()],
            "plain p (Holm)": plain["p_holm"].map(p_text).to_numpy(),
            "standardised pp (95% CI)": [with_ci(*r) for r in std.loc[plain.index, ci].to_numpy()],
            "standardised p": std.loc[plain.index, "p_value"].map(p_text).to_numpy(),
            "standardised p (Holm)": std.loc[plain.index, "p_holm"].map(p_text).to_numpy(),
            "balanced pp (95% CI)": [with_ci(*r) for r in balanced.loc[plain.index, ci].to_numpy()],
            "emotion mix accounts for, pp": [
                pp(x) for x in plain["advantage"] - std.loc[plain.index, "advantage"]
            ],
        }
    )


def two_by_two(a: Analysis) -> pd.DataFrame:
    """Per condition and measure (plain, standardised): the four transfer accuracies %."""
    f, m = (g[0].upper() for g in a.groups)
    table = a.advantage[a.advantage["measure"].isin([PLAIN, STANDARDISED])]
    shown = pd.DataFrame(
        {
            "condition": plots.condition_label(table),
            "measure": table["measure"].map(MEASURE_LABELS),
        }
    )
    for key in ("ff", "fm", "mf", "mm"):
        name = f"{f if key[0] == 'f' else m}->{f if key[1] == 'f' else m} %"
        shown[name] = table[f"acc_{key}"].map(pp)
    return shown.reset_index(drop=True)


def comparison_shown(a: Analysis) -> pd.DataFrame:
    """Per condition x test cell: the first- minus second-trained model gap in each measure."""
    keys = ["condition", "test_set", "test_group"]
    measures = _by_measure(a.comparison, keys)
    plain, std, balanced = measures[PLAIN], measures[STANDARDISED], measures[BALANCED]
    ci = ["difference", "low", "high"]
    return pd.DataFrame(
        {
            "condition": plain.index.get_level_values("condition"),
            "test set / group": [cell_label(s, g) for _, s, g in plain.index],
            "plain pp (95% CI)": [with_ci(*r) for r in plain[ci].to_numpy()],
            "plain p (Holm)": plain["p_holm"].map(p_text).to_numpy(),
            "standardised pp (95% CI)": [with_ci(*r) for r in std.loc[plain.index, ci].to_numpy()],
            "standardised p": std.loc[plain.index, "p_value"].map(p_text).to_numpy(),
            "standardised p (Holm)": std.loc[plain.index, "p_holm"].map(p_text).to_numpy(),
            "balanced pp (95% CI)": [with_ci(*r) for r in balanced.loc[plain.index, ci].to_numpy()],
        }
    )


def transfer_blocks(a: Analysis) -> list:
    """Accuracy tables, then the in-group advantage and the model comparisons."""
    ci = (
        f"mean over {a.seeds} seed(s); CI: hierarchical bootstrap (seeds, then test images "
        "clustered by subject)"
    )
    blocks: list = [
        Heading("Transfer tables"),
        Table(
            transfer_wide(a.transfer, PLAIN),
            f"Accuracy % (95% CI) per train group x test set / group; {ci}.",
        ),
        Table(
            transfer_wide(a.transfer, STANDARDISED),
            "Emotion-standardised accuracy % (95% CI): each group's images weighted to the "
            "emotion mix of its whole test set (pooled cells and one-group test sets equal plain "
            f"accuracy); {ci}.",
        ),
    ]
    if len(a.advantage):
        blocks += [
            Table(
                advantage_shown(a),
                "In-group advantage acc(F->F) + acc(M->M) - acc(F->M) - acc(M->F) per condition "
                "in each measure; p: paired sign-flip permutation test carrying the weights, "
                "Holm across conditions per measure. The verdicts use the standardised columns.",
            ),
            Table(two_by_two(a), "The 2x2 transfer accuracies behind the in-group advantage."),
        ]
    if len(a.comparison):
        first, second = a.groups
        blocks.append(
            Table(
                comparison_shown(a),
                f"{first}-trained minus {second}-trained model on each test set and group, "
                "paired on the same images; Holm across conditions per test cell and measure.",
            )
        )
    return blocks
