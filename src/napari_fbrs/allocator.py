"""Keep freed activation memory in the process instead of handing it back at every click.

A forward pass of the built-in model on an 800 x 600 image allocates and frees activations of
tens of MB each. glibc's malloc serves blocks above its mmap threshold (128 KiB at first,
rising with use) by ``mmap`` and returns them with ``munmap``, and trims the heap top whenever
more than 128 KiB of it is free, so every click faults the same pages in again and has the
kernel zero them: measured on 2 cores, the model's flip-batch forward at 800 x 600 took
0.65-0.77 s, 0.33-0.35 s with the settings below (0.29 s with the same values as
environment variables at process start), the same numbers bit for bit, since only where memory
comes from changes. The price is resident memory: up to ``TRIM_THRESHOLD`` of freed memory
stays mapped (the process reaches that peak during a click anyway).

:func:`tune_allocator` applies it with ``mallopt`` on Linux/glibc (elsewhere, or with
``NAPARI_FBRS_TUNE_MALLOC=0``, it does nothing). :func:`napari_fbrs.threads.configure_threads`
calls it, so the command line, the widget and the benchmarks get it where they set threads.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["MMAP_THRESHOLD", "TOP_PAD", "TRIM_THRESHOLD", "tune_allocator"]

# mallopt parameter numbers (glibc's malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3

#: Blocks up to this size come from the heap (32 MiB: glibc's largest allowed value).
MMAP_THRESHOLD = 32 << 20
#: Free memory at the heap top kept mapped before glibc trims it.
TRIM_THRESHOLD = 1 << 30
#: Extra memory taken from the OS when the heap grows, so a click does not grow it page by page.
TOP_PAD = 256 << 20

_applied: bool | None = None


def tune_allocator() -> bool:
    """Set glibc's malloc as the module docstring says; True if it was set. Idempotent."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if not sys.platform.startswith("linux") or os.environ.get("NAPARI_FBRS_TUNE_MALLOC") == "0":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return False
    settings = ((_M_MMAP_THRESHOLD, MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    settings += ((_M_TOP_PAD, TOP_PAD),)
    _applied = all(mallopt(param, value) == 1 for param, value in settings)
    return _applied
