"""Tiny gender-labelled data for the experiment tests: a manifest CSV of synthetic faces.

Each image is ``synthetic_face`` plus a bright bar whose position encodes the emotion, so a model
can learn something in one epoch. ``toy_overrides`` points any experiment spec at this data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from synthetic import synthetic_face

EMOTIONS = ("angry", "fear", "happy", "neutral", "sad", "surprise")


def toy_image(emotion_index: int, seed: int) -> np.ndarray:
    image = synthetic_face(48, seed=seed).astype(int)
    row = 4 + 7 * emotion_index
    image[row : row + 3, 6:42] = 250
    return np.clip(image, 0, 255).astype(np.uint8)


def write_toy_manifest(
    folder: Path, *, per_cell: dict[str, int], genders=("female", "male"), name="toy"
) -> Path:
    """A manifest CSV with ``per_cell[split]`` images per emotion x gender; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    rows, seed = [], 0
    for split, count in per_cell.items():
        for gender in genders:
            for e, emotion in enumerate(EMOTIONS):
                for k in range(count):
                    seed += 1
                    file = f"{split}_{gender}_{emotion}_{k}.png"
                    Image.fromarray(toy_image(e, seed)).save(folder / file)
                    rows.append(
                        {"path": file, "emotion": emotion, "gender": gender, "split": split}
                    )
    path = folder / f"{name}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def toy_overrides(primary: Path, external: Path) -> list[str]:
    """Dotted overrides replacing a spec's data by the toy manifests, at toy size."""
    return [
        f"data.sources=[{{source: manifest, path: '{primary}', face_crop: false}}]",
        "data.name=heldout",
        "data.sizes={}",
        "data.duplicates=none",
        "data.gold_test=null",
        "data.val_fraction=0.25",
        f"test_sets=[{{name: ext, source: {{source: manifest, path: '{external}',"
        " face_crop: false, options: {source: ext}}}]",
        "train.epochs=1",
        "train.seeds=[0]",
        "train.batch_size=16",
    ]


def run_toy_experiment(folder: Path, *extra: str, per_cell: int = 5) -> Path:
    """A finished toy experiment (quick.yaml at toy size: paper-cnn baseline, female and male
    runs, ``per_cell`` train images per emotion x gender) under ``folder``; ``extra``: more
    overrides. Returns runs/<experiment>/."""
    from ferbias.experiment.executors import create_executor
    from ferbias.experiment.pipeline import prepare_experiment, run_experiment
    from ferbias.experiment.spec import load_spec

    primary = write_toy_manifest(folder / "data", per_cell={"train": per_cell, "test": 3})
    external = write_toy_manifest(folder / "data" / "ext", per_cell={"test": 2}, name="ext")
    overrides = [
        *toy_overrides(primary, external),
        "train.variants=[baseline]",
        "train.groups=[female, male]",
        *extra,
    ]
    spec = load_spec(Path(__file__).parents[1] / "experiments" / "quick.yaml", overrides)
    executor = create_executor("local", threads=1)  # fp32: exports compare with onnxruntime
    prepared = prepare_experiment(spec, folder / "runs", runtime=executor.runtime(precision="fp32"))
    for _, outcome in run_experiment(prepared, executor):
        assert outcome.status == "trained", outcome.error
    return prepared.out_dir
