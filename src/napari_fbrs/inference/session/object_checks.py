"""Finish-time checks that catch a bad object before the user moves on.

Two measurable rules, reported as sentences (the widget shows them as a warning the user sees,
with how to undo the object):

* **tiny**: the object has fewer than ``min_pixels`` pixels (default 10): a click that came out
  as a speck, e.g. one pixel on a 99-px nucleus.
* **grown beyond the clicked structure**: the object is more than ``max_growth`` times (default
  4) larger than the structure under its first positive click. That structure is measured on
  the image as it is shown to the model (grey, 0..255), around the object: in the object's
  bounding box grown by its own size on each side (so object and surroundings are both
  present), pixels are split into bright and dark by Otsu's threshold, and the structure is
  the 4-connected component of the clicked pixel's side that contains the click. A nucleus of
  58 px predicted as a 1,303-px blob (22x) is reported; an object whose structure touches
  the border of that box (larger than what is seen) is not, nor is a structure without
  contrast (a flat box).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from napari_fbrs.inference.engine.clicks import Click


@dataclass(frozen=True)
class ObjectChecks:
    """The thresholds of the finish-time checks (0 turns a check off)."""

    min_pixels: int = 10
    max_growth: float = 4.0


def check_object(
    mask: np.ndarray,
    origin: tuple[int, int],
    grey: np.ndarray,
    clicks: tuple[Click, ...],
    checks: ObjectChecks,
) -> list[str]:
    """Problems of a finished object (empty list: none).

    ``mask`` is the object in the window of the plane starting at ``origin``; ``grey`` is the
    whole plane (2-D, any numeric dtype) or a lazily sliceable array of it.
    """
    area = int(mask.sum())
    problems = []
    if checks.min_pixels and area < checks.min_pixels:
        unit = "pixel" if area == 1 else "pixels"
        problems.append(f"only {area} {unit} (under {checks.min_pixels})")
        return problems
    click = next((c for c in clicks if c.positive), None)
    if not checks.max_growth or click is None or area == 0:
        return problems
    structure = clicked_structure(mask, origin, grey, click)
    if structure and area > checks.max_growth * structure:
        problems.append(
            f"{area} pixels, {area / structure:.0f}x the {structure} px of the structure "
            f"under the click (more than {checks.max_growth:g}x)"
        )
    return problems


def clicked_structure(
    mask: np.ndarray, origin: tuple[int, int], grey: np.ndarray, click: Click
) -> int | None:
    """Pixels of the structure under ``click`` (see the module docstring); ``None`` when it is
    not measurable (no contrast, or it reaches the border of the box looked at)."""
    rows = np.flatnonzero(mask.any(axis=1)) + origin[0]
    cols = np.flatnonzero(mask.any(axis=0)) + origin[1]
    height, width = grey.shape[:2]
    top, bottom = _grow(rows[0], rows[-1] + 1, height)
    left, right = _grow(cols[0], cols[-1] + 1, width)
    r, c = int(click.row) - top, int(click.col) - left
    box = np.asarray(grey[top:bottom, left:right], dtype=np.float64)
    if not (0 <= r < box.shape[0] and 0 <= c < box.shape[1]) or box.max() == box.min():
        return None
    bright = box > otsu_threshold(box)
    side = bright if bright[r, c] else ~bright
    components, _ = ndimage.label(side)
    component = components == components[r, c]
    touches = (component[0].any() and top > 0 or component[-1].any() and bottom < height) or (
        component[:, 0].any() and left > 0 or component[:, -1].any() and right < width
    )
    return None if touches else int(component.sum())


def _grow(start: int, stop: int, size: int) -> tuple[int, int]:
    extent = stop - start
    return max(0, start - extent), min(size, stop + extent)


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold (maximal between-class variance) of ``values``."""
    counts, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts)
    total = weight[-1]
    mean = np.cumsum(counts * centres)
    below, above = weight[:-1], total - weight[:-1]
    valid = (below > 0) & (above > 0)
    mu_below = np.where(valid, mean[:-1] / np.maximum(below, 1), 0)
    mu_above = np.where(valid, (mean[-1] - mean[:-1]) / np.maximum(above, 1), 0)
    between = np.where(valid, below * above * (mu_below - mu_above) ** 2, -1)
    return float(edges[1:][int(np.argmax(between))])
