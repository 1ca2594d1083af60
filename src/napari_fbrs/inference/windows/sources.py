"""Windows of an image: boxes, and sources that read only the pixels a window covers.

Large images and lazy arrays (dask, zarr, multiscale pyramids) are never converted whole: the
local-window predictor and propagation through a stack ask a :class:`WindowSource` for the
model RGB of one window at a time. ``napari_fbrs.io.planes`` builds sources from napari data
with one fixed normalisation for every window; :class:`RGBSource` wraps an array that already
is the model's ``H x W x 3`` RGB. This module imports neither torch nor the io layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class WindowSource(Protocol):
    """A 2-D image that can be read window by window as the model's RGB."""

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of the whole image."""

    def read(self, rows: slice, cols: slice) -> np.ndarray:
        """The window ``[rows, cols]`` as ``h x w x 3`` uint8 (or float 0..255) RGB."""


@dataclass(frozen=True)
class RGBSource:
    """An image that is already model RGB (``H x W x 3``); windows are views of it."""

    image: np.ndarray

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3:
            raise ValueError(f"expected an H x W x 3 RGB image, got shape {self.image.shape}")

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.image.shape[0]), int(self.image.shape[1])

    def read(self, rows: slice, cols: slice) -> np.ndarray:
        return self.image[rows, cols]


def as_source(image: WindowSource | np.ndarray) -> WindowSource:
    """A source for ``image``: an ``H x W x 3`` array is taken as model RGB."""
    if isinstance(image, np.ndarray):
        return RGBSource(image)
    if isinstance(image, WindowSource):
        return image
    raise TypeError(
        f"expected an H x W x 3 RGB array or a window source (shape + read), got {type(image)}"
    )


@dataclass(frozen=True, order=True)
class Box:
    """Rows ``r0..r1-1`` and columns ``c0..c1-1`` (half-open, like slices)."""

    r0: int
    r1: int
    c0: int
    c1: int

    @classmethod
    def whole(cls, shape: tuple[int, int]) -> Box:
        return cls(0, int(shape[0]), 0, int(shape[1]))

    @classmethod
    def at(cls, origin: tuple[int, int], shape: tuple[int, ...]) -> Box:
        """The box of an ``h x w`` array placed at ``origin``."""
        return cls(origin[0], origin[0] + int(shape[0]), origin[1], origin[1] + int(shape[1]))

    @classmethod
    def of_mask(cls, mask: np.ndarray, origin: tuple[int, int] = (0, 0)) -> Box | None:
        """The tight box of ``mask``'s pixels, shifted by ``origin``; None when empty."""
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size == 0:
            return None
        cols = np.flatnonzero(mask.any(axis=0))
        r, c = origin
        return cls(
            r + int(rows[0]), r + int(rows[-1]) + 1, c + int(cols[0]), c + int(cols[-1]) + 1
        )

    @classmethod
    def of_points(cls, points: list[tuple[float, float]]) -> Box:
        rows = [int(np.floor(p[0])) for p in points]
        cols = [int(np.floor(p[1])) for p in points]
        return cls(min(rows), max(rows) + 1, min(cols), max(cols) + 1)

    @classmethod
    def around(cls, row: float, col: float, size: int, shape: tuple[int, int]) -> Box:
        """A ``size x size`` box centred on a pixel, shifted (not cut) to lie in the image."""
        height, width = min(size, shape[0]), min(size, shape[1])
        r0 = int(np.clip(int(np.floor(row)) - height // 2, 0, shape[0] - height))
        c0 = int(np.clip(int(np.floor(col)) - width // 2, 0, shape[1] - width))
        return cls(r0, r0 + height, c0, c0 + width)

    @property
    def height(self) -> int:
        return self.r1 - self.r0

    @property
    def width(self) -> int:
        return self.c1 - self.c0

    @property
    def origin(self) -> tuple[int, int]:
        return self.r0, self.c0

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.r0, self.r1), slice(self.c0, self.c1)

    def contains(self, row: float, col: float) -> bool:
        return self.r0 <= row < self.r1 and self.c0 <= col < self.c1

    def union(self, other: Box) -> Box:
        return Box(
            min(self.r0, other.r0),
            max(self.r1, other.r1),
            min(self.c0, other.c0),
            max(self.c1, other.c1),
        )

    def intersect(self, other: Box) -> Box | None:
        box = Box(
            max(self.r0, other.r0),
            min(self.r1, other.r1),
            max(self.c0, other.c0),
            min(self.c1, other.c1),
        )
        return box if box.height > 0 and box.width > 0 else None

    def shifted(self, origin: tuple[int, int]) -> Box:
        """This box in the coordinates of an array whose pixel ``[0, 0]`` is ``origin``."""
        r, c = origin
        return Box(self.r0 - r, self.r1 - r, self.c0 - c, self.c1 - c)

    def expand(self, margin: int) -> Box:
        return Box(self.r0 - margin, self.r1 + margin, self.c0 - margin, self.c1 + margin)

    def scaled(self, ratio: float, min_size: int = 1) -> Box:
        """Grown about its centre by ``ratio`` and to at least ``min_size`` on each side."""
        height = max(min_size, int(round(ratio * self.height)))
        width = max(min_size, int(round(ratio * self.width)))
        rc, cc = (self.r0 + self.r1) / 2, (self.c0 + self.c1) / 2
        r0, c0 = int(round(rc - height / 2)), int(round(cc - width / 2))
        return Box(r0, r0 + height, c0, c0 + width)

    def clamp(self, shape: tuple[int, int]) -> Box:
        """Cut to the image ``(height, width)``."""
        height, width = shape[0], shape[1]
        return Box(max(0, self.r0), min(height, self.r1), max(0, self.c0), min(width, self.c1))

    def limit(self, size: int, centre: tuple[float, float], shape: tuple[int, int]) -> Box:
        """At most ``size`` on each side: a longer side is re-centred on ``centre``."""
        r0, r1, c0, c1 = self.r0, self.r1, self.c0, self.c1
        if r1 - r0 > size:
            r0 = int(np.clip(int(centre[0]) - size // 2, 0, max(0, shape[0] - size)))
            r1 = r0 + size
        if c1 - c0 > size:
            c0 = int(np.clip(int(centre[1]) - size // 2, 0, max(0, shape[1] - size)))
            c1 = c0 + size
        return Box(r0, r1, c0, c1).clamp(shape)

    def open_sides_touched(self, mask: np.ndarray, shape: tuple[int, int]) -> tuple[str, ...]:
        """Sides of this window that ``mask`` (the window's shape) touches and that are not
        the image border: the object may go on beyond them."""
        sides = []
        if self.r0 > 0 and mask[0].any():
            sides.append("top")
        if self.r1 < shape[0] and mask[-1].any():
            sides.append("bottom")
        if self.c0 > 0 and mask[:, 0].any():
            sides.append("left")
        if self.c1 < shape[1] and mask[:, -1].any():
            sides.append("right")
        return tuple(sides)
