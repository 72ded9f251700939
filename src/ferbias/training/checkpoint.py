"""Epoch checkpoints of ``fit``: one self-contained safetensors file per epoch, resumed exactly.

A checkpoint holds no pickles: weights and optimiser tensors are the file's tensors, scalars
(history, step counts, param groups, the recipe, seed and precision, the RNG scheme) JSON in its
metadata, written atomically via ``ferbias.io``. The previous epoch's file is kept until the
next one is safely on disk, so a checkpoint that does not load (a truncated file) is dropped with
a warning in favour of the epoch before it, or the run starts over.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

from ferbias.io import write_atomic

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoint"
CHECKPOINTS_KEPT = 2  # the newest epoch and the one before it, in case the newest is damaged
RECIPE_CHANGED = (
    "checkpoint in {path} was made with another recipe, seed or precision; use a new run_dir"
)
CORRUPT_CHECKPOINT = "dropping checkpoint %s: it does not load (%s)"
NO_GOOD_CHECKPOINT = "no usable checkpoint in %s: training %s from epoch 1"


@dataclass
class ResumeState:
    """Everything besides weights and optimiser tensors that a resume needs."""

    best_weights: dict[str, Tensor]
    epoch: int = 0
    best_epoch: int = 0
    best_score: float = -math.inf
    history: list | None = None

    def __post_init__(self) -> None:
        self.history = list(self.history or [])


def epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def save_checkpoint(run_dir, model, optimizer, state: ResumeState, identity: dict, seed) -> None:
    """Everything a resume needs to ``checkpoint/epoch-<k>.safetensors``, in one atomic write.

    Tensors (model, best weights, optimiser state) are the file's tensors; scalars (history,
    step counts, param groups, the recipe, seed and precision, the RNG scheme) are JSON in its
    metadata. Older epochs beyond ``CHECKPOINTS_KEPT`` are removed only after the new one is on
    disk, so a damaged newest file leaves the epoch before it to resume from.
    """
    folder = run_dir / CHECKPOINT_DIR
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors |= {f"best.{k}": v for k, v in state.best_weights.items()}
    optim = optimizer.state_dict()
    scalars = {}
    for index, entries in optim["state"].items():
        for key, value in entries.items():
            if isinstance(value, Tensor):
                tensors[f"optim.{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    meta = {
        **identity,
        "epoch": state.epoch,
        "best_epoch": state.best_epoch,
        "best_score": state.best_score,
        "history": state.history,
        "param_groups": optim["param_groups"],
        "optimizer_scalars": scalars,
        "rng": {
            "scheme": "fork_rng + generators seeded by SeedSequence([seed, epoch])",
            "next_epoch_seed": epoch_seed(seed, state.epoch + 1),
        },
    }
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    metadata = {"epoch": str(state.epoch), "state": json.dumps(meta, default=str)}
    path = folder / f"epoch-{state.epoch}.safetensors"
    write_atomic(path, lambda tmp: save_file(tensors, str(tmp), metadata))
    for old in checkpoint_files(folder)[CHECKPOINTS_KEPT:]:
        old.unlink(missing_ok=True)


def checkpoint_files(folder: Path) -> list[Path]:
    """``epoch-<k>.safetensors`` files in ``folder``, newest epoch first."""

    def epoch(path: Path) -> int:
        number = path.stem.removeprefix("epoch-")
        return int(number) if number.isdigit() else -1

    return sorted(folder.glob("epoch-*.safetensors"), key=epoch, reverse=True)


def load_checkpoint(run_dir, model, optimizer, identity: dict) -> ResumeState | None:
    """Restore from the newest checkpoint in ``run_dir`` that loads; None when there is none.

    A file that does not load (truncated, garbage) is dropped with a warning and the epoch before
    it is tried; with none left the run starts over (also with a warning). A checkpoint of
    another recipe, seed or precision is an error: its folder belongs to another run.
    """
    folder = run_dir / CHECKPOINT_DIR
    files = checkpoint_files(folder)
    for path in files:
        try:
            tensors, meta = read_checkpoint(path)
        except (OSError, SafetensorError, ValueError, KeyError) as error:
            log.warning(CORRUPT_CHECKPOINT, path, error)
            path.unlink(missing_ok=True)
            continue
        if {k: meta.get(k) for k in identity} != json.loads(json.dumps(identity)):
            raise ValueError(RECIPE_CHANGED.format(path=folder))
        state = restore(tensors, meta, model, optimizer)
        log.info("resuming from %s after epoch %d", path, state.epoch)
        return state
    if files:
        log.warning(NO_GOOD_CHECKPOINT, folder, run_dir)
    return None


def read_checkpoint(path: Path) -> tuple[dict[str, Tensor], dict]:
    """Tensors and scalars of one checkpoint file; raises when it is damaged."""
    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata() or {}
    meta = json.loads(metadata["state"])
    if str(meta["epoch"]) != metadata.get("epoch") or f"epoch-{meta['epoch']}" != path.stem:
        raise ValueError(f"metadata says epoch {meta['epoch']}")
    return load_file(str(path)), meta


def restore(tensors: dict[str, Tensor], meta: dict, model, optimizer) -> ResumeState:
    """Load a checkpoint's tensors into ``model`` and ``optimizer``; the state to go on from."""
    device = next(model.parameters()).device
    model.load_state_dict(prefixed(tensors, "model."))
    optim_state: dict = {}
    for key, value in prefixed(tensors, "optim.").items():
        index, name = key.split(".", 1)
        optim_state.setdefault(int(index), {})[name] = value.to(device)
    for key, value in meta["optimizer_scalars"].items():
        index, name = key.split(".", 1)
        optim_state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": optim_state, "param_groups": meta["param_groups"]})
    best = {k: v.to(device) for k, v in prefixed(tensors, "best.").items()}
    return ResumeState(best, meta["epoch"], meta["best_epoch"], meta["best_score"], meta["history"])


def prefixed(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
