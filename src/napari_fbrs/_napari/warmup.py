"""The first labels and points layers of a napari session, prepared off the Qt thread.

napari imports pandas, scipy and scikit-image and sets up its unit registry (pint) the first
time a labels or points layer is made: about a second in which the window freezes, and the
dock makes both layers when it opens. Those imports do not need the Qt thread: a thread makes
a throwaway labels and points layer (models only, never added to a viewer); the dock adds its
layers when that is done. In a session that made such layers already, everything is in place
and the dock adds its layers at once.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

from qtpy.QtCore import QObject, Signal

#: Modules napari imports when it makes its first labels or points layer (napari 0.6): when
#: all are imported, the dock's layers cost only their own making.
WARM_MODULES: tuple[str, ...] = (
    "pandas.core",
    "scipy.linalg",
    "skimage.color",
    "skimage.exposure",
)


def _prepare() -> None:
    """Make napari's first labels and points layers (models only) and import their visuals."""
    import importlib

    import numpy as np
    from napari.layers import Labels, Points

    Labels(np.zeros((1, 1), dtype=np.uint8))
    Points(np.zeros((0, 2)), features={"positive": np.zeros(0, dtype=bool)})
    for name in WARM_MODULES:  # imported above by this napari; by another one perhaps not
        try:
            importlib.import_module(name)
        except ImportError:  # the dock then waits only for what this napari needs
            pass


class _Done(QObject):
    ready = Signal()


class Warmup:
    """Runs ``_prepare`` once in a daemon thread; ``when_ready`` calls back on the Qt thread."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._signal = _Done()
        self._waiting: list[Callable[[], None]] = []
        self._signal.ready.connect(self._run_waiting)

    def is_ready(self) -> bool:
        if self._thread is not None:  # a module being imported is in sys.modules already
            return self._done.is_set()
        return all(name in sys.modules for name in WARM_MODULES)

    def start(self) -> None:
        if self._thread is None and not self.is_ready():
            self._thread = threading.Thread(target=self._work, name="napari-fbrs warm-up")
            self._thread.daemon = True
            self._thread.start()

    def when_ready(self, callback: Callable[[], None]) -> None:
        """``callback()`` now if ready, else on the Qt thread once the thread is done."""
        if self.is_ready():
            callback()
            return
        self._waiting.append(callback)
        self.start()

    def _work(self) -> None:
        try:
            _prepare()
        finally:
            self._done.set()
            try:
                self._signal.ready.emit()  # queued to the Qt thread
            except RuntimeError:  # the application is gone
                pass

    def _run_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        for callback in waiting:
            callback()


_WARMUP: Warmup | None = None


def warmup() -> Warmup:
    """The process's one warm-up (made on the Qt thread, by the first dock)."""
    global _WARMUP
    if _WARMUP is None:
        _WARMUP = Warmup()
    return _WARMUP
