"""Evaluate propagation through a labelled stack: 3-D IoU and clicks per 3-D object.

For every 3-D object of a stack with 3-D instance labels (``(Z, H, W)``, one id per object on
all its slices; per-slice instance labels become 3-D objects with ``io.stacks.link_slices``):

1. **Propagation.** On the object's largest slice the NoC protocol's simulated user
   (:class:`~napari_fbrs.evaluation.clicker.SimulatedClicker`, from an empty prediction) clicks
   until the IoU reaches ``target_iou`` or ``max_clicks``; that mask is propagated through the
   stack (:func:`napari_fbrs.inference.stacks.propagation.propagate`). Clicks per object = the
   clicks on that slice; the 3-D IoU compares every propagated slice with the object's voxels.
2. **Corrections** (``corrections`` rounds, optional): the object's slice with the lowest IoU,
   if below ``target_iou``, is segmented again by the simulated user from scratch, and
   propagation resumes from it (``repropagate``); its clicks are added.
3. **Per slice** (the baseline, optional): the simulated user segments the object on every
   slice where it is present, separately; clicks per object = the sum over its slices.

The stack is a window source (``io.planes.stack_source``), so every slice is normalised the
same way for both the clicks and the propagation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from napari_fbrs.inference.engine.protocol import ObjectPredictor
from napari_fbrs.inference.stacks.propagation import (
    PropagationConfig,
    PropagationResult,
    StackLike,
    propagate,
    repropagate,
)

from .clicker import SimulatedClicker
from .metrics import iou


@dataclass(frozen=True)
class PropagationEvalSettings:
    """The protocol knobs."""

    target_iou: float = 0.85
    max_clicks: int = 20
    pred_thresh: float = 0.49
    corrections: int = 0
    per_slice: bool = True
    min_slices: int = 2  # objects on fewer slices have nothing to propagate to
    max_objects: int | None = None  # the first N objects (by id) that qualify

    def __post_init__(self) -> None:
        if not 0.0 < self.target_iou <= 1.0 or self.max_clicks < 1 or self.corrections < 0:
            raise ValueError("need 0 < target_iou <= 1, max_clicks >= 1, corrections >= 0")


@dataclass
class ObjectPropagation:
    """One 3-D object: what propagation, corrections and per-slice clicking cost and gave."""

    label: int
    slices: int  # slices the object is present on
    start: int
    start_clicks: int
    start_iou: float
    iou_3d: float
    propagated: int  # slices in the propagation result
    stops: dict[str, str] = field(default_factory=dict)
    corrected_clicks: int | None = None
    corrected_iou_3d: float | None = None
    per_slice_clicks: int | None = None
    per_slice_iou_3d: float | None = None
    seconds: float = 0.0


@dataclass
class PropagationEvaluation:
    """Per-object results on one stack."""

    name: str
    settings: PropagationEvalSettings
    objects: list[ObjectPropagation]

    def summary(self) -> dict[str, Any]:
        def mean(values: list[float | int | None]) -> float | None:
            kept = [v for v in values if v is not None]
            return float(np.mean(kept)) if kept else None

        o = self.objects
        return {
            "objects": len(o),
            "slices_per_object": mean([x.slices for x in o]),
            "iou_3d": mean([x.iou_3d for x in o]),
            "clicks": mean([x.start_clicks for x in o]),
            "corrected_iou_3d": mean([x.corrected_iou_3d for x in o]),
            "corrected_clicks": mean([x.corrected_clicks for x in o]),
            "per_slice_iou_3d": mean([x.per_slice_iou_3d for x in o]),
            "per_slice_clicks": mean([x.per_slice_clicks for x in o]),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "settings": asdict(self.settings),
            "summary": self.summary(),
            "objects": [asdict(x) for x in self.objects],
        }


def click_until(
    predictor: ObjectPredictor,
    image: np.ndarray,
    gt: np.ndarray,
    settings: PropagationEvalSettings,
) -> tuple[int, float, np.ndarray]:
    """The simulated user on one slice: ``(clicks, final IoU, final mask)``."""
    predictor.set_image(image)
    clicker = SimulatedClicker(gt.astype(np.int8))
    mask = np.zeros(gt.shape, dtype=bool)
    value = 0.0
    for _ in range(settings.max_clicks):
        clicker.make_next_click(mask)
        mask = np.asarray(predictor.predict(tuple(clicker.clicks))) > settings.pred_thresh
        value = iou(gt, mask)
        if value >= settings.target_iou:
            break
    return len(clicker), value, mask


def iou_3d(masks: dict[int, np.ndarray], gt: np.ndarray) -> float:
    """Voxel IoU of per-slice masks (index -> full-slice bool) with ``gt`` (Z, H, W) bool."""
    inter = union = 0
    for z in range(gt.shape[0]):
        pred = masks.get(z)
        if pred is None:
            union += int(np.count_nonzero(gt[z]))
            continue
        inter += int(np.count_nonzero(pred & gt[z]))
        union += int(np.count_nonzero(pred | gt[z]))
    return inter / union if union else 1.0


def _full(result: PropagationResult, shape: tuple[int, int]) -> dict[int, np.ndarray]:
    return {z: m.full(shape) for z, m in result.masks.items()}


def evaluate_object(
    predictor: ObjectPredictor,
    stack: StackLike,
    labels: np.ndarray,
    label: int,
    settings: PropagationEvalSettings,
    config: PropagationConfig | None = None,
) -> ObjectPropagation:
    """Propagation, corrections and per-slice clicking for the 3-D object ``label``."""
    begin = time.perf_counter()
    gt = labels == label
    areas = gt.sum(axis=(1, 2))
    present = [int(z) for z in np.flatnonzero(areas)]
    if not present:
        raise ValueError(f"object {label} has no voxel")
    shape = (int(labels.shape[1]), int(labels.shape[2]))
    start = int(np.argmax(areas))

    def whole(z: int) -> np.ndarray:
        return np.asarray(stack.plane(z).read(slice(0, shape[0]), slice(0, shape[1])))

    clicks, start_iou, mask = click_until(predictor, whole(start), gt[start], settings)
    if mask.any():
        result = propagate(predictor, stack, start, mask, config)
    else:  # the user got nothing on the start slice: nothing to propagate
        result = PropagationResult(start, {}, {})
    item = ObjectPropagation(
        label=label,
        slices=len(present),
        start=start,
        start_clicks=clicks,
        start_iou=start_iou,
        iou_3d=iou_3d(_full(result, shape), gt),
        propagated=len(result.masks),
        stops={f"{k:+d}": v.reason.value for k, v in result.stops.items()},
    )
    if settings.corrections:
        result, used = _correct_worst_slices(
            predictor, stack, result, gt, present, start, whole, settings, config
        )
        item.corrected_clicks = clicks + used
        item.corrected_iou_3d = iou_3d(_full(result, shape), gt)
    if settings.per_slice:
        masks, total = {}, 0
        for z in present:
            used, _, masks[z] = click_until(predictor, whole(z), gt[z], settings)
            total += used
        item.per_slice_clicks = total
        item.per_slice_iou_3d = iou_3d(masks, gt)
    item.seconds = time.perf_counter() - begin
    return item


def _correct_worst_slices(
    predictor: ObjectPredictor,
    stack: StackLike,
    result: PropagationResult,
    gt: np.ndarray,
    present: list[int],
    start: int,
    whole: Any,
    settings: PropagationEvalSettings,
    config: PropagationConfig | None,
) -> tuple[PropagationResult, int]:
    """The simulated user's corrections: click the worst slice until it is good enough and
    re-propagate from it, ``settings.corrections`` times at most. Returns the result and
    the clicks spent."""
    shape = gt.shape[1:]
    total, done = 0, {start}
    for _ in range(settings.corrections):
        full = _full(result, shape)
        scores = {
            z: iou(gt[z], full.get(z, np.zeros(shape, bool))) for z in present if z not in done
        }
        worst = min(scores, key=scores.__getitem__, default=None)
        if worst is None or scores[worst] >= settings.target_iou:
            break
        used, _, fixed = click_until(predictor, whole(worst), gt[worst], settings)
        total += used
        done.add(worst)
        if fixed.any():
            result = repropagate(predictor, stack, result, worst, fixed, config)
    return result, total


def evaluate_propagation(
    predictor: ObjectPredictor,
    stack: StackLike,
    labels: np.ndarray,
    settings: PropagationEvalSettings | None = None,
    config: PropagationConfig | None = None,
    name: str = "stack",
    on_object: Callable[[ObjectPropagation], None] | None = None,
) -> PropagationEvaluation:
    """Evaluate every qualifying 3-D object of ``labels`` (module docstring)."""
    settings = settings or PropagationEvalSettings()
    labels = np.asarray(labels)
    if labels.ndim != 3 or len(stack) != labels.shape[0]:
        raise ValueError(f"labels {labels.shape} must be (Z, H, W) with Z = {len(stack)}")
    spans: dict[int, int] = {}
    for plane in labels:
        for k in np.unique(plane):
            if k > 0:
                spans[int(k)] = spans.get(int(k), 0) + 1
    chosen = [k for k in sorted(spans) if spans[k] >= settings.min_slices]
    chosen = chosen[: settings.max_objects]
    objects = []
    for label in chosen:
        objects.append(evaluate_object(predictor, stack, labels, label, settings, config))
        if on_object is not None:
            on_object(objects[-1])
    return PropagationEvaluation(name, settings, objects)
