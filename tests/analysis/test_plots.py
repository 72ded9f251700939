"""Every figure function returns a Figure with the expected panels, without pyplot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from test_report import build_experiment

from ferbias.analysis import plots
from ferbias.analysis import transfer as transfer_tables
from ferbias.analysis.metrics import add_image_scores, confusion_table, load_experiment


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    folder = build_experiment(tmp_path_factory.mktemp("runs") / "exp", seeds=(0,))
    results = load_experiment(folder)
    scored = add_image_scores(results.predictions)
    return results, scored, transfer_tables.transfer_table(scored, n_resamples=50)


def test_variant_metrics_draws_one_bar_per_model_and_test_group(experiment):
    _, scored, transfer = experiment
    cells = transfer_tables.primary_cells(scored, ["female", "male"], "heldout")
    fig = plots.plot_variant_metrics(transfer, cells)
    assert isinstance(fig, Figure)
    accuracy_axis = fig.axes[0]
    # 3 train groups x 2 test groups x 2 variants
    assert len(accuracy_axis.patches) == 12
    heights = sorted(p.get_height() for p in accuracy_axis.patches)
    expected = transfer.merge(pd.DataFrame(cells.values(), columns=["test_set", "test_group"]))
    np.testing.assert_allclose(heights, sorted(100 * expected["accuracy"]))


def test_variant_metrics_draws_zero_width_intervals(experiment):
    _, scored, transfer = experiment
    cells = transfer_tables.primary_cells(scored, ["female", "male"], "heldout")
    degenerate = transfer.assign(
        accuracy_low=transfer["accuracy"] + 1e-12, accuracy_high=transfer["accuracy"] - 1e-12
    )
    fig = plots.plot_variant_metrics(degenerate, cells)
    assert len(fig.axes[0].patches) == 12


def test_heatmap_is_one_readable_grid_with_ci_text(experiment):
    _, _, transfer = experiment
    fig = plots.plot_transfer_heatmap(transfer)
    (ax,) = fig.axes
    rows = len(ax.get_yticklabels())
    assert rows == 2 * 3  # variants x train groups
    assert len(ax.texts) == len(transfer) and all("[" in t.get_text() for t in ax.texts)
    assert min(t.get_fontsize() for t in ax.texts) >= 7.5
    assert fig.get_figwidth() <= plots.HEATMAP_MAX_WIDTH  # shown 1:1 in the report


def test_forest_draws_both_measures_per_label_and_panel():
    frame = pd.DataFrame(
        {
            "label": ["a", "a", "b", "b"] * 2,
            "measure": ["accuracy", "standardised_accuracy"] * 4,
            "estimate": [0.1, 0.05, 0.2, 0.1] * 2,
            "low": [0.0, -0.05, 0.1, 0.0] * 2,
            "high": [0.2, 0.15, 0.3, 0.2] * 2,
            "panel": ["x"] * 4 + ["y"] * 4,
        }
    )
    fig = plots.plot_forest(frame, title="t", xlabel="pp", panel="panel")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 2
    assert [t.get_text() for t in visible[0].get_yticklabels()] == ["a", "b"]
    assert len(visible[0].lines) >= 2  # one marker series per measure (plus the zero line)
    assert fig.legends[0].get_title().get_text() == "t"


def test_recall_confusion_and_learning_curves(experiment):
    results, scored, _ = experiment
    recall = pd.DataFrame(
        {
            "train_group": ["female"] * 4,
            "test_group": ["female", "male"] * 2,
            "emotion": ["happy", "happy", "sad", "sad"],
            "recall": [0.8, 0.7, 0.4, 0.5],
        }
    )
    assert len(plots.plot_recall_by_group(recall).axes[0].patches) == 4
    matrices = {g: confusion_table(f) for g, f in scored.groupby("train_group")}
    assert len(plots.plot_confusion_matrices(matrices).axes) == 3
    curves = plots.plot_learning_curves(results.histories)
    assert len(curves.axes) == 2 * results.runs["variant"].nunique()


def test_empty_tables_are_refused_with_the_function_name():
    with pytest.raises(ValueError, match="plot_transfer_heatmap"):
        plots.plot_transfer_heatmap(pd.DataFrame())
