"""`ferbias models ...` (list models and variants) and `ferbias train` (one model, one group)."""

from __future__ import annotations

import logging
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import typer
from rich.console import Console
from rich.table import Table

from ferbias.data import images, quality, splits
from ferbias.data.schema import STUDY_EMOTIONS
from ferbias.data.sources import load_source
from ferbias.io import write_json_atomic
from ferbias.models import MODELS, count_parameters, create_model, forward_mflops, list_models
from ferbias.predict import predict_proba
from ferbias.train import fit
from ferbias.variants import get_variant, list_variants

log = logging.getLogger(__name__)
app = typer.Typer(help="Models and training variants.", no_args_is_help=True)
console = Console()

ALL_GROUPS = "all"
NO_GROUP_ROWS = "--group {group!r}: no {source} images with gender {group!r}; present: {present}"
IMAGES_FAILED = "%d image(s) could not be prepared and are left out"


@app.command("list")
def list_command(
    classes: int = typer.Option(len(STUDY_EMOTIONS), "--classes", help="Output classes."),
) -> None:
    """Registered models with trainable parameters and forward MFLOPs per 48x48 image."""
    table = Table("model", "parameters", "MFLOPs/image", "description")
    for name in list_models():
        model = create_model(name, num_classes=classes, seed=0)
        doc = (MODELS.get(name).__doc__ or "").strip().splitlines()[0]
        table.add_row(name, f"{count_parameters(model):,}", f"{forward_mflops(model):,.1f}", doc)
    console.print(table)


@app.command("variants")
def variants_command() -> None:
    """Registered training variants (model options and recipe)."""
    table = Table("variant", "model options", "optimizer", "lr", "augmentation", "regularisation")
    for name in list_variants():
        variant = get_variant(name)
        r = variant.recipe
        reg = ", ".join(
            f"{k} {v}"
            for k, v in (("wd", r.weight_decay), ("l2", r.l2), ("smooth", r.label_smoothing))
            if v
        )
        options = ", ".join(f"{k}={v}" for k, v in variant.model_options.items())
        lr = f"{r.lr:g} {r.schedule}"
        table.add_row(name, options, r.optimizer, lr, str(r.augmentation), reg or "-")
    console.print(table)


@dataclass
class TrainingData:
    """uint8 images and class indices for train, validation and the official test split."""

    emotions: list[str]
    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


def load_training_data(
    source: str,
    path: Path,
    *,
    group: str,
    emotions: list[str],
    split_seed: int = 0,
    val_fraction: float = 0.1,
    limit: int | None = None,
) -> TrainingData:
    """Load ``source``, keep ``emotions`` (and gender ``group``), prepare, split.

    The official test split is kept; validation is carved from train; train/val rows in an exact
    duplicate group with a test member are dropped (``data.splits.make_splits``). ``limit``
    keeps a random ``limit`` of the train images (and a tenth of that for val and test).
    """
    manifest = load_source(source, path).manifest
    manifest = manifest[manifest["emotion"].isin(emotions).fillna(False)]
    if group != ALL_GROUPS:
        present = sorted(manifest["gender"].dropna().unique())
        manifest = manifest[manifest["gender"] == group]
        if manifest.empty:
            raise typer.BadParameter(
                NO_GROUP_ROWS.format(group=group, source=source, present=present)
            )
    manifest = manifest.reset_index(drop=True)
    prepared = images.prepare(manifest)
    if len(prepared.failures):
        log.warning(IMAGES_FAILED, len(prepared.failures))
    manifest = manifest.set_index("sample_id").loc[prepared.sample_ids].reset_index()
    split = splits.make_splits(
        manifest,
        seed=split_seed,
        val_fraction=val_fraction,
        stratify=("emotion",),
        duplicate_groups=quality.find_duplicates(manifest),
    )
    labels = manifest["emotion"].map({e: i for i, e in enumerate(emotions)}).to_numpy(np.int64)
    parts = [(split == name).fillna(False).to_numpy() for name in ("train", "val", "test")]
    if limit:
        rng = np.random.default_rng(split_seed)
        caps = (limit, max(limit // 10, 1), max(limit // 10, 1))
        parts = [keep_random(mask, cap, rng) for mask, cap in zip(parts, caps, strict=True)]
    arrays = [a for m in parts for a in (prepared.pixels[m], labels[m])]
    return TrainingData(list(emotions), *arrays)


def keep_random(mask: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    """``mask`` with all but a random ``cap`` of its True entries cleared."""
    rows = np.flatnonzero(mask)
    kept = np.zeros_like(mask)
    kept[rng.permutation(rows)[:cap]] = True
    return kept


def train(
    source: str = typer.Option("fer2013", "--source", help="Data source name."),
    path: Path = typer.Option(..., "--path", exists=True, help="The source's folder or file."),
    group: str = typer.Option(ALL_GROUPS, "--group", help="Gender to train on, or 'all'."),
    variant: str = typer.Option("baseline", "--variant", help="See `ferbias models variants`."),
    model: str = typer.Option("paper-cnn", "--model", help="See `ferbias models list`."),
    epochs: int | None = typer.Option(None, "--epochs", help="Default: the variant's (20)."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Default: the variant's."),
    seed: int = typer.Option(0, "--seed", help="Training seed (init, order, augmentation)."),
    out: Path = typer.Option(..., "--out", help="Run folder; an interrupted run resumes."),
    emotions: str = typer.Option(",".join(STUDY_EMOTIONS), "--emotions", help="Comma list."),
    limit: int | None = typer.Option(None, "--limit", help="At most LIMIT train images (demo)."),
) -> None:
    """Train one model on one group; writes model.safetensors, history.csv and run.json."""
    chosen = get_variant(variant)
    overrides = {k: v for k, v in (("epochs", epochs), ("batch_size", batch_size)) if v}
    chosen = chosen.with_overrides(**overrides)
    names = [e.strip() for e in emotions.split(",") if e.strip()]
    data = load_training_data(source, path, group=group, emotions=names, limit=limit)
    meta = {
        "run_id": out.name,
        "experiment": "cli",
        "model": model,
        "variant": chosen.to_dict(),
        "train_group": group,
        "seed": seed,
        "emotions": names,
        "source": source,
        "path": str(path),
        "status": "running",
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "counts": {"train": len(data.train_y), "val": len(data.val_y), "test": len(data.test_y)},
    }
    write_json_atomic(out / "run.json", meta)
    start = time.perf_counter()
    net = create_model(model, num_classes=len(names), seed=seed, **chosen.model_options)
    result = fit(
        net,
        data.train_x,
        data.train_y,
        data.val_x,
        data.val_y,
        recipe=chosen.recipe,
        seed=seed,
        run_dir=out,
    )
    test_acc = test_accuracy(result.model, data.test_x, data.test_y)
    meta |= {
        "status": "finished",
        "best_epoch": result.best_epoch,
        "test_acc": test_acc,
        "seconds": round(time.perf_counter() - start, 1),
    }
    write_json_atomic(out / "run.json", meta)
    show_history(result.history)
    console.print(
        f"best epoch {result.best_epoch}; test accuracy {test_acc:.4f} "
        f"({len(data.test_y)} images); run folder {out}"
    )


def test_accuracy(model: torch.nn.Module, pixels: np.ndarray, labels: np.ndarray) -> float | None:
    if len(labels) == 0:
        return None
    return float((predict_proba(model, pixels).argmax(1) == labels).mean())


def show_history(history: pd.DataFrame) -> None:
    table = Table(*history.columns)
    for row in history.itertuples(index=False):
        table.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)
