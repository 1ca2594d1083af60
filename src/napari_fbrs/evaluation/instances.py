"""Instance-segmentation quality: matching label images, mSA and the share of objects found.

The definitions are the ones micro-sam reports (after the DSB2018 competition's metric): at an
IoU threshold ``t``, a ground-truth object and a predicted object match when their IoU is at
least ``t`` (each object matches at most one other, maximum matching); the segmentation
accuracy is ``TP / (TP + FP + FN)`` and the mean segmentation accuracy (mSA) averages it over
``t = 0.5, 0.55, ..., 0.95``. "Found at 0.5" is the share of ground-truth objects matched at
IoU 0.5 (the recall a user correcting the result cares about). Label images hold integer ids,
0 is background; ids need not be consecutive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

#: IoU thresholds of the mean segmentation accuracy: 0.5, 0.55, ..., 0.95.
MSA_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))


def _check_pair(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gt, pred = np.asarray(gt), np.asarray(pred)
    if gt.shape != pred.shape:
        raise ValueError(f"prediction has shape {pred.shape}, the ground truth {gt.shape}")
    for name, array in (("ground truth", gt), ("prediction", pred)):
        if not np.issubdtype(array.dtype, np.integer):
            raise TypeError(f"{name} must be an integer label image, got {array.dtype}")
    return gt, pred


def iou_matrix(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """IoU of every ground-truth object (rows, ids in increasing order) with every predicted
    object (columns); background (0) is neither. Computed from one joint histogram, so it
    costs one pass over the pixels whatever the number of objects."""
    gt, pred = _check_pair(gt, pred)
    gt_ids, gt_index = np.unique(gt.ravel(), return_inverse=True)
    pred_ids, pred_index = np.unique(pred.ravel(), return_inverse=True)
    joint = np.bincount(
        gt_index * len(pred_ids) + pred_index, minlength=len(gt_ids) * len(pred_ids)
    ).reshape(len(gt_ids), len(pred_ids))
    joint = joint[gt_ids != 0][:, pred_ids != 0].astype(np.float64)
    gt_area = np.bincount(gt_index)[gt_ids != 0].astype(np.float64)
    pred_area = np.bincount(pred_index)[pred_ids != 0].astype(np.float64)
    union = gt_area[:, None] + pred_area[None, :] - joint
    return np.divide(joint, union, out=np.zeros_like(joint), where=union > 0)


@dataclass(frozen=True)
class Matching:
    """Counts at one IoU threshold."""

    threshold: float
    tp: int
    fp: int
    fn: int

    @property
    def accuracy(self) -> float:
        """``TP / (TP + FP + FN)``; 1.0 when both images are empty (nothing to get wrong)."""
        total = self.tp + self.fp + self.fn
        return 1.0 if total == 0 else self.tp / total


def match_at(ious: np.ndarray, threshold: float) -> Matching:
    """Maximum one-to-one matching of objects whose IoU is at least ``threshold``."""
    n_gt, n_pred = ious.shape
    if n_gt == 0 or n_pred == 0:
        return Matching(threshold, 0, n_pred, n_gt)
    eligible = ious >= threshold
    if threshold > 0.5:  # IoU > 0.5 pairs are unique on both sides: no assignment needed
        tp = int(np.count_nonzero(eligible.any(axis=1)))
    else:
        rows, cols = linear_sum_assignment(eligible, maximize=True)
        tp = int(np.count_nonzero(eligible[rows, cols]))
    return Matching(threshold, tp, n_pred - tp, n_gt - tp)


def matchings(
    gt: np.ndarray, pred: np.ndarray, thresholds: tuple[float, ...] = MSA_THRESHOLDS
) -> list[Matching]:
    """Counts at each threshold for one image."""
    ious = iou_matrix(gt, pred)
    return [match_at(ious, t) for t in thresholds]


def mean_segmentation_accuracy(
    gt: np.ndarray, pred: np.ndarray, thresholds: tuple[float, ...] = MSA_THRESHOLDS
) -> float:
    """mSA of one image: the segmentation accuracy averaged over ``thresholds``."""
    return float(np.mean([m.accuracy for m in matchings(gt, pred, thresholds)]))


def found_fraction(gt: np.ndarray, pred: np.ndarray, threshold: float = 0.5) -> float:
    """Share of ground-truth objects matched at IoU ``threshold`` (1.0 with no object)."""
    ious = iou_matrix(gt, pred)
    if ious.shape[0] == 0:
        return 1.0
    return match_at(ious, threshold).tp / ious.shape[0]


@dataclass(frozen=True)
class InstanceScores:
    """The figures the benchmark reports for one image."""

    msa: float
    found: float
    n_gt: int
    n_pred: int


def score_instances(gt: np.ndarray, pred: np.ndarray) -> InstanceScores:
    """mSA, found@0.5 and object counts of one image from a single IoU matrix."""
    ious = iou_matrix(gt, pred)
    found = 1.0 if ious.shape[0] == 0 else match_at(ious, 0.5).tp / ious.shape[0]
    msa = float(np.mean([match_at(ious, t).accuracy for t in MSA_THRESHOLDS]))
    return InstanceScores(msa, found, int(ious.shape[0]), int(ious.shape[1]))
