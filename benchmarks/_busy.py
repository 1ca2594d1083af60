"""A competing busy process, for benchmarks that measure latency on a shared CPU.

A user's machine always runs something else (napari's own drawing, a browser, a build), and
OpenMP thread pools that spin while they wait can collapse when one core is taken: a click
that takes 0.2 s on an idle machine took 7 s with one core busy (issue 16). Benchmarks time
the same work "quiet" and "loaded"; this module makes the load, the same way for every
benchmark (``bench_predict.py --busy``; ``bench_widget.py`` can reuse it).

The load is ``cores`` plain Python processes, each spinning in ``while True: pass``: one full
core apiece, at the caller's priority, touching no memory, so the measured slowdown is CPU
sharing alone.

:class:`BackgroundLoad` says how idle the machine was: the cores kept busy by processes other
than this one and its (finished) children over a block, from ``/proc/stat``, so an "idle"
figure can state that nothing else ran.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from napari_fbrs.cpuload import CpuTicks, Sample, busy_by_others, read_proc_stat

_SPIN = "while True:\n    pass\n"


@contextmanager
def busy_processes(cores: int = 1, settle_s: float = 0.5) -> Iterator[list[int]]:
    """Run ``cores`` spinning processes inside the block; yield their process ids.

    ``settle_s`` waits until they are really running before the block starts timing. The
    processes are terminated (then killed) when the block ends, also on an exception.
    """
    if cores < 0:
        raise ValueError(f"cores must be >= 0, got {cores}")
    procs = [
        subprocess.Popen([sys.executable, "-c", _SPIN], stdin=subprocess.DEVNULL)
        for _ in range(cores)
    ]
    try:
        if procs:
            time.sleep(settle_s)
        yield [p.pid for p in procs]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class BackgroundLoad:
    """``with BackgroundLoad() as load: ...``; then ``load.cores``: the cores kept busy by
    other processes during the block (this process and children it waited for excluded), or
    None without ``/proc/stat``. Only children that finished inside the block are excluded:
    busy processes that still run count as background."""

    def __init__(self) -> None:
        self.cores: float | None = None
        self._start: Sample | None = None

    @staticmethod
    def _sample() -> Sample | None:
        try:
            ticks: CpuTicks = read_proc_stat()
        except (OSError, ValueError):
            return None
        t = os.times()
        return Sample(
            ticks, t.user + t.system + t.children_user + t.children_system, time.monotonic()
        )

    def __enter__(self) -> BackgroundLoad:
        self._start = self._sample()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._sample()
        if self._start is not None and end is not None:
            self.cores = busy_by_others(self._start, end, float(os.sysconf("SC_CLK_TCK")))


def idle_load(seconds: float = 1.0) -> float | None:
    """Cores other processes keep busy over ``seconds`` now (None without ``/proc/stat``)."""
    with BackgroundLoad() as load:
        time.sleep(seconds)
    return load.cores


def describe_load(cores: float | None) -> str:
    """``"0.02 cores busy (idle)"``, for a benchmark's output."""
    if cores is None:
        return "background load unknown (no /proc/stat)"
    return f"{cores:.2f} cores busy{' (idle)' if cores < 0.1 else ' (NOT idle)'}"
