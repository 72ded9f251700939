"""Transfer tables on a hand-built experiment: every number checked by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from ferbias.analysis import standardise, transfer

# correctness of the F-model and the M-model on 4 female then 4 male test images
CORRECT = {"female": [1, 1, 1, 0, 1, 0, 0, 1], "male": [0, 1, 0, 0, 1, 1, 1, 1]}
GROUPS = ["female"] * 4 + ["male"] * 4


def scored(variants=("baseline", "dropout")) -> pd.DataFrame:
    rows = []
    for variant in variants:
        for train_group, correct in CORRECT.items():
            for i, (ok, group) in enumerate(zip(correct, GROUPS, strict=True)):
                rows.append(
                    {
                        "model": "paper-cnn",
                        "variant": variant,
                        "train_group": train_group,
                        "seed": 0,
                        "run_id": f"{train_group}-{variant}",
                        "test_set": "heldout",
                        "test_group": group,
                        "sample_id": f"img{i}",
                        "subject_id": None,
                        "correct": float(ok),
                        "cross_entropy": 1.0 - 0.5 * ok,
                        "y_true": "happy",
                    }
                )
    return pd.DataFrame(rows)


def test_transfer_table_accuracies_by_hand():
    table = transfer.transfer_table(scored(("baseline",)), n_resamples=200)
    cell = table.set_index(["train_group", "test_group"])
    assert cell.loc[("female", "female"), "accuracy"] == pytest.approx(3 / 4)
    assert cell.loc[("female", "male"), "accuracy"] == pytest.approx(2 / 4)
    assert cell.loc[("male", "all"), "accuracy"] == pytest.approx(5 / 8)
    assert cell.loc[("male", "male"), "cross_entropy"] == pytest.approx(0.5)
    assert (table.accuracy_low <= table.accuracy).all() and (
        table.accuracy <= table.accuracy_high
    ).all()


def test_standardised_transfer_table_by_hand():
    """Female images happy x3, angry x1; male happy x1, angry x3; pooled mix 50/50."""
    frame = scored(("baseline",))
    emotions = ["happy"] * 3 + ["angry"] + ["happy"] + ["angry"] * 3  # the 8 images
    frame["y_true"] = np.tile(emotions, 2)  # seen by the female and by the male model
    table = transfer.transfer_table(frame, n_resamples=200).set_index(["train_group", "test_group"])
    female_model = table.loc["female"]
    # on female faces [1, 1, 1, 0]: recall happy 1, angry 0 -> 0.5 (plain 0.75)
    assert female_model.loc["female", "standardised_accuracy"] == pytest.approx(0.5)
    # on male faces [1, 0, 0, 1]: recall happy 1, angry 1/3 -> 2/3 (plain 0.5)
    assert female_model.loc["male", "standardised_accuracy"] == pytest.approx(2 / 3)
    assert female_model.loc["male", "balanced_accuracy"] == pytest.approx(2 / 3)
    # the pooled cell already has the pooled mix
    assert female_model.loc["all", "standardised_accuracy"] == pytest.approx(5 / 8)
    assert (
        female_model.loc["all", "standardised_accuracy_low"]
        == female_model.loc["all", "accuracy_low"]
    )


def test_advantage_comparison_and_mcnemar_by_hand():
    frame = scored()
    cells = transfer.primary_cells(frame, ["female", "male"])
    assert cells == {"female": ("heldout", "female"), "male": ("heldout", "male")}
    every = transfer.advantage_table(frame, cells=cells, n_resamples=200)
    assert list(every.measure.unique()) == [
        "accuracy",
        "standardised_accuracy",
        "balanced_accuracy",
    ]
    # one emotion: every measure is plain accuracy
    for _, part in every.groupby("measure"):
        np.testing.assert_allclose(part.advantage, every[every.measure == "accuracy"].advantage)
    advantage = every[every.measure == "accuracy"]
    row = advantage.iloc[0]
    assert (row.acc_ff, row.acc_fm, row.acc_mf, row.acc_mm) == (0.75, 0.5, 0.25, 1.0)
    assert row.advantage == pytest.approx(0.75 + 1.0 - 0.5 - 0.25)
    p, (low, high) = advantage.p_value.to_numpy(), np.sort(advantage.p_value.to_numpy())
    expected = {low: min(1, 2 * low), high: min(1, max(2 * low, high))}  # Holm, two variants
    assert advantage.p_holm.tolist() == pytest.approx([expected[v] for v in p])
    comparison = transfer.comparison_table(frame, n_resamples=200)
    comparison = comparison[comparison.measure == "accuracy"].set_index(["variant", "test_group"])
    assert comparison.loc[("baseline", "female"), "difference"] == pytest.approx(0.5)
    assert comparison.loc[("baseline", "male"), "difference"] == pytest.approx(-0.5)
    mcnemar = transfer.mcnemar_table(frame).set_index(["variant", "test_group"])
    assert mcnemar.loc[("baseline", "all"), ["b", "c"]].tolist() == [2, 2]
    assert mcnemar.loc[("baseline", "male"), ["b", "c"]].tolist() == [0, 2]


def test_primary_cells_from_suffixed_test_set_names():
    frame = scored(("baseline",))
    frame["test_set"] = "fer2013:" + frame["test_group"]
    cells = transfer.primary_cells(frame, ["female", "male"])
    assert cells == {"female": ("fer2013:female", "female"), "male": ("fer2013:male", "male")}
    with pytest.raises(KeyError, match="no test set holds"):
        transfer.primary_cells(frame.assign(test_set="x", test_group="female"), ["female", "male"])


def test_standardised_advantage_and_its_permutation_p_by_hand():
    """Female faces happy x3 + angry, male faces happy + angry x3 (pooled mix 50/50). By hand:
    standardised F->F 0.5, F->M 2/3, M->F 0.5, M->M 1, advantage 1/3 (plain 1.0). The p-value
    is checked against all 2^8 sign flips of the per-image differences with the fixed weights."""
    frame = scored(("baseline",))
    emotions = np.array(["happy"] * 3 + ["angry"] + ["happy"] + ["angry"] * 3)
    male_model = [0, 0, 0, 1, 1, 1, 1, 1]
    frame.loc[frame.train_group == "male", "correct"] = np.array(male_model, dtype=float)
    frame["y_true"] = np.tile(emotions, 2)
    table = transfer.advantage_table(frame, n_resamples=20_000).set_index("measure")
    std = table.loc["standardised_accuracy"]
    assert (std.acc_ff, std.acc_fm, std.acc_mf, std.acc_mm) == pytest.approx((0.5, 2 / 3, 0.5, 1))
    assert std.advantage == pytest.approx(1 / 3)
    assert table.loc["accuracy", "advantage"] == pytest.approx(1.0)

    weights = standardise.standardising_weights(emotions, GROUPS)
    d = np.array(CORRECT["female"], float) - np.array(male_model, float)
    female = np.arange(8) < 4

    def statistic(signs):
        flipped = signs * d * weights
        return flipped[female].sum() / 4 - flipped[~female].sum() / 4  # weights average 1

    observed = statistic(np.ones(8))
    flips = [statistic(np.array(s)) for s in itertools.product([1, -1], repeat=8)]
    exact = np.mean(np.abs(flips) >= abs(observed) - 1e-12)
    assert observed == pytest.approx(1 / 3) and exact == pytest.approx(0.84375)
    assert std.p_value == pytest.approx(exact, abs=0.015)  # Monte Carlo sd ~0.003
