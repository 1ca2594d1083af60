"""The simulated users of bench_prompts.py: degraded labels, boxes, clicks counted."""

from __future__ import annotations

import numpy as np

from napari_fbrs.evaluation.metrics import iou
from napari_fbrs.evaluation.prompts import PromptRun, bounding_box, degraded_mask
from napari_fbrs.inference.session.boxes import Box


def _disk(shape: tuple[int, int], centre: tuple[int, int], radius: float) -> np.ndarray:
    rows, cols = np.ogrid[: shape[0], : shape[1]]
    return ((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius**2).astype(np.int8)


def test_degraded_masks_start_near_iou_0_8_eroded_or_dilated():
    gt = _disk((100, 120), (50, 60), 30)
    eroded = degraded_mask(gt, dilate=False)
    dilated = degraded_mask(gt, dilate=True)
    assert eroded is not None and dilated is not None
    assert 0.75 <= iou(gt, eroded) <= 0.85 and 0.75 <= iou(gt, dilated) <= 0.85
    assert not (eroded & (gt == 0)).any()  # inside the object
    assert (dilated >= (gt == 1)).all()  # around it
    gt[0:5] = -1  # ignored pixels are neither object nor background
    assert degraded_mask(gt, dilate=False) is not None


def test_a_tiny_object_that_cannot_start_at_0_8_is_skipped():
    gt = np.zeros((20, 20), np.int8)
    gt[9:11, 9:11] = 1
    assert degraded_mask(gt, dilate=False) is None


def test_clicks_are_counted_from_the_start():
    assert PromptRun(0.92, ()).clicks_to(0.9, 20) == 0
    assert PromptRun(0.8, (0.85, 0.91)).clicks_to(0.9, 20) == 2
    assert PromptRun(0.8, (0.85,) * 5).clicks_to(0.9, 5) == 5
    gt = np.zeros((10, 10), np.int8)
    gt[2:5, 3:8] = 1
    gt[0, 0] = -1
    assert bounding_box(gt) == Box(2, 3, 5, 8)
