"""`ferbias models ...` (list models and variants) and `ferbias train` (one model, one group)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import typer
from rich.console import Console
from rich.table import Table

from ferbias.data.schema import STUDY_EMOTIONS
from ferbias.data.splits import require_every_emotion
from ferbias.io import write_json_atomic
from ferbias.models import MODELS, count_parameters, create_model, forward_mflops, list_models
from ferbias.training.data import ALL_GROUPS, EmptyGroup, load_training_data
from ferbias.training.fit import train_model
from ferbias.training.predict import accuracy
from ferbias.training.runtime import PRECISIONS, machine_info
from ferbias.training.variants import get_variant, list_variants

app = typer.Typer(help="Models and training variants.", no_args_is_help=True)
console = Console()


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


def train(
    source: str = typer.Option("fer2013", "--source", help="Data source name."),
    path: Path = typer.Option(..., "--path", exists=True, help="The source's folder or file."),
    group: str = typer.Option(ALL_GROUPS, "--group", help="Gender to train on, or 'all'."),
    variant: str = typer.Option("baseline", "--variant", help="See `ferbias models variants`."),
    model: str = typer.Option("paper-cnn", "--model", help="See `ferbias models list`."),
    epochs: int | None = typer.Option(None, "--epochs", help="Default: the variant's (20)."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Default: the variant's."),
    seed: int = typer.Option(0, "--seed", min=0, help="Training seed (init, order, augmentation)."),
    out: Path = typer.Option(..., "--out", help="Run folder; an interrupted run resumes."),
    emotions: str = typer.Option(",".join(STUDY_EMOTIONS), "--emotions", help="Comma list."),
    limit: int | None = typer.Option(None, "--limit", help="At most LIMIT train images (demo)."),
    face_crop: bool = typer.Option(None, "--face-crop/--no-face-crop", help="default: per source"),
    precision: str = typer.Option(
        "auto", "--precision", help="fp32, bf16, or auto (bf16 where the hardware has it)."
    ),
) -> None:
    """Train one model on one group; writes model.safetensors, history.csv and run.json."""
    if precision not in PRECISIONS:
        raise typer.BadParameter(
            f"expected one of {', '.join(PRECISIONS)}", param_hint="--precision"
        )
    chosen = get_variant(variant)
    overrides = {k: v for k, v in (("epochs", epochs), ("batch_size", batch_size)) if v}
    chosen = chosen.with_overrides(**overrides)
    names = [e.strip() for e in emotions.split(",") if e.strip()]
    try:
        data = load_training_data(
            source, path, group=group, emotions=names, limit=limit, face_crop=face_crop
        )
    except EmptyGroup as error:
        raise typer.BadParameter(str(error), param_hint="--group") from error
    trained_on = [names[i] for i in np.unique(data.train_y)]
    where = f"{source} {path}, group {group!r}, train split"
    require_every_emotion(trained_on, names, where=where)
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
        "precision_asked": precision,
        "machine": machine_info(),
        "counts": {"train": len(data.train_y), "val": len(data.val_y), "test": len(data.test_y)},
    }
    write_json_atomic(out / "run.json", meta)
    start = time.perf_counter()
    result = train_model(
        model,
        data,
        num_classes=len(names),
        recipe=chosen.recipe,
        seed=seed,
        options=chosen.model_options,
        run_dir=out,
        precision=precision,
        progress=True,
    )
    test_acc = accuracy(result.model, data.test_x, data.test_y, precision=result.precision)
    device = next(result.model.parameters()).device.type
    meta |= {
        "runtime": {
            "device": device,
            "precision": result.precision,
            "threads": torch.get_num_threads(),
        },
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


def show_history(history: pd.DataFrame) -> None:
    table = Table(*history.columns)
    for row in history.itertuples(index=False):
        table.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)
