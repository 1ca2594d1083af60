"""A simulated user annotating every object of an image (``benchmarks/bench_dense.py``).

User actions to bring every object to IoU >= ``target`` with three ways of working:

* (a) **click + Finish**: NoC-protocol clicks on each object in turn, then Finish (1 action);
* (b) **one click per object**: the same clicks without Finish (a positive click on the next
  object finishes the current one; the image's last object still needs one Finish). The
  corrective positive clicks that fall outside the current mask are counted apart
  (``outside_clicks``): in one-click mode each is a Shift+click (``same_object``), still one
  action, which a plain click would take as the start of a new object;
* (c) **segment everything, then correct**: objects found at IoU >= ``target`` cost nothing;
  a found object below it (IoU >= 0.5 with its object) is edited: 1 action to pick it, then
  corrective clicks from its mask (the previous-mask input of the model); a missed object is
  added as in (b); every false positive costs 1 action (delete).

Corrective clicks follow the NoC protocol's next-click rule (:mod:`.clicker`), at most
``max_clicks`` per object; an object that never reaches ``target`` counts its actions and is a
failure. The user drives an :class:`ObjectTool` (reset / start from a mask / click), so this
module needs no model and tests run it on a fake.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from napari_fbrs.evaluation.clicker import SimulatedClicker
from napari_fbrs.evaluation.instances import iou_matrix


class ObjectTool(Protocol):
    """What the simulated user works with: one object at a time on one image."""

    def reset(self) -> None: ...

    def start_from(self, mask: np.ndarray) -> None: ...

    def click(self, row: int, col: int, positive: bool) -> np.ndarray: ...


@dataclass(frozen=True)
class ObjectResult:
    """One object: the clicks placed, other actions (Finish, pick, delete), the IoU reached."""

    clicks: int
    other_actions: int
    reached: bool
    iou: float
    outside_clicks: int = 0

    @property
    def actions(self) -> int:
        return self.clicks + self.other_actions


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def click_object(
    tool: ObjectTool,
    truth: np.ndarray,
    max_clicks: int,
    target: float,
    start: np.ndarray | None = None,
) -> ObjectResult:
    """Click on one object (bool ``truth``) until IoU >= ``target`` or ``max_clicks``;
    from ``start`` (an existing mask) when given. Other actions are left to the caller."""
    tool.reset()
    mask = np.zeros(truth.shape, dtype=bool) if start is None else start.astype(bool)
    if start is not None:
        tool.start_from(mask)
    clicker = SimulatedClicker(truth.astype(np.uint8))
    iou, outside = _iou(mask, truth), 0
    for count in range(1, max_clicks + 1):
        click = clicker.make_next_click(mask)
        if click.positive and (count > 1 or start is not None) and not mask[click.row, click.col]:
            outside += 1
        mask = tool.click(int(click.row), int(click.col), click.positive)
        iou = _iou(mask, truth)
        if iou >= target:
            return ObjectResult(count, 0, True, iou, outside)
    return ObjectResult(max_clicks, 0, False, iou, outside)


def object_ids(gt: np.ndarray) -> list[int]:
    ids = np.unique(gt)
    return [int(i) for i in ids if i > 0]


def annotate_by_clicks(
    tool: ObjectTool, gt: np.ndarray, max_clicks: int, target: float
) -> list[ObjectResult]:
    """(a): every object of ``gt`` clicked from scratch, each finished with one action.
    (b) is derived from it by :func:`one_click_results`."""
    return [
        _with_other(click_object(tool, gt == i, max_clicks, target), 1) for i in object_ids(gt)
    ]


def one_click_results(click_finish: Sequence[ObjectResult]) -> list[ObjectResult]:
    """(b) from (a)'s clicks: no Finish, except one for the image's last object."""
    results = [_with_other(r, 0) for r in click_finish]
    if results:
        results[-1] = _with_other(results[-1], 1)
    return results


def _with_other(result: ObjectResult, other: int) -> ObjectResult:
    return ObjectResult(result.clicks, other, result.reached, result.iou, result.outside_clicks)


@dataclass(frozen=True)
class CorrectionResult:
    """(c) on one image: per ground-truth object, plus the deletions of false positives."""

    objects: list[ObjectResult]
    deletions: int

    @property
    def actions(self) -> int:
        return sum(r.actions for r in self.objects) + self.deletions


def correct_segmentation(
    tool: ObjectTool,
    gt: np.ndarray,
    found: np.ndarray,
    max_clicks: int,
    target: float,
    match_iou: float = 0.5,
) -> CorrectionResult:
    """(c): start from ``found`` (labels of segment everything) and correct it."""
    ious = iou_matrix(gt, found)
    gt_ids, found_ids = object_ids(gt), object_ids(found)
    matched_found: set[int] = set()
    objects = []
    for row, gt_id in enumerate(gt_ids):
        truth = gt == gt_id
        best = int(np.argmax(ious[row])) if ious.shape[1] else -1
        best_iou = float(ious[row, best]) if best >= 0 else 0.0
        if best_iou >= match_iou:
            matched_found.add(best)
        if best_iou >= target:
            objects.append(ObjectResult(0, 0, True, best_iou))
        elif best_iou >= match_iou:
            start = found == found_ids[best]
            objects.append(_with_other(click_object(tool, truth, max_clicks, target, start), 1))
        else:
            objects.append(click_object(tool, truth, max_clicks, target))
    deletions = len(found_ids) - len(matched_found)
    return CorrectionResult(objects, deletions)


@dataclass(frozen=True)
class DenseSummary:
    """Actions per object over many objects, and the failures."""

    objects: int
    actions: int
    failures: int
    outside_clicks: int

    @property
    def per_object(self) -> float:
        return self.actions / self.objects if self.objects else 0.0

    @classmethod
    def of(cls, results: Sequence[ObjectResult], extra_actions: int = 0) -> DenseSummary:
        return cls(
            len(results),
            sum(r.actions for r in results) + extra_actions,
            sum(not r.reached for r in results),
            sum(r.outside_clicks for r in results),
        )
