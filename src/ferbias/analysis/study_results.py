"""The study's published accuracies, for the side-by-side table of the report.

Shape: variant -> train group -> test group -> accuracy (a fraction; percentages above 1 are
read as percent). The paper is not in this repository, so ``PUBLISHED`` is empty and nothing is
guessed: the published study reports accuracies between about 36% and 53%, but its per-variant
numbers must be copied from the paper. Until then give them per experiment, as a ``published``
mapping of the same shape at the top level of experiment.json or inside its ``spec``; the report
prints "not given" for every cell that neither supplies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

PUBLISHED: dict[str, dict[str, dict[str, float]]] = {}

BAD_PUBLISHED = "published[{variant!r}][{train!r}][{test!r}] = {value!r}: expected a number"


def _as_fraction(value: object, where: tuple[str, str, str]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        variant, train, test = where
        raise ValueError(BAD_PUBLISHED.format(variant=variant, train=train, test=test, value=value))
    return float(value) / 100 if value > 1 else float(value)


def published_results(record: Mapping | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """``PUBLISHED`` overlaid with the ``published`` mapping of an experiment.json record."""
    record = record or {}
    spec = record.get("spec") if isinstance(record.get("spec"), Mapping) else {}
    given = record.get("published") or spec.get("published") or {}
    merged = {v: {t: dict(cells) for t, cells in by.items()} for v, by in PUBLISHED.items()}
    for variant, by_train in given.items():
        for train, by_test in by_train.items():
            for test, value in by_test.items():
                cell = merged.setdefault(str(variant), {}).setdefault(str(train), {})
                cell[str(test)] = _as_fraction(value, (variant, train, test))
    return merged


def _percent(value: float) -> str:
    return f"{100 * value:.1f}"


def side_by_side(
    transfer: pd.DataFrame,
    *,
    variants: Sequence[str],
    groups: Sequence[str],
    cells: Mapping[str, tuple[str, str]],
    published: Mapping,
) -> pd.DataFrame:
    """One row per variant x train group x test group: ferbias's accuracy (95% CI) on the test
    group's in-distribution cell (``cells``), the study's number or "not given", and the gap."""
    table = transfer.set_index(["variant", "train_group", "test_set", "test_group"])
    rows = []
    for variant in variants:
        for train in groups:
            for test in groups:
                key = (variant, train, *cells.get(test, ("", test)))
                ours = table.loc[[key]].iloc[0] if key in table.index else None
                study = published.get(variant, {}).get(train, {}).get(test)
                rows.append(
                    {
                        "variant": variant,
                        "train group": train,
                        "test group": test,
                        "ferbias % (95% CI)": "not run"
                        if ours is None
                        else (
                            f"{_percent(ours.accuracy)} ({_percent(ours.accuracy_low)} to "
                            f"{_percent(ours.accuracy_high)})"
                        ),
                        "study %": "not given" if study is None else _percent(study),
                        "ferbias - study, pp": ""
                        if study is None or ours is None
                        else f"{100 * (ours.accuracy - study):+.1f}",
                    }
                )
    return pd.DataFrame(rows)
