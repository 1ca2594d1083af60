"""Waiting for something another process or thread does, without fixed sleeps."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Return as soon as ``condition()`` holds; TimeoutError naming ``what`` after ``timeout``
    seconds. For files and processes that signal nothing (Qt code waits with qtbot)."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()  # never set: wait() is an interruptible pause between checks
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} (waited {timeout:g} s)")
        tick.wait(0.05)
