"""ferbias next to the published study: test accuracy per variant, train group and test group,
and last-epoch train / validation accuracy, for the study's CNN and the study's variants."""

from __future__ import annotations

import pandas as pd

from ferbias.analysis.blocks import Heading, Paragraph, Table
from ferbias.analysis.study_results import (
    STUDY_MODEL,
    accuracy_side_by_side,
    train_val_side_by_side,
)
from ferbias.analysis.tables import Analysis


def _train_sizes(counts: object, groups: list[str]) -> str:
    frame = pd.DataFrame(counts) if isinstance(counts, list) and counts else None
    if frame is None or not {"split", "group", "n"} <= set(frame.columns):
        return "a number of images not recorded in experiment.json"
    totals = frame[frame["split"] == "train"].groupby("group")["n"].sum()
    return " / ".join(f"{int(totals.get(g, 0)):,} {g}" for g in groups)


def _test_sizes(a: Analysis) -> str:
    sizes = []
    for group, (test_set, test_group) in (a.cells or {}).items():
        cell = a.scored[(a.scored.test_set == test_set) & (a.scored.test_group == test_group)]
        sizes.append(f"{cell['sample_id'].nunique():,} {group}")
    return " / ".join(sizes)


def design_sentence(a: Analysis) -> str:
    """The study's design and this experiment's, where they can differ."""
    study, record = a.study, a.results.record
    epochs = ((record.get("spec") or {}).get("train") or {}).get("epochs", "?")
    study_train = " / ".join(f"{n:,} {g}" for g, n in study.sizes.get("train", {}).items())
    study_test = " / ".join(f"{n:,} {g}" for g, n in study.test_images.items())
    return (
        f'The study ("{study.source}") trained one model per group and variant on '
        f"{study_train} images and tested on {study_test}. This experiment: {a.seeds} seed(s), "
        f"{epochs} epochs, training on {_train_sizes(record.get('counts'), a.groups)} images "
        f"and testing on {_test_sizes(a)}. Study figures are the paper's percentages; empty "
        "cells are figures the paper does not give. " + " ".join(study.cross_in_words)
    )


def study_blocks(a: Analysis) -> list:
    """The side-by-side tables, when the experiment ran the study's CNN on a study variant."""
    runs = a.results.runs
    ran = runs[(runs["model"] == STUDY_MODEL) & runs["variant"].isin(a.study.variants)]
    if not len(ran) or a.cells is None:
        return []
    blocks = [Heading("ferbias vs the published study"), Paragraph(design_sentence(a))]
    test = accuracy_side_by_side(a.transfer, study=a.study, groups=a.groups, cells=a.cells)
    if len(test):
        blocks.append(Table(test, "Test accuracy: ferbias (plain, 95% CI) and the study."))
    if len(a.results.histories):
        train_val = train_val_side_by_side(a.results.histories, study=a.study, groups=a.groups)
        if len(train_val):
            blocks.append(
                Table(
                    train_val,
                    "Last-epoch training and validation accuracy on the model's own group "
                    "(ferbias: history.csv, mean over seeds).",
                )
            )
    return blocks
