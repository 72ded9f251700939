"""``ensemble``: onnx-cc0 and ferbias-gender combined by a logistic regression on their logits.

P(female) = sigmoid(a * logit(p_onnx) + b * logit(p_cnn) + c), fit on decidable faces of the
in-domain gold's random-fit half with cross-fitted ferbias-gender scores (``gender.domain``), so
P(female) is calibrated on FER-2013 faces and both members count by how well they rank, not by
how spread their scores happen to be. Thresholds for several accuracy targets, chosen on
out-of-fold combiner scores of the same half (``gender.thresholds``), ship with the coefficients
in ``weights/ensemble.json`` together with the data, recipe and command that made them. A tie
(P = 0.5) is never labelled (``base.decide``).

Targeted gold faces (where the old labellers were unsure or disagreed) may join the combiner's
training folds but are never scored for the threshold choice; ``fit_combiner`` keeps them only
if they lower the out-of-fold log loss on the random-fit half, and records both losses.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from ferbias.gender.base import LABELLERS, Labeller, Thresholds, check_pixels
from ferbias.gender.cnn import logit, sigmoid
from ferbias.gender.thresholds import TARGETS, ThresholdChoice, choose_thresholds
from ferbias.io import write_json_atomic
from ferbias.registry import UnknownNameError

DEFAULT_COMBINER = Path(__file__).parent / "weights" / "ensemble.json"
DEFAULT_TARGET = 0.97
FOLDS = 5
MEMBERS = ("onnx-cc0", "ferbias-gender")
MISSING_COMBINER = "combiner {path} not found; fit one with `ferbias gender combine`"
BAD_COMBINER = "combiner {path}: {problem}"
NO_DEFAULT = "the default accuracy target {target} is out of reach on the {n} fit-half faces"
UNKNOWN_TARGET = "no thresholds for accuracy target {target}; this combiner has {targets}"


@dataclass(frozen=True)
class Combiner:
    """Logistic-regression coefficients over the members' logits, and thresholds per target."""

    coef: tuple[float, float]
    intercept: float
    choices: tuple[ThresholdChoice, ...]
    default_target: float = DEFAULT_TARGET
    metadata: dict = field(default_factory=dict)

    def p_female(self, p_onnx: np.ndarray, p_cnn: np.ndarray) -> np.ndarray:
        z = member_features(p_onnx, p_cnn) @ np.asarray(self.coef) + self.intercept
        return sigmoid(z)

    def choice(self, target: float | None = None) -> ThresholdChoice:
        target = self.default_target if target is None else target
        for choice in self.choices:
            if abs(choice.target - target) < 1e-9:
                return choice
        targets = [c.target for c in self.choices]
        raise UnknownNameError(UNKNOWN_TARGET.format(target=target, targets=targets))

    def thresholds(self, target: float | None = None) -> Thresholds:
        return self.choice(target).thresholds

    def to_dict(self) -> dict:
        return {
            "members": list(MEMBERS),
            "coef": list(self.coef),
            "intercept": self.intercept,
            "default_target": self.default_target,
            "thresholds": [c.to_dict() for c in self.choices],
            "metadata": self.metadata,
        }

    def save(self, path: str | os.PathLike) -> Path:
        return write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> Combiner:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(MISSING_COMBINER.format(path=path))
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("members") != list(MEMBERS) or len(record.get("coef", [])) != 2:
            problem = f"expected members {list(MEMBERS)} and two coefficients"
            raise ValueError(BAD_COMBINER.format(path=path, problem=problem))
        return cls(
            coef=tuple(float(c) for c in record["coef"]),
            intercept=float(record["intercept"]),
            choices=tuple(ThresholdChoice.from_dict(c) for c in record["thresholds"]),
            default_target=float(record["default_target"]),
            metadata=record.get("metadata", {}),
        )


def member_features(p_onnx: np.ndarray, p_cnn: np.ndarray) -> np.ndarray:
    """N x 2: the members' logits."""
    return np.column_stack([logit(p_onnx), logit(p_cnn)])


def _fit(x: np.ndarray, female: np.ndarray) -> LogisticRegression:
    # Unpenalised: three numbers fit on a thousand faces need no shrinkage, which would bias
    # the probabilities towards 0.5.
    return LogisticRegression(C=np.inf).fit(x, female)


def out_of_fold(
    x: np.ndarray, female: np.ndarray, *, extra: tuple | None, folds: int, seed: int
) -> np.ndarray:
    """P(female) of every face from a combiner fit without it (``extra`` faces always train)."""
    out = np.empty(len(x))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, held in splitter.split(x, female):
        fit_x, fit_y = x[train], female[train]
        if extra is not None:
            fit_x, fit_y = np.vstack([fit_x, extra[0]]), np.concatenate([fit_y, extra[1]])
        out[held] = _fit(fit_x, fit_y).predict_proba(x[held])[:, 1]
    return out


def log_loss(p: np.ndarray, female: np.ndarray) -> float:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(np.where(female, np.log(p), np.log1p(-p))))


@dataclass(frozen=True)
class CombinerFit:
    """A fitted combiner and the out-of-fold P(female) of the faces its thresholds came from."""

    combiner: Combiner
    out_of_fold: np.ndarray


def fit_combiner(
    p_onnx: np.ndarray,
    p_cnn: np.ndarray,
    truth: np.ndarray,
    *,
    targeted: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    targets: tuple[float, ...] = TARGETS,
    default_target: float = DEFAULT_TARGET,
    folds: int = FOLDS,
    seed: int = 0,
    metadata: dict | None = None,
) -> CombinerFit:
    """Fit on random-fit faces (``truth`` female/male); choose thresholds on their out-of-fold
    scores. ``targeted`` (p_onnx, p_cnn, truth) join training if they lower the OOF log loss."""
    x, female = member_features(p_onnx, p_cnn), np.asarray(truth) == "female"
    extra = None
    if targeted is not None:
        extra = (member_features(targeted[0], targeted[1]), np.asarray(targeted[2]) == "female")
    oof = {"random-fit": out_of_fold(x, female, extra=None, folds=folds, seed=seed)}
    if extra is not None:
        oof["random-fit+targeted"] = out_of_fold(x, female, extra=extra, folds=folds, seed=seed)
    losses = {name: log_loss(p, female) for name, p in oof.items()}
    chosen = min(losses, key=losses.get)
    fit_x, fit_y = x, female
    if chosen != "random-fit":
        fit_x, fit_y = np.vstack([x, extra[0]]), np.concatenate([female, extra[1]])
    model = _fit(fit_x, fit_y)
    choices, unreachable = [], []
    for target in targets:
        try:
            choices.append(choose_thresholds(truth, oof[chosen], target=target))
        except ValueError:
            unreachable.append(target)
    if default_target in unreachable:
        raise ValueError(NO_DEFAULT.format(target=default_target, n=len(truth)))
    record = {
        **(metadata or {}),
        "fit_on": chosen,
        "n_fit": len(fit_y),
        "out_of_fold_log_loss": losses,
        "thresholds_chosen_on": f"out-of-fold scores of {len(female)} decidable random-fit faces",
        "unreachable_targets": unreachable,
    }
    combiner = Combiner(
        coef=(float(model.coef_[0, 0]), float(model.coef_[0, 1])),
        intercept=float(model.intercept_[0]),
        choices=tuple(choices),
        default_target=default_target,
        metadata=record,
    )
    return CombinerFit(combiner, oof[chosen])


class EnsembleLabeller:
    """onnx-cc0 and ferbias-gender, combined (see the module docstring)."""

    name = "ensemble"

    def __init__(self, members: tuple[Labeller, Labeller], combiner_path: str | os.PathLike):
        self.members = members
        self.combiner_path = Path(combiner_path)
        if not self.combiner_path.is_file():
            raise FileNotFoundError(MISSING_COMBINER.format(path=self.combiner_path))

    @cached_property
    def combiner(self) -> Combiner:
        return Combiner.load(self.combiner_path)

    @cached_property
    def version(self) -> str:
        digest = hashlib.sha256(self.combiner_path.read_bytes()).hexdigest()[:12]
        members = " + ".join(f"{m.name}={m.version}" for m in self.members)
        return f"{members}; combiner={self.combiner_path.name}@{digest}"

    @property
    def metadata(self) -> dict:
        return self.combiner.to_dict()

    def member_p_female(self, pixels: np.ndarray) -> list[np.ndarray]:
        check_pixels(pixels)
        return [m.predict_p_female(pixels) for m in self.members]

    def predict_p_female(self, pixels: np.ndarray) -> np.ndarray:
        return self.combiner.p_female(*self.member_p_female(pixels))


@LABELLERS.register("ensemble")
def create_ensemble(
    *, weights: str | None = None, combiner: str | None = None, **onnx_options
) -> EnsembleLabeller:
    """onnx-cc0 + ferbias-gender (``weights``: its safetensors, default packaged), combined by
    ``combiner`` (default: the packaged ``weights/ensemble.json``)."""
    cnn = LABELLERS.create("ferbias-gender", **({"weights": weights} if weights else {}))
    members = (LABELLERS.create("onnx-cc0", **onnx_options), cnn)
    return EnsembleLabeller(members, combiner or DEFAULT_COMBINER)
