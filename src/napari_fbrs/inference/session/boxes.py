"""Box prompts: a rectangle around an object starts it, then clicks correct it.

The click models were never trained with boxes, so a box becomes clicks and a crop:

1. ZoomIn crops around the box (grown by its expansion ratio, as around a prediction), so the
   object fills the network input whatever its size in the image;
2. the network gets a positive click at the box's centre, and, in the variants that have
   them, negative clicks just outside the middle of each side and/or a previous-mask input;
3. the prediction is clipped to the box: nothing outside it is the object.

The result is an :class:`~napari_fbrs.inference.session.init_mask.ObjectStart`: the clipped
map is the object before any click, previous-mask models see it as their previous prediction
and the box's clicks stay network inputs (``seeds``) under the user's corrections.

``benchmarks/bench_prompts.py`` compares the variants (:data:`BOX_VARIANTS`) on GrabCut with
the object's bounding box; :data:`DEFAULT_BOX_VARIANT` is the best of them there.

Boxes are ``(row0, col0, row1, col1)`` with exclusive ends, like slices: the box covers rows
``row0 .. row1 - 1``. A box must lie inside the image and cover at least one pixel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.engine.protocol import ObjectPredictor
from napari_fbrs.inference.session.init_mask import ObjectStart, inner_point


@dataclass(frozen=True)
class Box:
    """A rectangle of pixels, ends exclusive."""

    row0: int
    col0: int
    row1: int
    col1: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.row0, self.row1), slice(self.col0, self.col1)

    @property
    def centre(self) -> tuple[int, int]:
        return (self.row0 + self.row1 - 1) // 2, (self.col0 + self.col1 - 1) // 2

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        out = np.zeros(shape, dtype=bool)
        out[self.slices] = True
        return out

    @classmethod
    def of_mask(cls, mask: np.ndarray) -> Box:
        """The bounding box of a non-empty mask."""
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        return cls(int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)


def check_box(values: Sequence[float], shape: tuple[int, int]) -> Box:
    """``(row0, col0, row1, col1)`` as a :class:`Box` inside an image of ``shape``;
    ValueError for a box of another length, outside the image or of zero area."""
    if len(values) != 4:
        raise ValueError(f"a box is ROW0,COL0,ROW1,COL1 (4 numbers), got {len(values)}")
    row0, col0, row1, col1 = (int(round(float(v))) for v in values)
    height, width = shape
    if row1 <= row0 or col1 <= col0:
        raise ValueError(
            f"the box ({row0}, {col0}, {row1}, {col1}) has zero area: "
            "ROW1 must exceed ROW0 and COL1 exceed COL0 (ends are exclusive)"
        )
    if row0 < 0 or col0 < 0 or row1 > height or col1 > width:
        raise ValueError(
            f"the box ({row0}, {col0}, {row1}, {col1}) lies outside the {height} x {width} "
            f"image (rows 0..{height}, cols 0..{width}, ends exclusive)"
        )
    return Box(row0, col0, row1, col1)


#: How a box becomes network input (see the module docstring and ``bench_prompts.py``):
#: ``centre``: one positive click at the centre; ``sides``: plus a negative click 2 px
#: outside the middle of each side that lies inside the image; ``inner``: ``centre``, then
#: a second positive click at the innermost pixel of the first prediction inside the box;
#: ``ellipse``: ``centre`` with the ellipse inscribed in the box as the previous mask;
#: ``rect``: ``centre`` with the box itself as the previous mask ("the last prediction was
#: this box: refine it"; for models without that input it is ``centre``);
#: ``fit``: a positive click at the centre and at four points halfway to the corners, one
#: prediction each, keeping the one whose bounding box fits the box best (a box's promise:
#: the object touches all four sides and nothing of it lies outside).
BOX_VARIANTS = ("centre", "sides", "inner", "ellipse", "fit", "rect")
DEFAULT_BOX_VARIANT = "rect"


def side_clicks(box: Box, shape: tuple[int, int], gap: int = 2) -> tuple[Click, ...]:
    """Negative clicks ``gap`` px outside the middle of each side, where inside the image."""
    (rc, cc), (height, width) = box.centre, shape
    candidates = (
        (box.row0 - 1 - gap, cc),
        (box.row1 + gap, cc),
        (rc, box.col0 - 1 - gap),
        (rc, box.col1 + gap),
    )
    return tuple(Click(r, c, False) for r, c in candidates if 0 <= r < height and 0 <= c < width)


def ellipse(box: Box, shape: tuple[int, int]) -> np.ndarray:
    """The filled ellipse inscribed in ``box``, as a float32 map of ``shape``."""
    rows, cols = np.ogrid[: shape[0], : shape[1]]
    rc, cc = (box.row0 + box.row1 - 1) / 2, (box.col0 + box.col1 - 1) / 2
    ry, rx = max(box.row1 - box.row0, 1) / 2, max(box.col1 - box.col0, 1) / 2
    return (((rows - rc) / ry) ** 2 + ((cols - cc) / rx) ** 2 <= 1.0).astype(np.float32)


def box_start(
    predictor: ObjectPredictor, box: Box, variant: str = DEFAULT_BOX_VARIANT
) -> ObjectStart:
    """Predict the object in ``box`` on ``predictor`` (which it resets) and return the start."""
    if variant not in BOX_VARIANTS:
        raise ValueError(f"unknown box variant {variant!r}; choose one of {BOX_VARIANTS}")
    shape = predictor.image_shape
    region = box.mask(shape).astype(np.float32)
    seeds: tuple[Click, ...] = (Click(*box.centre, True),)
    if variant == "sides":
        seeds = (*seeds, *side_clicks(box, shape))
    if variant == "fit":
        return _best_fit(predictor, box, region)
    prev = {"ellipse": ellipse(box, shape), "rect": region}.get(variant)
    probs, _ = _predict(predictor, region, seeds, prev)
    if variant == "inner":
        inside = probs > predictor.prob_thresh
        if inside.any():
            point = inner_point(inside)
            if point != box.centre:
                seeds = (Click(*point, True), *seeds)
                probs, _ = _predict(predictor, region, seeds, None)
    return ObjectStart(probs, region, seeds)


def fit_points(box: Box) -> tuple[tuple[int, int], ...]:
    """The centre and the four points halfway from it to the corners."""
    rc, cc = box.centre
    rows = ((box.row0 + rc) // 2, (rc + box.row1 - 1 + 1) // 2)
    cols = ((box.col0 + cc) // 2, (cc + box.col1 - 1 + 1) // 2)
    return ((rc, cc), *((r, c) for r in rows for c in cols))


def box_fit(mask: np.ndarray, box: Box) -> float:
    """How well a predicted (unclipped) mask fits ``box``: the IoU of its bounding box
    with the box (0 for an empty mask)."""
    if not mask.any():
        return 0.0
    other = Box.of_mask(mask)
    rows = max(0, min(box.row1, other.row1) - max(box.row0, other.row0))
    cols = max(0, min(box.col1, other.col1) - max(box.col0, other.col0))
    inter = rows * cols
    area = (box.row1 - box.row0) * (box.col1 - box.col0)
    other_area = (other.row1 - other.row0) * (other.col1 - other.col0)
    return inter / float(area + other_area - inter)


def _best_fit(predictor: ObjectPredictor, box: Box, region: np.ndarray) -> ObjectStart:
    best: tuple[float, np.ndarray, tuple[Click, ...]] | None = None
    for point in fit_points(box):
        seeds = (Click(*point, True),)
        probs, raw = _predict(predictor, region, seeds, None)
        score = box_fit(raw > predictor.prob_thresh, box)
        if best is None or score > best[0]:
            best = (score, probs, seeds)
    assert best is not None
    return ObjectStart(best[1], region, best[2])


def _predict(
    predictor: ObjectPredictor,
    region: np.ndarray,
    clicks: tuple[Click, ...],
    prev: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """One prediction from a fresh object state, cropped around ``region``: clipped to it,
    and as predicted."""
    predictor.reset()
    if prev is not None:
        predictor.set_previous_mask(prev)
    predictor.seed_zoom(region)
    probs = np.asarray(predictor.predict_map(clicks).full(), dtype=np.float32)
    return np.where(region > 0.5, probs, np.float32(0.0)), probs
