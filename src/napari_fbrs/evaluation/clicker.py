"""The simulated user of the NoC protocol (f-BRS / RITM), reproduced click for click.

Published NoC numbers depend on exactly where the robot clicks, so this module follows the
original rule rather than a "smarter" one: it takes the Euclidean distance transform of the
*whole* false-negative mask and of the *whole* false-positive mask (no connected components),
each zero-padded by one pixel so that the image border counts as boundary, and clicks where the
larger of the two maxima lies. Ignore pixels (the GrabCut 128 band) are neither object nor
background: they never become errors. Pixels clicked before are masked out of both transforms.

Tie rules matter for reproducibility: a positive click needs the false-negative maximum to be
*strictly* larger, and within the chosen map the first pixel in row-major order wins.
Degenerate case, kept as upstream has it: when no unclicked error pixel is left, both maxima
are 0 and the click is a negative one on pixel (0, 0), even if that pixel was clicked before.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import distance_transform_edt

from napari_fbrs.inference.engine.clicks import Click


def _padded_edt(mask: np.ndarray) -> np.ndarray:
    """Distance to the nearest pixel outside ``mask``, the frame around the image included."""
    return distance_transform_edt(np.pad(mask, 1, mode="constant"))[1:-1, 1:-1]


def _check_2d(name: str, array: np.ndarray, shape: tuple[int, ...] | None = None) -> None:
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (H, W) array, got shape {array.shape}")
    if shape is not None and array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}, the ground truth {shape}")


def next_click(
    gt: np.ndarray, pred_mask: np.ndarray, not_clicked: np.ndarray, ignore_label: int = -1
) -> Click:
    """The click the simulated user makes next.

    ``gt``: 1 object, ``ignore_label`` ignored, anything else background. ``pred_mask``: the
    current binary prediction. ``not_clicked``: True where no click has been placed yet.
    Returns a :class:`Click` with integer coordinates.
    """
    gt = np.asarray(gt)
    _check_2d("gt", gt)
    pred = np.asarray(pred_mask).astype(bool, copy=False)
    _check_2d("pred_mask", pred, gt.shape)
    allowed = np.asarray(not_clicked).astype(bool, copy=False)
    _check_2d("not_clicked", allowed, gt.shape)

    obj = gt == 1
    valid = gt != ignore_label
    fn_dt = _padded_edt(obj & ~pred & valid) * allowed
    fp_dt = _padded_edt(~obj & pred & valid) * allowed
    fn_max, fp_max = fn_dt.max(), fp_dt.max()

    positive = bool(fn_max > fp_max)
    chosen, best = (fn_dt, fn_max) if positive else (fp_dt, fp_max)
    # argmax over a boolean array returns the first True in C (row-major) order.
    row, col = np.unravel_index(int(np.argmax(chosen == best)), chosen.shape)
    return Click(int(row), int(col), positive)


class SimulatedClicker:
    """Clicks on one object, remembering where it has clicked already."""

    def __init__(self, gt: np.ndarray, ignore_label: int = -1) -> None:
        self.gt = np.asarray(gt)
        _check_2d("gt", self.gt)
        self.ignore_label = ignore_label
        self.clicks: list[Click] = []
        self._not_clicked = np.ones(self.gt.shape, dtype=bool)

    def make_next_click(self, pred_mask: np.ndarray) -> Click:
        """Choose the next click against ``pred_mask``, record it and return it."""
        click = next_click(self.gt, pred_mask, self._not_clicked, self.ignore_label)
        self.clicks.append(click)
        self._not_clicked[int(click.row), int(click.col)] = False
        return click

    def __len__(self) -> int:
        return len(self.clicks)
