"""``ferbias-gender``: a small gender CNN trained by ferbias on 48x48 gray FER-geometry faces.

Trained with the shared engine (``ferbias.training.fit.fit``) on UTKFace + CelebA faces degraded
to FER-2013 style (``gender.degrade``), then fitted to FER-2013 itself on the in-domain gold
(``gender.domain``). Classes: 0 female, 1 male (the onnx-cc0 order); no label smoothing, and a
temperature fitted afterwards (metadata ``temperature``) divides the logit so P(female) is
calibrated. The weights file is a safetensors file (float tensors stored as fp16, loaded as fp32)
whose metadata names the model and its options, the class order, the data, the recipe and the
training command.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ferbias.gender.base import LABELLERS, check_pixels
from ferbias.gender.degrade import FerStyle, degrade
from ferbias.gender.gold import ADULT_AGE, FaceSet, fairface_faces, gender_data
from ferbias.io import write_atomic
from ferbias.models import create_model
from ferbias.training.fit import fit
from ferbias.training.predict import predict_proba
from ferbias.training.variants import Recipe, get_variant

log = logging.getLogger(__name__)

CLASSES = ("female", "male")
DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "ferbias_gender.safetensors"
# 656k parameters, 60 MFLOPs: ~80 s per epoch on 2 busy CPU cores, 1.3 MB as fp16.
MODEL = "vgg-fer"
MODEL_OPTIONS = {"width": 16, "hidden": 256}
# The variants' ``standard`` recipe (flips are valid for gender) without label smoothing, which
# squashed P(female) into about [0.07, 0.87]; best val epoch kept.
RECIPE = replace(
    get_variant("standard").recipe,
    epochs=20,
    batch_size=128,
    monitor="val_acc",
    label_smoothing=0.0,
)
MIN_TRAIN_AGE = ADULT_AGE  # train on adults (UTKFace age >= 13; CelebA has no ages, all adults)
MISSING_WEIGHTS = "ferbias-gender weights {path} not found; run `ferbias gender train --out {path}`"
BAD_WEIGHTS = "{path} is not a ferbias-gender weights file (metadata 'classes' must be {classes})"


@dataclass(frozen=True)
class TrainReport:
    """Validation accuracy per held-out set (UTKFace adults and children apart)."""

    weights: Path
    best_epoch: int
    history: pd.DataFrame
    validation: pd.DataFrame


def labels_of(faces: FaceSet) -> np.ndarray:
    return (faces.gender == "male").astype(np.int64)


def at_least(faces: FaceSet, min_age: int | None) -> FaceSet:
    """``faces`` without those younger than ``min_age`` (unknown ages are kept)."""
    if min_age is None:
        return faces
    young = (faces.meta["age"].astype("Float64") < min_age).fillna(False).to_numpy(dtype=bool)
    return faces.subset(faces.name, ~young)


def concat(sets: list[FaceSet], name: str) -> FaceSet:
    return FaceSet(
        name,
        np.concatenate([s.pixels for s in sets]),
        pd.concat([s.meta for s in sets], ignore_index=True),
    )


def train_gender_cnn(
    out: str | os.PathLike = DEFAULT_WEIGHTS,
    *,
    data: str | os.PathLike | None = None,
    seed: int = 0,
    recipe: Recipe = RECIPE,
    model_name: str = MODEL,
    model_options: dict | None = None,
    min_age: int | None = MIN_TRAIN_AGE,
    run_dir: str | os.PathLike | None = None,
    init: str | os.PathLike | None = None,
    command: str | None = None,
    fairface: str | os.PathLike | None = None,
    style: FerStyle | None = FerStyle(),
) -> TrainReport:
    """Train on UTKFace-train + CelebA-train, select on their val parts (all ages), save to ``out``.

    ``min_age``: leave out younger training faces (None: all). ``model_options`` default to
    ``MODEL_OPTIONS`` for ``MODEL``. ``init``: a ferbias-gender weights file to continue from
    (its model and options are used). ``command`` is recorded in the weights (default: argv).
    ``fairface``: a FairFace release folder; its train faces join training, its val faces
    validation. ``style``: degrade training and validation faces to FER-2013 style (seeded by
    ``seed``; None: clean photos).
    """
    sets = gender_data(data)
    names = ["utkface", "celeba"]
    if fairface is not None:
        sets |= fairface_faces(fairface, min_age=min_age)
        names.append("fairface")
    train = concat([at_least(sets[f"{s}-train"], min_age) for s in names], "train")
    val = concat([sets[f"{s}-val"] for s in names], "val")
    if style is not None:
        rng = np.random.default_rng(seed)
        train, val = (styled(faces, style, rng) for faces in (train, val))
    if model_options is None:
        model_options = MODEL_OPTIONS if model_name == MODEL else {}
    if init:
        start = FerbiasGenderLabeller(weights=init)
        model, model_name = start.model.train(), start.metadata["model"]
        model_options = start.model_options
    else:
        model = create_model(model_name, num_classes=len(CLASSES), seed=seed, **model_options)
    result = fit(
        model,
        train.pixels,
        labels_of(train),
        val.pixels,
        labels_of(val),
        recipe=recipe,
        seed=seed,
        run_dir=Path(run_dir) if run_dir else None,
        progress=False,
    )
    save_weights(
        result.model,
        out,
        model_name=model_name,
        model_options=model_options,
        extra={
            "seed": str(seed),
            "train": "+".join(["utkface-train(seed 0)", *(f"{s}-train" for s in names[1:])])
            + f", age >= {min_age or 0}"
            + (f", degraded to FER-2013 style {style}" if style else ""),
            "n_train": str(len(train.meta)),
            "best_epoch": str(result.best_epoch),
            "best_val_acc": f"{result.history['val_acc'].max():.4f}",
            "recipe": json.dumps(recipe.to_dict()),
            "command": " ".join(["ferbias", *sys.argv[1:]]) if command is None else command,
            "init": FerbiasGenderLabeller(weights=init).version if init else "",
        },
    )
    labeller = FerbiasGenderLabeller(weights=out)
    validation = validation_table(labeller, [sets[f"{s}-val"] for s in names])
    return TrainReport(Path(out), result.best_epoch, result.history, validation)


def styled(faces: FaceSet, style: FerStyle, rng: np.random.Generator) -> FaceSet:
    """``faces`` degraded to FER-2013 style (``gender.degrade``)."""
    return FaceSet(faces.name, degrade(faces.pixels, rng=rng, style=style), faces.meta)


def save_weights(
    model,
    out: str | os.PathLike,
    *,
    model_name: str,
    model_options: dict | None = None,
    extra: dict[str, str] | None = None,
) -> Path:
    """Save ``model`` as a ferbias-gender weights file, float tensors as fp16.

    Metadata: model name and options (JSON), class order, plus ``extra``.
    """
    metadata = {
        **(extra or {}),
        "model": model_name,
        "model_options": json.dumps(model_options or {}),
        "classes": ",".join(CLASSES),
    }
    tensors = {
        k: (v.half() if v.is_floating_point() else v).contiguous().cpu()
        for k, v in model.state_dict().items()
    }
    return write_atomic(out, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def validation_table(labeller: FerbiasGenderLabeller, sets: list[FaceSet]) -> pd.DataFrame:
    """Accuracy (argmax) per set; UTKFace split into adults (age >= 13) and children."""
    rows = []
    for faces in sets:
        groups = {faces.name: np.ones(len(faces.meta), dtype=bool)}
        if faces.meta["age"].notna().any():
            adult = (faces.meta["age"].fillna(0) >= 13).to_numpy()
            groups = {f"{faces.name}-adult": adult, f"{faces.name}-child": ~adult}
        p = labeller.predict_p_female(faces.pixels)
        correct = (p >= 0.5) == (faces.gender == "female")
        rows += [
            {"set": k, "n": int(m.sum()), "accuracy": float(correct[m].mean())}
            for k, m in groups.items()
        ]
    return pd.DataFrame(rows)


class FerbiasGenderLabeller:
    """P(female) from a ferbias-gender weights file."""

    name = "ferbias-gender"

    def __init__(
        self, *, weights: str | os.PathLike = DEFAULT_WEIGHTS, batch_size: int | None = None
    ):
        self.weights = Path(weights)
        self.batch_size = batch_size
        if not self.weights.is_file():
            raise FileNotFoundError(MISSING_WEIGHTS.format(path=self.weights))

    @cached_property
    def version(self) -> str:
        digest = hashlib.sha256(self.weights.read_bytes()).hexdigest()[:12]
        return f"{self.weights.name}@{digest}"

    @cached_property
    def metadata(self) -> dict[str, str]:
        with safe_open(str(self.weights), framework="pt") as handle:
            metadata = handle.metadata() or {}
        if metadata.get("classes") != ",".join(CLASSES):
            raise ValueError(BAD_WEIGHTS.format(path=self.weights, classes=",".join(CLASSES)))
        return metadata

    @cached_property
    def model_options(self) -> dict:
        return json.loads(self.metadata.get("model_options") or "{}")

    @cached_property
    def model(self):
        """The network in fp32 (fp16-stored tensors are converted)."""
        model = create_model(self.metadata["model"], num_classes=len(CLASSES), **self.model_options)
        tensors = load_file(str(self.weights))
        model.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
        )
        return model.eval()

    @cached_property
    def temperature(self) -> float:
        """Divides the logit (metadata ``temperature``; 1 when the weights carry none)."""
        return float(self.metadata.get("temperature") or 1.0)

    def predict_logit(self, pixels: np.ndarray) -> np.ndarray:
        """log(P(female) / P(male)) of the network, before the temperature."""
        check_pixels(pixels)
        # fp32 whatever the CPU: labels must not depend on which machine wrote them
        proba = predict_proba(self.model, pixels, batch_size=self.batch_size, precision="fp32")
        return logit(proba[:, 0].astype(float))

    def predict_p_female(self, pixels: np.ndarray) -> np.ndarray:
        """Calibrated P(female): the logit divided by the temperature."""
        return sigmoid(self.predict_logit(pixels) / self.temperature)


LOGIT_EPS = 1e-6  # float32 softmax outputs are clipped to [eps, 1 - eps] before the logit


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), LOGIT_EPS, 1 - LOGIT_EPS)
    return np.log(p) - np.log1p(-p)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


@LABELLERS.register("ferbias-gender")
def create_ferbias_gender(**options) -> FerbiasGenderLabeller:
    return FerbiasGenderLabeller(**options)
