"""Figures of an experiment: pure functions DataFrame -> matplotlib Figure (never shown).

Figures are built with ``matplotlib.figure.Figure`` directly, not pyplot: no backend is chosen,
no global figure registry grows, and saving renders with Agg.

Inputs are the tables of :mod:`ferbias.analysis.stats` and :mod:`ferbias.analysis.metrics`;
accuracies are fractions and are drawn in percent.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

GROUP_COLOURS = {"female": "#c2185b", "male": "#1565c0", "mixed": "#6d6d6d", "all": "#2e7d32"}
FALLBACK_COLOURS = matplotlib.colormaps["tab10"].colors
EMPTY_TABLE = "{what}: the table is empty; nothing to plot"


def colour(name: str, index: int = 0) -> str:
    """A stable colour per group name (tab10 for names without one)."""
    return GROUP_COLOURS.get(name, FALLBACK_COLOURS[index % len(FALLBACK_COLOURS)])


def condition_label(frame: pd.DataFrame) -> pd.Series:
    """ "variant" when one model is used, else "model/variant"."""
    if frame["model"].nunique() > 1:
        return frame["model"].astype(str) + "/" + frame["variant"].astype(str)
    return frame["variant"].astype(str)


def _figure(nrows: int, ncols: int, *, figsize, **kwargs):
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def _require(frame: pd.DataFrame, what: str) -> None:
    if frame.empty:
        raise ValueError(EMPTY_TABLE.format(what=what))


def plot_variant_metrics(transfer: pd.DataFrame, cells: dict[str, tuple[str, str]]) -> Figure:
    """The study's Fig 3-10 in one chart: per variant, accuracy (top) and cross-entropy (bottom)
    of each train group's models on each group's in-distribution test images, with 95% CI bars."""
    keys = {(test_set, test_group): g for g, (test_set, test_group) in cells.items()}
    rows = transfer[
        [(s, g) in keys for s, g in zip(transfer.test_set, transfer.test_group, strict=True)]
    ]
    _require(rows, "plot_variant_metrics")
    rows = rows.assign(
        condition=condition_label(rows),
        tested=[keys[(s, g)] for s, g in zip(rows.test_set, rows.test_group, strict=True)],
    )
    conditions = list(dict.fromkeys(rows["condition"]))
    bars = list(dict.fromkeys(zip(rows["train_group"], rows["tested"], strict=True)))
    fig, axes = _figure(2, 1, figsize=(max(8, 1.4 * len(conditions) + 2), 7.5), sharex=True)
    width = 0.8 / len(bars)
    x = np.arange(len(conditions))
    for ax, (metric, scale, label) in zip(
        axes,
        (("accuracy", 100, "accuracy (%)"), ("cross_entropy", 1, "cross-entropy")),
        strict=True,
    ):
        for i, (trained, tested) in enumerate(bars):
            part = (
                rows[(rows.train_group == trained) & (rows.tested == tested)]
                .set_index("condition")
                .reindex(conditions)
            )
            value = part[metric].to_numpy() * scale
            # A zero-width interval can come out a rounding error below zero.
            err = np.clip(
                np.vstack(
                    [value - part[f"{metric}_low"] * scale, part[f"{metric}_high"] * scale - value]
                ),
                0,
                None,
            )
            ax.bar(
                x + (i - (len(bars) - 1) / 2) * width,
                value,
                width,
                yerr=err,
                capsize=2,
                color=colour(trained, i),
                alpha=1.0 if trained == tested else 0.45,
                hatch=None if tested == next(iter(cells)) else "//",  # second group's faces
                edgecolor="black",
                linewidth=0.4,
                label=f"{trained} model on {tested} faces",
            )
        ax.set_ylabel(label)
        ax.set_ylim(0, 1.1 * np.nanmax(rows[f"{metric}_high"]) * scale)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, ncol=3, loc="lower center", frameon=False)
    axes[1].set_xticks(x, conditions, rotation=30, ha="right")
    axes[0].set_title("Own vs other group: accuracy and loss per variant (95% CI)")
    fig.tight_layout(rect=(0, 0.09, 1, 1))  # the legend sits below the axes
    return fig


def _cell_name(test_set: str, test_group: str) -> str:
    return test_set if test_group == "all" else f"{test_set}\n{test_group}"


def _ci_text(row: pd.Series) -> str:
    low, high = 100 * row.accuracy_low, 100 * row.accuracy_high
    return f"{100 * row.accuracy:.1f}\n[{low:.1f}, {high:.1f}]"


HEATMAP_MAX_WIDTH = 9.5  # inches: 1,045 px at the report's 110 dpi, shown 1:1 in the page


def plot_transfer_heatmap(transfer: pd.DataFrame) -> Figure:
    """Plain accuracy % [95% CI] in one grid: a row per condition x train group, a column per
    test cell; text large enough to read at 100% zoom in the report (at most 9.5 in wide).
    A model's own group's cells are bold."""
    _require(transfer, "plot_transfer_heatmap")
    frame = transfer.assign(condition=condition_label(transfer))
    frame = frame.assign(
        cell=[_cell_name(s, g) for s, g in zip(frame.test_set, frame.test_group, strict=True)]
    )
    rows = list(dict.fromkeys(zip(frame.condition, frame.train_group, strict=True)))
    cells = list(dict.fromkeys(frame["cell"]))
    grid = np.full((len(rows), len(cells)), np.nan)
    indexed = frame.set_index(["condition", "train_group", "cell"])
    width = min(HEATMAP_MAX_WIDTH, 2.6 + 1.15 * len(cells))
    fig, ax = _figure(1, 1, figsize=(width, 0.5 * len(rows) + 1.4))
    fontsize = 9 if (width - 2.6) / len(cells) >= 1.0 else 7.5
    low, high = 100 * frame["accuracy"].min(), 100 * frame["accuracy"].max()
    for (i, (condition, group)), (j, cell) in itertools.product(enumerate(rows), enumerate(cells)):
        if (condition, group, cell) not in indexed.index:
            continue
        row = indexed.loc[(condition, group, cell)]
        grid[i, j] = 100 * row.accuracy
        dark = grid[i, j] > (low + high) / 2
        own = row.test_group == group
        ax.text(
            j,
            i,
            _ci_text(row),
            ha="center",
            va="center",
            fontsize=fontsize,
            color="white" if dark else "black",
            fontweight="bold" if own else "normal",
        )
    ax.imshow(grid, cmap="Greens", vmin=low - 0.15 * (high - low), vmax=high, aspect="auto")
    ax.set_xticks(range(len(cells)), cells, fontsize=9)
    ax.xaxis.tick_top()
    ax.set_yticks(range(len(rows)), [f"{c} | {g} model" for c, g in rows], fontsize=9)
    starts = [i for i in range(1, len(rows)) if rows[i][0] != rows[i - 1][0]]
    for i in starts:
        ax.axhline(i - 0.5, color="white", linewidth=3)
    ax.set_title("Transfer matrix: plain accuracy % [95% CI]", fontsize=11, pad=28)
    fig.tight_layout()
    return fig


FOREST_STYLE = {  # measure -> marker face, colour, vertical offset, label
    "accuracy": ("none", "#777777", -0.16, "plain accuracy"),
    "standardised_accuracy": ("#1b5e20", "#1b5e20", 0.16, "emotion-standardised accuracy"),
    "balanced_accuracy": ("#e65100", "#e65100", 0.0, "balanced accuracy"),
}


def _forest_panel(ax, part: pd.DataFrame, labels: list[str]) -> None:
    y = {label: i for i, label in enumerate(labels)}
    for measure, rows in part.groupby("measure", sort=False):
        face, colour_, offset, name = FOREST_STYLE[measure]
        ys = rows["label"].map(y).to_numpy() + offset
        value = 100 * rows["estimate"].to_numpy()
        err = np.vstack([value - 100 * rows["low"].to_numpy(), 100 * rows["high"] - value])
        err = np.clip(err, 0.0, None)  # an estimate at a bound of its interval: no negative bars
        ax.errorbar(
            value, ys, xerr=err, fmt="o", mfc=face, color=colour_, capsize=2, ms=5, label=name
        )
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(labels)), labels, fontsize=9)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.grid(axis="x", alpha=0.3)


def plot_forest(
    frame: pd.DataFrame, *, title: str, xlabel: str, panel: str | None = None
) -> Figure:
    """Estimates with 95% CIs, one row per ``label``, one marker per ``measure`` (plain open,
    standardised filled), optionally one panel per value of column ``panel``. Columns: label,
    measure, estimate, low, high (fractions, drawn in percentage points)."""
    _require(frame, "plot_forest")
    labels = list(dict.fromkeys(frame["label"]))
    panels = list(dict.fromkeys(frame[panel])) if panel else [None]
    ncols = min(3, len(panels))
    nrows = int(np.ceil(len(panels) / ncols))
    height = nrows * (0.42 * len(labels) + 0.9) + 1.0
    fig = Figure(figsize=(min(10.0, 4.2 + 2.6 * ncols), height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True)
    for index, (ax, name) in enumerate(zip(axes.flat, panels, strict=False)):
        part = frame if name is None else frame[frame[panel] == name]
        _forest_panel(ax, part, labels)
        ax.tick_params(labelleft=index % ncols == 0)
        if name is not None:
            ax.set_title(name, fontsize=10)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(xlabel)
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(
        handles,
        names,
        loc="outside upper center",
        ncol=len(names),
        frameon=False,
        title=title,
        title_fontproperties={"size": 11},
    )
    return fig


def plot_recall_by_group(per_class: pd.DataFrame) -> Figure:
    """Per-emotion recall by test group; one panel per train group. Columns: train_group,
    test_group, emotion, recall (already averaged over runs)."""
    _require(per_class, "plot_recall_by_group")
    trained = list(dict.fromkeys(per_class["train_group"]))
    emotions = list(dict.fromkeys(per_class["emotion"]))
    tested = list(dict.fromkeys(per_class["test_group"]))
    fig, axes = _figure(
        1, len(trained), figsize=(4.5 * len(trained), 3.8), sharey=True, squeeze=False
    )
    width = 0.8 / len(tested)
    x = np.arange(len(emotions))
    for ax, group in zip(axes[0], trained, strict=True):
        part = per_class[per_class.train_group == group]
        for i, test_group in enumerate(tested):
            values = (
                part[part.test_group == test_group].set_index("emotion")["recall"].reindex(emotions)
            )
            ax.bar(
                x + (i - (len(tested) - 1) / 2) * width,
                100 * values.to_numpy(),
                width,
                color=colour(test_group, i),
                label=f"{test_group} faces",
            )
        ax.set_xticks(x, emotions, rotation=30, ha="right")
        ax.set_title(f"{group}-trained models")
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].set_ylabel("recall (%)")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Per-emotion recall by test group (equal opportunity)")
    fig.tight_layout()
    return fig


def plot_confusion_matrices(matrices: dict[str, pd.DataFrame]) -> Figure:
    """Row-normalised confusion matrices, one panel per model group (name -> true x predicted)."""
    if not matrices:
        raise ValueError(EMPTY_TABLE.format(what="plot_confusion_matrices"))
    fig, axes = _figure(1, len(matrices), figsize=(4.2 * len(matrices), 4), squeeze=False)
    for ax, (name, matrix) in zip(axes[0], matrices.items(), strict=True):
        values = matrix.to_numpy(dtype=float)
        ax.imshow(values, cmap="Blues", vmin=0, vmax=1)
        for i, j in np.ndindex(values.shape):
            ax.text(
                j,
                i,
                f"{values[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=6,
                color="white" if values[i, j] > 0.6 else "black",
            )
        ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(matrix.shape[0]), matrix.index, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_title(name, fontsize=9)
    axes[0, 0].set_ylabel("true")
    fig.tight_layout()
    return fig


def plot_learning_curves(
    histories: pd.DataFrame, *, band: Sequence[str] = ("min", "max")
) -> Figure:
    """Train (solid) and validation (dashed) loss and accuracy per epoch: one row per condition,
    one line per train group, mean over seeds with a min-max band."""
    _require(histories, "plot_learning_curves")
    frame = histories.assign(condition=condition_label(histories))
    conditions = list(dict.fromkeys(frame["condition"]))
    fig, axes = _figure(
        len(conditions), 2, figsize=(10, 2.6 * len(conditions) + 0.6), squeeze=False
    )
    for row, condition in zip(axes, conditions, strict=True):
        part = frame[frame.condition == condition]
        for i, (group, runs) in enumerate(part.groupby("train_group", sort=True)):
            for ax, metric in zip(row, ("loss", "acc"), strict=True):
                for split, style in (("train", "-"), ("val", "--")):
                    stats = runs.groupby("epoch")[f"{split}_{metric}"].agg(["mean", *band])
                    ax.plot(
                        stats.index,
                        stats["mean"],
                        style,
                        color=colour(group, i),
                        label=f"{group} {split}",
                    )
                    ax.fill_between(
                        stats.index,
                        stats[band[0]],
                        stats[band[1]],
                        color=colour(group, i),
                        alpha=0.15,
                    )
        row[0].set_ylabel(f"{condition}\nloss")
        row[1].set_ylabel("accuracy")
    axes[0, 1].legend(fontsize=7, ncol=2)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    fig.suptitle("Learning curves (mean over seeds, band: min-max)")
    fig.tight_layout()
    return fig
