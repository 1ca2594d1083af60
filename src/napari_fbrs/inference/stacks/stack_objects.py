"""Objects that live on several slices of a stack: propagation planned as one label.

The session segments an object on one slice;
:func:`napari_fbrs.inference.stacks.propagation.propagate` follows it through the neighbouring
slices. This module turns the result into one paint plan for the whole label stack (one id, one
undoable assignment), and remembers what was propagated so that a correction on any slice
re-propagates from there with the same id: the slices beyond the corrected one are cleared of that
id and painted anew.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from napari_fbrs.inference.stacks.propagation import PropagationResult
from napari_fbrs.inference.stacks.seeding import SliceMask


@dataclass(frozen=True)
class StackObject:
    """An object painted (or to be painted) on several slices of one label array."""

    labels_key: int  # id() of the label array
    lead: tuple[int, ...]  # indices before the stack axis (a 4-D image's T, say)
    label_id: int
    result: PropagationResult | None  # None: finished on one slice, not propagated yet
    seed_slice: int
    seed: SliceMask

    def covers(self, labels_key: int, lead: tuple[int, ...], index: int) -> bool:
        """Whether a correction on slice ``index`` continues this object."""
        if self.result is None or (labels_key, lead) != (self.labels_key, self.lead):
            return False
        indices = self.result.indices
        return min(indices) - 1 <= index <= max(indices) + 1


@dataclass(frozen=True)
class StackPlan:
    """Indices into the label array and the value each gets (0 clears an old slice)."""

    label_id: int
    indices: tuple[np.ndarray, ...]
    values: np.ndarray
    kept_pixels: int
    slices: tuple[int, ...]

    @property
    def num_pixels(self) -> int:
        return int(np.count_nonzero(self.values))


def plan_stack(
    labels: np.ndarray,
    lead: tuple[int, ...],
    result: PropagationResult,
    label_id: int,
    overwrite: bool = False,
    cleared: Iterable[int] = (),
) -> StackPlan:
    """Paint every slice of ``result`` with ``label_id`` (pixels with another label are kept
    unless ``overwrite``) and clear ``label_id`` from the ``cleared`` slices first."""
    if np.issubdtype(labels.dtype, np.integer) and label_id > np.iinfo(labels.dtype).max:
        raise OverflowError(f"label id {label_id} does not fit the {labels.dtype} label image")
    axis = len(lead)
    parts: list[tuple[tuple[np.ndarray, ...], np.ndarray]] = []
    kept = 0
    for z in sorted(set(cleared) - set(result.masks)):
        plane = np.asarray(labels[(*lead, z)])
        rows, cols = np.nonzero(plane == label_id)
        parts.append((_index(lead, z, rows, cols), np.zeros(rows.size, labels.dtype)))
    for z in result.indices:
        item = result.masks[z]
        plane = np.asarray(labels[(*lead, z)])
        region = plane[item.box.slices]
        paint = item.mask if overwrite else item.mask & ((region == 0) | (region == label_id))
        kept += int(np.count_nonzero(item.mask & ~paint))
        if z in set(cleared):  # pixels of the old object outside the new mask go back to 0
            stale = np.nonzero(plane == label_id)
            inside = np.zeros(plane.shape, bool)
            inside[item.box.slices] = paint
            keep = ~inside[stale]
            rows, cols = stale[0][keep], stale[1][keep]
            parts.append((_index(lead, z, rows, cols), np.zeros(rows.size, labels.dtype)))
        rows, cols = np.nonzero(paint)
        rows, cols = rows + item.origin[0], cols + item.origin[1]
        parts.append((_index(lead, z, rows, cols), np.full(rows.size, label_id, labels.dtype)))
    if parts:
        indices = tuple(np.concatenate([p[0][a] for p in parts]) for a in range(axis + 3))
        values = np.concatenate([p[1] for p in parts])
    else:
        indices = tuple(np.zeros(0, np.intp) for _ in range(axis + 3))
        values = np.zeros(0, labels.dtype)
    return StackPlan(label_id, indices, values, kept, tuple(result.indices))


def _index(lead: tuple[int, ...], z: int, rows: np.ndarray, cols: np.ndarray):  # noqa: ANN202
    n = rows.size
    head = tuple(np.full(n, i, np.intp) for i in (*lead, z))
    return (*head, rows.astype(np.intp), cols.astype(np.intp))
