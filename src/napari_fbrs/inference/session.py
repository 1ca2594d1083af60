"""A UI-free interactive segmentation session: clicks, undo, finished objects.

The session is what the napari widget, the command line and the tests drive. It owns the
predictor for one image, the clicks of the object being built, an undo stack of
(clicks, predictor state, probabilities) snapshots and the current probability map. Finished
objects are painted into a label image with the next free id, never over existing labels unless
asked to. It does no threading and no I/O, so it runs unchanged inside a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .clicks import Click
from .predictor import Predictor, PredictorState


@dataclass(frozen=True)
class _Snapshot:
    clicks: tuple[Click, ...]
    predictor: PredictorState
    probs: np.ndarray | None


@dataclass(frozen=True)
class PaintPlan:
    """Where a finished object goes: its id and the flat indices of the pixels to set."""

    label_id: int
    indices: tuple[np.ndarray, ...]
    kept_pixels: int  # object pixels left alone because they already had a label

    @property
    def num_pixels(self) -> int:
        return int(self.indices[0].size) if self.indices else 0


def next_label_id(labels: np.ndarray) -> int:
    """``max + 1`` of a label image (1 for an empty one)."""
    return int(labels.max()) + 1 if labels.size else 1


def plan_paint(labels: np.ndarray, mask: np.ndarray, overwrite: bool = False) -> PaintPlan:
    """Decide which pixels of ``labels`` (same shape as ``mask``) receive the new object."""
    if labels.shape != mask.shape:
        raise ValueError(f"labels {labels.shape} and mask {mask.shape} differ in shape")
    target = mask if overwrite else mask & (labels == 0)
    label_id = next_label_id(labels)
    if np.issubdtype(labels.dtype, np.integer) and label_id > np.iinfo(labels.dtype).max:
        raise OverflowError(f"label id {label_id} does not fit the {labels.dtype} label image")
    return PaintPlan(label_id, tuple(np.nonzero(target)), int(mask.sum() - target.sum()))


class InteractiveSession:
    """Clicks -> probability map -> finished objects, with exact undo."""

    def __init__(self, predictor: Predictor, prob_thresh: float = 0.5) -> None:
        self.predictor = predictor
        self.prob_thresh = prob_thresh
        self.clicks: tuple[Click, ...] = ()
        self.probs: np.ndarray | None = None
        self._undo: list[_Snapshot] = []

    # -- image ------------------------------------------------------------------------------
    def set_image(self, image: np.ndarray) -> None:
        """Start over on a new ``H x W x 3`` image (see ``io.images.to_model_rgb``)."""
        self.predictor.set_image(image)
        self._clear_object()

    @property
    def image_shape(self) -> tuple[int, int]:
        return self.predictor.image_shape

    # -- the object being built -------------------------------------------------------------
    def add_click(self, click: Click) -> np.ndarray:
        """Add one click, predict, and return the new probability map."""
        height, width = self.image_shape
        if not click.inside(height, width):
            raise ValueError(
                f"click at ({click.row:g}, {click.col:g}) lies outside the "
                f"{height} x {width} image"
            )
        snapshot = _Snapshot(self.clicks, self.predictor.get_state(), self.probs)
        clicks = (*self.clicks, click)
        probs = self.predictor.predict(clicks)  # raises before any state is committed
        self._undo.append(snapshot)
        self.clicks, self.probs = clicks, probs
        return probs

    def undo_click(self) -> bool:
        """Restore the clicks, predictor state and map from before the last click."""
        if not self._undo:
            return False
        snapshot = self._undo.pop()
        self.predictor.set_state(snapshot.predictor)
        self.clicks, self.probs = snapshot.clicks, snapshot.probs
        return True

    def reset_object(self) -> None:
        """Drop the current object's clicks and the predictor's per-object state."""
        self._clear_object()

    def _clear_object(self) -> None:
        self.predictor.reset()
        self.clicks, self.probs, self._undo = (), None, []

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def mask(self) -> np.ndarray | None:
        """The current object at the current threshold (recomputed, no network call)."""
        return None if self.probs is None else self.probs > self.prob_thresh

    # -- finishing ----------------------------------------------------------------------------
    def finish_object(self, labels: np.ndarray, overwrite: bool = False) -> PaintPlan | None:
        """Paint the current object into ``labels`` in place and start a new object.

        Returns the plan that was applied (id and pixels), or ``None`` when there is no object.
        Existing labels are kept unless ``overwrite`` is true.
        """
        mask = self.mask
        if mask is None or not mask.any():
            return None
        plan = plan_paint(labels, mask, overwrite)
        labels[plan.indices] = plan.label_id
        self._clear_object()
        return plan
