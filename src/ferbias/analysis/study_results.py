"""The study's published figures next to ferbias's numbers.

The figures live in ``published_study.yaml`` beside this module, copied (with its provenance in
a header comment) from the paper's text: "Gender-Isolation Impact on The Accuracy Detecting
Emotions Using CNN Models". They are percentages, read and validated once by ``load_study``; a
bad entry is refused with an error that names its key (``test_accuracy[3].value``).

Each figure names the variants it may belong to. A figure naming two variants (the paper does
not say which L2 model it means) is ambiguous: it is shown against each candidate, marked with
its ``note``. Cells the paper never reported stay empty; nothing is guessed.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ferbias.analysis.blocks import pp, signed_pp, with_ci

STUDY_FILE = Path(__file__).with_name("published_study.yaml")
STUDY_MODEL = "paper-cnn"  # ferbias's registered name of the study's CNN
BAD_STUDY_FILE = "{path}: {problems}"
NOT_A_MAPPING = "the file must hold a YAML mapping, got {kind}"
DUPLICATE_FIGURE = "two figures name variant {variant!r} for {what}; give each cell one figure"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Figure(_Strict):
    variants: list[str] = Field(min_length=1, description="the ferbias variants it may be")
    note: str = ""

    @property
    def ambiguous(self) -> bool:
        return len(self.variants) > 1

    def remark(self) -> str:
        """The note, prefixed with the candidates when the figure is ambiguous."""
        if not self.ambiguous:
            return self.note
        return f"ambiguous, one of {' / '.join(self.variants)}: {self.note}".rstrip(": ")


class AccuracyFigure(_Figure):
    """One test accuracy (%) of a model trained on ``train`` tested on ``test`` images."""

    train: str
    test: str
    value: float = Field(ge=0, le=100)


class TrainValFigure(_Figure):
    """Last-epoch training and validation accuracy (%) on the model's own group."""

    group: str
    train: float = Field(ge=0, le=100)
    val: float = Field(ge=0, le=100)


class PublishedStudy(_Strict):
    """The content of published_study.yaml."""

    source: str
    test_images: dict[str, int]
    sizes: dict[str, dict[str, int]]
    models_trained: dict[str, int]
    test_accuracy: list[AccuracyFigure]
    cross_in_words: list[str] = Field(default_factory=list)
    train_val: list[TrainValFigure] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_figure_per_cell(self) -> PublishedStudy:
        for figures, what in (
            (self.test_accuracy, lambda f: f"train {f.train!r}, test {f.test!r}"),
            (self.train_val, lambda f: f"group {f.group!r}"),
        ):
            seen = set()
            for figure in figures:
                for variant in figure.variants:
                    key = (variant, what(figure))
                    if key in seen:
                        raise ValueError(DUPLICATE_FIGURE.format(variant=variant, what=key[1]))
                    seen.add(key)
        return self

    @property
    def variants(self) -> set[str]:
        """Every variant some figure may belong to."""
        return {v for f in [*self.test_accuracy, *self.train_val] for v in f.variants}


class StudyFileError(ValueError):
    """published_study.yaml (or a file given instead) is malformed."""


def _key(location: tuple) -> str:
    """('test_accuracy', 3, 'value') -> 'test_accuracy[3].value'."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "(top level)"


def read_study(path: str | Path) -> PublishedStudy:
    """Read and validate a published-figures file; ``StudyFileError`` names each bad key."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(raw, Mapping):
        problem = NOT_A_MAPPING.format(kind=type(raw).__name__)
        raise StudyFileError(BAD_STUDY_FILE.format(path=path, problems=problem))
    try:
        return PublishedStudy.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{_key(e['loc'])}: {e['msg']} (got {e.get('input')!r})" for e in error.errors()
        )
        raise StudyFileError(BAD_STUDY_FILE.format(path=path, problems=problems)) from None


@functools.cache
def load_study() -> PublishedStudy:
    """The study's figures shipped with ferbias (read once)."""
    return read_study(STUDY_FILE)


def _figure_for(figures: Sequence, variant: str, **cell: str):
    for figure in figures:
        if variant in figure.variants and all(getattr(figure, k) == v for k, v in cell.items()):
            return figure
    return None


def _difference(ours: float | None, study: float | None) -> str:
    """ferbias (a fraction) minus the study (a percentage) in signed pp; "" when one is missing."""
    return "" if ours is None or study is None else signed_pp(ours - study / 100)


def accuracy_side_by_side(
    transfer: pd.DataFrame,
    *,
    study: PublishedStudy,
    groups: Sequence[str],
    cells: Mapping[str, tuple[str, str]],
) -> pd.DataFrame:
    """Per study variant that ferbias ran (paper-cnn) x train group x test group: ferbias's
    plain test accuracy % (95% CI) on the test group's in-distribution cell, the study's figure,
    the difference in pp and the figure's note; study cells are empty where the paper is silent."""
    ours = transfer[transfer["model"] == STUDY_MODEL]
    ours = ours.set_index(["variant", "train_group", "test_set", "test_group"])
    variants = sorted(set(ours.index.get_level_values("variant")) & study.variants)
    rows = []
    for variant in variants:
        for train in groups:
            for test in groups:
                key = (variant, train, *cells[test])
                mine = ours.loc[key] if key in ours.index else None
                figure = _figure_for(study.test_accuracy, variant, train=train, test=test)
                if mine is None and figure is None:
                    continue
                estimate = None if mine is None else float(mine["accuracy"])
                rows.append(
                    {
                        "variant": variant,
                        "train group": train,
                        "test group": test,
                        "ferbias % (95% CI)": ""
                        if mine is None
                        else with_ci(estimate, mine["accuracy_low"], mine["accuracy_high"]),
                        "study %": "" if figure is None else f"{figure.value:.2f}",
                        "ferbias - study, pp": _difference(
                            estimate, None if figure is None else figure.value
                        ),
                        "note": "" if figure is None else figure.remark(),
                    }
                )
    return pd.DataFrame(rows)


def last_epoch(histories: pd.DataFrame) -> pd.DataFrame:
    """Per model x variant x train group: last-epoch train and validation accuracy (seed mean)
    and the number of epochs and seeds."""
    last = histories.sort_values("epoch").groupby("run_id", sort=False).tail(1)
    return (
        last.groupby(["model", "variant", "train_group"], sort=True)
        .agg(
            epochs=("epoch", "max"),
            seeds=("seed", "nunique"),
            train_acc=("train_acc", "mean"),
            val_acc=("val_acc", "mean"),
        )
        .reset_index()
    )


def train_val_side_by_side(
    histories: pd.DataFrame, *, study: PublishedStudy, groups: Sequence[str]
) -> pd.DataFrame:
    """Per study variant that ferbias ran (paper-cnn) x group: last-epoch train and validation
    accuracy % of ferbias (from history.csv) and of the study, with the differences in pp."""
    ours = last_epoch(histories).query("model == @STUDY_MODEL")
    ours = ours[ours["variant"].isin(study.variants) & ours["train_group"].isin(groups)]
    rows = []
    for mine in ours.itertuples(index=False):
        figure = _figure_for(study.train_val, mine.variant, group=mine.train_group)
        study_train = None if figure is None else figure.train
        study_val = None if figure is None else figure.val
        rows.append(
            {
                "variant": mine.variant,
                "group": mine.train_group,
                "epochs": int(mine.epochs),
                "ferbias train %": pp(mine.train_acc),
                "study train %": "" if study_train is None else f"{study_train:.2f}",
                "train: ferbias - study, pp": _difference(mine.train_acc, study_train),
                "ferbias val %": pp(mine.val_acc),
                "study val %": "" if study_val is None else f"{study_val:.2f}",
                "val: ferbias - study, pp": _difference(mine.val_acc, study_val),
                "note": "" if figure is None else figure.remark(),
            }
        )
    return pd.DataFrame(rows)
