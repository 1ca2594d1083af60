"""Starting an object from something other than a click: an existing mask or label.

An existing label (from Cellpose, StarDist, a threshold or an earlier session) is corrected
with clicks instead of re-segmented from scratch: the session starts the object from an
:class:`ObjectStart`, whose map is the current result before any click, and finishing writes
the object back with the label's own id (its old pixels replaced, see
``painting.plan_paint(replace_id=...)``).

How the start reaches the network: the mask stays the result until the first click; from
then on

* the network gets :attr:`ObjectStart.seeds` before the user's clicks: one positive click at
  the mask's innermost pixel (the maximum of its distance transform), which says "this
  object" the way a user's first click would. The built-in model was trained with a positive
  first click: without the seed, a first negative click on a label erases it (measured on the
  sample nuclei), and on GrabCut the seed halves the clicks (``bench_prompts.py
  --edit-policies``);
* models with a previous-mask input (the built-in ones) also see the mask as their previous
  prediction, as if they had predicted it themselves; models without it (the official
  HRNet/ResNet checkpoints) get the seed click alone, so they correct what they predict from
  that click rather than the mask itself;
* ZoomIn crops around the mask from that first click (``Predictor.seed_zoom``), so a small
  label gets the network's full resolution at once;
* each click corrects the object *locally* (:func:`correct_locally`): only the connected part
  of the disagreement between the network's prediction and the current object that holds the
  click changes, and the new object is the network's previous mask and ZoomIn region for the
  next click. The network's own prediction after one click is often worse than a label at IoU
  0.8 (GrabCut, built-in model: a dilated label went from IoU 0.80 to 0.11 in one click), so
  taking it whole throws the label away; a local correction never does.

Bad starts are ``ValueError``: a mask of another shape, an empty one, one that is not binary
(use :func:`mask_of_label` for label images), a label id that is absent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import distance_transform_edt, label

from napari_fbrs.inference.engine.clicks import Click


@dataclass(frozen=True)
class ObjectStart:
    """How a new object starts before any click.

    ``probs``: the starting map (float32 ``H x W`` in 0..1), shown and finished as the object
    until the first click and given to previous-mask models as their previous prediction.
    ``zoom_region``: what ZoomIn crops around from the first click (None: ``probs``).
    ``seeds``: clicks the network gets before the user's (never shown, never undone).
    ``label_id``: the existing label this object replaces when finished (None: a new id).
    ``local``: each click changes only the part of the object it is on (:func:`correct_locally`).
    """

    probs: np.ndarray
    zoom_region: np.ndarray | None = None
    seeds: tuple[Click, ...] = ()
    label_id: int | None = None
    local: bool = False

    @property
    def region(self) -> np.ndarray:
        return self.probs if self.zoom_region is None else self.zoom_region


def check_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``mask`` as a bool array of ``shape``; ValueError if it is of another shape, empty, or
    holds values other than 0/1 (True/False)."""
    array = np.asarray(mask)
    if array.shape != tuple(shape):
        raise ValueError(f"the mask has shape {array.shape}, the image {tuple(shape)}")
    if array.dtype != np.bool_:
        if not np.issubdtype(array.dtype, np.number):
            raise ValueError(f"the mask must be numeric or bool, got {array.dtype}")
        values = np.unique(array)
        if not np.isin(values, (0, 1)).all() and not np.isin(values, (0, 255)).all():
            shown = ", ".join(f"{v:g}" for v in values[:6])
            raise ValueError(
                f"the mask is not binary (values {shown}{', ...' if values.size > 6 else ''}); "
                "for a label image give the label id"
            )
        array = array != 0
    if not array.any():
        raise ValueError("the mask is empty: nothing to start from")
    return array


def mask_of_label(labels: np.ndarray, label_id: int) -> np.ndarray:
    """The pixels of ``label_id`` in a label image; ValueError if the id is absent."""
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"a label image must hold integers, got {labels.dtype}")
    if int(label_id) <= 0:
        raise ValueError(f"label id {label_id} is not an object id (ids start at 1)")
    mask = labels == int(label_id)
    if not mask.any():
        raise ValueError(f"label {label_id} is not in the label image")
    return mask


def inner_point(mask: np.ndarray) -> tuple[int, int]:
    """The pixel of ``mask`` farthest from its border (first in row-major order on ties)."""
    distance = distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    row, col = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return int(row), int(col)


def start_from_mask(
    mask: np.ndarray,
    uses_prev_mask: bool,
    label_id: int | None = None,
    seed_click: bool | None = None,
    local: bool = True,
) -> ObjectStart:
    """The start for an existing ``mask`` (checked bool array of the image's shape).

    ``seed_click``: give the network a positive click at the mask's innermost pixel before
    the user's clicks (None: yes, see the module docstring; ``uses_prev_mask`` is kept for a
    policy that depends on the model kind, and for the benchmark's comparison). ``local``:
    clicks correct the mask locally (:func:`correct_locally`, see the module docstring).
    """
    probs = np.asarray(mask, dtype=np.float32)
    if seed_click is None:
        seed_click = True
    seeds = (Click(*inner_point(mask), True),) if seed_click else ()
    label = None if label_id is None else int(label_id)
    return ObjectStart(probs, None, seeds, label, local=local)


def correct_locally(
    current: np.ndarray, predicted: np.ndarray, click: Click, threshold: float
) -> np.ndarray:
    """The current map changed only where ``click`` says it is wrong.

    A positive click adds the connected part of "predicted object, not yet object" that holds
    the click; a negative one removes the connected part of "object, predicted background"
    that holds it; both only within the error's scale (pixels no farther from the object's
    border than twice the click is), so a prediction that lost most of the object removes a
    band along the border, not the object; the rest of the current map stays. When the
    prediction does not agree with the click at its pixel, the click flips a disk around
    itself instead, as far as the object's nearest border (a brush stroke the size of the
    local error).
    """
    now, new = current > threshold, predicted > threshold
    row, col = int(click.row), int(click.col)
    same = now if now[row, col] else ~now
    depth = distance_transform_edt(np.pad(same, 1))[1:-1, 1:-1]  # to the object's border
    radius = float(depth[row, col])
    # the error's scale: no farther from the border than twice the click's own distance
    changed = ((new & ~now) if click.positive else (now & ~new)) & (depth <= 2 * radius + 1)
    if changed[row, col]:
        parts, _ = label(changed)
        region = parts == parts[row, col]
        return np.where(region, predicted, current).astype(np.float32)
    rows, cols = np.ogrid[: current.shape[0], : current.shape[1]]
    disk = (rows - row) ** 2 + (cols - col) ** 2 <= radius**2
    value = np.float32(1.0 if click.positive else 0.0)
    return np.where(disk, value, current).astype(np.float32)
