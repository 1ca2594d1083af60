"""The allocator setting that keeps a click from faulting its activations in again."""

from __future__ import annotations

import subprocess
import sys

import pytest

from napari_fbrs import allocator

GLIBC = sys.platform.startswith("linux")


def _run(code: str, **env: str) -> str:
    import os

    full = {**os.environ, **env}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full, check=True
    )
    return result.stdout.strip()


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's (Linux)")
def test_configure_threads_tunes_the_allocator_once() -> None:
    code = (
        "from napari_fbrs import allocator, threads\n"
        "threads.configure_threads()\n"
        "print(allocator._applied, allocator.tune_allocator())"
    )
    assert _run(code) == "True True"


def test_the_tuning_can_be_switched_off() -> None:
    code = "from napari_fbrs import allocator\nprint(allocator.tune_allocator())"
    assert _run(code, NAPARI_FBRS_TUNE_MALLOC="0") == "False"


def test_the_values_are_within_what_glibc_accepts() -> None:
    assert allocator.MMAP_THRESHOLD <= 32 << 20  # glibc ignores a larger mmap threshold
    assert allocator.TRIM_THRESHOLD >= allocator.MMAP_THRESHOLD
