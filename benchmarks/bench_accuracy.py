"""Accuracy benchmark: FER-2013, six emotions, mean test accuracy and 95% t-interval over seeds.

Train on FER-2013 Training images of the six study emotions (validation carved from train,
train/val duplicates of test images left out), test on PublicTest + PrivateTest (six emotions).
Not a test: run it in the background, e.g.

    nice -n 10 .venv/bin/python benchmarks/bench_accuracy.py --model paper-cnn \
        --variant standard --epochs 10 --batch-size 128 --threads 1 --seeds 0 1 2 \
        --out runs/bench-accuracy

Each (model, variant, seed) trains in ``OUT/<model>-<variant>-e<epochs>-s<seed>`` and resumes
there if interrupted; results are appended to ``OUT/results.csv`` and summarised in a table.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from rich.console import Console
from rich.table import Table
from scipy import stats

from ferbias.cli.models import TrainingData, load_training_data, test_accuracy
from ferbias.data.schema import STUDY_EMOTIONS
from ferbias.io import write_csv_atomic
from ferbias.models import create_model
from ferbias.train import fit
from ferbias.variants import get_variant

DEFAULT_PATH = Path(os.environ.get("FERBIAS_DATA", "/work/shared/data")) / "fer2013"


def run_one(data: TrainingData, args, seed: int) -> dict:
    variant = get_variant(args.variant).with_overrides(
        epochs=args.epochs, **({"batch_size": args.batch_size} if args.batch_size else {})
    )
    run_dir = args.out / f"{args.model}-{args.variant}-e{args.epochs}-s{seed}"
    model = create_model(
        args.model, num_classes=len(data.emotions), seed=seed, **variant.model_options
    )
    start = time.perf_counter()
    result = fit(
        model,
        data.train_x,
        data.train_y,
        data.val_x,
        data.val_y,
        recipe=variant.recipe,
        seed=seed,
        run_dir=run_dir,
        progress=False,
    )
    return {
        "model": args.model,
        "variant": args.variant,
        "epochs": args.epochs,
        "batch_size": variant.recipe.batch_size,
        "seed": seed,
        "best_epoch": result.best_epoch,
        "val_acc": float(result.history["val_acc"].max()),
        "test_acc": test_accuracy(result.model, data.test_x, data.test_y),
        "train_seconds": float(result.history["seconds"].sum()),
        "wall_seconds": time.perf_counter() - start,
    }


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean test accuracy with a 95% t-interval (NaN half-width with one seed)."""
    rows = []
    for (model, variant, epochs), group in results.groupby(["model", "variant", "epochs"]):
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
    parser.add_argument("--variant", default="standard")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/bench-accuracy"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)  # a shared machine: fewer threads spin less
    data = load_training_data("fer2013", args.path, group="all", emotions=list(STUDY_EMOTIONS))
    logging.info("train %d, val %d, test %d", len(data.train_y), len(data.val_y), len(data.test_y))
    results_path = args.out / "results.csv"
    for seed in args.seeds:
        row = run_one(data, args, seed)
        logging.info("seed %d: %s", seed, row)
        previous = pd.read_csv(results_path) if results_path.is_file() else pd.DataFrame()
        write_csv_atomic(results_path, pd.concat([previous, pd.DataFrame([row])]))
    summary = summarise(pd.read_csv(results_path))
    table = Table(*summary.columns)
    for row in summary.itertuples(index=False):
        table.add_row(*(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row))
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
