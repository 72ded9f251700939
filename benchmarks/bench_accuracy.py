"""Accuracy benchmark: FER-2013, six emotions, mean test accuracy and 95% t-interval over seeds.

Train on FER-2013 Training images of the six study emotions (validation carved from train,
train/val duplicates of test images left out), test on PublicTest + PrivateTest (six emotions).
Not a test: run it in the background, e.g.

    nice -n 10 .venv/bin/python benchmarks/bench_accuracy.py --model paper-cnn \
        --variant standard --epochs 10 --batch-size 128 --threads 1 --seeds 0 1 2 \
        --out runs/bench-accuracy

Each (model, variant, precision, seed) trains in
``OUT/<model>-<variant>-e<epochs>-<precision>-s<seed>`` and resumes there if interrupted; results
are appended to ``OUT/results.csv`` and summarised in a table. A seed results.csv already holds
(same model, variant, epochs, precision, image count and device) is not run again.
``--arrays FILE`` keeps the prepared arrays in one ``.npz``, so a GPU machine without the raw
images can run the same benchmark on exactly the same split.

``--precision fp32`` / ``bf16`` (default ``auto``: bf16 where the hardware has it). When the
results hold the same model, variant, epochs and seeds in both precisions, a second table gives
the paired difference bf16 - fp32 (mean over seeds, 95% t-interval), e.g.

    python benchmarks/bench_accuracy.py --arrays .cache/bench/fer2013-six.npz --model paper-cnn \
        --variant standard --epochs 30 --seeds 0 1 2 --threads 1 --precision fp32
    python benchmarks/bench_accuracy.py --arrays .cache/bench/fer2013-six.npz --model paper-cnn \
        --variant standard --epochs 30 --seeds 0 1 2 --threads 1 --precision bf16
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
from ferbias.training.runtime import resolve_device, resolve_precision
from ferbias.training.variants import get_variant

DEFAULT_PATH = Path(os.environ.get("FERBIAS_DATA", "/work/shared/data")) / "fer2013"


def model_label(args) -> str:
    """The model and its extra options, as results.csv's ``model`` column names them."""
    return args.model + "".join(f"-{k}{v}" for k, v in args.model_option.items())


def run_precision(args) -> str:
    """``--precision`` resolved on this machine (``auto`` -> fp32 or bf16), as runs record it."""
    return resolve_precision(args.precision, resolve_device())


def run_one(data: TrainingData, args, seed: int) -> dict:
    variant = get_variant(args.variant).with_overrides(
        epochs=args.epochs, **({"batch_size": args.batch_size} if args.batch_size else {})
    )
    options = variant.model_options | args.model_option
    label = model_label(args)
    precision = run_precision(args)
    limited = f"-n{args.limit}" if args.limit else ""
    run_dir = args.out / f"{label}-{args.variant}-e{args.epochs}-{precision}{limited}-s{seed}"
    start = time.perf_counter()
    result = train_model(
        args.model,
        data,
        num_classes=len(data.emotions),
        recipe=variant.recipe,
        seed=seed,
        options=options,
        run_dir=run_dir,
        precision=precision,
    )
    return {
        "model": label,
        "variant": args.variant,
        "epochs": args.epochs,
        "precision": result.precision,
        "train_images": len(data.train_y),
        "batch_size": variant.recipe.batch_size,
        "seed": seed,
        "best_epoch": result.best_epoch,
        "val_acc": float(result.history["val_acc"].max()),
        "test_acc": accuracy(result.model, data.test_x, data.test_y, precision=result.precision),
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
    """FER-2013's six emotions as arrays; with ``--arrays``, read from (or first written to) it;
    with ``--limit``, a random ``limit`` train images and a tenth of that for val and test."""
    if args.arrays and args.arrays.is_file():
        data = TrainingData.load(args.arrays)
    else:
        data = load_training_data("fer2013", args.path, group="all", emotions=list(STUDY_EMOTIONS))
        if args.arrays:
            data.save(args.arrays)
    return limited(data, args.limit) if args.limit else data


def limited(data: TrainingData, limit: int) -> TrainingData:
    """A random ``limit`` train images and ``limit // 10`` val and test images (seed 0)."""
    rng = np.random.default_rng(0)
    parts = {}
    for split, cap in (
        ("train", limit),
        ("val", max(limit // 10, 1)),
        ("test", max(limit // 10, 1)),
    ):
        x, y = getattr(data, f"{split}_x"), getattr(data, f"{split}_y")
        keep = np.sort(rng.permutation(len(y))[:cap])
        parts |= {f"{split}_x": x[keep], f"{split}_y": y[keep]}
    return TrainingData(data.emotions, **parts)


def append_row(path: Path, row: dict) -> None:
    """Add ``row`` to the CSV at ``path`` under an exclusive lock (runs may share one --out)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        previous = pd.read_csv(path) if path.is_file() else pd.DataFrame()
        write_csv_atomic(path, pd.concat([previous, pd.DataFrame([row])]))


SUMMARY_KEYS = ["model", "variant", "epochs", "train_images", "device", "precision"]


def unique_runs(results: pd.DataFrame) -> pd.DataFrame:
    """One row per run: rows written before precision and image counts were recorded say so, and
    where an older version re-evaluated a finished seed and appended it again, the first row
    (whose wall time is the training's) is kept."""
    results = results.assign(
        precision=results.get("precision", pd.Series(index=results.index, dtype=object)),
        train_images=results.get("train_images", pd.Series(index=results.index, dtype=object)),
    ).fillna({"precision": "unrecorded", "train_images": "all"})
    return results.drop_duplicates([*SUMMARY_KEYS, "seed"], keep="first")


def recorded_seeds(results_path: Path, args, train_images: int) -> set[int]:
    """Seeds results.csv already holds for this model, variant, epochs, precision, image count
    and device: they are not trained or evaluated again."""
    if not results_path.is_file():
        return set()
    runs = unique_runs(pd.read_csv(results_path))
    names = {
        "model": model_label(args),
        "variant": args.variant,
        "device": device_name(),
        "precision": run_precision(args),
    }
    counts = {"epochs": args.epochs, "train_images": train_images}
    mask = np.logical_and.reduce(
        [runs[k].astype(str) == v for k, v in names.items()]
        + [pd.to_numeric(runs[k], errors="coerce") == v for k, v in counts.items()]
    )
    return set(runs.loc[mask, "seed"].astype(int))


def t_interval(values: np.ndarray) -> float:
    """Half-width of the 95% t-interval of the mean (NaN with fewer than two values)."""
    if len(values) < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean test accuracy with a 95% t-interval (NaN half-width with one seed)."""
    rows = []
    for keys, group in unique_runs(results).groupby(SUMMARY_KEYS):
        acc = group["test_acc"].to_numpy(dtype=float)
        rows.append(
            dict(zip(SUMMARY_KEYS, keys, strict=True))
            | {
                "seeds": len(acc),
                "test_acc_mean": acc.mean(),
                "ci95_half_width": t_interval(acc),
                "train_minutes_per_seed": group["train_seconds"].mean() / 60,
            }
        )
    return pd.DataFrame(rows)


def paired_precision(results: pd.DataFrame) -> pd.DataFrame:
    """bf16 - fp32 test accuracy paired by seed, per model, variant, epochs and device."""
    keys = ["model", "variant", "epochs", "train_images", "device"]
    rows = []
    results = unique_runs(results)
    for values, group in results.groupby(keys):
        wide = group.pivot(index="seed", columns="precision", values="test_acc")
        if not {"fp32", "bf16"} <= set(wide.columns):
            continue
        diff = (wide["bf16"] - wide["fp32"]).dropna().to_numpy(dtype=float)
        if len(diff):
            rows.append(
                dict(zip(keys, values, strict=True))
                | {
                    "seeds": len(diff),
                    "bf16_minus_fp32_pp": 100 * diff.mean(),
                    "ci95_half_width_pp": 100 * t_interval(diff),
                    "mean_within_1pp": bool(abs(diff.mean()) <= 0.01),
                    "ci_within_1pp": bool(abs(diff.mean()) + t_interval(diff) <= 0.01),
                }
            )
    return pd.DataFrame(rows)


def print_table(frame: pd.DataFrame) -> None:
    table = Table(*frame.columns)
    for row in frame.itertuples(index=False):
        table.add_row(*(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row))
    Console(width=160).print(table)


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
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    parser.add_argument("--limit", type=int, default=None, help="train images (smoke tests)")
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
    done = recorded_seeds(results_path, args, len(data.train_y)) if args.seeds else set()
    for seed in args.seeds:
        if seed in done:
            logging.info("seed %d: already in %s, not run again", seed, results_path)
            continue
        row = run_one(data, args, seed)
        logging.info("seed %d: %s", seed, row)
        append_row(results_path, row)
    results = pd.read_csv(results_path)
    print_table(summarise(results))
    paired = paired_precision(results)
    if len(paired):
        print("bf16 - fp32 test accuracy, paired by seed, in pp (ci_within_1pp: the whole 95% CI)")
        print_table(paired)


if __name__ == "__main__":
    main()
