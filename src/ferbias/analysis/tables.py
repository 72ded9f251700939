"""Every table the report shows, computed once from an experiment's saved predictions.

What is read from experiment.json (every key optional): ``experiment``, ``spec.description``,
``spec.data.name`` (the held-out test set), ``spec.train.epochs``, ``emotions``, ``group_col``,
``groups``, ``counts`` (records group/split/emotion/n), ``label_provenance`` (records) and
``power`` (``test_sizes`` {test set: {group: n}}, ``base_accuracy``, ``alpha``, ``power``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ferbias.analysis import transfer as transfer_tables
from ferbias.analysis.metrics import (
    RUN_COLUMNS,
    ExperimentResults,
    add_image_scores,
    metric_tables,
)
from ferbias.analysis.study_results import PublishedStudy, load_study

DEFAULT_HELDOUT = "heldout"  # the spec's default data.name: the groups' held-out test images


@dataclass
class Analysis:
    """Every table the report shows, computed once. ``advantage`` and ``comparison`` are long
    tables with a ``measure`` column (:mod:`ferbias.analysis.standardise`); they are empty when
    the experiment lacks models of both groups or their test images."""

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
    study: PublishedStudy

    @property
    def seeds(self) -> int:
        return int(self.results.runs["seed"].nunique())


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
        name,
        results,
        scored,
        run_metrics,
        transfer,
        groups,
        cells,
        advantage,
        comparison,
        mcnemar,
        load_study(),
    )
