"""A competing busy process, for benchmarks that measure latency on a shared CPU.

A user's machine always runs something else (napari's own drawing, a browser, a build), and
OpenMP thread pools that spin while they wait can collapse when one core is taken: a click
that takes 0.2 s on an idle machine took 7 s with one core busy (issue 16). Benchmarks time
the same work "quiet" and "loaded"; this module makes the load, the same way for every
benchmark (``bench_predict.py --busy``; ``bench_widget.py`` can reuse it).

The load is ``cores`` plain Python processes, each spinning in ``while True: pass``: one full
core apiece, at the caller's priority, touching no memory, so the measured slowdown is CPU
sharing alone.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

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
