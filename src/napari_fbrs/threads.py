"""CPU thread settings that keep a click fast when the CPU is shared.

torch runs its CPU kernels on an OpenMP thread pool (GNU libgomp in the pip wheels). By default
an idle OpenMP worker *spins* for a while at every barrier before it sleeps. When another
process holds a core (napari drawing, a browser, a build; the widget's worker always shares
the CPU with the Qt thread), the spinning workers take turns on the cores with the one worker
that still has work, and each of the thousands of parallel regions of a forward pass waits
for a scheduler slice: on 2 cores with one busy process, a NoBRS click on a 128 x 128 image
went from 0.2 s to 7.3 s (issue 16).

The policy, measured with ``python benchmarks/bench_predict.py --busy`` (built-in model,
NoBRS, whole image through the network, 2 cores, one competing busy process; the machine
also ran a nice-5 training job in the background, so "quiet" was not idle):

=================================  =========================  ==========================
setting                             128 x 128 quiet / loaded   800 x 800 quiet / loaded
=================================  =========================  ==========================
torch default (2 threads, spin)     0.094 s / 5.96 s (63.7x)   8.96 s / 15.3 s (1.71x)
1 thread                            0.049 s / 0.075 s (1.52x)  2.47 s / 5.39 s (2.18x)
2 threads, ``PASSIVE``              0.063 s / 0.119 s (1.89x)  3.21 s / 4.80 s (1.49x)
=================================  =========================  ==========================

A second run, with other benchmarks also running on the machine, gave the same picture:
torch's default 0.47 s / 1.57 s (3.4x) and 10.4 s / 16.7 s (1.6x, its quiet click already 2x
slower than the others'), ``configure_threads()`` 0.11 s / 0.19 s (1.8x) and 4.8 s / 8.1 s
(1.7x).

``OMP_WAIT_POLICY=PASSIVE`` (a worker with nothing to do sleeps at once) removes the collapse
and keeps a loaded click within 2x of a quiet one, with torch's own thread count (one per
physical core), so no core is given up on an idle machine and training keeps its speed.
One thread avoids the barriers altogether but missed the goal on the large image here (once
the machine is full, its one core is shared too).

:func:`configure_threads` applies it:

* ``OMP_WAIT_POLICY=PASSIVE``, unless the environment already has an ``OMP_WAIT_POLICY``.
  libgomp reads it when it is loaded, i.e. at ``import torch``; set later it reaches only
  child processes.
* ``NAPARI_FBRS_THREADS=N``, when set, chooses the intra-op thread count: exported as
  ``OMP_NUM_THREADS`` before torch starts, or applied with ``torch.set_num_threads`` when
  torch is already imported. Otherwise the thread count is torch's (or ``OMP_NUM_THREADS``).

When torch was imported before the first call (``ThreadSettings.late``), nothing else is
changed: the wait policy can no longer take effect, and the program that imported torch may
have chosen its threads on purpose.

Call it once, before anything imports torch: the command line calls it first thing in
``napari_fbrs.cli.main``; the napari plugin calls it before its first inference (best when its
modules are imported, which is before torch). It is idempotent: later calls return the first
call's result and change nothing. This module imports only the standard library (torch only
when it is already loaded), so it can run first.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Literal

from .allocator import tune_allocator
from .cpuload import LoadMonitor, free_threads, proc_stat_readable

#: A positive integer here chooses the number of torch CPU threads (no adaptation).
THREADS_ENV = "NAPARI_FBRS_THREADS"
#: The wait policy set where the load of other processes cannot be measured (no /proc/stat).
FALLBACK_WAIT_POLICY = "PASSIVE"
#: The user's own OpenMP settings, never overridden.
USER_OMP = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT")

Role = Literal["interactive", "batch"]


@dataclass(frozen=True)
class ThreadSettings:
    """What :func:`configure_threads` found and did.

    ``role``: what it was configured for. ``wait_policy``: the ``OMP_WAIT_POLICY`` torch's
    OpenMP runs with in this process (None: unset when torch was loaded, i.e. libgomp's
    default, which spins a moment and then sleeps). ``num_threads``: the count set from
    ``NAPARI_FBRS_THREADS`` (None: torch's default, ``OMP_NUM_THREADS`` or per click).
    ``adaptive``: each click chooses its thread count from the idle cores. ``late``: torch was
    imported before the call.
    """

    role: Role
    wait_policy: str | None
    num_threads: int | None
    adaptive: bool
    late: bool


_settings: ThreadSettings | None = None
_monitor: LoadMonitor | None = None
_full_threads: int | None = None


def requested_threads() -> int | None:
    """``NAPARI_FBRS_THREADS`` as a positive integer, or None when unset or empty."""
    text = os.environ.get(THREADS_ENV, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{THREADS_ENV}={text!r}: expected a positive integer")
    return value


def configure_threads(role: Role = "interactive") -> ThreadSettings:
    """Choose the thread policy for this process (see the module doc); ``role`` is
    ``"interactive"`` (clicks: the widget, ``predict``, ``evaluate``...) or ``"batch"``
    (``train``: all threads, no adaptation).

    Idempotent: later calls return the first call's result and change nothing. Raises
    ValueError when ``NAPARI_FBRS_THREADS`` is not a positive integer (and then changes
    nothing, so a corrected call can follow).
    """
    global _settings, _monitor
    if _settings is not None:
        return _settings
    if role not in ("interactive", "batch"):
        raise ValueError(f"role must be 'interactive' or 'batch', got {role!r}")
    wanted = requested_threads()
    tune_allocator()  # the other process-wide CPU setting a click's speed depends on
    late = "torch" in sys.modules
    user_wait = os.environ.get("OMP_WAIT_POLICY")
    fixed = wanted is not None or "OMP_NUM_THREADS" in os.environ
    adaptive = role == "interactive" and not fixed and not late and proc_stat_readable()
    if role == "interactive" and not adaptive and not late and user_wait is None:
        os.environ["OMP_WAIT_POLICY"] = FALLBACK_WAIT_POLICY  # cannot adapt: never collapse
    if wanted is not None:
        if late:
            import torch

            torch.set_num_threads(wanted)
        else:
            os.environ["OMP_NUM_THREADS"] = str(wanted)
    if adaptive:
        _monitor = LoadMonitor()
        _monitor.start()
    wait = user_wait if late else os.environ.get("OMP_WAIT_POLICY")
    _settings = ThreadSettings(role, wait, wanted, adaptive, late)
    return _settings


def threads_for_click() -> int | None:
    """Set torch's thread count for the click about to run: torch's full count less one per
    core that other processes keep busy (at least 1). Returns the count, or None when this
    process does not adapt (not configured as interactive, a fixed count, torch imported
    first, no /proc/stat), and then changes nothing.

    Call it on the thread that runs the click: OpenMP keeps the count per thread.
    """
    global _full_threads
    if _monitor is None:
        return None
    import torch

    if _full_threads is None:
        _full_threads = torch.get_num_threads()  # torch's default: nothing adapted it yet
    try:
        threads = free_threads(_full_threads, _monitor.others())
    except (OSError, ValueError):
        threads = _full_threads
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    return threads
