"""Finishing an object from the widget: the worker call that plans it and checks it, and the
Qt-side painting with what the user is told.

Kept apart from the controller, which only decides *when* to finish: the session plans the
paint (id, replaced label, pixels),
:func:`~napari_fbrs.inference.session.object_checks.check_object` looks for a tiny or overgrown
object, and :func:`paint` applies the plan as one step of napari's labels undo and says what
happened, with a notification when the user should look (existing labels kept, a label replaced, an
object that looks wrong) and how to take it back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from napari.layers import Labels
from napari.utils.notifications import show_info, show_warning

from napari_fbrs._napari import layers as L
from napari_fbrs.inference.session.interactive import Finished
from napari_fbrs.inference.session.object_checks import ObjectChecks, check_object
from napari_fbrs.inference.session.painting import PaintPlan

Result = tuple[Finished, list[str]]


def finish_call(
    session: Any,
    target: Labels,
    grey: L.GreyPlane,
    slice_index: tuple[int, ...],
    options: tuple[bool, float, ObjectChecks],
) -> Callable[[], Result]:
    """The worker call: finish the session's object into ``target`` and check it.

    ``options``: paint over existing labels, the replace ratio, the checks.
    """
    overwrite, ratio, checks = options

    def run() -> Result:
        state = session.state
        labels = np.asarray(target.data)
        finished = session.finish(labels, slice_index, overwrite, ratio)
        problems: list[str] = []
        mask = state.mask()
        if finished.plan is not None and mask is not None and state.map is not None:
            problems = check_object(mask, state.map.origin, grey, state.clicks, checks)
        return finished, problems

    return run


def paint(target: Labels, plan: PaintPlan, problems: list[str]) -> str:
    """Apply ``plan`` to ``target`` (one undo step), notify, and return the status text."""
    message, warning = L.apply_plan(target, plan)
    if warning:
        show_warning(warning)
    if problems:
        show_warning(
            f"Object {plan.label_id} looks wrong: {'; '.join(problems)}. To take it back, "
            f"{how_to_undo(target)}."
        )
    elif plan.replaced is not None:
        show_info(f"f-BRS: {message}")
    return message


def how_to_undo(target: Labels) -> str:
    """The objects are in the labels, whose undo is napari's: what to press."""
    return f"select {target.name!r} and press Ctrl+Z (napari's labels undo)"
