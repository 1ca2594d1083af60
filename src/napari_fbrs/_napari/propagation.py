"""The Qt side of "Propagate": progress from the worker thread, Cancel, the status text.

The work itself is the session's (:meth:`InteractiveSession.propagate`), run as one call of the
worker FIFO; this module gives it a thread-safe progress callback that moves a napari progress
bar on the Qt thread and honours Cancel, and describes the result for the status line.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Protocol

import numpy as np
from napari.layers import Image

from napari_fbrs._napari.progress_run import ProgressRun, WorkerHost


class PlaneLike(Protocol):
    """The plane an object was clicked on: its image and the slice's leading indices."""

    image: Image
    slice_index: tuple[int, ...]


class PropagationHost(WorkerHost, Protocol):
    """What "Propagate" needs from the controller, and nothing more.

    The controller keeps its own state: the propagator asks it for the object to propagate,
    hands the object over (the controller ends it and remembers its plane) and tells it where
    the result was painted.
    """

    @property
    def overwrite(self) -> bool: ...
    def object_to_propagate(self) -> PlaneLike | None: ...
    def hand_over(self, plane: PlaneLike) -> None: ...
    def show_state(self, state: Any) -> None: ...
    def refuse(self, message: str) -> bool: ...


def describe(done: Any, target: str) -> str:
    """``Object 5: slices 3..11 (9) -> 'f-BRS labels'; +Z: object vanished at 12; ...``"""
    plan, result = done.plan, done.result
    first, last = min(result.indices), max(result.indices)
    stops = "; ".join(
        f"{'+' if step > 0 else '-'}Z: {stop.reason.value}"
        + (f" at slice {stop.index}" if stop.index is not None else "")
        for step, stop in sorted(result.stops.items())
    )
    return (
        f"Object {plan.label_id}: slices {first}..{last} ({len(result.indices)}) -> "
        f"{target!r}; {stops}."
    )


class Propagator:
    """The "Propagate" action: takes the object the controller shows (or the last one
    finished), runs the session's propagation as one worker call, paints the result as one
    napari undo step and reports where each direction stopped."""

    def __init__(self, controller: PropagationHost, session: Any) -> None:
        self.controller = controller
        self._session = session  # called only from the worker, like the controller does
        self.run: ProgressRun | None = None

    @property
    def running(self) -> bool:
        return self.run is not None

    def propagate(self, config: Any) -> None:
        from . import layers as L
        from .slots import qt_slot

        c = self.controller
        plane = c.object_to_propagate()
        if plane is None or plane.image not in c.viewer.layers:
            c.say("Nothing to propagate: click an object on a slice first (or finish one).")
            return
        if self.running:
            c.say("A propagation is running; cancel it or wait for it.")
            return
        try:
            stack = L.stack_of(plane.image, plane.slice_index)
        except ValueError as exc:
            c.refuse(str(exc))
            return
        target = c.target_for(plane.image)
        if target is None:
            return
        self.run = run = ProgressRun("f-BRS propagate")
        overwrite = c.overwrite
        c.hand_over(plane)
        c.say(f"Propagating from slice {plane.slice_index[-1]}...")

        def work() -> Any:
            labels = np.asarray(target.data)

            def on_slice(index: int, done: int, total: int) -> bool:
                return run.report(done, total, f"slice {index}")

            args = (labels, stack, plane.slice_index, overwrite, config, on_slice)
            return self._session.propagate(*args)

        @qt_slot
        def done(result: Any) -> None:
            self._finish(run)
            c.show_state(result.state)
            if result.plan is None:
                c.say(f"Nothing painted: {result.reason}.")
                return
            target.data_setitem(result.plan.indices, result.plan.values)  # one undo step
            c.submit(partial(self._session.release, np.asarray(target.data), result.plan.label_id))
            c.painted_into(target)
            c.say(describe(result, target.name))

        @qt_slot
        def failed(exc: Exception) -> None:
            self._finish(run)
            c.report_failure(exc)

        c.submit(work, done, failed)

    def cancel(self) -> None:
        if self.run is not None:
            self.run.cancelled.set()
            self.controller.say("Cancelling the propagation after the current slice...")

    def _finish(self, run: ProgressRun) -> None:
        run.close()
        if self.run is run:
            self.run = None
