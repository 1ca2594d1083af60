"""Ctrl+C / SIGTERM as a clean stop for long CLI jobs (training, evaluation).

A CPU training run or a 300-object evaluation takes hours and is stopped many times. The first
interrupt asks the job to stop at its next safe point (after the current optimiser step, after
the current object) so that what was computed is kept; a second one aborts at once, as Python
normally would.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class StopRequest:
    """Set by the signal handler; long loops poll it at their safe points."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def on_step(self, step: int, total: int, loss: float) -> bool:
        """The trainer's step callback: ``False`` stops the run after this step."""
        return not self.requested


@contextmanager
def stop_on_signals(stop: StopRequest, message: str) -> Iterator[None]:
    """Route SIGINT and SIGTERM to ``stop`` inside the block; ``message`` says what happens.

    Under torchrun every rank must stop at the same step, which a signal seen by one rank
    cannot guarantee, so distributed runs keep the default behaviour.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        yield
        return
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in signals}

    def handler(signum: int, frame: Any) -> None:
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True
        print(f"\n{signal.Signals(signum).name}: {message}", file=sys.stderr, flush=True)

    for sig in signals:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
