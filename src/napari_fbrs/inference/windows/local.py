"""Local clicks on large images: predict in a window around the object at full resolution.

The plain :class:`~napari_fbrs.inference.engine.predictor.Predictor` shrinks a large image to its
size limit, so a 20-px nucleus in an 8000-px slide becomes 2 px wide, and every click pays for the
whole image. :class:`LocalWindowPredictor` wraps a predictor and gives it only a window:

* An image no larger than ``size`` on both sides (or ``size == 0``) is handed to the inner
  predictor whole: the results are exactly the plain predictor's.
* On a larger image the first click opens a ``size x size`` window centred on it (shifted to
  lie inside the image), read from the source at full resolution; nothing else is read.
* A click outside the window, or a mask touching a window side that is not the image border,
  grows the window: to the union of the window and the box around the mask and the clicks,
  plus ``max(grow_margin, grow_ratio * box side)``, at most ``max_size`` px a side (a capped
  window is centred on the current mask and the first click). A grown window re-runs the
  click that caused it, at most ``max_grow_steps`` times per click. A window larger than the
  inner predictor's own size limit is shrunk by it, as a whole image of that size would be.

What a window change recomputes: the inner predictor gets the new window image
(``set_image``: normalisation, ZoomIn and BRS state start afresh), the last prediction cropped
to the new window as its previous-mask input (models that take one, see
``Predictor.set_previous_mask``), and predicts once with *all* clicks so far (not one call per
click). So growing costs one prediction per growth step; clicks inside an unchanged window cost
what they cost on the plain predictor on the window image (ZoomIn works from the second click
on as usual). Clicks that do not fit a window capped at ``max_size`` are left out of the
network input (a negative one there is satisfied anyway: outside the window the probability is
0) and counted in :attr:`LocalClickStats.dropped_clicks`.

Undo is exact: a state holds the window, its RGB pixels (a reference, not a copy), the inner
predictor's state and the last map; restoring another window re-runs ``set_image`` on the same
pixels, which normalises them identically.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_fbrs.inference.engine.clicks import Click, check_inside
from napari_fbrs.inference.engine.config import DEFAULT_LOCAL_WINDOW
from napari_fbrs.inference.engine.maps import ProbabilityMap
from napari_fbrs.inference.engine.predictor import ClickStats
from napari_fbrs.inference.engine.protocol import ObjectPredictor
from napari_fbrs.inference.windows.sources import Box, WindowSource, as_source


@dataclass(frozen=True)
class LocalWindowConfig:
    """Window settings; ``size = 0`` turns local clicks off (the original behaviour).

    ``size`` is both the limit above which an image is windowed and the first window's side;
    512 px makes the first click on any image cost what it costs on a 512-px image.
    """

    size: int = DEFAULT_LOCAL_WINDOW
    #: Images up to this size on both sides are predicted whole (None: ``size``). The widget
    #: and ``predict`` use the preset's size limit (800), so an ordinary image is predicted
    #: exactly as without windows, and a larger one in a ``size`` window.
    whole_up_to: int | None = None
    grow_margin: int = 32
    grow_ratio: float = 0.5
    max_size: int = 4096
    max_grow_steps: int = 4
    prob_thresh: float | None = None  # mask for the border test; None: the predictor's own

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError(f"window size must be 0 (off) or positive, got {self.size}")
        if self.size and self.max_size < self.size:
            raise ValueError(f"max_size {self.max_size} is below the window size {self.size}")
        if self.grow_margin < 1 or self.grow_ratio < 0 or self.max_grow_steps < 0:
            raise ValueError("grow_margin must be >= 1, grow_ratio and max_grow_steps >= 0")

    @property
    def enabled(self) -> bool:
        return self.size > 0


@dataclass
class LocalClickStats(ClickStats):
    """:class:`ClickStats` of one click plus where it ran; times include reading pixels."""

    window: tuple[int, int, int, int] | None = None  # r0, r1, c0, c1 (half-open)
    predictions: int = 0  # inner predictor calls (1 + growth steps)
    read_seconds: float = 0.0
    dropped_clicks: int = 0


@dataclass(frozen=True)
class LocalState:
    """An opaque snapshot for undo."""

    window: Box | None
    rgb: np.ndarray | None
    inner: Any
    map: ProbabilityMap | None


class LocalWindowPredictor:
    """A predictor that works on a window of a large image (see the module docstring)."""

    def __init__(
        self, predictor: ObjectPredictor, config: LocalWindowConfig | None = None
    ) -> None:
        self.predictor = predictor
        self.config = config or LocalWindowConfig()
        self.last = LocalClickStats()
        self._source: WindowSource | None = None
        self._whole = True
        self._window: Box | None = None
        self._rgb: np.ndarray | None = None
        self._map: ProbabilityMap | None = None

    # -- image and state ---------------------------------------------------------------------
    def set_image(self, image: WindowSource | np.ndarray) -> None:
        """A window source (``io.planes.plane_source``) or an ``H x W x 3`` model RGB array."""
        source = as_source(image)
        height, width = source.shape
        self._source = source
        limit = self.config.size if self.config.whole_up_to is None else self.config.whole_up_to
        self._whole = not self.config.enabled or (height <= limit and width <= limit)
        self._window = self._rgb = self._map = None
        if self._whole:
            self._window = Box.whole((height, width))
            self._rgb = np.asarray(source.read(*self._window.slices))
            self.predictor.set_image(self._rgb)
        self.reset()

    @property
    def image_shape(self) -> tuple[int, int]:
        if self._source is None:
            raise RuntimeError("set_image() has not been called")
        return self._source.shape

    @property
    def window(self) -> Box | None:
        """The region the inner predictor currently sees (None before the first click)."""
        return self._window

    @property
    def windowed(self) -> bool:
        """Whether this image is predicted in windows (False: whole, as the plain predictor)."""
        return not self._whole

    @property
    def prob_thresh(self) -> float:
        """The inner predictor's threshold (what a mask of this predictor means)."""
        return self.predictor.prob_thresh

    @property
    def uses_prev_mask(self) -> bool:
        return bool(self.predictor.uses_prev_mask)

    def reset(self) -> None:
        """Forget the object; a windowed image also drops its window (the next click opens
        a new one)."""
        self.predictor.reset()
        self._map = None
        if not self._whole:
            self._window = self._rgb = None

    def get_state(self) -> LocalState:
        return LocalState(self._window, self._rgb, self.predictor.get_state(), self._map)

    def set_state(self, state: LocalState) -> None:
        if state.window is None or state.rgb is None:  # before the first click
            self.reset()
            self._map = state.map  # an existing mask the object started from
            return
        if state.window != self._window or state.rgb is not self._rgb:
            self.predictor.set_image(state.rgb)
        self.predictor.set_state(state.inner)
        self._window, self._rgb, self._map = state.window, state.rgb, state.map

    def set_previous_mask(self, probs: np.ndarray | ProbabilityMap | None) -> None:
        """Start the object from an existing mask (see ``Predictor.set_previous_mask``):
        a full-size ``H x W`` array or a :class:`ProbabilityMap` (a window of the image).

        On a windowed image the mask is kept as the object's last map: windows then grow
        around it, and previous-mask models get it cropped to each window.
        """
        if self._whole:
            full = probs.full() if isinstance(probs, ProbabilityMap) else probs
            self.predictor.set_previous_mask(full)
            return
        if probs is not None and not isinstance(probs, ProbabilityMap):
            array = np.asarray(probs, dtype=np.float32)
            if array.shape != self.image_shape:
                raise ValueError(f"mask shape {array.shape} differs from image {self.image_shape}")
            box = Box.of_mask(array > 0)
            probs = (
                None
                if box is None
                else ProbabilityMap(array[box.slices].copy(), box.origin, self.image_shape)
            )
        self._map = probs
        if self._window is not None and self.predictor.uses_prev_mask:
            self.predictor.set_previous_mask(None if probs is None else _crop(probs, self._window))

    def seed_zoom(self, region: np.ndarray) -> None:
        """ZoomIn crops around ``region`` from the first click (``Predictor.seed_zoom``); on
        a windowed image the window itself is the crop, so nothing changes."""
        if self._whole:
            self.predictor.seed_zoom(region)

    # -- prediction --------------------------------------------------------------------------
    def predict(self, clicks: Sequence[Click]) -> np.ndarray:
        """The map at image size (builds a full-size array: prefer :meth:`predict_map`)."""
        return self.predict_map(clicks).full()

    def predict_map(self, clicks: Sequence[Click]) -> ProbabilityMap:
        """Probabilities for the object the clicks (image coordinates) describe."""
        if self._source is None:
            raise RuntimeError("set_image() must be called before predict_map()")
        clicks = tuple(clicks)
        if not clicks:
            raise ValueError("predict_map() needs at least one click")
        shape = self.image_shape
        check_inside(clicks, *shape)
        if self._whole:
            result = ProbabilityMap.whole(self.predictor.predict(clicks))
            self.last = self._stats([self.predictor.last], self._window, 0.0, 0)
            self._map = result
            return result
        return self._predict_windowed(clicks)

    def _predict_windowed(self, clicks: tuple[Click, ...]) -> ProbabilityMap:
        start = time.perf_counter()
        shape = self.image_shape
        window = self._window or Box.around(clicks[0].row, clicks[0].col, self.config.size, shape)
        if any(not window.contains(*c.coords) for c in clicks):
            window = self._grown(window, self._map, clicks)
        inner_stats: list[ClickStats] = []
        read_seconds = 0.0
        previous, result = self._map, self._map
        for step in range(self.config.max_grow_steps + 1):
            if window != self._window:
                read_seconds += self._move_to(window, previous)
            inside = tuple(c for c in clicks if window.contains(*c.coords))
            r0, c0 = window.origin
            probs = self.predictor.predict(tuple(c.moved(c.row - r0, c.col - c0) for c in inside))
            inner_stats.append(self.predictor.last)
            result = ProbabilityMap(probs, window.origin, shape)
            mask = probs > self._threshold()
            if step == self.config.max_grow_steps or not window.open_sides_touched(mask, shape):
                break
            grown = self._grown(window, result, clicks)
            if grown == window:
                break
            window, previous = grown, result
        assert result is not None
        self._map = result
        dropped = sum(not window.contains(*c.coords) for c in clicks)
        self.last = self._stats(inner_stats, window, read_seconds, dropped)
        self.last.seconds = time.perf_counter() - start
        return result

    def _threshold(self) -> float:
        if self.config.prob_thresh is not None:
            return self.config.prob_thresh
        return self.predictor.prob_thresh

    def _grown(self, window: Box, last: ProbabilityMap | None, clicks: Sequence[Click]) -> Box:
        """The window grown around the object (the mask of ``last``) and every click."""
        shape = self.image_shape
        target = Box.of_points([c.coords for c in clicks])
        focus = Box.of_points([clicks[0].coords])  # what a capped window keeps: the object
        if last is not None:
            mask_box = Box.of_mask(last.mask(self._threshold()), last.origin)
            if mask_box is not None:
                target, focus = target.union(mask_box), focus.union(mask_box)
        side = max(target.height, target.width)
        margin = max(self.config.grow_margin, int(self.config.grow_ratio * side))
        grown = window.union(target.expand(margin)).clamp(shape)
        centre = ((focus.r0 + focus.r1) / 2, (focus.c0 + focus.c1) / 2)
        return grown.limit(self.config.max_size, centre, shape)

    def _move_to(self, window: Box, previous: ProbabilityMap | None) -> float:
        """Give the inner predictor ``window``'s pixels and, for models that take it, the
        previous prediction cropped to it. Returns the seconds spent reading."""
        assert self._source is not None
        start = time.perf_counter()
        rgb = np.asarray(self._source.read(*window.slices))
        seconds = time.perf_counter() - start
        self.predictor.set_image(rgb)
        if previous is not None and self.predictor.uses_prev_mask:
            self.predictor.set_previous_mask(_crop(previous, window))
        self._window, self._rgb = window, rgb
        return seconds

    def _stats(
        self, inner: list[ClickStats], window: Box | None, read: float, dropped: int
    ) -> LocalClickStats:
        last = inner[-1]
        zoom = last.zoom_roi
        if zoom is not None and window is not None:
            r, c = window.origin
            zoom = (zoom[0] + r, zoom[1] + r, zoom[2] + c, zoom[3] + c)
        return LocalClickStats(
            seconds=sum(s.seconds for s in inner) + read,
            lbfgs_evals=sum(s.lbfgs_evals for s in inner),
            zoom_roi=zoom,
            backbone_runs=sum(s.backbone_runs for s in inner),
            window=None if window is None else (window.r0, window.r1, window.c0, window.c1),
            predictions=len(inner),
            read_seconds=read,
            dropped_clicks=dropped,
        )


def with_local_window(predictor: Any, window: int) -> Any:
    """``predictor`` itself (``window`` 0), or a local-window predictor of that size around
    it; images up to the predictor's own size limit stay whole, so they are predicted exactly
    as without windows. The widget and ``predict`` both build their predictors with this."""
    if not window:
        return predictor
    limit = max(predictor.config.max_size or 0, window)
    return LocalWindowPredictor(predictor, LocalWindowConfig(size=window, whole_up_to=limit))


def _crop(probs: ProbabilityMap, window: Box) -> np.ndarray:
    """``probs`` on ``window`` (zeros where the map does not reach)."""
    out = np.zeros((window.height, window.width), dtype=np.float32)
    have = Box.at(probs.origin, probs.probs.shape)
    common = have.intersect(window)
    if common is not None:
        out[common.shifted(window.origin).slices] = probs.probs[common.shifted(have.origin).slices]
    return out
