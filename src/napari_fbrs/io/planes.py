"""Planes and stacks read window by window, every window normalised the same way.

:func:`~napari_fbrs.io.images.to_model_rgb` without contrast limits maps each array's own
min..max to 0..255, so two windows of one 16-bit image would get different intensities. A
:class:`PlaneSource` fixes the mapping once for the whole plane (a :class:`StackSource` once
for the whole stack, so every slice is normalised alike) and then converts any window with it:

* contrast limits given (a napari layer's): those, for every window;
* uint8 or bool data without limits: no limits (uint8 as is, bool to {0, 255}), as
  ``to_model_rgb`` does;
* other in-memory numpy data without limits: ``(min, max)`` over the finite values of the
  whole plane (or stack), so a window converts exactly as the whole array would;
* lazy data (dask, zarr, anything but a numpy array) without limits: the min/max of the
  coarsest level of a multiscale pyramid; a single lazy level needs ``contrast_limits``
  (computing them would read the whole array, which is what lazy data must avoid).

Data: a numpy array, any array with numpy slicing (dask, zarr), or a list of pyramid levels
(level 0 full resolution; only level 0 is read for pixels). A plane is ``H x W`` or
``H x W x C`` (C = 3 or 4, colour); a stack has one leading axis more. ``read`` slices the
data and converts only that window, so a lazy array is never read beyond what is asked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_fbrs.io.images import ImageError, to_model_rgb


def _levels(data: Any) -> list[Any]:
    levels = list(data) if isinstance(data, (list, tuple)) else [data]
    if not levels:
        raise ImageError("an empty list of pyramid levels holds no image")
    return levels


def _colour(shape: tuple[int, ...], plane_ndim: int, rgb: bool | None) -> bool:
    """Whether the last axis is colour; ``plane_ndim`` is the number of spatial axes + 1."""
    if rgb is not None:
        return bool(rgb)
    return len(shape) == plane_ndim and shape[-1] in (3, 4)


def fixed_limits(
    levels: Sequence[Any], contrast_limits: Sequence[float] | None
) -> tuple[float, float] | None:
    """The one intensity mapping for every window (rules: module docstring)."""
    if contrast_limits is not None:
        lo, hi = (float(v) for v in contrast_limits)
        return lo, hi
    data = levels[0]
    dtype = np.dtype(data.dtype)
    if dtype == np.uint8 or dtype == np.bool_:
        return None
    if isinstance(data, np.ndarray):
        sample = data
    elif len(levels) > 1:
        sample = np.asarray(levels[-1])
    else:
        raise ImageError(
            f"a lazy {dtype} image needs contrast_limits (lo, hi): finding its range would "
            "read all of it"
        )
    if dtype.kind == "f":
        finite = np.isfinite(sample)
        if not finite.any():
            return 0.0, 0.0
        return (
            float(np.min(sample, where=finite, initial=np.inf)),
            float(np.max(sample, where=finite, initial=-np.inf)),
        )
    return float(np.min(sample)), float(np.max(sample))


@dataclass(frozen=True)
class PlaneSource:
    """One 2-D plane; :meth:`read` returns a window as ``h x w x 3`` uint8 model RGB."""

    data: Any
    contrast_limits: tuple[float, float] | None
    rgb: bool

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.data.shape[0]), int(self.data.shape[1])

    def read(self, rows: slice, cols: slice) -> np.ndarray:
        window = np.asarray(self.data[rows, cols])
        return to_model_rgb(window, self.contrast_limits, self.rgb)


def plane_source(
    data: Any, contrast_limits: Sequence[float] | None = None, rgb: bool | None = None
) -> PlaneSource:
    """A window source over a 2-D plane (numpy, dask, zarr, or a list of pyramid levels)."""
    levels = _levels(data)
    shape = tuple(int(s) for s in levels[0].shape)
    colour = _colour(shape, 3, rgb)
    if len(shape) != (3 if colour else 2):
        raise ImageError(
            f"image of shape {shape} is not one plane (H x W grey or H x W x 3|4 colour): "
            "pass one 2-D slice"
        )
    return PlaneSource(levels[0], fixed_limits(levels, contrast_limits), colour)


@dataclass(frozen=True)
class StackSource:
    """Planes along one leading axis (Z or T), all normalised with the same mapping."""

    get: Callable[[int], Any]
    count: int
    contrast_limits: tuple[float, float] | None
    rgb: bool

    def __len__(self) -> int:
        return self.count

    def plane(self, index: int) -> PlaneSource:
        if not 0 <= index < self.count:
            raise IndexError(f"slice {index} is outside the stack of {self.count} slices")
        return PlaneSource(self.get(index), self.contrast_limits, self.rgb)


def stack_source(
    data: Any, contrast_limits: Sequence[float] | None = None, rgb: bool | None = None
) -> StackSource:
    """A stack ``(N, H, W[, C])`` (numpy, dask, zarr, or pyramid levels of such).

    Indexing a dask or zarr stack with one slice index is lazy, so only the windows that
    propagation asks for are read.
    """
    levels = _levels(data)
    stack = levels[0]
    shape = tuple(int(s) for s in stack.shape)
    colour = _colour(shape, 4, rgb)
    if len(shape) != (4 if colour else 3):
        raise ImageError(
            f"stack of shape {shape} is not N x H x W (grey) or N x H x W x 3|4 (colour)"
        )
    return StackSource(
        lambda index: stack[index], shape[0], fixed_limits(levels, contrast_limits), colour
    )


def stack_from_planes(
    get: Callable[[int], Any],
    count: int,
    contrast_limits: Sequence[float] | None = None,
    rgb: bool | None = None,
) -> StackSource:
    """A stack given as a function ``index -> plane`` (e.g. one file per slice).

    Without ``contrast_limits`` only uint8 or bool planes are accepted: finding one range for
    every plane would read them all first.
    """
    first = get(0)
    shape = tuple(int(s) for s in first.shape)
    colour = _colour(shape, 3, rgb)
    limits = None
    if contrast_limits is not None:
        limits = (float(contrast_limits[0]), float(contrast_limits[1]))
    elif np.dtype(first.dtype) not in (np.dtype(np.uint8), np.dtype(np.bool_)):
        raise ImageError(
            f"planes of dtype {first.dtype} need contrast_limits (lo, hi) so that every "
            "plane is normalised the same way"
        )
    return StackSource(get, int(count), limits, colour)
