"""``fit()``: train a model on in-memory uint8 images, checkpoint every epoch, resume exactly.

Reproducibility: every epoch draws its shuffling, augmentation and dropout from generators
seeded by ``(seed, epoch)`` inside ``torch.random.fork_rng`` (the caller's global RNG is left as
it was). So the RNG state at an epoch boundary is a function of the seed and the epoch number,
and a resumed run replays exactly what an uninterrupted one does from the epoch checkpoints of
``ferbias.training.checkpoint``.

``precision`` (``ferbias.training.runtime``): ``bf16`` autocasts convolutions and matrix products
to bfloat16 (weights, optimiser state and loss stay fp32); ``auto`` picks it where the device has
native bf16.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ferbias.io import write_atomic, write_csv_atomic
from ferbias.models import create_model
from ferbias.training.augment import Augmentation, create_augmentation
from ferbias.training.checkpoint import ResumeState, epoch_seed, load_checkpoint, save_checkpoint
from ferbias.training.runtime import (
    autocast,
    keep_freed_memory,
    resolve_device,
    resolve_precision,
)
from ferbias.training.variants import Recipe

log = logging.getLogger(__name__)

HISTORY_COLUMNS = (
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "seconds",
    "images_per_s",
    "lr",
)
# Evaluation batch per device, for validation during training (fixed: its loss sums are part of
# a run's history). On a CPU with glibc's default allocator paper-cnn ran at 2,524 images/s at 64
# against 1,289 at 512 (2 threads; benchmarks/bench_train.py); a GPU wants large batches.
# Prediction picks its own batch (``predict.PREDICT_BATCH``).
INFERENCE_BATCH = {"cpu": 64, "cuda": 1024}
CHANNELS_LAST = True  # measured in benchmarks/bench_train.py (a switch for that comparison)
BAD_PIXELS = "{name} must be uint8 N x H x W; got dtype {dtype} and shape {shape}"
BAD_LABELS = "{name} must hold one integer label per image; got shape {shape} for {n} images"


@dataclass
class FitResult:
    """What ``fit`` returns: per-epoch history, the best epoch (1-based), the best model, the
    precision it trained in (``fp32`` or ``bf16``, never ``auto``) and the epoch it resumed after
    (0: trained from the start)."""

    history: pd.DataFrame
    best_epoch: int
    model: nn.Module
    stopped_early: bool = False
    precision: str = "fp32"
    resumed_after: int = 0


def fit(
    model: nn.Module,
    train_x: np.ndarray | Tensor,
    train_y: np.ndarray | Tensor,
    val_x: np.ndarray | Tensor,
    val_y: np.ndarray | Tensor,
    *,
    recipe: Recipe,
    seed: int,
    run_dir: Path | None = None,
    device: str | torch.device | None = None,
    precision: str = "auto",
    progress: bool = True,
    on_epoch: Callable[[int, dict], None] | None = None,
) -> FitResult:
    """Train ``model`` with ``recipe``; with ``run_dir``, checkpoint each epoch and resume.

    Images are uint8 ``N x 48 x 48`` (scaled to [0, 1] here); labels are class indices. Writes
    ``model.safetensors`` (best weights) and ``history.csv`` into ``run_dir`` when given.
    ``device``: ``auto``/None (CUDA when present), ``cpu`` or ``cuda``; ``precision``: ``auto``,
    ``fp32`` or ``bf16``. ``on_epoch(epoch, row)`` is called after each epoch with its history row.
    """
    device = resolve_device(device)
    precision = resolve_precision(precision, device)
    keep_freed_memory()
    data = [as_tensor(a, n, device) for a, n in ((train_x, "train_x"), (val_x, "val_x"))]
    labels = [
        as_labels(y, len(x), n, device)
        for y, x, n in ((train_y, data[0], "train_y"), (val_y, data[1], "val_y"))
    ]
    model = model.to(device, memory_format=memory_format(device))
    optimizer = make_optimizer(model, recipe)
    state = TrainingState(best_weights=clone_weights(model))
    identity = {"recipe": recipe.to_dict(), "seed": seed, "precision": precision}
    if run_dir is not None:
        resumed = load_checkpoint(Path(run_dir), model, optimizer, identity)
        state = TrainingState(**vars(resumed)) if resumed else state
    resumed_after = state.epoch
    augmentation = create_augmentation(recipe.augmentation)
    steps_per_epoch = math.ceil(len(data[0]) / recipe.batch_size)
    with progress_bar(progress) as bar:
        for epoch in range(state.epoch + 1, recipe.epochs + 1):
            if state.should_stop(recipe):
                break
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                row = run_epoch(
                    model,
                    optimizer,
                    data,
                    labels,
                    recipe,
                    augmentation,
                    Epoch(epoch, epoch_seed(seed, epoch), steps_per_epoch, precision),
                    bar,
                )
            state.record(row, model, recipe)
            if run_dir is not None:
                save_checkpoint(Path(run_dir), model, optimizer, state, identity, seed)
            log.info("epoch %d: %s", epoch, format_row(row))
            if on_epoch is not None:
                on_epoch(epoch, row)
    model.load_state_dict(state.best_weights)
    history = pd.DataFrame(state.history, columns=list(HISTORY_COLUMNS))
    if run_dir is not None:
        write_outputs(Path(run_dir), model, history)
    stopped = state.should_stop(recipe)
    return FitResult(history, state.best_epoch, model, stopped, precision, resumed_after)


class TrainValArrays(Protocol):
    """Anything holding uint8 train / validation images and their class indices."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray


def train_model(
    name: str,
    data: TrainValArrays,
    *,
    num_classes: int,
    recipe: Recipe,
    seed: int,
    options: dict[str, Any] | None = None,
    run_dir: Path | None = None,
    device: str | None = None,
    precision: str = "auto",
    progress: bool = False,
) -> FitResult:
    """``create_model(name, **options)`` initialised from ``seed``, then ``fit`` on ``data``."""
    model = create_model(name, num_classes=num_classes, seed=seed, **(options or {}))
    return fit(
        model,
        data.train_x,
        data.train_y,
        data.val_x,
        data.val_y,
        recipe=recipe,
        seed=seed,
        run_dir=run_dir,
        device=device,
        precision=precision,
        progress=progress,
    )


@dataclass
class TrainingState(ResumeState):
    """The resume state and how an epoch updates it."""

    def record(self, row: dict, model: nn.Module, recipe: Recipe) -> None:
        self.history.append([row[c] for c in HISTORY_COLUMNS])
        self.epoch = row["epoch"]
        score = row["val_acc"] if recipe.monitor == "val_acc" else -row["val_loss"]
        if score > self.best_score:
            self.best_score, self.best_epoch = score, self.epoch
            self.best_weights = clone_weights(model)

    def should_stop(self, recipe: Recipe) -> bool:
        patience = recipe.early_stopping_patience
        return patience is not None and self.epoch - self.best_epoch >= patience


@dataclass(frozen=True)
class Epoch:
    """Which epoch runs: its number, RNG seed, steps and resolved precision."""

    number: int
    seed: int
    steps: int
    precision: str


def run_epoch(model, optimizer, data, labels, recipe, augmentation, epoch: Epoch, bar):
    """One training pass and one validation pass; returns the history row."""
    torch.manual_seed(epoch.seed)  # dropout draws from the (forked) global generator
    generator = torch.Generator().manual_seed(epoch.seed)
    train_x, val_x = data
    train_y, val_y = labels
    order = torch.randperm(len(train_x), generator=generator).to(train_x.device)
    task = bar.add_task(f"epoch {epoch.number}/{recipe.epochs}", total=epoch.steps) if bar else None
    model.train()
    start = time.perf_counter()
    loss_sum = torch.zeros((), device=train_x.device)
    correct = torch.zeros((), device=train_x.device, dtype=torch.long)
    total_steps = recipe.epochs * epoch.steps
    for step, first in enumerate(range(0, len(order), recipe.batch_size)):
        index = order[first : first + recipe.batch_size]
        lr = learning_rate(recipe, (epoch.number - 1) * epoch.steps + step, total_steps)
        set_lr(optimizer, lr)
        images = to_float(train_x[index], augmentation, generator)
        loss, logits = train_step(
            model, optimizer, images, train_y[index], recipe, precision=epoch.precision
        )
        loss_sum += loss.detach() * len(index)
        correct += (logits.argmax(1) == train_y[index]).sum()
        if bar:
            bar.advance(task)
    seconds = time.perf_counter() - start
    if bar:
        bar.remove_task(task)
    val_loss, val_acc = evaluate(model, val_x, val_y, precision=epoch.precision)
    n = len(train_x)
    return {
        "epoch": epoch.number,
        "train_loss": loss_sum.item() / n,
        "train_acc": correct.item() / n,
        "val_loss": val_loss,
        "val_acc": val_acc,
        "seconds": seconds,
        "images_per_s": n / seconds,
        "lr": optimizer.param_groups[0]["lr"],
    }


def train_step(
    model, optimizer, images: Tensor, targets: Tensor, recipe: Recipe, *, precision: str = "fp32"
):
    """Forward (autocast in ``precision``), loss in fp32 (+ L2 penalty), backward, a step."""
    with autocast(images.device, precision):
        logits = model(images)
    loss = F.cross_entropy(logits.float(), targets, label_smoothing=recipe.label_smoothing)
    total = loss + recipe.l2 * l2_penalty(model) if recipe.l2 else loss
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()
    return loss, logits


@torch.inference_mode()
def evaluate(
    model: nn.Module, pixels: Tensor, labels: Tensor, *, precision: str = "fp32"
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` (eval mode, ``precision``) on uint8 pixels."""
    model.eval()
    loss_sum, correct = 0.0, 0
    batch = inference_batch(pixels.device)
    for first in range(0, len(pixels), batch):
        images = to_float(pixels[first : first + batch], None, None)
        with autocast(images.device, precision):
            logits = model(images).float()
        target = labels[first : first + batch]
        loss_sum += F.cross_entropy(logits, target, reduction="sum").item()
        correct += (logits.argmax(1) == target).sum().item()
    return loss_sum / max(len(pixels), 1), correct / max(len(pixels), 1)


def inference_batch(device: torch.device) -> int:
    """The batch size that measured fastest for inference on ``device``'s kind."""
    return INFERENCE_BATCH.get(device.type, INFERENCE_BATCH["cuda"])


def l2_penalty(model: nn.Module) -> Tensor:
    """Keras ``kernel_regularizer=l2(1)``: sum of squared conv and dense kernels (no biases)."""
    kernels = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    return sum(w.pow(2).sum() for w in kernels)


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    params = model.parameters()
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=recipe.lr, momentum=0.9, nesterov=True, weight_decay=recipe.weight_decay
        )
    kind = torch.optim.AdamW if recipe.optimizer == "adamw" else torch.optim.Adam
    return kind(params, lr=recipe.lr, eps=recipe.eps, weight_decay=recipe.weight_decay)


def learning_rate(recipe: Recipe, step: int, total_steps: int) -> float:
    """The learning rate at ``step``: constant, warm-up + cosine, or one-cycle."""
    if recipe.schedule == "constant":
        return recipe.lr
    progress = step / max(total_steps, 1)
    if recipe.schedule == "onecycle":
        peak_at = 0.3
        if progress < peak_at:
            return recipe.lr * (0.04 + 0.96 * progress / peak_at)
        return recipe.lr * 0.5 * (1 + math.cos(math.pi * (progress - peak_at) / (1 - peak_at)))
    warmup = recipe.warmup_epochs / max(recipe.epochs, 1)
    if progress < warmup:
        return recipe.lr * (step + 1) / (warmup * total_steps)
    return recipe.lr * 0.5 * (1 + math.cos(math.pi * (progress - warmup) / max(1 - warmup, 1e-9)))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def to_float(pixels: Tensor, augmentation: Augmentation | None, generator) -> Tensor:
    """uint8 N x H x W -> float N x 1 x H x W in [0, 1] (augmented when given), channels_last."""
    images = pixels.unsqueeze(1).float().div_(255.0)
    if augmentation is not None:
        images = augmentation(images, generator)
    return images.contiguous(memory_format=memory_format(images.device))


def memory_format(device: torch.device) -> torch.memory_format:
    """channels_last (NHWC) for oneDNN / cuDNN convolutions; see benchmarks/bench_train.py."""
    return torch.channels_last if CHANNELS_LAST else torch.contiguous_format


def as_tensor(pixels, name: str, device: torch.device) -> Tensor:
    if isinstance(pixels, np.ndarray) and not pixels.flags.writeable:
        pixels = pixels.copy()
    tensor = torch.as_tensor(pixels)
    if tensor.dtype != torch.uint8 or tensor.ndim != 3:
        raise ValueError(
            BAD_PIXELS.format(name=name, dtype=tensor.dtype, shape=tuple(tensor.shape))
        )
    return tensor.to(device)


def as_labels(labels, n: int, name: str, device: torch.device) -> Tensor:
    tensor = torch.tensor(np.asarray(labels), dtype=torch.long)
    if tensor.shape != (n,):
        raise ValueError(BAD_LABELS.format(name=name, shape=tuple(tensor.shape), n=n))
    return tensor.to(device)


def clone_weights(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def write_outputs(run_dir: Path, model: nn.Module, history: pd.DataFrame) -> None:
    weights = {k: v.contiguous().cpu() for k, v in model.state_dict().items()}
    write_atomic(run_dir / "model.safetensors", lambda tmp: save_file(weights, str(tmp)))
    write_csv_atomic(run_dir / "history.csv", history)


def load_weights(model: nn.Module, path: Path) -> nn.Module:
    """Load ``model.safetensors`` written by ``fit`` into ``model``."""
    model.load_state_dict(load_file(str(path)))
    return model


def format_row(row: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch")


def progress_bar(enabled: bool):
    """A rich progress bar, or a no-op context yielding None."""
    if not enabled:
        return nullcontext()
    columns = (TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn())
    return Progress(*columns, transient=True)
