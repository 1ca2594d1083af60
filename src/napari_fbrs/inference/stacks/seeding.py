"""Segment an object on one slice from its mask on the neighbouring slice.

This is the step that :mod:`napari_fbrs.inference.stacks.propagation` repeats slice after slice.
The new slice is read only in a window around the previous mask ``M``'s box (grown by
``expansion``, at least ``min_window`` px), resized so its longest side is ``target_size`` (what
ZoomIn does from the second click on), and the predictor is seeded with:

1. One positive click at ``M``'s most interior point (its distance-transform maximum): the
   place least likely to have left the object between two neighbouring slices.
2. ``M`` itself as the previous-prediction input for models that take one
   (``Predictor.set_previous_mask``); other models ignore it.
3. Up to ``max_clicks - 1`` corrective clicks placed by the simulated user of the NoC protocol
   against a *tolerant* stand-in for the unknown ground truth: pixels deeper than ``band``
   inside ``M`` are object, pixels farther than ``band`` outside ``M`` are background, and the
   band between is ignored (like GrabCut's uncertain border), where ``band`` is ``band_ratio``
   of ``M``'s equivalent radius (at least ``min_band`` px). So a negative click lands only
   where the prediction leaks well beyond where the previous object's surroundings were (a
   neighbour, the background), at the leak's deepest point, and a positive click only where a
   large part of the previous object's core is lost. Fixed negative clicks on a ring around
   ``M`` were rejected: an object that grows or drifts by more than the ring would be cut.
   Error regions thinner than ``min_error_depth`` px get no click.

The mask kept is the prediction's connected components that touch ``M`` (another object the
prediction leaked into does not come along). A mask touching the window's border (not the
image's) re-runs the slice once in a window grown around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.engine.protocol import ObjectPredictor
from napari_fbrs.inference.windows.sources import Box, WindowSource


@dataclass(frozen=True)
class SeedConfig:
    """How a slice is seeded from the previous one (module docstring)."""

    max_clicks: int = 3  # predictions per slice: the seed click plus corrections
    band_ratio: float = 0.2
    min_band: float = 2.0
    min_error_depth: float = 2.0
    expansion: float = 1.4
    min_window: int = 200
    target_size: int = 400
    threshold: float | None = None  # None: the predictor's own prob_thresh

    def __post_init__(self) -> None:
        if self.max_clicks < 1 or self.target_size < 8 or self.min_window < 1:
            raise ValueError("max_clicks >= 1, target_size >= 8 and min_window >= 1 are needed")
        if self.expansion < 1.0 or self.band_ratio < 0 or self.min_band < 0:
            raise ValueError("expansion >= 1, band_ratio >= 0 and min_band >= 0 are needed")


@dataclass(frozen=True)
class SliceMask:
    """The object on one slice: ``mask`` (bool) placed at ``origin`` of the slice."""

    mask: np.ndarray
    origin: tuple[int, int]

    @classmethod
    def from_full(cls, mask: np.ndarray) -> SliceMask:
        """A full-slice mask cut to its box (an empty mask keeps one pixel at 0, 0)."""
        mask = np.asarray(mask, dtype=bool)
        box = Box.of_mask(mask) or Box(0, 1, 0, 1)
        return cls(mask[box.slices].copy(), box.origin)

    @property
    def box(self) -> Box:
        return Box.at(self.origin, self.mask.shape)

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.mask))

    def crop(self, window: Box) -> np.ndarray:
        """The mask on ``window`` (False where it does not reach)."""
        out = np.zeros((window.height, window.width), dtype=bool)
        common = self.box.intersect(window)
        if common is not None:
            mine = self.mask[common.shifted(self.origin).slices]
            out[common.shifted(window.origin).slices] = mine
        return out

    def full(self, shape: tuple[int, int]) -> np.ndarray:
        return self.crop(Box.whole(shape))


def mask_iou(a: SliceMask, b: SliceMask) -> float:
    common = a.box.union(b.box)
    x, y = a.crop(common), b.crop(common)
    union = np.count_nonzero(x | y)
    return float(np.count_nonzero(x & y) / union) if union else 1.0


def segment_slice(
    predictor: ObjectPredictor,
    plane: WindowSource,
    previous: SliceMask,
    config: SeedConfig | None = None,
) -> tuple[SliceMask, int]:
    """The object on ``plane`` seeded from ``previous``; also the number of predictions."""
    config = config or SeedConfig()
    shape = plane.shape
    window = previous.box.scaled(config.expansion, config.min_window).clamp(shape)
    found, used = _predict_in(predictor, plane, window, previous, config)
    if found.area and window.open_sides_touched(found.crop(window), shape):
        grown = found.box.scaled(config.expansion, config.min_window)
        window = window.union(grown).clamp(shape)
        found, more = _predict_in(predictor, plane, window, previous, config)
        used += more
    return found, used


def _threshold(predictor: Any, config: SeedConfig) -> float:
    if config.threshold is not None:
        return config.threshold
    return float(predictor.prob_thresh)


def _resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of ``h x w`` or ``h x w x c`` (align_corners, as the transforms)."""
    import torch  # here: the widget imports this module on napari's thread, torch is slow
    import torch.nn.functional as F  # noqa: N812

    x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    x = x.permute(2, 0, 1)[None] if x.ndim == 3 else x[None, None]
    if tuple(x.shape[2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=True)
    return x[0].permute(1, 2, 0).numpy() if array.ndim == 3 else x[0, 0].numpy()


def _padded_edt(mask: np.ndarray) -> np.ndarray:
    """Distance to the nearest pixel outside ``mask``, the window's frame counting as outside."""
    return ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]


def _predict_in(
    predictor: ObjectPredictor,
    plane: WindowSource,
    window: Box,
    previous: SliceMask,
    config: SeedConfig,
) -> tuple[SliceMask, int]:
    height, width = window.height, window.width
    scale = config.target_size / max(height, width)
    size = (max(1, int(round(height * scale))), max(1, int(round(width * scale))))
    sr, sc = size[0] / height, size[1] / width  # ZoomIn's click mapping
    predictor.set_image(_resize(np.asarray(plane.read(*window.slices)), size))
    before = previous.crop(window)
    if predictor.uses_prev_mask:
        predictor.set_previous_mask(_resize(before.astype(np.float32), size))

    inside = _padded_edt(before)
    band = max(config.min_band, config.band_ratio * np.sqrt(previous.area / np.pi))
    core = inside > band
    background = ndimage.distance_transform_edt(~before) > band
    row, col = np.unravel_index(int(np.argmax(inside)), inside.shape)
    clicks = [Click(row * sr, col * sc, True)]
    clicked = np.zeros(before.shape, dtype=bool)
    clicked[row, col] = True
    threshold = _threshold(predictor, config)
    used = 0
    while True:
        mask = _resize(predictor.predict(clicks), (height, width)) > threshold
        used += 1
        if used >= config.max_clicks:
            break
        missed = _padded_edt(core & ~mask) * ~clicked
        leaked = _padded_edt(background & mask) * ~clicked
        depth = max(missed.max(), leaked.max())
        if depth < config.min_error_depth:
            break
        positive = bool(missed.max() > leaked.max())
        chosen = missed if positive else leaked
        row, col = np.unravel_index(int(np.argmax(chosen == depth)), chosen.shape)
        clicked[row, col] = True
        clicks.append(Click(row * sr, col * sc, positive))
    return _touching(mask, before, window.origin), used


def _touching(mask: np.ndarray, before: np.ndarray, origin: tuple[int, int]) -> SliceMask:
    """The connected components of ``mask`` that overlap ``before``, as a slice mask."""
    components, count = ndimage.label(mask)
    if count:
        keep = np.unique(components[before & mask])
        mask = np.isin(components, keep[keep > 0])
    box = Box.of_mask(mask)
    if box is None:
        return SliceMask(np.zeros((1, 1), dtype=bool), origin)
    return SliceMask(mask[box.slices], (origin[0] + box.r0, origin[1] + box.c0))
