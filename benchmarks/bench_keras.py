"""The study's own Keras pipeline, timed: its CNN, ``flow_from_directory`` + ImageDataGenerator
with its augmentation, Adam, batch 64. Needs the optional extra: ``pip install 'ferbias[keras]'``
(tensorflow-cpu).

The images are read from a ``flow_from_directory`` folder (``DIR/<emotion>/*.jpg``, e.g.
FER-2013's ``train``): ``--images`` of them, spread evenly over the six emotions, are linked into
a temporary folder, so Keras decodes JPEGs every epoch exactly as the study's script does.
Training images/s is the median over the timed epochs (after one warm-up epoch, which traces the
graph); inference is ``model.predict`` on the same images in memory, batch 64.

    python benchmarks/bench_keras.py --dir $FERBIAS_DATA/fer2013/train --images 6400 --threads 2

``benchmarks/bench_train.py --side-by-side DIR`` runs this beside plain PyTorch and ferbias on
the same images; ``--json`` prints one JSON line for it.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

STUDY_EMOTIONS = ("angry", "fear", "happy", "neutral", "sad", "surprise")
FILTERS = (32, 64, 128, 256)
BATCH = 64
MISSING = "bench_keras needs TensorFlow: pip install 'ferbias[keras]' (tensorflow-cpu)"


def pick_images(folder: Path, images: int) -> list[Path]:
    """``images`` files spread evenly over the emotion folders (sorted names: reproducible)."""
    per_class = max(1, images // len(STUDY_EMOTIONS))
    chosen = []
    for emotion in STUDY_EMOTIONS:
        files = sorted((folder / emotion).glob("*"))
        if not files:
            raise SystemExit(f"{folder / emotion}: no images (expected DIR/<emotion>/*.jpg)")
        chosen += files[:per_class]
    return chosen


def linked_folder(files: list[Path], root: Path) -> Path:
    """A ``flow_from_directory`` folder of symbolic links to ``files`` under ``root``."""
    for path in files:
        target = root / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(path.resolve())
    return root


def study_model(keras, num_classes: int):
    """The study's CNN: 4 x [Conv 3x3 same -> BatchNorm -> ReLU -> MaxPool], Dense 256, Dense."""
    layers = [keras.Input((48, 48, 1))]
    for filters in FILTERS:
        layers += [
            keras.layers.Conv2D(filters, 3, padding="same"),
            keras.layers.BatchNormalization(),
            keras.layers.Activation("relu"),
            keras.layers.MaxPooling2D(2),
        ]
    layers += [
        keras.layers.Flatten(),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(num_classes, activation="softmax"),
    ]
    model = keras.Sequential(layers)
    model.compile(optimizer=keras.optimizers.Adam(), loss="categorical_crossentropy")
    return model


def study_generator(tf):
    """The study's ImageDataGenerator, setting for setting."""
    return tf.keras.preprocessing.image.ImageDataGenerator(
        rescale=1 / 255,
        rotation_range=20,
        width_shift_range=0.2,
        height_shift_range=0.2,
        shear_range=0.2,
        zoom_range=0.2,
        horizontal_flip=True,
        vertical_flip=True,
        brightness_range=[0.2, 1.2],
        fill_mode="nearest",
    )


def run(folder: Path, *, images: int, epochs: int, threads: int) -> dict:
    """Train the study's pipeline on ``images`` images of ``folder``; images/s and versions."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError as error:
        raise SystemExit(MISSING) from error
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.keras.utils.set_random_seed(0)
    keras = tf.keras
    with tempfile.TemporaryDirectory(prefix="bench-keras-") as tmp:
        root = linked_folder(pick_images(folder, images), Path(tmp))
        flow = study_generator(tf).flow_from_directory(
            root,
            target_size=(48, 48),
            color_mode="grayscale",
            classes=list(STUDY_EMOTIONS),
            class_mode="categorical",
            batch_size=BATCH,
            seed=0,
        )
        model = study_model(keras, len(STUDY_EMOTIONS))
        marks = []
        timer = keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs: marks.append(time.perf_counter()),
            on_epoch_end=lambda epoch, logs: marks.append(time.perf_counter()),
        )
        model.fit(flow, epochs=epochs + 1, callbacks=[timer], verbose=0)
        seconds = np.diff(marks)[::2][1:]  # epoch durations, the warm-up epoch left out
        pixels = flow[0][0]  # one batch of 64 (the content does not change the timing)
    infer = infer_images_per_s(model, pixels.astype(np.float32))
    return {
        "pipeline": f"Keras {keras.__version__} (TensorFlow {tf.__version__})",
        "images": flow.samples,
        "train_ips": float(np.median(flow.samples / seconds)),
        "infer_ips": infer,
        "threads": threads,
    }


def infer_images_per_s(model, pixels: np.ndarray, repeats: int = 4) -> float:
    """``model.predict`` images/s, batch 64, median after one warm-up pass."""
    batch = np.concatenate([pixels] * max(1, 1024 // len(pixels)))
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(batch, batch_size=BATCH, verbose=0)
        rates.append(len(batch) / (time.perf_counter() - start))
    return float(np.median(rates[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True, help="DIR/<emotion>/*.jpg")
    parser.add_argument("--images", type=int, default=6400)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (after 1 warm-up)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    result = run(args.dir, images=args.images, epochs=args.epochs, threads=args.threads)
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{result['pipeline']}: {result['images']} images, {result['threads']} thread(s): "
        f"train {result['train_ips']:.0f} img/s, inference {result['infer_ips']:.0f} img/s"
    )


if __name__ == "__main__":
    main()
