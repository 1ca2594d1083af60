"""The widget's "One click per object" mode: the checkbox and key state, the worker call,
painting an auto-finished object and taking it back on undo.

The rule and the bookkeeping are the session's
(:meth:`~napari_fbrs.inference.session.interactive.InteractiveSession.click_one_per_object`):
while the mode is on, every click after an object's first runs that call in the worker, which
may finish the current object into the target labels before the click starts the next one.
This module paints such an object as one step of napari's labels undo (as Finish does, with the
same checks and notifications), says "Object 5 finished; new object", and remembers the values
it painted over, so that undoing the click that finished it (Undo / Shift+Z) restores them (a
second labels step) while the session makes the object the current one again.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

import numpy as np
from napari.layers import Image, Labels
from napari.utils.notifications import show_error
from psygnal import Signal

from napari_fbrs._napari import layers as L
from napari_fbrs._napari.finishing import paint
from napari_fbrs._napari.slots import qt_slot
from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.session.interactive import ObjectState
from napari_fbrs.inference.session.object_checks import ObjectChecks, check_object
from napari_fbrs.inference.session.one_click import OneClick

Result = tuple[OneClick, list[str]]
#: An auto-finished object's layer, id, painted indices and the values they held before.
Painted = tuple[Labels, int, tuple[np.ndarray, ...], np.ndarray]


class Host(Protocol):
    """What the mode needs of the controller."""

    viewer: Any
    overwrite: bool
    replace_ratio: float
    checks: ObjectChecks
    last_painted: Labels | None

    def submit(
        self,
        run: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None: ...

    def target_for(self, image: Image) -> Labels | None: ...

    def show_state(self, state: ObjectState) -> None: ...

    def say(self, message: str) -> None: ...


class OneClickMode:
    """On/off, and the clicks and undos that go through the session's one-click calls."""

    changed = Signal(bool)  # the mode was switched (checkbox or key)

    def __init__(self, host: Host, session: Any) -> None:
        self._host = host
        self._session = session  # only used inside worker calls
        self.enabled = False
        # auto-finished objects, for undo; newest last
        self._painted: list[Painted] = []
        # Shift was held when the mouse button went down for the next point (see note_press)
        self._same_object_next = False

    @qt_slot
    def set_enabled(self, on: bool) -> None:
        if bool(on) == self.enabled:
            return
        self.enabled = bool(on)
        self.changed.emit(self.enabled)
        self._host.say(
            "One click per object: a click outside the object finishes it and starts the next."
            if self.enabled
            else "One click per object is off: Finish (C) keeps each object."
        )

    def toggle(self) -> None:
        self.set_enabled(not self.enabled)

    def note_press(self, layer, event) -> None:  # noqa: ANN001 - napari mouse callback
        """On the clicks layer's mouse press: Shift+click means "this part belongs to the
        current object" (a positive correction outside its mask, which the mode would
        otherwise take as the next object). napari places the point on release."""
        modifiers = getattr(event, "modifiers", None) or ()
        self._same_object_next = any(m == "Shift" for m in modifiers)

    def forget(self) -> None:
        """The chain of auto-finished objects ended (Finish, Reset): undo no longer reaches
        them, so their old values are not needed."""
        self._painted = []

    def click(
        self, image: Image, slice_index: tuple[int, ...], click: Click, on_state: Callable
    ) -> bool:
        """Run ``click`` through the session's one-click call; False when refused.

        The target labels are made here if needed, and kept even while empty: the clicks that
        correct the first object would otherwise make and remove a layer each time."""
        host = self._host
        target = host.target_for(image)
        if target is None:
            return False
        grey = L.GreyPlane(image, slice_index)
        same_object, self._same_object_next = self._same_object_next, False
        options = (host.overwrite, host.replace_ratio, host.checks, same_object)
        run = _worker_call(self._session, click, target, grey, slice_index, options)
        host.submit(run, partial(self._clicked, target, on_state))
        return True

    def undo(self) -> None:
        """Undo the last click; one that finished an object brings that object back."""
        self._host.submit(self._session.undo_click, self._undone)

    def _clicked(self, target: Labels, on_state: Callable, result: Result) -> None:
        done, problems = result
        host = self._host
        finished = done.finished
        plan = finished.plan if finished is not None else None
        if finished is not None and plan is None:
            host.say(f"Nothing painted: {finished.reason}; new object.")
        elif plan is not None and target not in host.viewer.layers:
            show_error(f"f-BRS: labels layer {target.name!r} was removed; object not saved.")
        elif plan is not None:
            before = np.asarray(target.data)[plan.all_indices]
            self._painted.append((target, plan.label_id, plan.all_indices, before))
            paint(target, plan, problems)
            host.last_painted = target
            host.say(f"Object {plan.label_id} finished; new object.")
        if plan is not None:
            labels = np.asarray(target.data)
            host.submit(partial(self._session.release, labels, plan.label_id))
        on_state(done.state)

    def _undone(self, done: OneClick) -> None:
        host = self._host
        plan = done.unfinished.plan if done.unfinished is not None else None
        record = self._take(plan.label_id) if plan is not None else None
        if record is not None:
            target, label_id, indices, before = record
            if target in host.viewer.layers:
                target.data_setitem(indices, before)
                host.say(f"Object {label_id} taken out of {target.name!r}; it is being edited.")
        host.show_state(done.state)

    def _take(
        self, label_id: int
    ) -> tuple[Labels, int, tuple[np.ndarray, ...], np.ndarray] | None:
        for index in range(len(self._painted) - 1, -1, -1):
            if self._painted[index][1] == label_id:
                return self._painted.pop(index)
        return None


def _worker_call(
    session: Any,
    click: Click,
    target: Labels,
    grey: L.GreyPlane,
    slice_index: tuple[int, ...],
    options: tuple[bool, float, ObjectChecks, bool],
) -> Callable[[], Result]:
    """In the worker: the click, which may finish the object first (checked as at Finish)."""
    overwrite, ratio, checks, same_object = options

    def run() -> Result:
        state = session.state
        labels = np.asarray(target.data)
        done = session.click_one_per_object(
            click, labels, slice_index, overwrite, ratio, same_object
        )
        problems: list[str] = []
        mask = state.mask()
        finished = done.finished
        if finished is not None and finished.plan is not None and mask is not None:
            assert state.map is not None
            problems = check_object(mask, state.map.origin, grey, state.clicks, checks)
        return done, problems

    return run
