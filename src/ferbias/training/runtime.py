"""Where and how a run computes: device kind, precision and threads, resolved on the worker.

``precision`` is ``fp32``, ``bf16`` or ``auto``. ``bf16`` is autocast with fp32 master weights:
convolutions and matrix products run in bfloat16, weights, optimiser state and the loss stay in
float32. ``auto`` picks bf16 where the hardware has native bf16 (CUDA devices that support it;
CPUs with AVX512-BF16 or AMX) and fp32 elsewhere, so it is resolved on the machine that trains
and a record never says ``auto``.

A ``Runtime`` (device kind, resolved precision, threads) is what the executor and the machine
change in a run's numbers: training is not thread-count invariant (two epochs of paper-cnn on 512
images with 1 and with 2 threads end with weights that differ by up to 9e-3), so the run id
carries all three.
What does not change the numbers beyond float rounding (CPU model, library versions) goes to
``machine_info`` and from there into run.json.

``keep_freed_memory`` tunes glibc's allocator for batched CPU work; it changes speed, not numbers.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import socket
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import torch

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda")
Precision = Literal["auto", "fp32", "bf16"]
Device = Literal["auto", "cpu", "cuda"]
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of native bf16 arithmetic
UNKNOWN_PRECISION = "precision {value!r}: expected one of {valid}"
UNKNOWN_DEVICE = "device {value!r}: expected one of {valid}"
NO_CUDA = "device 'cuda' was asked for, but torch sees no CUDA device on {host}"
# glibc mallopt parameters and the values keep_freed_memory sets (see there)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
TRIM_THRESHOLD_BYTES = 256 << 20
MMAP_THRESHOLD_BYTES = 64 << 20
EMULATED_BF16 = "bf16 asked for on %s without native bf16 arithmetic: it runs, but slower than fp32"


@dataclass(frozen=True)
class Runtime:
    """Device kind, resolved precision and torch threads of a run: the suffix of its id."""

    device: Literal["cpu", "cuda"]
    precision: Literal["fp32", "bf16"]
    threads: int

    @property
    def tag(self) -> str:
        """``cpu-bf16-t1``: the run-id suffix."""
        return f"{self.device}-{self.precision}-t{self.threads}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto`` (or None): CUDA when torch sees a device, else the CPU."""
    name = str(device or "auto")
    kind = name.split(":")[0]
    if kind not in DEVICES:
        raise ValueError(UNKNOWN_DEVICE.format(value=name, valid=", ".join(DEVICES)))
    if kind == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(NO_CUDA.format(host=socket.gethostname()))
    return torch.device(name)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` does bf16 arithmetic in hardware (not emulated in fp32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return bool(set(CPU_BF16_FLAGS) & cpu_flags())


def resolve_precision(precision: str, device: torch.device) -> Literal["fp32", "bf16"]:
    """``auto`` -> ``bf16`` where ``device`` has native bf16, else ``fp32``; others as given."""
    if precision not in PRECISIONS:
        raise ValueError(UNKNOWN_PRECISION.format(value=precision, valid=", ".join(PRECISIONS)))
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    if precision == "bf16" and not native_bf16(device):
        log.warning(EMULATED_BF16, device.type)
    return precision  # type: ignore[return-value]


def resolve_runtime(*, device: str = "auto", precision: str = "auto", threads: int) -> Runtime:
    """The runtime a run with these settings gets on this machine."""
    resolved = resolve_device(device)
    return Runtime(resolved.type, resolve_precision(precision, resolved), threads)  # type: ignore[arg-type]


def autocast(device: torch.device, precision: str) -> AbstractContextManager:
    """bf16 autocast on ``device`` for ``precision == "bf16"``; a no-op for fp32."""
    return torch.autocast(device.type, torch.bfloat16, enabled=precision == "bf16")


@cache
def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed activation buffers for reuse; True where it took effect.

    By default glibc serves each block over 128 KB-32 MB with a fresh ``mmap`` and unmaps it
    on free, or trims the heap top, so every batch's activations (paper-cnn at batch 64: 9-19 MB
    a layer) come back as zero-filled pages faulted in anew. Blocks under 64 MB now come from
    the heap, and up to 256 MB may stay free at its top. Measured on a 2-core Zen 4
    (``benchmarks/bench_train.py``, paper-cnn, bf16, 2 threads): inference 2,326 -> 3,987
    images/s, training 861 -> 937 (730 -> 983 and 841 -> 1,040 in two other pairs), ~95 MB more
    peak RSS; the numbers are bit for bit the same. Runs once per process; a no-op (False)
    outside glibc (macOS, musl).
    """
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    took = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    return libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1 and took


@cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


@cache
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: str = "cpu") -> dict[str, Any]:
    """What a run.json records about the machine: host, CPU, GPU, library versions."""
    import numpy

    info: dict[str, Any] = {
        "host": socket.gethostname(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "cpu_bf16": sorted(set(CPU_BF16_FLAGS) & cpu_flags()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }
    if device == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
        info["cuda"] = torch.version.cuda
    return info
