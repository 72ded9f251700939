"""Fit ferbias-gender to the domain of use: FER-2013 faces, cross-fitted on the in-domain gold.

1. Photos: the packaged network fine-tuned on UTKFace + CelebA training faces degraded to
   FER-2013 style (``gender.degrade``), without label smoothing (``cnn.train_gender_cnn``).
2. Gold: K fold models and one final model (``gender.crossfit``), each fine-tuned from step 1 on
   its decidable training-gold faces (random-fit + targeted, never the audit half) plus as many
   degraded photo faces, so that what the photos taught is kept. Each keeps the epoch with the
   lowest validation loss on a tenth of its own training gold (twins together) held out.
3. Temperature: one number dividing the logit, fitted by likelihood on the cross-fitted scores of
   the random-fit half, written into the final weights, which become the packaged labeller.

Everything lives under ``run_dir``: ``photos.safetensors``, one checkpoint folder and weights
file per model, and ``scores.csv`` (per gold face: fold, model that scored it, raw logit and
calibrated P(female)). A rerun resumes: finished models are loaded, interrupted ones resume from
their last epoch (``training.fit``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from sklearn.model_selection import GroupShuffleSplit

from ferbias.gender.cnn import (
    DEFAULT_WEIGHTS,
    RECIPE,
    FerbiasGenderLabeller,
    at_least,
    concat,
    labels_of,
    save_weights,
    sigmoid,
    styled,
    train_gender_cnn,
)
from ferbias.gender.crossfit import FoldPlan, cross_fit, plan_folds
from ferbias.gender.degrade import FerStyle
from ferbias.gender.domain_gold import TRAINING_PARTS, DomainGold
from ferbias.gender.gold import ADULT_AGE, gender_data
from ferbias.io import write_csv_atomic
from ferbias.training.fit import fit
from ferbias.training.variants import Recipe

log = logging.getLogger(__name__)

FOLDS = 5
VAL_SHARE = 0.1  # of each model's training gold, held out to pick its epoch
PHOTOS_PER_GOLD = 1.0  # degraded photo faces added per training-gold face
# Short fine-tunes from already trained weights: a lower learning rate, few epochs.
PHOTO_RECIPE = replace(RECIPE, epochs=4, lr=5e-4, warmup_epochs=0.5, monitor="val_loss")
GOLD_RECIPE = replace(
    RECIPE, epochs=8, lr=5e-4, batch_size=64, warmup_epochs=0.5, monitor="val_loss"
)
NO_RANDOM_FIT = "no decidable random-fit face was scored: cannot fit the temperature"


@dataclass(frozen=True)
class DomainFit:
    """What ``fit_domain`` made: the final weights, the per-face scores and the temperature."""

    weights: Path
    scores: pd.DataFrame  # gold table + fold, scored_by, logit, p_cnn
    temperature: float
    plan: FoldPlan


def fold_strata(gold: DomainGold) -> np.ndarray:
    return (gold.table["part"] + "/" + gold.table["consensus"]).to_numpy()


def plan_gold_folds(gold: DomainGold, *, k: int = FOLDS, seed: int = 0) -> FoldPlan:
    """Folds over the decidable training-gold faces; everything else is scored by the final
    model."""
    trainable = gold.mask(*TRAINING_PARTS, decidable=True)
    return plan_folds(trainable, fold_strata(gold), gold.table["twin_group"], k=k, seed=seed)


def photo_stage(
    run_dir: Path, *, data, init: Path, seed: int, recipe: Recipe, style: FerStyle
) -> Path:
    """Step 1 (skipped when ``run_dir/photos.safetensors`` exists)."""
    out = run_dir / "photos.safetensors"
    if not out.is_file():
        train_gender_cnn(
            out, data=data, seed=seed, recipe=recipe, init=init, style=style,
            run_dir=run_dir / "photos", command=command_line(),
        )  # fmt: skip
    return out


def photo_pool(data, *, seed: int, style: FerStyle):
    """Degraded adult photo training faces (pixels, labels) for step 2."""
    sets = gender_data(data)
    faces = concat([at_least(sets[f"{s}-train"], ADULT_AGE) for s in ("utkface", "celeba")], "p")
    faces = styled(faces, style, np.random.default_rng(seed + 1))
    return faces.pixels, labels_of(faces)


def gold_labels(gold: DomainGold) -> np.ndarray:
    return gold.table["truth"].eq("male").fillna(False).to_numpy(dtype=bool).astype(np.int64)


def inner_validation(gold: DomainGold, faces: np.ndarray, seed: int) -> tuple:
    """(train, val) indices: ``VAL_SHARE`` of ``faces`` held out, twin groups kept together."""
    splitter = GroupShuffleSplit(n_splits=1, test_size=VAL_SHARE, random_state=seed)
    train, val = next(splitter.split(faces, groups=gold.table["twin_group"].to_numpy()[faces]))
    return faces[train], faces[val]


def command_line() -> str:
    return " ".join(["ferbias", *sys.argv[1:]])


def gold_trainer(
    gold: DomainGold, pool: tuple, *, run_dir: Path, start: Path, seed: int, recipe: Recipe
):
    """``train(name, faces)`` for ``cross_fit``: fine-tune ``start`` on those gold faces (+ photo
    faces), or load the model's weights when a previous run finished it."""
    pool_x, pool_y = pool
    labels = gold_labels(gold)

    def train(name: str, faces: np.ndarray) -> FerbiasGenderLabeller:
        weights = run_dir / f"{name}.safetensors"
        if weights.is_file():
            return FerbiasGenderLabeller(weights=weights)
        fit_faces, val_faces = inner_validation(gold, faces, seed)
        rng = np.random.default_rng([seed, sum(map(ord, name))])
        n_photos = min(len(pool_x), round(PHOTOS_PER_GOLD * len(fit_faces)))
        take = rng.choice(len(pool_x), size=n_photos, replace=False)
        base = FerbiasGenderLabeller(weights=start)
        log.info("%s: %d gold + %d photo faces", name, len(fit_faces), n_photos)
        result = fit(
            base.model.train(),
            np.concatenate([gold.pixels[fit_faces], pool_x[take]]),
            np.concatenate([labels[fit_faces], pool_y[take]]),
            gold.pixels[val_faces],
            labels[val_faces],
            recipe=recipe,
            seed=seed,
            run_dir=run_dir / name,
            progress=False,
        )
        save_weights(
            result.model,
            weights,
            model_name=base.metadata["model"],
            model_options=base.model_options,
            extra={
                "n_gold": str(len(fit_faces)),
                "n_photos": str(n_photos),
                "best_epoch": str(result.best_epoch),
                "recipe": json.dumps(recipe.to_dict()),
            },
        )
        return FerbiasGenderLabeller(weights=weights)

    return train


def fit_temperature(logits: np.ndarray, female: np.ndarray) -> float:
    """The temperature T minimising the log loss of sigmoid(logit / T)."""

    def loss(t: float) -> float:
        p = np.clip(sigmoid(logits / t), 1e-12, 1 - 1e-12)
        return float(-np.mean(np.where(female, np.log(p), np.log1p(-p))))

    return float(minimize_scalar(loss, bounds=(0.05, 20.0), method="bounded").x)


def fit_domain(
    gold: DomainGold,
    run_dir: str | os.PathLike,
    *,
    out: str | os.PathLike = DEFAULT_WEIGHTS,
    data=None,
    init: str | os.PathLike = DEFAULT_WEIGHTS,
    folds: int = FOLDS,
    seed: int = 0,
    photo_recipe: Recipe = PHOTO_RECIPE,
    gold_recipe: Recipe = GOLD_RECIPE,
    style: FerStyle = FerStyle(),
    gold_file: str = "",
) -> DomainFit:
    """Steps 1-3 of the module docstring; the final weights go to ``out``."""
    run_dir = Path(run_dir)
    init = Path(init)
    init_version = FerbiasGenderLabeller(weights=init).version  # before ``out`` may replace it
    start = photo_stage(run_dir, data=data, init=init, seed=seed, recipe=photo_recipe, style=style)
    plan = plan_gold_folds(gold, k=folds, seed=seed)
    trainer = gold_trainer(
        gold, photo_pool(data, seed=seed, style=style), run_dir=run_dir, start=start,
        seed=seed, recipe=gold_recipe,
    )  # fmt: skip
    scored = cross_fit(
        plan, train=trainer, score=lambda model, faces: model.predict_logit(gold.pixels[faces])
    )
    fitting = gold.mask("random-fit", decidable=True) & (scored["scored_by"] != "final").to_numpy()
    if not fitting.any():
        raise ValueError(NO_RANDOM_FIT)
    temperature = fit_temperature(
        scored["score"].to_numpy()[fitting], gold_labels(gold)[fitting] == 0
    )
    scores = gold.table.assign(
        fold=plan.fold,
        scored_by=scored["scored_by"].to_numpy(),
        logit=scored["score"].to_numpy(),
        p_cnn=sigmoid(scored["score"].to_numpy() / temperature),
    )
    write_csv_atomic(run_dir / "scores.csv", scores.drop(columns=["truth"]))
    final = FerbiasGenderLabeller(weights=run_dir / "final.safetensors")
    n_gold = int(plan.trains.sum())
    save_weights(
        final.model,
        out,
        model_name=final.metadata["model"],
        model_options=final.model_options,
        extra={
            **final.metadata,
            "seed": str(seed),
            "temperature": f"{temperature:.6f}",
            "train": (
                f"photos: utkface-train(seed 0)+celeba-train, age >= {ADULT_AGE}, degraded to "
                f"FER-2013 style {style}, {photo_recipe.epochs} epochs from {init_version}; "
                f"then FER-2013 in-domain gold {gold_file or '(given)'}: {n_gold} decidable "
                f"faces of {'+'.join(TRAINING_PARTS)} (never random-audit) + degraded photos; "
                f"{folds}-fold cross-fitted scores, temperature fitted on random-fit"
            ),
            "photo_recipe": json.dumps(photo_recipe.to_dict()),
            "recipe": json.dumps(gold_recipe.to_dict()),
            "command": command_line(),
            "init": init_version,
        },
    )
    return DomainFit(Path(out), scores, temperature, plan)
