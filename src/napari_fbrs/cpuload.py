"""How many CPU cores other processes keep busy right now (Linux ``/proc/stat``).

A click chooses its torch thread count from this (:func:`napari_fbrs.threads.threads_for_click`):
OpenMP workers that wait for each other at the thousands of barriers of a forward pass collapse
when another process holds one of their cores, while a single thread has no barrier at all.

The arithmetic is pure and tested on synthetic readings: ``/proc/stat``'s first line counts,
in clock ticks since boot, the time all CPUs spent in each state; busy ticks over a window,
minus this process's own CPU time in that window (our own click is not "other" load), over the
window's total ticks, times the number of CPUs, is the number of cores others kept busy.
Niced processes count as busy: a nice-5 job still takes a third of its core from a spinning
worker.

:class:`LoadMonitor` samples every ``interval_s`` (0.2 s) on a daemon thread, so the estimate
at a click covers the last second or so, whatever the pause since the previous click was; the
sampling costs a file read of ``/proc/stat`` (tens of microseconds) five times a second. Only
the standard library is imported: this runs before torch starts.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass

PROC_STAT = "/proc/stat"
#: Fields of the ``cpu`` line that are busy time: user nice system (idle iowait) irq softirq
#: steal. ``guest`` and ``guest_nice`` are already part of user and nice.
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)
_IDLE_FIELDS = (3, 4)


@dataclass(frozen=True)
class CpuTicks:
    """One reading of ``/proc/stat``: busy and total clock ticks of all CPUs, their count."""

    busy: int
    total: int
    cpus: int


@dataclass(frozen=True)
class Sample:
    """A reading of the machine's ticks and this process's CPU seconds at the same moment."""

    ticks: CpuTicks
    own_seconds: float
    at: float  # time.monotonic()


def parse_proc_stat(text: str) -> CpuTicks:
    """The ``cpu`` summary line and the number of ``cpuN`` lines of a ``/proc/stat`` text.

    Raises ValueError when the text has no usable ``cpu`` line.
    """
    summary: list[int] | None = None
    cpus = 0
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if name == "cpu":
            summary = [int(v) for v in rest.split()]
        elif name.startswith("cpu") and name[3:].isdigit():
            cpus += 1
    if summary is None or len(summary) < 4:
        raise ValueError("no 'cpu' line in /proc/stat")
    fields = summary + [0] * (8 - len(summary))
    busy = sum(fields[i] for i in _BUSY_FIELDS)
    return CpuTicks(busy, busy + sum(fields[i] for i in _IDLE_FIELDS), max(cpus, 1))


def busy_by_others(before: Sample, after: Sample, ticks_per_second: float) -> float:
    """Cores kept busy by other processes between two samples, clipped to ``0..cpus``.

    0.0 when no tick passed (a window too short to say anything).
    """
    total = after.ticks.total - before.ticks.total
    if total <= 0:
        return 0.0
    own_ticks = (after.own_seconds - before.own_seconds) * ticks_per_second
    others = (after.ticks.busy - before.ticks.busy - own_ticks) / total * after.ticks.cpus
    return min(max(others, 0.0), float(after.ticks.cpus))


def free_threads(full: int, others: float, busy_fraction: float = 0.5) -> int:
    """Threads for a click: ``full`` less one per core others keep busy, at least 1.

    A core counts as taken when others use more than ``busy_fraction`` of it (a competitor
    that holds a core half the time already stalls a team of spinning workers).
    """
    taken = int(others + 1.0 - busy_fraction) if others > busy_fraction else 0
    return max(1, full - taken)


def read_proc_stat(path: str | None = None) -> CpuTicks:
    """Read and parse ``/proc/stat`` (OSError or ValueError when it is not there)."""
    with open(path or PROC_STAT, encoding="ascii") as file:
        return parse_proc_stat(file.read())


def proc_stat_readable(path: str | None = None) -> bool:
    """Whether the load of other processes can be measured here (Linux)."""
    try:
        read_proc_stat(path)
    except (OSError, ValueError):
        return False
    return True


def _read_sample() -> Sample:
    return Sample(read_proc_stat(), time.process_time(), time.monotonic())


class LoadMonitor:
    """Samples the machine's CPU ticks on a daemon thread; :meth:`others` estimates the
    cores other processes kept busy over the last ``window_s`` seconds."""

    def __init__(self, interval_s: float = 0.2, window_s: float = 1.0) -> None:
        self.interval_s, self.window_s = interval_s, window_s
        self._ticks_per_second = float(os.sysconf("SC_CLK_TCK"))
        self._samples: deque[Sample] = deque(maxlen=int(window_s / interval_s) + 2)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def sample(self) -> Sample:
        """A reading now, kept as history (the sampling thread's clock)."""
        now = _read_sample()
        with self._lock:
            self._samples.append(now)
        return now

    def start(self) -> None:
        """Take the first sample and start the sampling thread (once)."""
        if self._thread is not None:
            return
        self.sample()
        self._thread = threading.Thread(target=self._run, name="napari-fbrs-cpuload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the sampling thread (within one interval)."""
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.sample()
            except (OSError, ValueError):  # /proc went away: keep the history we have
                return

    def others(self) -> float:
        """Cores other processes kept busy from the oldest sample within the window to now.

        The reading taken now is not kept: calls in quick succession (clicks of an evaluation)
        must not push the sampling thread's history out of the window.
        """
        now = _read_sample()
        with self._lock:
            history = list(self._samples)
        recent = [s for s in history if now.at - s.at <= self.window_s]
        # no sample in the window (a forked child has no sampling thread): the newest one
        since = recent[0] if recent else (history[-1] if history else now)
        return busy_by_others(since, now, self._ticks_per_second)
