"""CPU thread settings: a click as fast as torch can make it on an idle CPU, and no collapse
when another process holds a core.

torch runs its CPU kernels on an OpenMP thread pool (GNU libgomp in the pip wheels). A worker
that waits at one of the thousands of barriers of a forward pass *spins* before it sleeps
(libgomp's default: about 300,000 iterations, a few milliseconds; ``OMP_WAIT_POLICY=ACTIVE``:
for ever; ``PASSIVE``: not at all). When another process holds a core, spinning workers take
turns on the cores with the one that still has work, and a NoBRS click went from 0.2 s to 7 s
(issue 16). ``PASSIVE`` everywhere fixed that, but made every idle click 1.2-1.7x slower than
spinning and training 1.36x slower (issue 21). So the policy now depends on the job:

* **interactive** (the widget, ``predict`` and the other commands that click): no wait
  policy is set, so libgomp spins a moment at a barrier and then sleeps (nothing burns a core
  between clicks, which ``ACTIVE`` would), and **every click chooses its thread count** from
  the cores that are idle at that moment: :func:`threads_for_click` (called by
  ``Predictor.predict``, the one path of every click: widget, ``predict``, propagation, and
  Python code that called :func:`configure_threads`) takes torch's own count less one per
  core other processes kept busy over the last second (:mod:`napari_fbrs.cpuload`:
  ``/proc/stat`` less this process's own CPU time), at least 1. One thread runs every
  parallel region inline: no barrier, nothing to collapse.
* **batch** (``train`` and ``evaluate``, long jobs the user started): torch's defaults,
  every thread, no monitor; the same count on every run, so an evaluation's BRS results (which
  depend on the thread count through summation order) do not depend on the machine's load.

What the user set wins: ``NAPARI_FBRS_THREADS=N`` fixes the count (exported as
``OMP_NUM_THREADS`` before torch starts, or applied with ``torch.set_num_threads`` when torch
is already imported) and turns the per-click choice off, as does an ``OMP_NUM_THREADS`` of the
user's; ``OMP_WAIT_POLICY`` and ``GOMP_SPINCOUNT`` are never overridden. Where the choice cannot
be made (no readable ``/proc/stat``: macOS, Windows) or a count is fixed, the interactive role
keeps the policy issue 16 measured: ``OMP_WAIT_POLICY=PASSIVE`` unless the user set one (robust
on a shared CPU, not the fastest on an idle one). When torch was imported before the first
call (``ThreadSettings.late``) nothing else is changed and nothing adapts: the wait policy can
no longer take effect, and the program that imported torch may have chosen its threads.

Measured with ``python benchmarks/bench_predict.py --busy --busy-sizes 400`` (NoBRS, the
400 x 400 sheep through the network, median of 8 clicks after a warm-up, 2 cores; "loaded":
one competing busy process; see the README for the machine's state and the commands):

======================================  ========================  ===========================
setting                                 built-in idle / loaded    hrnet18_ocr64 idle / loaded
======================================  ========================  ===========================
``OMP_WAIT_POLICY=ACTIVE``              0.176 s / 0.445 s         0.560 s / 1.472 s
torch default (spin, then sleep)        0.171 s / 0.516 s         0.523 s / 1.832 s
1 thread                                0.213 s / 0.247 s         0.800 s / 0.880 s
``PASSIVE`` (the policy before)         0.219 s / 0.319 s         0.750 s / 1.195 s
per click (:func:`threads_for_click`)   0.173 s / 0.166 s         0.857 s / 0.870 s
======================================  ========================  ===========================

The machine was shared with other sessions: even in its own scheduler group at nice -20 the
benchmark saw other processes keep 0.3-1.0 of a core busy during the idle runs, so the
per-click rows ran on one thread there too; with nothing else running they take every core and
are the "torch default" row (the choice costs about 20 microseconds per click). Loaded, a
click on one thread stays within 1.7x of the idle torch-default click (issue 16's goal: 2x),
where spinning threads take 2.5-3.5x. ``train`` keeps torch's default: on the built-in
model it trained at 3.87-3.97 crops/s, ``ACTIVE`` 3.66-3.81, ``PASSIVE`` 3.44.

Limits: a load that starts during a click is seen at the next one; every other process's CPU
time counts, whatever its priority (a nice-19 job makes clicks take one thread); in a container
``/proc/stat`` shows the host's CPUs.

Call :func:`configure_threads` once, before anything imports torch: the command line calls it
first thing in ``napari_fbrs.cli.main`` (``train`` and ``evaluate`` as batch, the others as
interactive); the
napari plugin calls it when its package is imported, which is before torch. It is idempotent:
later calls return the first call's result and change nothing. This module and
:mod:`napari_fbrs.cpuload` import only the standard library (torch only when it is already
loaded), so they can run first.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from typing import Literal

from .allocator import tune_allocator
from .cpuload import LoadMonitor, free_threads, proc_stat_readable

#: A positive integer here chooses the number of torch CPU threads (no adaptation).
THREADS_ENV = "NAPARI_FBRS_THREADS"
#: The wait policy set where the load of other processes cannot be measured (no /proc/stat).
FALLBACK_WAIT_POLICY = "PASSIVE"

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
#: The count the last click set, per thread: OpenMP keeps a count per thread (a thread pool
#: may run the next click on another thread that still has an older count).
_last_set = threading.local()


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
    ``"interactive"`` (clicks: the widget, ``predict``...) or ``"batch"`` (``train``,
    ``evaluate``: all threads, no adaptation).

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
    first, no /proc/stat, or the program set a count with ``torch.set_num_threads`` on this
    thread since its last click: its count wins from then on), and then changes nothing.

    Call it on the thread that runs the click: OpenMP keeps the count per thread.
    """
    global _full_threads, _monitor
    if _monitor is None:
        return None
    import torch

    current = torch.get_num_threads()
    if getattr(_last_set, "count", current) != current:
        _monitor.stop()  # the program chose a count on purpose: stop adapting for good
        _monitor = None
        return None
    if _full_threads is None:
        _full_threads = current  # torch's default: nothing adapted it yet
    try:
        threads = free_threads(_full_threads, _monitor.others())
    except (OSError, ValueError):
        threads = _full_threads
    if threads != current:
        torch.set_num_threads(threads)
    _last_set.count = threads
    return threads
