"""IoU, NoC and mIoU curves from per-click IoU lists.

Definitions follow the f-BRS / RITM evaluation code so that our numbers can be set beside the
published ones: NoC@t is the 1-based click at which IoU first reaches ``t`` (``max_clicks`` when
it never does), and the failure count ">=N@t" is the number of objects whose NoC equals
``max_clicks``, which includes objects that reach ``t`` exactly at the last allowed click.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def iou(gt: np.ndarray, pred_mask: np.ndarray, ignore_label: int = -1) -> float:
    """Intersection over union of ``pred_mask`` with the object (``gt == 1``).

    Pixels equal to ``ignore_label`` count neither in the intersection nor in the union.
    Empty union (no object pixel and nothing predicted outside the ignore region): upstream
    divides 0 by 0 and gets NaN; we return 1.0, since an empty prediction agrees perfectly
    with an empty object and a NaN would poison every mean. Evaluation never meets this case
    because it refuses samples without object pixels.
    """
    gt = np.asarray(gt)
    pred = np.asarray(pred_mask).astype(bool, copy=False)
    if gt.shape != pred.shape:
        raise ValueError(f"pred_mask has shape {pred.shape}, the ground truth {gt.shape}")
    valid = gt != ignore_label
    obj = gt == 1
    union = np.count_nonzero((pred | obj) & valid)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(pred & obj & valid) / union)


def _check_max_clicks(max_clicks: int) -> None:
    if max_clicks < 1:
        raise ValueError(f"max_clicks must be at least 1, got {max_clicks}")


def noc(ious: Sequence[float], threshold: float, max_clicks: int) -> int:
    """Clicks needed to reach ``threshold`` (1-based), or ``max_clicks`` if never reached.

    Only the first ``max_clicks`` values are looked at, so a longer curve can be scored with
    a smaller click budget.
    """
    _check_max_clicks(max_clicks)
    for index, value in enumerate(list(ious)[:max_clicks]):
        if value >= threshold:
            return index + 1
    return max_clicks


def _check_all(all_ious: Sequence[Sequence[float]]) -> None:
    if len(all_ious) == 0:
        raise ValueError("no samples: the IoU list is empty")
    for index, ious in enumerate(all_ious):
        if len(ious) == 0:
            raise ValueError(f"sample {index} has an empty IoU list (no click was made)")


def noc_summary(
    all_ious: Sequence[Sequence[float]], thresholds: Sequence[float], max_clicks: int
) -> tuple[list[float], list[int]]:
    """Mean NoC per threshold and, per threshold, the number of samples with NoC == max."""
    _check_max_clicks(max_clicks)
    _check_all(all_ious)
    means: list[float] = []
    failures: list[int] = []
    for threshold in thresholds:
        scores = np.array([noc(ious, threshold, max_clicks) for ious in all_ious])
        means.append(float(scores.mean()))
        failures.append(int(np.count_nonzero(scores == max_clicks)))
    return means, failures


def miou_curve(all_ious: Sequence[Sequence[float]], max_clicks: int) -> np.ndarray:
    """Mean IoU after k = 1..max_clicks clicks (float64, length ``max_clicks``).

    A sample that stopped early (it reached the target IoU) keeps its last IoU for the clicks
    it did not need, so the curve describes "IoU after at most k clicks".
    """
    _check_max_clicks(max_clicks)
    _check_all(all_ious)
    table = np.empty((len(all_ious), max_clicks), dtype=np.float64)
    for row, ious in zip(table, all_ious, strict=True):
        values = np.asarray(ious, dtype=np.float64)[:max_clicks]
        row[: values.size] = values
        row[values.size :] = values[-1]
    return table.mean(axis=0)


def satisfaction_curve(
    all_satisfied: Sequence[Sequence[bool]], max_clicks: int
) -> list[float | None]:
    """Share of objects whose k-th click ended on the side it asked for, k = 1..max_clicks.

    A click is *satisfied* when the prediction made right after it puts the clicked pixel
    inside the mask (positive click) or outside it (negative click). A model that stops
    listening to corrective clicks shows it here before it shows in NoC. Only objects that
    made a k-th click count at index k; ``None`` where no object did.
    """
    _check_max_clicks(max_clicks)
    curve: list[float | None] = []
    for k in range(max_clicks):
        made = [bool(flags[k]) for flags in all_satisfied if len(flags) > k]
        curve.append(float(np.mean(made)) if made else None)
    return curve
