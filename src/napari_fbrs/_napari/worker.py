"""A plain FIFO that runs calls off the Qt thread, one after another, in the order they came.

Everything that touches the network or the session (loading a model, preparing an image, each
click, undo, finishing) is a call submitted here. A napari ``thread_worker`` drains the queue
and yields each call's outcome back to the Qt thread, where the callback given with the call
runs: the viewer never waits for torch, and calls made while another runs are neither lost nor
reordered (a click placed during a prediction, or while the model loads, waits its turn). The
queue knows nothing about sessions or layers; a failure is handed to the call's error callback
as the exception, and the queue keeps going.
"""

from __future__ import annotations

import atexit
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from napari.qt.threading import GeneratorWorker, create_worker

from napari_fbrs.torch_preload import preload_torch_libraries

#: Workers whose thread runs (see ``SessionWorker.submit``).
_RUNNING: set[GeneratorWorker] = set()


def _wait_for_running_workers() -> None:
    """At interpreter exit, let a running call end (it stops after it) before Python tears
    down the objects it reports to: a script that closes napari while the model still loads
    would otherwise abort."""
    if _RUNNING:
        from qtpy.QtCore import QThreadPool

        QThreadPool.globalInstance().waitForDone(60_000)


atexit.register(_wait_for_running_workers)


@dataclass(frozen=True)
class _Call:
    run: Callable[[], Any]
    on_done: Callable[[Any], None] | None
    on_error: Callable[[Exception], None] | None


@dataclass(frozen=True)
class _Outcome:
    call: _Call
    value: Any = None
    error: Exception | None = None


class SessionWorker:
    """FIFO of calls drained by at most one napari ``thread_worker`` at a time."""

    def __init__(self, held: bool = False) -> None:
        self._calls: deque[_Call] = deque()
        self._lock = threading.Lock()
        self._running = False
        # held: calls queue up but no thread runs them until ``release`` (the dock holds its
        # first calls, torch's import and the model's loading, while napari adds its layers)
        self._held = held
        self._outstanding = 0  # submitted calls whose outcome the Qt side has not handled yet
        self._worker: GeneratorWorker | None = None
        self._closed = False

    # -- Qt side ---------------------------------------------------------------------------------
    def submit(
        self,
        run: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        """Queue ``run``; ``on_done(value)`` or ``on_error(message)`` runs on the Qt thread."""
        if self._closed:
            return
        self._outstanding += 1
        with self._lock:
            self._calls.append(_Call(run, on_done, on_error))
            if self._running or self._held:
                return
            self._running = True
        self._start()

    def release(self) -> None:
        """Run the calls queued while held, and every later one as it comes (idempotent)."""
        with self._lock:
            if not self._held:
                return
            self._held = False
            if self._closed or self._running or not self._calls:
                return
            self._running = True
        self._start()

    def _start(self) -> None:
        self._worker = worker = create_worker(self._drain, _start_thread=False)
        worker.yielded.connect(self._deliver)
        # A dock closed mid-call drops this queue; the thread still runs its call and must
        # find its Qt signals alive (a deleted one aborts the process), so the worker is
        # kept until it has finished.
        _RUNNING.add(worker)
        worker.finished.connect(lambda: _RUNNING.discard(worker))
        worker.start()

    def _deliver(self, outcome: _Outcome) -> None:
        self._outstanding -= 1
        if self._closed:
            return
        callback = outcome.call.on_error if outcome.error is not None else outcome.call.on_done
        if callback is not None:
            callback(outcome.error if outcome.error is not None else outcome.value)

    @property
    def busy(self) -> bool:
        """True until the outcome of every submitted call has been handled on the Qt side."""
        return self._outstanding > 0

    @property
    def pending(self) -> int:
        """Calls waiting (not counting the one that runs)."""
        with self._lock:
            return len(self._calls)

    @property
    def running(self) -> bool:
        """True while a worker thread runs (also after ``shutdown`` until its call ends)."""
        return self._worker is not None and self._worker.is_running

    def shutdown(self) -> None:
        """Drop queued calls, ignore outcomes from now on, stop after the current call."""
        self._closed = True
        with self._lock:
            self._outstanding -= len(self._calls)
            self._calls.clear()
        if self._worker is not None:
            self._worker.quit()

    # -- worker side -----------------------------------------------------------------------------
    def _drain(self):  # noqa: ANN202 - a generator run by thread_worker
        # the calls import torch here, off the Qt thread; its libraries load first without
        # Python's lock, which torch's own import would hold for ~200 ms (torch_preload.py)
        preload_torch_libraries()
        while True:
            with self._lock:  # "empty" and "not running" change together: no call is stranded
                if not self._calls:
                    self._running = False
                    return
                call = self._calls.popleft()
            try:
                yield _Outcome(call, value=call.run())
            except Exception as exc:  # reported through on_error; the queue keeps going
                yield _Outcome(call, error=exc)
