"""The runtime's allocator setting: freed activation-sized blocks stay in the heap for reuse, and
the numbers do not change."""

from __future__ import annotations

import ctypes
import platform
import subprocess
import sys

import pytest

from ferbias.training.runtime import MMAP_THRESHOLD_BYTES, keep_freed_memory

pytestmark = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="keep_freed_memory tunes glibc's malloc only"
)


class MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (all ``size_t``)."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",  # bytes in blocks served by mmap
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",  # free bytes kept in the heap
            "keepcost",
        )
    ]


def test_blocks_past_glibcs_default_threshold_come_from_the_heap_and_stay_there():
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.mallinfo2.restype = MallInfo2
    assert keep_freed_memory() is True
    size = 40 << 20  # past glibc's largest dynamic mmap threshold (32 MB), under ours
    assert size < MMAP_THRESHOLD_BYTES
    mapped_before = libc.mallinfo2().hblkhd
    block = libc.malloc(size)
    assert block
    assert libc.mallinfo2().hblkhd - mapped_before < size  # not a fresh mmap
    libc.free(block)
    assert libc.mallinfo2().fordblks >= size  # kept for the next batch, not trimmed


TRAIN_AND_HASH = """
import hashlib, sys
import numpy as np
import ferbias.training.fit as fit_module
from ferbias.models import create_model
from ferbias.training.variants import Recipe
if sys.argv[1] == "glibc":
    fit_module.keep_freed_memory = lambda: False
rng = np.random.default_rng(0)
x, y = rng.integers(0, 256, (128, 48, 48), dtype=np.uint8), rng.integers(0, 6, 128)
for precision in ("fp32", "bf16"):
    model = create_model("paper-cnn", num_classes=6, seed=0)
    recipe = Recipe(epochs=1, batch_size=64, augmentation="study")
    result = fit_module.fit(
        model, x, y, x[:64], y[:64], recipe=recipe, seed=0, device="cpu", precision=precision,
        progress=False,
    )
    weights = b"".join(v.float().numpy().tobytes() for v in result.model.state_dict().values())
    print(precision, hashlib.sha256(weights).hexdigest())
"""


def test_training_gives_the_same_weights_bit_for_bit_with_either_allocator_setting():
    def train(malloc: str) -> str:
        command = [sys.executable, "-c", TRAIN_AND_HASH, malloc]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    kept, glibc = train("kept"), train("glibc")
    assert kept.count("\n") == 2 and kept == glibc
