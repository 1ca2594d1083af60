"""One long worker call as the user sees it: a napari progress bar and a cancel flag.

"Propagate" and "Segment everything" each run as one call of the widget's worker FIFO. The
core reports progress from the worker thread; this carries it to the Qt thread (a queued
signal) where the bar moves, and hands the core a flag that Cancel sets.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from napari.layers import Image, Labels
from napari.utils import progress
from qtpy.QtCore import QObject, Signal


class _Bridge(QObject):
    """Carries ``(done, total, label)`` from the worker to the Qt thread (queued signal)."""

    progressed = Signal(int, int, str)


class ProgressRun:
    """One run: a progress bar named ``description``, a cancel flag, ``report`` for the core."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.cancelled = threading.Event()
        self._bar: progress | None = progress(total=0, desc=description)
        self._bridge = _Bridge()
        self._bridge.progressed.connect(self._update)

    def report(self, done: int, total: int, label: str = "") -> bool:
        """Called in the worker as work is done; False once the user cancelled."""
        try:
            self._bridge.progressed.emit(done, total, label)
        except RuntimeError:  # the widget went away (viewer closed): stop
            self.cancelled.set()
        return not self.cancelled.is_set()

    def _update(self, done: int, total: int, label: str) -> None:
        bar = self._bar  # napari may handle the run's end while this updates: keep a reference
        if bar is None:
            return
        bar.total = max(total, done, 1)
        bar.n = done
        if label:
            bar.set_description(f"{self.description} ({label})")
        if self._bar is bar:
            bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class WorkerHost(Protocol):
    """What a long worker call needs from the controller: queue work, paint, say, fail."""

    @property
    def viewer(self) -> Any: ...
    def target_for(self, image: Image) -> Labels | None: ...
    def painted_into(self, target: Labels) -> None: ...
    def say(self, message: str) -> None: ...
    def report_failure(self, exc: Exception) -> None: ...
    def submit(
        self,
        run: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None: ...
