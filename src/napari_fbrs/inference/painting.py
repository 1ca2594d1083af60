"""Finishing an object into a label image: which pixels, with which id.

The session decides (:meth:`~napari_fbrs.inference.session.InteractiveSession.finish`); the
caller applies the plan in one assignment (napari: ``Labels.data_setitem``, one undo step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PaintPlan:
    """Where a finished object goes: its id and the pixels (full label-array indices)."""

    label_id: int
    indices: tuple[np.ndarray, ...]
    kept_pixels: int  # object pixels left alone because they already had a label

    @property
    def num_pixels(self) -> int:
        return int(self.indices[0].size) if self.indices else 0


def next_label_id(labels: np.ndarray) -> int:
    """``max + 1`` of a label image (1 for an empty one)."""
    return int(np.max(labels)) + 1 if np.size(labels) else 1


def plan_paint(
    labels: np.ndarray,
    mask: np.ndarray,
    label_id: int,
    overwrite: bool = False,
    origin: tuple[int, ...] = (),
) -> PaintPlan:
    """Which pixels of ``labels`` receive object ``label_id``.

    ``mask`` covers the window of ``labels`` that starts at ``origin`` (leading indices first,
    e.g. ``(z, row, col)``; missing leading entries are 0). Existing labels are kept unless
    ``overwrite``. The id must fit the label array's integer type.
    """
    origin = (0,) * (labels.ndim - len(origin)) + tuple(origin)
    lead = labels.ndim - mask.ndim
    window = tuple(
        slice(o, o + s) if axis >= lead else o
        for axis, (o, s) in enumerate(zip(origin, (1,) * lead + mask.shape, strict=True))
    )
    if np.issubdtype(labels.dtype, np.integer) and label_id > np.iinfo(labels.dtype).max:
        raise OverflowError(f"label id {label_id} does not fit the {labels.dtype} label image")
    region = np.asarray(labels[window])
    if region.shape != mask.shape:
        raise ValueError(f"labels window {region.shape} and mask {mask.shape} differ in shape")
    target = mask if overwrite else mask & (region == 0)
    local = np.nonzero(target)
    indices = tuple(np.full(local[0].size, origin[a], dtype=np.intp) for a in range(lead)) + tuple(
        (idx + origin[lead + a]).astype(np.intp) for a, idx in enumerate(local)
    )
    return PaintPlan(label_id, indices, int(mask.sum() - target.sum()))
