"""The dense-annotation simulator on a fake tool whose masks are known in advance."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from napari_fbrs.evaluation.dense import (
    DenseSummary,
    annotate_by_clicks,
    click_object,
    correct_segmentation,
    one_click_results,
)


def _disks() -> np.ndarray:
    rows, cols = np.indices((60, 60))
    gt = np.zeros((60, 60), dtype=np.int32)
    for index, (r, c) in enumerate([(15, 15), (15, 45), (45, 30)], start=1):
        gt[(rows - r) ** 2 + (cols - c) ** 2 <= 36] = index
    return gt


class FakeTool:
    """First click: the clicked object shrunk by 2 px (IoU < 0.85); later clicks: exact."""

    def __init__(self, gt: np.ndarray) -> None:
        self.gt = gt
        self.reset()

    def reset(self) -> None:
        self.current, self.count = 0, 0

    def start_from(self, mask: np.ndarray) -> None:
        self.current = int(np.bincount(self.gt[mask]).argmax())
        self.count = 1

    def click(self, row: int, col: int, positive: bool) -> np.ndarray:
        self.count += 1
        if self.current == 0 and positive:
            self.current = int(self.gt[row, col])
        truth = self.gt == self.current
        return truth if self.count >= 2 else ndimage.binary_erosion(truth, iterations=2)


def test_click_object_stops_at_the_target() -> None:
    gt = _disks()
    result = click_object(FakeTool(gt), gt == 1, max_clicks=5, target=0.85)
    assert (result.clicks, result.reached, result.iou) == (2, True, 1.0)
    assert result.outside_clicks == 1  # the 2nd click adds the missing rim: outside the mask
    failed = click_object(FakeTool(gt), gt == 1, max_clicks=1, target=0.85)
    assert (failed.clicks, failed.reached) == (1, False)
    assert failed.iou < 0.85


def test_click_finish_and_one_click_per_object() -> None:
    gt = _disks()
    a = annotate_by_clicks(FakeTool(gt), gt, max_clicks=5, target=0.85)
    assert [r.actions for r in a] == [3, 3, 3]  # 2 clicks + Finish each
    b = one_click_results(a)
    assert [r.actions for r in b] == [2, 2, 3]  # the last object still needs Finish
    summary = DenseSummary.of(b)
    assert (summary.objects, summary.actions, summary.failures) == (3, 7, 0)
    assert summary.per_object == 7 / 3


def test_corrections_after_segment_everything() -> None:
    gt = _disks()
    found = np.zeros_like(gt)
    found[gt == 1] = 4  # exact: free
    found[ndimage.binary_erosion(gt == 2)] = 5  # IoU ~0.7: pick + 1 click
    found[55:59, 0:4] = 6  # a false positive: 1 deletion; object 3 missed: 2 clicks
    result = correct_segmentation(FakeTool(gt), gt, found, max_clicks=5, target=0.85)
    assert [r.actions for r in result.objects] == [0, 2, 2]
    assert result.deletions == 1
    assert result.actions == 5
    assert all(r.reached for r in result.objects)
