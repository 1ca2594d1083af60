"""Seed points for segment-everything: where a user would click, found from the image alone.

A grid of clicks would cost a network call per cell, almost all of them on background or on an
object already found. The image says where objects probably are: a foreground estimate (Otsu on
a smoothed grey image; the background is the class nearer black or white, so bright-on-dark
fluorescence and dark-on-light histology are handled alike) and, inside it, the local
maxima of the distance to the background (one per roundish object, even where objects touch)
and of the smoothed intensity (objects merged into one foreground blob). Each seed carries a
size estimate that decides its crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.feature import peak_local_max
from skimage.filters import threshold_otsu


@dataclass(frozen=True)
class Seed:
    """A candidate click: (row, col) in image pixels, a size estimate (pixels) and a strength
    (higher first: seeds are tried in that order and later ones inside found objects skipped)."""

    row: int
    col: int
    radius: float
    strength: float


def grey_levels(rgb: np.ndarray) -> np.ndarray:
    """Float grey image from the model's ``H x W x 3`` uint8 RGB."""
    return np.asarray(rgb, dtype=np.float32).mean(axis=2)


def foreground(grey: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Bool foreground estimate: Otsu on the smoothed image; the background is the class whose
    mean lies nearer its end of the range (black for fluorescence, white for brightfield and
    histology), whichever class is larger."""
    smooth = ndimage.gaussian_filter(np.asarray(grey, dtype=np.float32), sigma)
    lo, hi = float(smooth.min()), float(smooth.max())
    if hi - lo < 1e-6:
        return np.zeros(grey.shape, dtype=bool)
    above = smooth > threshold_otsu(smooth)
    if above.all() or not above.any():
        return np.zeros(grey.shape, dtype=bool)
    dark_gap = float(smooth[~above].mean()) - min(lo, 0.0)
    bright_gap = max(hi, 255.0) - float(smooth[above].mean())
    return above if dark_gap <= bright_gap else ~above


def bright_objects(grey: np.ndarray, fg: np.ndarray) -> np.ndarray:
    """``grey`` flipped when needed so that the foreground is bright."""
    if not fg.any() or fg.all():
        return grey
    return grey if grey[fg].mean() >= grey[~fg].mean() else grey.max() - grey


def find_seeds(
    rgb: np.ndarray, min_distance: int = 4, min_radius: float = 1.5, max_seeds: int = 2000
) -> tuple[list[Seed], np.ndarray]:
    """Seeds from distance-transform and intensity maxima of the foreground, strongest first,
    and the foreground estimate (for :func:`residual_seeds`)."""
    grey = grey_levels(rgb)
    fg = foreground(grey)
    if not fg.any():
        return [], fg
    dist = ndimage.distance_transform_edt(fg).astype(np.float32)
    seeds = distance_seeds(fg, min_distance, min_radius)
    peaks = np.array([(s.row, s.col) for s in seeds], dtype=np.int64).reshape(-1, 2)
    bright = ndimage.gaussian_filter(bright_objects(grey, fg), 2.0)
    bright_peaks = peak_local_max(
        np.where(fg, bright, bright.min()), min_distance=min_distance, exclude_border=False
    )
    seeds += [
        Seed(int(r), int(c), float(dist[r, c]), 0.5 * float(dist[r, c]))
        for r, c in bright_peaks
        if dist[r, c] >= min_radius and not _near(peaks, dist, r, c)
    ]
    seeds.sort(key=lambda s: -s.strength)
    return seeds[:max_seeds], fg


def distance_seeds(mask: np.ndarray, min_distance: int = 4, min_radius: float = 1.5) -> list[Seed]:
    """Local maxima of the (smoothed) distance to the background of ``mask``."""
    dist = ndimage.distance_transform_edt(mask).astype(np.float32)
    peaks = peak_local_max(
        ndimage.gaussian_filter(dist, 1.0),
        min_distance=min_distance,
        threshold_abs=min_radius,
        exclude_border=False,
    )
    seeds = [Seed(int(r), int(c), float(dist[r, c]), float(dist[r, c])) for r, c in peaks]
    return [s for s in seeds if s.radius >= min_radius]


def residual_seeds(
    fg: np.ndarray, owner: np.ndarray, min_area: int, min_distance: int = 4
) -> list[Seed]:
    """Seeds in the foreground that no object covers yet (objects merged into one foreground
    blob whose first seeds found only some of them), strongest first."""
    rest = ndimage.binary_opening(fg & (owner == 0), iterations=1)
    pieces, count = ndimage.label(rest)
    if count == 0:
        return []
    sizes = np.bincount(pieces.ravel())
    rest &= sizes[pieces] >= max(min_area, 1)
    seeds = distance_seeds(rest, min_distance, 2.0)
    seeds.sort(key=lambda s: -s.strength)
    return seeds


def _near(peaks: np.ndarray, dist: np.ndarray, row: int, col: int) -> bool:
    """Whether (row, col) lies within half the inscribed radius of a distance peak."""
    if len(peaks) == 0:
        return False
    d2 = (peaks[:, 0] - row) ** 2 + (peaks[:, 1] - col) ** 2
    radii = 0.5 * dist[peaks[:, 0], peaks[:, 1]]
    return bool(np.any(d2 < radii**2))
