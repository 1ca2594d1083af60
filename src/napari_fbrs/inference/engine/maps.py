"""A probability map that may cover only a window of the image.

On a normal image the predictor's map covers the whole image. On a large image (or a lazy,
dask- or zarr-backed one) only a window around the clicks is ever read and predicted, and the
map says where it lies: ``origin`` is the image pixel of ``probs[0, 0]``. Everything outside the
window has probability 0. Consumers (the session, the widget, the command line) work on the
window and only build a full-size array when asked (:meth:`ProbabilityMap.full`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ProbabilityMap:
    """``probs`` (float32 ``h x w``) placed at ``origin`` in an image of ``image_shape``."""

    probs: np.ndarray
    origin: tuple[int, int]
    image_shape: tuple[int, int]

    def __post_init__(self) -> None:
        (r0, c0), (h, w) = self.origin, self.probs.shape
        height, width = self.image_shape
        if r0 < 0 or c0 < 0 or r0 + h > height or c0 + w > width:
            raise ValueError(
                f"a {h} x {w} map at {self.origin} does not fit a {height} x {width} image"
            )

    @classmethod
    def whole(cls, probs: np.ndarray) -> ProbabilityMap:
        """A map that covers the whole image."""
        return cls(probs, (0, 0), (int(probs.shape[0]), int(probs.shape[1])))

    @property
    def covers_image(self) -> bool:
        return self.origin == (0, 0) and tuple(self.probs.shape) == tuple(self.image_shape)

    @property
    def window(self) -> tuple[slice, slice]:
        """The image region the map covers, as slices."""
        (r0, c0), (h, w) = self.origin, self.probs.shape
        return slice(r0, r0 + h), slice(c0, c0 + w)

    def mask(self, threshold: float) -> np.ndarray:
        """The object inside the window (boolean, the window's shape)."""
        return self.probs > threshold

    def full(self) -> np.ndarray:
        """The map at image size (zeros outside the window)."""
        if self.covers_image:
            return self.probs
        out = np.zeros(self.image_shape, dtype=self.probs.dtype)
        out[self.window] = self.probs
        return out

    def full_mask(self, threshold: float) -> np.ndarray:
        out = np.zeros(self.image_shape, dtype=bool)
        out[self.window] = self.mask(threshold)
        return out
