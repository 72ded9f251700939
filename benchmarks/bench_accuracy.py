"""Accuracy benchmark: FER-2013, six emotions, mean test accuracy and 95% t-interval over seeds.

Train on FER-2013 Training images of the six study emotions (validation carved from train,
train/val duplicates of test images left out), test on PublicTest + PrivateTest (six emotions).
Not a test: run it in the background, e.g.

    nice -n 10 .venv/bin/python benchmarks/bench_accuracy.py --model paper-cnn \
        --variant standard --epochs 10 --batch-size 128 --threads 1 --seeds 0 1 2 \
        --out runs/bench-accuracy

Each (model, variant, seed) trains in ``OUT/<model>-<variant>-e<epochs>-s<seed>`` and resumes
there if interrupted; results are appended to ``OUT/results.csv`` and summarised in a table.
``--arrays FILE`` keeps the prepared arrays in one ``.npz``, so a GPU machine without the raw
images can run the same benchmark on exactly the same split.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from rich.console import Console
from rich.table import Table
from scipy import stats

from ferbias.data.schema import STUDY_EMOTIONS
from ferbias.io import write_csv_atomic
from ferbias.training.data import TrainingData, load_training_data
from ferbias.training.fit import train_model
from ferbias.training.predict import accuracy
from ferbias.training.variants import get_variant

DEFAULT_PATH = Path(os.environ.get("FERBIAS_DATA", "/work/shared/data")) / "fer2013"


def run_one(data: TrainingData, args, seed: int) -> dict:
    variant = get_variant(args.variant).with_overrides(
        epochs=args.epochs, **({"batch_size": args.batch_size} if args.batch_size else {})
    )
    options = variant.model_options | args.model_option
    label = args.model + "".join(f"-{k}{v}" for k, v in args.model_option.items())
    run_dir = args.out / f"{label}-{args.variant}-e{args.epochs}-s{seed}"
    start = time.perf_counter()
    result = train_model(
        args.model,
        data,
        num_classes=len(data.emotions),
        recipe=variant.recipe,
        seed=seed,
        options=options,
        run_dir=run_dir,
    )
    return {
        "model": label,
        "variant": args.variant,
        "epochs": args.epochs,
        "batch_size": variant.recipe.batch_size,
        "seed": seed,
        "best_epoch": result.best_epoch,
        "val_acc": float(result.history["val_acc"].max()),
        "test_acc": accuracy(result.model, data.test_x, data.test_y),
        "device": device_name(),
        "threads": torch.get_num_threads(),
        "train_seconds": float(result.history["seconds"].sum()),
        "wall_seconds": time.perf_counter() - start,
    }


def model_option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE read as JSON when it parses (``width=64`` -> 64), else a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--model-option {text!r}: expected KEY=VALUE")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def device_name() -> str:
    """The accelerator's name, or the CPU's architecture."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"cpu {platform.machine()}"


def prepared_data(args) -> TrainingData:
    """FER-2013's six emotions as arrays; with ``--arrays``, read from (or first written to) it."""
    if args.arrays and args.arrays.is_file():
        return TrainingData.load(args.arrays)
    data = load_training_data("fer2013", args.path, group="all", emotions=list(STUDY_EMOTIONS))
    if args.arrays:
        data.save(args.arrays)
    return data


def append_row(path: Path, row: dict) -> None:
    """Add ``row`` to the CSV at ``path`` under an exclusive lock (runs may share one --out)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        previous = pd.read_csv(path) if path.is_file() else pd.DataFrame()
        write_csv_atomic(path, pd.concat([previous, pd.DataFrame([row])]))


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean test accuracy with a 95% t-interval (NaN half-width with one seed)."""
    rows = []
    keys = ["model", "variant", "epochs", "device"]
    for (model, variant, epochs, device), group in results.groupby(keys):
        acc = group["test_acc"].to_numpy()
        half = (
            stats.t.ppf(0.975, len(acc) - 1) * acc.std(ddof=1) / np.sqrt(len(acc))
            if len(acc) > 1
            else float("nan")
        )
        rows.append(
            {
                "model": model,
                "variant": variant,
                "epochs": epochs,
                "device": device,
                "seeds": len(acc),
                "test_acc_mean": acc.mean(),
                "ci95_half_width": half,
                "train_minutes_per_seed": group["train_seconds"].mean() / 60,
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="paper-cnn")
    parser.add_argument(
        "--model-option",
        type=model_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra create_model option, e.g. width=64 (repeatable)",
    )
    parser.add_argument("--variant", default="standard")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument(
        "--seeds", type=int, nargs="*", default=[0, 1, 2], help="none: only print the table"
    )
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument(
        "--arrays",
        type=Path,
        default=None,
        help="prepared arrays (.npz): read when present, else prepared from --path and written",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/bench-accuracy"))
    args = parser.parse_args()
    args.model_option = dict(args.model_option)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)  # a shared machine: fewer threads spin less
    results_path = args.out / "results.csv"
    if args.seeds:
        data = prepared_data(args)
        logging.info(
            "train %d, val %d, test %d", *(len(y) for y in (data.train_y, data.val_y, data.test_y))
        )
    for seed in args.seeds:
        row = run_one(data, args, seed)
        logging.info("seed %d: %s", seed, row)
        append_row(results_path, row)
    summary = summarise(pd.read_csv(results_path))
    table = Table(*summary.columns)
    for row in summary.itertuples(index=False):
        table.add_row(*(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row))
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
