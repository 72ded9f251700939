"""``ferbias-gender``: a small gender CNN trained by ferbias on UTKFace + CelebA 48x48 gray crops.

Trained with the shared engine (``ferbias.train.fit``) on the FER-2013 geometry, so it sees
faces as the labeller will meet them. Classes: 0 female, 1 male (the onnx-cc0 order). The weights
file is a safetensors file whose metadata names the model, the class order and the data.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ferbias.gender.base import LABELLERS, check_pixels
from ferbias.gender.gold import FaceSet, gender_data
from ferbias.io import write_atomic
from ferbias.models import create_model
from ferbias.predict import predict_proba
from ferbias.train import fit
from ferbias.variants import Recipe

log = logging.getLogger(__name__)

CLASSES = ("female", "male")
DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "ferbias_gender.safetensors"
MODEL = "mini-xception"  # 51k parameters, 11 MFLOPs: trains in minutes on CPU, ~0.2 MB
# Cheap CPU recipe: face-appropriate augmentation, cosine schedule, best val epoch kept.
RECIPE = Recipe(
    optimizer="adam",
    lr=2e-3,
    augmentation="standard",
    schedule="cosine",
    epochs=12,
    batch_size=128,
    monitor="val_acc",
)
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
    run_dir: str | os.PathLike | None = None,
    init: str | os.PathLike | None = None,
) -> TrainReport:
    """Train on UTKFace-train + CelebA-train, select on their val parts, save to ``out``.

    ``init``: a ferbias-gender weights file to continue from (its model name is used).
    """
    sets = gender_data(data)
    train = concat([sets["utkface-train"], sets["celeba-train"]], "train")
    val = concat([sets["utkface-val"], sets["celeba-val"]], "val")
    if init:
        start = FerbiasGenderLabeller(weights=init)
        model, model_name = start.model.train(), start.metadata["model"]
    else:
        model = create_model(model_name, num_classes=len(CLASSES), seed=seed)
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
        extra={
            "seed": str(seed),
            "train": "utkface-train(seed 0)+celeba-train",
            "best_epoch": str(result.best_epoch),
            "init": Path(init).name if init else "",
        },
    )
    labeller = FerbiasGenderLabeller(weights=out)
    validation = validation_table(labeller, [sets["utkface-val"], sets["celeba-val"]])
    return TrainReport(Path(out), result.best_epoch, result.history, validation)


def save_weights(
    model, out: str | os.PathLike, *, model_name: str, extra: dict[str, str] | None = None
) -> Path:
    """Save ``model`` as a ferbias-gender weights file (metadata: model name, class order)."""
    metadata = {**(extra or {}), "model": model_name, "classes": ",".join(CLASSES)}
    tensors = {k: v.contiguous().cpu() for k, v in model.state_dict().items()}
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

    def __init__(self, *, weights: str | os.PathLike = DEFAULT_WEIGHTS, batch_size: int = 512):
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
    def model(self):
        model = create_model(self.metadata["model"], num_classes=len(CLASSES))
        model.load_state_dict(load_file(str(self.weights)))
        return model.eval()

    def predict_p_female(self, pixels: np.ndarray) -> np.ndarray:
        check_pixels(pixels)
        return predict_proba(self.model, pixels, batch_size=self.batch_size)[:, 0].astype(float)


@LABELLERS.register("ferbias-gender")
def create_ferbias_gender(**options) -> FerbiasGenderLabeller:
    return FerbiasGenderLabeller(**options)
