"""Synthetic experiment folders whose correctness is drawn from given per-emotion recalls, so a
test knows the true plain and emotion-standardised in-group advantage."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from run_folder import write_finished_run

EMOTIONS = ["angry", "happy", "neutral"]
GROUPS = ("female", "male")
# The female test faces are mostly happy, the male ones mostly angry (FER-2013 leans this way).
MIXES = {
    "female": {"angry": 0.15, "happy": 0.60, "neutral": 0.25},
    "male": {"angry": 0.60, "happy": 0.15, "neutral": 0.25},
}
# Each model reads best the emotion its training group shows most, on ANY face.
RECALL = {
    "female": {"angry": 0.35, "happy": 0.85, "neutral": 0.55},
    "male": {"angry": 0.75, "happy": 0.55, "neutral": 0.55},
}
Recall = Callable[[str, str, str], float]  # (train group, test group, emotion) -> recall


def mix_only(train: str, test: str, emotion: str) -> float:
    """Equal per-emotion recall on both groups' faces: only the emotion mix differs."""
    return RECALL[train][emotion]


def own_face_bonus(bonus: float) -> Recall:
    """``mix_only`` plus ``bonus`` recall on the model's own group's faces, for every emotion."""

    def recall(train: str, test: str, emotion: str) -> float:
        return RECALL[train][emotion] + (bonus if train == test else 0.0)

    return recall


def true_advantage(recall: Recall, mix: dict[str, dict[str, float]]) -> float:
    """acc(F->F) + acc(M->M) - acc(F->M) - acc(M->F) when every group has the emotion mix
    ``mix[group]``."""

    def acc(train: str, test: str) -> float:
        return sum(share * recall(train, test, e) for e, share in mix[test].items())

    f, m = GROUPS
    return acc(f, f) + acc(m, m) - acc(f, m) - acc(m, f)


def _test_images(n_per_group: int, gen: np.random.Generator) -> pd.DataFrame:
    frames = []
    for group in GROUPS:
        emotions, shares = zip(*MIXES[group].items(), strict=True)
        counts = np.round(np.array(shares) * n_per_group).astype(int)
        frames.append(
            pd.DataFrame({"group": group, "y_true": np.repeat(emotions, counts)}).sample(
                frac=1, random_state=int(gen.integers(1 << 31))
            )
        )
    images = pd.concat(frames, ignore_index=True)
    return images.assign(
        test_set="heldout",
        sample_id=[f"img{i}" for i in range(len(images))],
        subject_id=pd.Series([None] * len(images), dtype="string"),
    )


def _predictions(images: pd.DataFrame, run_id: str, correct: np.ndarray) -> pd.DataFrame:
    truth = pd.Categorical(images["y_true"], categories=EMOTIONS).codes
    wrong = (truth + 1) % len(EMOTIONS)
    predicted = np.where(correct, truth, wrong)
    proba = np.full((len(images), len(EMOTIONS)), 0.05)
    proba[np.arange(len(images)), predicted] = 0.9
    frame = images.assign(run_id=run_id, y_pred=np.array(EMOTIONS)[predicted])
    for j, emotion in enumerate(EMOTIONS):
        frame[f"p_{emotion}"] = proba[:, j]
    return frame.assign(loss=-np.log(proba[np.arange(len(images)), truth]))


def write_mix_grid(
    root: Path,
    recall: Recall,
    *,
    n_per_group: int = 1500,
    seeds: tuple[int, ...] = (0, 1, 2),
    seed: int = 0,
) -> Path:
    """A runs/<experiment>/ folder: female- and male-trained models ("baseline"), each seed's
    correctness drawn image by image from ``recall``."""
    gen = np.random.default_rng(seed)
    images = _test_images(n_per_group, gen)
    root.mkdir(parents=True, exist_ok=True)
    for train in GROUPS:
        p = np.array(
            [recall(train, g, e) for g, e in zip(images.group, images.y_true, strict=True)]
        )
        for s in seeds:
            run_id = f"{train}-baseline-s{s}"
            meta = {"run_id": run_id, "model": "paper-cnn", "variant": "baseline"}
            meta |= {"train_group": train, "seed": s, "status": "finished"}
            predictions = _predictions(images, run_id, gen.random(len(images)) < p)
            write_finished_run(root / run_id, meta, predictions)
    record = {"experiment": root.name, "groups": list(GROUPS), "emotions": EMOTIONS}
    record["spec"] = {"data": {"name": "heldout"}, "train": {"epochs": 1}}
    (root / "experiment.json").write_text(json.dumps(record))
    return root
