"""Finishing an object into a label image: which pixels, with which id.

The session decides (:meth:`~napari_fbrs.inference.session.interactive.InteractiveSession.finish`);
the caller applies the plan in one assignment (napari: ``Labels.data_setitem`` with
:attr:`PaintPlan.all_indices` and :attr:`PaintPlan.values`, one undo step).

Re-segmenting an object that already has a label must not leave two ids for one object (the
old core with its id and a ring with a new one): when the new object covers at least
``replace_ratio`` (default :data:`REPLACE_RATIO`, half) of an existing label's pixels on its
plane, the plan *replaces* that label: the object takes the old id, and the old pixels outside
the new object are cleared.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: An object covering at least this fraction of an existing label replaces it.
REPLACE_RATIO = 0.5


@dataclass(frozen=True)
class PaintPlan:
    """Where a finished object goes: its id and the pixels (full label-array indices)."""

    label_id: int
    indices: tuple[np.ndarray, ...]
    kept_pixels: int  # object pixels left alone because they already had a label
    cleared: tuple[np.ndarray, ...] = ()  # old pixels of a replaced label, set to 0
    replaced: int | None = None  # the existing id this object replaces

    @property
    def num_pixels(self) -> int:
        return int(self.indices[0].size) if self.indices else 0

    @property
    def num_cleared(self) -> int:
        return int(self.cleared[0].size) if self.cleared else 0

    @property
    def all_indices(self) -> tuple[np.ndarray, ...]:
        """Painted then cleared pixels, for one assignment of :attr:`values`."""
        if not self.cleared:
            return self.indices
        return tuple(np.concatenate(pair) for pair in zip(self.indices, self.cleared, strict=True))

    @property
    def values(self) -> np.ndarray | int:
        """The id on painted pixels, 0 on cleared ones (a scalar when nothing is cleared)."""
        if not self.cleared:
            return self.label_id
        values = np.zeros(self.num_pixels + self.num_cleared, dtype=np.int64)
        values[: self.num_pixels] = self.label_id
        return values

    def apply_to(self, labels: np.ndarray) -> None:
        """Apply to a plain array (the CLI and tests; napari uses ``data_setitem``)."""
        labels[self.all_indices] = self.values


def next_label_id(labels: np.ndarray) -> int:
    """``max + 1`` of a label image (1 for an empty one)."""
    return int(np.max(labels)) + 1 if np.size(labels) else 1


def covered_label(
    plane: np.ndarray, mask: np.ndarray, window: tuple[slice, slice], ratio: float
) -> int | None:
    """The existing label of ``plane`` that ``mask`` (placed at ``window``) covers the most,
    if it covers at least ``ratio`` of that label's pixels on the plane."""
    region = np.asarray(plane[window])
    under = region[mask & (region != 0)]
    if not under.size or ratio <= 0:
        return None
    ids, counts = np.unique(under, return_counts=True)
    best = int(np.argmax(counts))
    label = ids[best]
    total = int(np.count_nonzero(plane == label))
    return int(label) if counts[best] >= ratio * total else None


def plan_paint(
    labels: np.ndarray,
    mask: np.ndarray,
    label_id: int,
    overwrite: bool = False,
    origin: tuple[int, ...] = (),
    replace_ratio: float | None = None,
    replace_id: int | None = None,
) -> PaintPlan:
    """Which pixels of ``labels`` receive object ``label_id``.

    ``mask`` covers the window of ``labels`` that starts at ``origin`` (leading indices first,
    e.g. ``(z, row, col)``; missing leading entries are 0). Existing labels are kept unless
    ``overwrite``. The id must fit the label array's integer type. With ``replace_ratio``, a
    label the mask covers at least that much of is replaced (see the module docstring): the
    plan then uses its id instead of ``label_id``. ``replace_id`` names the label to replace
    outright (an existing label being corrected), whatever the object covers of it.
    """
    origin = (0,) * (labels.ndim - len(origin)) + tuple(origin)
    lead = labels.ndim - mask.ndim
    window = tuple(
        slice(o, o + s) if axis >= lead else o
        for axis, (o, s) in enumerate(zip(origin, (1,) * lead + mask.shape, strict=True))
    )
    region = np.asarray(labels[window])
    if region.shape != mask.shape:
        raise ValueError(f"labels window {region.shape} and mask {mask.shape} differ in shape")
    replaced = replace_id
    if replaced is None and replace_ratio is not None:
        plane = np.asarray(labels[tuple(origin[:lead])])
        replaced = covered_label(plane, mask, window[lead:], replace_ratio)
    if replaced is not None:
        label_id = replaced
    if np.issubdtype(labels.dtype, np.integer) and label_id > np.iinfo(labels.dtype).max:
        raise OverflowError(f"label id {label_id} does not fit the {labels.dtype} label image")
    free = (region == 0) | (region == replaced) if replaced is not None else region == 0
    target = mask if overwrite else mask & free
    indices = _full_indices(np.nonzero(target), origin, lead)
    cleared: tuple[np.ndarray, ...] = ()
    if replaced is not None:
        plane = np.asarray(labels[tuple(origin[:lead])])
        old = plane == replaced
        old[window[lead:]] &= ~mask
        cleared = _full_indices(np.nonzero(old), (*origin[:lead], 0, 0), lead)
    return PaintPlan(label_id, indices, int(mask.sum() - target.sum()), cleared, replaced)


def _full_indices(
    local: tuple[np.ndarray, ...], origin: tuple[int, ...], lead: int
) -> tuple[np.ndarray, ...]:
    """Indices of a window starting at ``origin`` as indices of the whole label array."""
    count = local[0].size
    return tuple(np.full(count, origin[a], dtype=np.intp) for a in range(lead)) + tuple(
        (idx + origin[lead + a]).astype(np.intp) for a, idx in enumerate(local)
    )
