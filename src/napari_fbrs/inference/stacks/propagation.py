"""Propagate an object through Z or T: segment it slice after slice from its mask on one slice.

From the start slice's mask, the neighbouring slices are segmented one after another, each
seeded from the previous slice's mask (:func:`napari_fbrs.inference.stacks.seeding.segment_slice`:
a positive click at its most interior point, corrective clicks where the prediction leaves a
tolerance band around it, the mask as previous-prediction input, ZoomIn on its box). Both
directions are run (increasing indices first) or one chosen direction.

A direction stops at the first slice whose mask is too small (``min_area``: the object has
vanished), shrinks or grows too much against the previous slice's mask (``min_area_ratio``,
``max_area_ratio``), overlaps it too little (``min_iou``) or stands out from its surroundings
less than ``min_contrast_ratio`` of what the object did on the start slice (the object has
faded into the background: :func:`napari_fbrs.inference.stacks.fading.contrast`); that slice is not
kept. The last rule is there because a model that takes the previous mask as an input keeps
predicting a blob of about the right size around the seed click on slices where the object no
longer exists, which no area or overlap rule notices. Its default, 0.2, lies in the middle of
the range (0.15-0.25) where benchmarks/bench_propagate.py stops every synthetic nucleus at its
end and cuts no ISBI EM cell short (0.3 cut two); 0 turns it off. A direction also stops at the
end of the stack, after ``max_slices`` slices, or when ``on_slice(index, done, total)`` returns
``False`` (cancel; the slices done so far are kept). ``total`` is the number of slices planned;
it drops when a direction stops early, so ``done / total`` reaches 1.

The result maps slice index -> :class:`SliceMask` (a window of the slice, so large slices
cost little memory) and says why each direction stopped; the caller writes it as one label id
(:func:`paint_indices` gives the indices for one undoable assignment). A correction on any
slice continues with :func:`repropagate`. The predictor given is used as scratch (a new image
per slice): give a separate one, or reset the session afterwards. Nothing here imports Qt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

import numpy as np

from napari_fbrs.inference.engine.protocol import ObjectPredictor
from napari_fbrs.inference.stacks.fading import contrast, faded
from napari_fbrs.inference.stacks.seeding import SeedConfig, SliceMask, mask_iou, segment_slice
from napari_fbrs.inference.windows.sources import WindowSource

__all__ = [
    "PropagationConfig",
    "PropagationResult",
    "SeedConfig",
    "SliceMask",
    "Stop",
    "StopReason",
    "judge",
    "paint_indices",
    "propagate",
    "repropagate",
]

#: ``on_slice(index, done, total)``; returning False cancels the propagation.
SliceCallback = Callable[[int, int, int], "bool | None"]


class StopReason(str, Enum):
    """Why propagation in one direction ended."""

    END = "end of the stack"
    RANGE = "range limit"
    VANISHED = "object vanished"
    SHRANK = "area shrank too much"
    GREW = "area grew too much"
    CHANGED = "overlap with the previous slice too small"
    FADED = "object faded into the background"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class PropagationConfig:
    """Range limit and stop thresholds (module docstring), plus how slices are seeded."""

    max_slices: int | None = None  # per direction; None: to the end of the stack
    min_area: int = 10
    min_area_ratio: float = 0.4
    max_area_ratio: float = 2.5
    min_iou: float = 0.3
    min_contrast_ratio: float = 0.2  # of the start slice's contrast; 0: off
    seed: SeedConfig = field(default_factory=SeedConfig)

    def __post_init__(self) -> None:
        if self.max_slices is not None and self.max_slices < 1:
            raise ValueError(f"max_slices must be None or >= 1, got {self.max_slices}")
        if not 0.0 <= self.min_area_ratio <= 1.0 <= self.max_area_ratio:
            raise ValueError("need 0 <= min_area_ratio <= 1 <= max_area_ratio")
        if not 0.0 <= self.min_iou <= 1.0:
            raise ValueError(f"min_iou must lie in 0..1, got {self.min_iou}")
        if not 0.0 <= self.min_contrast_ratio <= 1.0:
            raise ValueError(f"min_contrast_ratio must lie in 0..1, got {self.min_contrast_ratio}")


class StackLike(Protocol):
    """Slices that can be read window by window (``io.planes.StackSource`` fits)."""

    def __len__(self) -> int: ...

    def plane(self, index: int) -> WindowSource: ...


@dataclass(frozen=True)
class Stop:
    """Why a direction ended and at which slice (the rejected one; None at the end/limit)."""

    reason: StopReason
    index: int | None = None


@dataclass(frozen=True)
class PropagationResult:
    """Slice index -> the object's mask there (the start slice included), and why each
    direction stopped (+1: increasing indices, -1: decreasing)."""

    start: int
    masks: dict[int, SliceMask]
    stops: dict[int, Stop]
    predictions: int = 0  # network calls made

    @property
    def indices(self) -> list[int]:
        return sorted(self.masks)

    @property
    def cancelled(self) -> bool:
        return any(s.reason is StopReason.CANCELLED for s in self.stops.values())


def paint_indices(
    labels: np.ndarray, result: PropagationResult, overwrite: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(z, row, col)`` indices of ``labels`` (N x H x W) that receive the object, for one
    assignment ``labels[idx] = id`` (napari: ``layer.data_setitem(idx, id)``, one undo step).
    Pixels that already hold a label are left out unless ``overwrite``."""
    zs, rows, cols = [], [], []
    for z in result.indices:
        item = result.masks[z]
        target = item.mask
        if not overwrite:
            target = target & (np.asarray(labels[z][item.box.slices]) == 0)
        r, c = np.nonzero(target)
        zs.append(np.full(r.size, z, np.intp))
        rows.append(r.astype(np.intp) + item.origin[0])
        cols.append(c.astype(np.intp) + item.origin[1])
    if not zs:
        return np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0, np.intp)
    return np.concatenate(zs), np.concatenate(rows), np.concatenate(cols)


def judge(found: SliceMask, previous: SliceMask, config: PropagationConfig) -> StopReason | None:
    """Why ``found`` is no longer the previous slice's object (None: it still is)."""
    area, before = found.area, previous.area
    if area < config.min_area:
        return StopReason.VANISHED
    if area < config.min_area_ratio * before:
        return StopReason.SHRANK
    if area > config.max_area_ratio * before:
        return StopReason.GREW
    if mask_iou(found, previous) < config.min_iou:
        return StopReason.CHANGED
    return None


def propagate(
    predictor: ObjectPredictor,
    stack: StackLike,
    start: int,
    mask: SliceMask | np.ndarray,
    config: PropagationConfig | None = None,
    direction: int = 0,
    on_slice: SliceCallback | None = None,
) -> PropagationResult:
    """Segment the object of ``mask`` (a full-slice bool array or a :class:`SliceMask` on
    slice ``start``) on the slices around it. ``direction``: 0 both, +1 or -1 one way."""
    config = config or PropagationConfig()
    if direction not in (-1, 0, 1):
        raise ValueError(f"direction must be -1, 0 or 1, got {direction}")
    if not 0 <= start < len(stack):
        raise IndexError(f"start slice {start} is outside the stack of {len(stack)} slices")
    seed = _as_slice_mask(mask, start)
    steps = (1, -1) if direction == 0 else (direction,)
    total = sum(_planned(len(stack), start, s, config.max_slices) for s in steps)
    progress = _Progress(on_slice, total)
    masks, stops, predictions = {start: seed}, {}, 0
    for step in steps:
        if any(s.reason is StopReason.CANCELLED for s in stops.values()):
            stops[step] = Stop(StopReason.CANCELLED)  # cancelled before this direction began
            continue
        found, stops[step], used = _run(predictor, stack, start, seed, step, config, progress)
        masks.update(found)
        predictions += used
    return PropagationResult(start, masks, stops, predictions)


def repropagate(
    predictor: ObjectPredictor,
    stack: StackLike,
    result: PropagationResult,
    index: int,
    mask: SliceMask | np.ndarray,
    config: PropagationConfig | None = None,
    on_slice: SliceCallback | None = None,
) -> PropagationResult:
    """Slice ``index`` was corrected to ``mask``: re-run outward from it.

    Slices between the start and ``index`` are kept, ``index`` gets ``mask``, and the slices
    beyond it (away from the start) are replaced by a new run from ``index`` (``max_slices``
    counts from ``index``). Correcting the start slice re-runs both directions; a slice where
    propagation had stopped (or beyond it) continues from there, leaving any gap empty.
    """
    config = config or PropagationConfig()
    if not 0 <= index < len(stack):
        raise IndexError(f"slice {index} is outside the stack of {len(stack)} slices")
    if index == result.start:
        return propagate(predictor, stack, index, mask, config, 0, on_slice)
    step = 1 if index > result.start else -1
    seed = _as_slice_mask(mask, index)
    kept = {z: m for z, m in result.masks.items() if (z - index) * step < 0}
    kept[index] = seed
    progress = _Progress(on_slice, _planned(len(stack), index, step, config.max_slices))
    found, stop, used = _run(predictor, stack, index, seed, step, config, progress)
    kept.update(found)
    return PropagationResult(
        result.start, kept, {**result.stops, step: stop}, result.predictions + used
    )


class _Progress:
    def __init__(self, callback: SliceCallback | None, total: int) -> None:
        self.callback, self.total, self.done = callback, total, 0

    def tick(self, index: int) -> bool:
        """Report one slice done; False when the caller asked to cancel."""
        self.done += 1
        if self.callback is None:
            return True
        return self.callback(index, self.done, self.total) is not False


def _planned(count: int, start: int, step: int, limit: int | None) -> int:
    available = count - 1 - start if step > 0 else start
    return available if limit is None else min(available, limit)


def _as_slice_mask(mask: SliceMask | np.ndarray, index: int) -> SliceMask:
    seed = mask if isinstance(mask, SliceMask) else SliceMask.from_full(mask)
    if seed.area == 0:
        raise ValueError(f"the mask on slice {index} is empty: nothing to propagate")
    return seed


def _run(
    predictor: ObjectPredictor,
    stack: StackLike,
    start: int,
    seed: SliceMask,
    step: int,
    config: PropagationConfig,
    progress: _Progress,
) -> tuple[dict[int, SliceMask], Stop, int]:
    """One direction: slices ``start + step``, ``start + 2 step``, ... until a stop rule.

    The contrast the faded rule compares with is the seed's on slice ``start`` (after a
    correction, the corrected slice's: the user has just said the object is there)."""
    masks: dict[int, SliceMask] = {}
    planned = _planned(len(stack), start, step, config.max_slices)
    fading = config.min_contrast_ratio > 0
    reference = contrast(stack.plane(start), seed) if fading and planned else 0.0
    previous, index, used = seed, start, 0
    for count in range(planned):
        index += step
        plane = stack.plane(index)
        found, predictions = segment_slice(predictor, plane, previous, config.seed)
        used += predictions
        reason = judge(found, previous, config)
        if reason is None and fading:
            if faded(contrast(plane, found), reference, config.min_contrast_ratio):
                reason = StopReason.FADED
        if reason is not None:
            progress.total -= planned - count - 1  # the slices this direction will not do
        else:
            masks[index] = previous = found
        carry_on = progress.tick(index)
        if reason is not None:
            return masks, Stop(reason, index), used
        if not carry_on:
            return masks, Stop(StopReason.CANCELLED), used
    at_end = index + step < 0 or index + step >= len(stack)
    return masks, Stop(StopReason.END if at_end else StopReason.RANGE), used
