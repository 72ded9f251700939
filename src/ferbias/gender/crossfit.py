"""Cross-fitting: every gold face is scored by a model that never saw it, nor any of its twins.

The faces a model may train on (``trainable``: decidable faces of the training parts) are split
into K folds, stratified by part x consensus and grouped by twin group (exact or near
duplicates stay in one fold). Fold k's model trains on the trainable faces of the other folds and
scores fold k. The final model trains on every trainable face and scores everything else: the
audit half, the faces the annotators could not call, and (outside this module) the rest of
FER-2013. Trainable faces that are twins of a face the final model scores are left out of
training altogether, so the audit never meets a picture the final model saw.

``cross_fit`` checks the promise at run time: before a model scores a face it verifies that no
face of that face's twin group was in the model's training set, and raises otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

FINAL = -1  # fold of the faces only the final model scores
SEEN_FACE = "cross-fitting: model {model!r} would score {n} face(s) whose twin group it trained on"
TOO_FEW = "cross-fitting needs at least {k} trainable faces per class for {k} folds; got {counts}"


@dataclass(frozen=True)
class FoldPlan:
    """Per face: its fold (0..k-1, or ``FINAL``) and whether the final model trains on it."""

    fold: np.ndarray
    trains: np.ndarray  # bool: trainable and no twin among the faces the final model scores
    twin_group: np.ndarray
    k: int

    def training_faces(self, model: str) -> np.ndarray:
        """Indices the model named ``fold-<k>`` or ``final`` trains on."""
        if model == "final":
            return np.flatnonzero(self.trains)
        k = int(model.removeprefix("fold-"))
        return np.flatnonzero(self.trains & (self.fold != k))

    def scored_faces(self, model: str) -> np.ndarray:
        """Indices the model scores (fold k's faces, or every face of fold ``FINAL``)."""
        k = FINAL if model == "final" else int(model.removeprefix("fold-"))
        return np.flatnonzero(self.fold == k)

    def models(self) -> list[str]:
        return [f"fold-{k}" for k in range(self.k)] + ["final"]


def plan_folds(
    trainable: np.ndarray, strata: np.ndarray, twin_group: np.ndarray, *, k: int, seed: int
) -> FoldPlan:
    """Assign trainable faces to ``k`` folds (stratified, twins together); others to ``FINAL``."""
    trainable = np.asarray(trainable, dtype=bool)
    twin_group = np.asarray(twin_group)
    fold = np.full(len(trainable), FINAL, dtype=np.int64)
    counts = pd.Series(np.asarray(strata)[trainable]).value_counts()
    if len(counts) == 0 or counts.min() < k:
        raise ValueError(TOO_FEW.format(k=k, counts=counts.to_dict()))
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    index = np.flatnonzero(trainable)
    for number, (_, held) in enumerate(
        splitter.split(index, np.asarray(strata)[index], twin_group[index])
    ):
        fold[index[held]] = number
    scored_by_final = np.isin(twin_group, twin_group[fold == FINAL])
    return FoldPlan(fold, trainable & ~scored_by_final, twin_group, k)


def cross_fit(
    plan: FoldPlan,
    *,
    train: Callable[[str, np.ndarray], Any],
    score: Callable[[Any, np.ndarray], np.ndarray],
) -> pd.DataFrame:
    """Train every model of ``plan`` and score its faces: DataFrame(score, scored_by) per face.

    ``train(name, indices)`` returns a model trained on exactly those faces; ``score(model,
    indices)`` returns one number per face.
    """
    scores = np.full(len(plan.fold), np.nan)
    scored_by = np.full(len(plan.fold), "", dtype=object)
    for name in plan.models():
        seen, todo = plan.training_faces(name), plan.scored_faces(name)
        leaked = np.isin(plan.twin_group[todo], plan.twin_group[seen])
        if leaked.any():
            raise RuntimeError(SEEN_FACE.format(model=name, n=int(leaked.sum())))
        model = train(name, seen)
        if len(todo):
            scores[todo] = score(model, todo)
        scored_by[todo] = name
    return pd.DataFrame({"score": scores, "scored_by": scored_by})
