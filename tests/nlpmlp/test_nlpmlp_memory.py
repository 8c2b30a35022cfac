"""Tests of nlpmlp.memory, in fresh processes, since malloc settings are global."""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys

import pytest

# Allocates 8 blocks of 2 MiB with the C library's malloc, frees them, and
# prints glibc's statistics: the bytes that mmap served for the blocks, and
# the bytes left in the heap after they were freed.
PROBE = """
import ctypes, json, sys
from nlpmlp.memory import keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
        "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
libc.mallinfo2.restype = MallInfo2
applied = keep_freed_memory() if sys.argv[1] == "keep" else None
mapped_before = libc.mallinfo2().hblkhd
blocks = [libc.malloc(2 * 2**20) for _ in range(8)]
for block in blocks:
    ctypes.memset(block, 1, 2 * 2**20)
mapped = libc.mallinfo2().hblkhd - mapped_before
for block in blocks:
    libc.free(block)
heap = libc.mallinfo2().arena
print(json.dumps({"applied": applied, "mapped": mapped, "heap": heap}))
"""


def _has_mallinfo2() -> bool:
    return sys.platform.startswith("linux") and hasattr(ctypes.CDLL(None), "mallinfo2")


def probe(mode: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout)


@pytest.mark.skipif(not _has_mallinfo2(), reason="needs glibc 2.33 or later")
def test_default_malloc_maps_large_blocks():
    # The contrast for the next test: glibc's defaults serve 2 MiB blocks
    # with mmap and hand them back to the system when freed.
    default = probe("default")
    assert default["mapped"] >= 8 * 2 * 2**20
    assert default["heap"] < 2 * 2**20


@pytest.mark.skipif(not _has_mallinfo2(), reason="needs glibc 2.33 or later")
def test_keep_freed_memory_keeps_blocks_in_heap():
    result = probe("keep")
    assert result["applied"] is True
    assert result["mapped"] == 0
    assert result["heap"] >= 8 * 2 * 2**20
