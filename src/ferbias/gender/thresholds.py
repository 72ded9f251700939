"""Confidence thresholds chosen on gold faces for an accuracy target: one, or one per gender.

Every pair (female threshold, male threshold) on a 0.005 grid is scored on the gold faces at once:
coverage, accuracy among the labelled, error on women (labelled women called male), error on men,
and coverage of each gender. The accuracy used for the choice is the *running minimum* over all
stricter pairs, so a lucky dip in a noisy curve is never chosen: a pair qualifies only if every
pair at least as strict also reaches the target.

The rule: the single threshold with the highest coverage whose running-minimum accuracy reaches
the target. If it leaves the error on women and on men more than ``ERROR_GAP`` apart, or their
coverage more than ``COVERAGE_GAP`` apart, the pair with the highest coverage that reaches the
target within both gaps is chosen instead (per-gender thresholds); where no pair fits both gaps,
the qualifying pair with the smallest gaps (relative to their limits) is taken, and the reason
says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ferbias.gender.base import Thresholds

GRID = np.round(np.arange(0.5, 1.0 + 1e-9, 0.005), 3)
ERROR_GAP = 0.02  # error on women vs on men, at most 2 pp apart (issue 9's goal)
COVERAGE_GAP = 0.05  # coverage of women vs of men, at most 5 pp apart
TARGETS = (0.95, 0.96, 0.97, 0.98, 0.99)
METRICS = (
    "coverage",
    "accuracy",
    "error_female",
    "error_male",
    "coverage_female",
    "coverage_male",
)
BAD_TRUTH = "gold truth must be 'female' or 'male' for every face; got {bad}"
NO_THRESHOLD = "no thresholds reach accuracy {target} on these {n} gold faces (best {best:.4f})"


@dataclass(frozen=True)
class ThresholdChoice:
    """The thresholds for one accuracy target and what they did on the faces they were chosen on."""

    target: float
    thresholds: Thresholds
    per_gender: bool
    reason: str
    fit: dict[str, float]  # n, coverage, accuracy, error/coverage of women and men

    def to_dict(self) -> dict:
        record = asdict(self)
        record["thresholds"] = {"female": self.thresholds.female, "male": self.thresholds.male}
        return record

    @classmethod
    def from_dict(cls, record: dict) -> ThresholdChoice:
        pair = record["thresholds"]
        return cls(
            target=float(record["target"]),
            thresholds=Thresholds(float(pair["female"]), float(pair["male"])),
            per_gender=bool(record["per_gender"]),
            reason=str(record["reason"]),
            fit={k: float(v) for k, v in record["fit"].items()},
        )


@dataclass(frozen=True)
class PairGrid:
    """Metrics of every (female threshold i, male threshold j) pair: 2-D arrays over ``GRID``."""

    n: int
    coverage: np.ndarray
    accuracy: np.ndarray
    safe_accuracy: np.ndarray  # running minimum over all stricter pairs
    error_female: np.ndarray
    error_male: np.ndarray
    coverage_female: np.ndarray
    coverage_male: np.ndarray

    def metrics(self, i: int, j: int) -> dict[str, float]:
        return {"n": float(self.n), **{k: float(getattr(self, k)[i, j]) for k in METRICS}}

    def gaps(self) -> tuple[np.ndarray, np.ndarray]:
        """|error on women - error on men| and |coverage of women - of men| per pair."""
        error = np.abs(self.error_female - self.error_male)
        return np.nan_to_num(error, nan=1.0), np.abs(self.coverage_female - self.coverage_male)


def _truth(y_true) -> np.ndarray:
    y = np.asarray(y_true, dtype=object)
    bad = sorted(set(y) - {"female", "male"}, key=str)
    if bad:
        raise ValueError(BAD_TRUTH.format(bad=bad[:5]))
    return y


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.full(np.broadcast(num, den).shape, np.nan), where=den > 0)


def pair_grid(y_true, p_female, grid: np.ndarray = GRID) -> PairGrid:
    """Score every threshold pair of ``grid`` on the gold faces (``y_true`` female/male)."""
    y = _truth(y_true)
    p = np.asarray(p_female, dtype=float)
    women, men = y == "female", y == "male"
    says_female = (p > 0.5)[:, None] & (p[:, None] >= grid[None, :])
    says_male = (p < 0.5)[:, None] & ((1 - p)[:, None] >= grid[None, :])
    women_f, men_f = says_female[women].sum(0), says_female[men].sum(0)  # per female threshold
    women_m, men_m = says_male[women].sum(0), says_male[men].sum(0)  # per male threshold
    labelled_women = women_f[:, None] + women_m[None, :]
    labelled_men = men_f[:, None] + men_m[None, :]
    labelled = labelled_women + labelled_men
    accuracy = _ratio(women_f[:, None] + men_m[None, :], labelled)
    return PairGrid(
        n=len(y),
        coverage=labelled / max(len(y), 1),
        accuracy=accuracy,
        safe_accuracy=running_minimum(np.nan_to_num(accuracy, nan=1.0)),
        error_female=_ratio(np.broadcast_to(women_m[None, :], labelled.shape), labelled_women),
        error_male=_ratio(np.broadcast_to(men_f[:, None], labelled.shape), labelled_men),
        coverage_female=labelled_women / max(int(women.sum()), 1),
        coverage_male=labelled_men / max(int(men.sum()), 1),
    )


def running_minimum(values: np.ndarray) -> np.ndarray:
    """``out[i, j] = min(values[i:, j:])``: the worst over every pair at least as strict."""
    flipped = values[::-1, ::-1]
    out = np.minimum.accumulate(np.minimum.accumulate(flipped, axis=0), axis=1)
    return out[::-1, ::-1]


def choose_thresholds(
    y_true, p_female, *, target: float, grid: np.ndarray = GRID
) -> ThresholdChoice:
    """Thresholds for ``target`` accuracy on these gold faces (see the module docstring)."""
    table = pair_grid(y_true, p_female, grid)
    reaches = (table.safe_accuracy >= target) & (table.coverage > 0)  # labelling none is no choice
    if not reaches.any():
        raise ValueError(
            NO_THRESHOLD.format(
                target=target, n=table.n, best=float(np.nanmax(table.accuracy, initial=0.0))
            )
        )
    error_gap, coverage_gap = table.gaps()
    diagonal = np.flatnonzero(np.diag(reaches))
    if len(diagonal):
        k = int(diagonal[0])  # the lowest qualifying threshold covers the most faces
        if error_gap[k, k] <= ERROR_GAP and coverage_gap[k, k] <= COVERAGE_GAP:
            reason = (
                f"one threshold: errors {_pct(table.error_female[k, k])} / "
                f"{_pct(table.error_male[k, k])} on women / men, coverage "
                f"{_pct(table.coverage_female[k, k])} / {_pct(table.coverage_male[k, k])}"
            )
            return _choice(table, grid, target, (k, k), reason)
        single = (
            f"one threshold ({grid[k]:g}) would leave errors {_pct(table.error_female[k, k])} / "
            f"{_pct(table.error_male[k, k])} and coverage {_pct(table.coverage_female[k, k])} / "
            f"{_pct(table.coverage_male[k, k])} on women / men; "
        )
    else:
        single = "no single threshold reaches the target; "
    symmetric = reaches & (error_gap <= ERROR_GAP) & (coverage_gap <= COVERAGE_GAP)
    if symmetric.any():
        i, j = _best(np.where(symmetric, table.coverage, -1.0))
        reason = single + "per-gender thresholds within both gaps, highest coverage"
    else:
        worst_gap = np.maximum(error_gap / ERROR_GAP, coverage_gap / COVERAGE_GAP)
        i, j = _best(np.where(reaches, -worst_gap + 1e-6 * table.coverage, -np.inf))
        reason = single + "no pair fits both gaps: per-gender thresholds with the smallest gaps"
    return _choice(table, grid, target, (i, j), reason)


def _best(score: np.ndarray) -> tuple[int, int]:
    i, j = np.unravel_index(int(np.argmax(score)), score.shape)
    return int(i), int(j)


def _choice(
    table: PairGrid, grid: np.ndarray, target: float, pair: tuple[int, int], reason: str
) -> ThresholdChoice:
    i, j = pair
    thresholds = Thresholds(float(grid[i]), float(grid[j]))
    return ThresholdChoice(target, thresholds, i != j, reason, table.metrics(i, j))


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"
