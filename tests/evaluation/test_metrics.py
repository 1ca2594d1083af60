"""IoU, NoC, failures and the carried-forward mIoU curve on hand-computed numbers."""

from __future__ import annotations

import numpy as np
import pytest

from napari_fbrs.evaluation.metrics import iou, miou_curve, noc, noc_summary


def test_iou_counts_pixels() -> None:
    gt = np.zeros((4, 5), dtype=np.int8)
    gt[0:2, 0:3] = 1  # 6 object pixels
    pred = np.zeros(gt.shape, dtype=bool)
    pred[0:2, 1:4] = True  # 4 overlap, 2 false positives
    assert iou(gt, pred) == pytest.approx(4 / 8)


def test_iou_excludes_ignore_pixels_from_intersection_and_union() -> None:
    gt = np.array([[1, 1, -1, 0], [1, -1, -1, 0]], dtype=np.int8)
    pred = np.array([[1, 0, 1, 1], [1, 1, 1, 0]], dtype=bool)
    # valid object pixels: (0,0) (0,1) (1,0); predicted valid: (0,0) (1,0) (0,3)
    assert iou(gt, pred) == pytest.approx(2 / 4)
    # With no ignore label the -1 pixels become background and count as false positives.
    assert iou(gt, pred, ignore_label=99) == pytest.approx(2 / 7)


def test_iou_accepts_probabilities_as_truthy_masks_and_checks_shape() -> None:
    gt = np.ones((2, 2), dtype=np.int8)
    assert iou(gt, np.array([[0.0, 0.3], [1.0, 0.0]])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"pred_mask has shape \(3, 2\)"):
        iou(gt, np.zeros((3, 2), bool))


def test_iou_of_an_empty_union_is_one() -> None:
    gt = np.array([[0, -1], [0, 0]], dtype=np.int8)
    pred = np.array([[0, 1], [0, 0]], dtype=bool)  # only inside the ignore region
    assert iou(gt, pred) == 1.0


def test_noc_is_the_first_click_reaching_the_threshold() -> None:
    ious = [0.5, 0.84, 0.85, 0.95]
    assert noc(ious, 0.85, 20) == 3
    assert noc(ious, 0.8, 20) == 2
    assert noc(ious, 0.5, 20) == 1
    assert noc(ious, 0.96, 20) == 20
    assert noc(ious, 0.9, 3) == 3  # only the first max_clicks values count
    with pytest.raises(ValueError, match="max_clicks"):
        noc(ious, 0.9, 0)


def test_noc_summary_means_and_failures() -> None:
    all_ious = [
        [0.5, 0.85, 1.0],  # NoC 2 / 2 / 3
        [0.0, 0.8, 0.8, 0.95],  # NoC 2 / 4 / 4
        [0.3, 0.3, 0.3, 0.3, 0.3],  # never: 5 / 5 / 5
        [0.0, 0.0, 0.0, 0.0, 0.9],  # first reaches 0.85 and 0.9 at the last click: 5 / 5
    ]
    means, failures = noc_summary(all_ious, (0.8, 0.85, 0.9), max_clicks=5)
    assert means == pytest.approx([14 / 4, 16 / 4, 17 / 4])
    # As upstream: NoC == max_clicks is a failure, even when reached at that very click.
    assert failures == [2, 2, 2]
    assert all(isinstance(f, int) for f in failures)


def test_noc_summary_rejects_empty_input() -> None:
    with pytest.raises(ValueError, match="no samples"):
        noc_summary([], (0.9,), 20)
    with pytest.raises(ValueError, match="sample 1 has an empty IoU list"):
        noc_summary([[0.5], []], (0.9,), 20)


def test_miou_curve_carries_the_last_iou_forward() -> None:
    all_ious = [[0.5, 0.85, 1.0], [0.2, 0.4, 0.6, 0.8, 0.9, 0.95]]
    curve = miou_curve(all_ious, max_clicks=5)
    assert curve.shape == (5,)
    assert curve.dtype == np.float64
    np.testing.assert_allclose(curve, [0.35, 0.625, 0.8, 0.9, 0.95])
