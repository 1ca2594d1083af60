"""Simulated users for the two non-click starts of issue 24: correcting a label, and a box.

* **Correcting a label.** The existing label is the ground truth eroded or dilated (alternately
  by object) until its IoU with the object is about :data:`START_IOU`; the simulated user is
  the NoC protocol's (:func:`~napari_fbrs.evaluation.clicker.next_click`), starting from that
  mask instead of from nothing. Counted: clicks until IoU >= the target (0 when the start is
  already there; ``max_clicks`` when never).
* **A box.** The box is the object's bounding box (the GrabCut ignore band excluded). Scored:
  the IoU of the box alone, and the clicks until IoU >= the target from the box plus the NoC
  user's clicks, beside the clicks from nothing with the same user.

Everything runs on one :class:`~napari_fbrs.inference.session.interactive.InteractiveSession`
per object, as a user of the widget, the CLI or ``Segmenter`` gets it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import distance_transform_edt

from napari_fbrs.evaluation.clicker import SimulatedClicker
from napari_fbrs.evaluation.metrics import iou
from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.session.boxes import DEFAULT_BOX_VARIANT, Box, box_start
from napari_fbrs.inference.session.init_mask import ObjectStart, start_from_mask
from napari_fbrs.inference.session.interactive import InteractiveSession

#: The starting IoU of a simulated existing label (the issue's range is 0.75-0.85).
START_IOU = 0.8


def degraded_mask(
    gt: np.ndarray, dilate: bool, target: float = START_IOU, spread: float = 0.05
) -> np.ndarray | None:
    """The object (``gt == 1``) eroded or dilated to an IoU with it within ``target +-
    spread`` (bisection on a sub-pixel distance), trying the other operation when the
    preferred one cannot get there (a small object jumps past the range in one pixel step);
    None when neither can."""
    obj = gt == 1
    inside = distance_transform_edt(np.pad(obj, 1))[1:-1, 1:-1]
    outside = distance_transform_edt(~obj)
    for grow in (dilate, not dilate):

        def mask_at(distance: float, grow: bool = grow) -> np.ndarray:
            return (outside <= distance) if grow else (inside > distance)

        low, high = 0.0, float(max(obj.shape))
        for _ in range(40):
            middle = 0.5 * (low + high)
            if iou(gt, mask_at(middle)) > target:
                low = middle
            else:
                high = middle
        scored = [(abs(iou(gt, m) - target), m) for m in (mask_at(low), mask_at(high))]
        scored = [(d, m) for d, m in scored if d <= spread + 1e-9 and m.any()]
        if scored:
            return min(scored, key=lambda pair: pair[0])[1]
    return None


def bounding_box(gt: np.ndarray) -> Box:
    """The object's bounding box (``gt == 1``; ignored pixels excluded)."""
    return Box.of_mask(gt == 1)


@dataclass(frozen=True)
class PromptRun:
    """One object: the start's IoU and the IoU after each click (the start not counted)."""

    start_iou: float
    ious: tuple[float, ...]

    def clicks_to(self, target: float, max_clicks: int) -> int:
        """0 when the start reaches ``target``, else the 1-based click, else ``max_clicks``."""
        if self.start_iou >= target:
            return 0
        for index, value in enumerate(self.ious[:max_clicks]):
            if value >= target:
                return index + 1
        return max_clicks


def click_from(
    session: InteractiveSession,
    gt: np.ndarray,
    start: ObjectStart | None,
    target: float,
    max_clicks: int,
) -> PromptRun:
    """Start the object (``None``: from nothing) and let the NoC user click until ``target``."""
    if start is None:
        session.reset()
        pred = np.zeros(gt.shape, dtype=bool)
    else:
        state = session.start_from(start)
        assert state.map is not None
        pred = state.map.full_mask(state.threshold)
    start_iou = iou(gt, pred)
    clicker = SimulatedClicker(gt)
    ious: list[float] = []
    value = start_iou
    while value < target and len(ious) < max_clicks:
        click = clicker.make_next_click(pred)
        state = session.add_click(Click(click.row, click.col, click.positive))
        assert state.map is not None
        pred = state.map.full_mask(state.threshold)
        value = iou(gt, pred)
        ious.append(value)
    return PromptRun(start_iou, tuple(ious))


def edit_run(
    session: InteractiveSession,
    gt: np.ndarray,
    dilate: bool,
    target: float = 0.9,
    max_clicks: int = 20,
    seed_click: bool | None = None,
) -> PromptRun | None:
    """Correct a degraded copy of the object (session prepared on its image); None when the
    object cannot be degraded to the starting IoU range (:func:`degraded_mask`)."""
    predictor = session.predictor
    assert predictor is not None
    init = degraded_mask(gt, dilate)
    if init is None:
        return None
    start = start_from_mask(init, predictor.uses_prev_mask, label_id=1, seed_click=seed_click)
    return click_from(session, gt, start, target, max_clicks)


def box_run(
    session: InteractiveSession,
    gt: np.ndarray,
    variant: str = DEFAULT_BOX_VARIANT,
    target: float = 0.9,
    max_clicks: int = 20,
    keep_seeds: bool = True,
) -> PromptRun:
    """A box around the object, then the NoC user's clicks (``max_clicks`` 0: the box alone).
    ``keep_seeds=False`` drops the box's clicks from the network input once the user clicks
    (the box's mask stays the previous prediction)."""
    predictor = session.predictor
    assert predictor is not None
    start = box_start(predictor, bounding_box(gt), variant)
    if not keep_seeds:
        start = ObjectStart(start.probs, start.zoom_region, (), None)
    return click_from(session, gt, start, target, max_clicks)
