"""The runtime's allocator setting: freed activation-sized blocks stay in the heap for reuse."""

from __future__ import annotations

import ctypes
import platform

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
