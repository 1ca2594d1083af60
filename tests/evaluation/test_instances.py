"""Instance matching, mSA and found@0.5 on hand-made label images."""

from __future__ import annotations

import numpy as np
import pytest

from napari_fbrs.evaluation.instances import (
    MSA_THRESHOLDS,
    found_fraction,
    iou_matrix,
    match_at,
    matchings,
    mean_segmentation_accuracy,
    score_instances,
)


def _squares() -> np.ndarray:
    gt = np.zeros((20, 20), dtype=np.int32)
    gt[0:10, 0:10] = 5  # 100 px
    gt[12:16, 12:16] = 9  # 16 px
    return gt


def test_thresholds_are_the_micro_sam_ones() -> None:
    assert MSA_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def test_identical_labels_score_one_whatever_the_ids() -> None:
    gt = _squares()
    pred = np.where(gt == 5, 1, np.where(gt == 9, 2, 0)).astype(np.int64)
    assert mean_segmentation_accuracy(gt, pred) == 1.0
    assert found_fraction(gt, pred) == 1.0


def test_iou_matrix_values() -> None:
    gt = _squares()
    pred = np.zeros_like(gt)
    pred[0:10, 0:8] = 3  # 80 px inside object 5: IoU 0.8
    pred[12:16, 14:18] = 4  # 8 px of object 9, union 24: IoU 1/3
    ious = iou_matrix(gt, pred)
    assert ious.shape == (2, 2)
    np.testing.assert_allclose(ious, [[0.8, 0.0], [0.0, 8 / 24]])


def test_counts_at_each_threshold() -> None:
    gt = _squares()
    pred = np.zeros_like(gt)
    pred[0:10, 0:8] = 3  # IoU 0.8 with object 5
    pred[18:20, 0:3] = 4  # a false positive
    found = {m.threshold: (m.tp, m.fp, m.fn) for m in matchings(gt, pred)}
    assert found[0.5] == (1, 1, 1)
    assert found[0.8] == (1, 1, 1)
    assert found[0.85] == (0, 2, 2)
    # accuracy 1/3 at the seven thresholds 0.5..0.8, 0 at the three above
    assert mean_segmentation_accuracy(gt, pred) == pytest.approx(7 * (1 / 3) / 10)
    assert found_fraction(gt, pred) == 0.5


def test_one_prediction_cannot_match_two_objects() -> None:
    gt = np.zeros((10, 20), dtype=np.int32)
    gt[:, :10], gt[:, 10:] = 1, 2
    pred = np.ones_like(gt)  # one object over both: IoU 0.5 with each
    m = match_at(iou_matrix(gt, pred), 0.5)
    assert (m.tp, m.fp, m.fn) == (1, 0, 1)


def test_empty_images() -> None:
    empty = np.zeros((5, 5), dtype=np.int32)
    assert mean_segmentation_accuracy(empty, empty) == 1.0
    one = empty.copy()
    one[1:3, 1:3] = 1
    assert mean_segmentation_accuracy(one, empty) == 0.0
    assert mean_segmentation_accuracy(empty, one) == 0.0
    assert found_fraction(one, empty) == 0.0
    assert found_fraction(empty, one) == 1.0


def test_score_instances_agrees_with_the_functions() -> None:
    gt = _squares()
    pred = np.zeros_like(gt)
    pred[0:10, 0:9] = 7
    scores = score_instances(gt, pred)
    assert scores.msa == pytest.approx(mean_segmentation_accuracy(gt, pred))
    assert scores.found == found_fraction(gt, pred) == 0.5
    assert (scores.n_gt, scores.n_pred) == (2, 1)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="shape"):
        iou_matrix(np.zeros((3, 3), int), np.zeros((3, 4), int))
    with pytest.raises(TypeError, match="integer"):
        iou_matrix(np.zeros((3, 3), int), np.zeros((3, 3), float))
