"""Iterative click simulation for training (as RITM trains): clicks that fix the model's errors.

Randomly sampled clicks (:mod:`.sampling`) teach the network what one set of clicks means, but
an interactive user clicks where the *current* prediction is wrong. So before the training
forward pass the model itself predicts, without gradients, a few times in a row; after each
prediction one click is added per sample in the middle of its largest error (a positive click
in a missed region, a negative one in a false detection), and the last prediction becomes the
``prev_mask`` input of models that take one. The network therefore trains on exactly the
situation it meets at the second, third, ... click of an evaluation.

All randomness comes from the ``numpy`` generator passed in (seeded per step by the trainer),
so a resumed run repeats the same clicks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy import ndimage

from napari_fbrs.model.dist_maps import PAD_COORD

#: Threshold that turns probabilities into the predicted mask (the evaluation's).
PRED_THRESH = 0.49


def error_click(
    probs: np.ndarray, target: np.ndarray, rng: np.random.Generator
) -> tuple[float, float, bool] | None:
    """One corrective click for a ``H x W`` prediction against a 1 / 0 / -1 (ignore) target.

    The larger of the false-negative and false-positive regions (measured by its distance
    transform, the image border counting as boundary) decides the sign; the click is drawn
    uniformly among the pixels deeper than half that region's maximum depth, so clicks land
    well inside the error without always hitting the same pixel. ``None`` when there is no
    error left.
    """
    pred = probs > PRED_THRESH
    fn = (target == 1) & ~pred
    fp = (target == 0) & pred
    depth_fn = ndimage.distance_transform_edt(np.pad(fn, 1))[1:-1, 1:-1]
    depth_fp = ndimage.distance_transform_edt(np.pad(fp, 1))[1:-1, 1:-1]
    max_fn, max_fp = float(depth_fn.max()), float(depth_fp.max())
    if max(max_fn, max_fp) <= 0:
        return None
    positive = max_fn > max_fp
    depth = depth_fn if positive else depth_fp
    candidates = np.argwhere(depth > max(max_fn, max_fp) / 2.0)
    row, col = candidates[int(rng.integers(len(candidates)))]
    return float(row), float(col), bool(positive)


def add_clicks(
    points: torch.Tensor, clicks: list[tuple[float, float, bool] | None]
) -> torch.Tensor:
    """``[B, 2K, 2]`` encoded clicks plus one more slot per sign holding ``clicks`` (or padding).

    The model's click maps take the nearest click of each sign, so slot order carries no
    meaning and the tensor can grow by one slot per sign at every iteration.
    """
    batch, total, _ = points.shape
    slots = total // 2
    out = points.new_full((batch, 2 * (slots + 1), 2), PAD_COORD)
    out[:, :slots] = points[:, :slots]
    out[:, slots + 1 : 2 * slots + 1] = points[:, slots:]
    for index, click in enumerate(clicks):
        if click is None:
            continue
        row, col, positive = click
        slot = slots if positive else 2 * slots + 1
        out[index, slot, 0], out[index, slot, 1] = row, col
    return out


def corrective_clicks(
    probs: torch.Tensor, target: torch.Tensor, rng: np.random.Generator
) -> list[tuple[float, float, bool] | None]:
    """:func:`error_click` for every sample of ``[B, 1, H, W]`` probabilities and targets."""
    p = probs.detach().float().cpu().numpy()[:, 0]
    t = target.detach().cpu().numpy()[:, 0]
    return [error_click(p[i], t[i], rng) for i in range(p.shape[0])]


def simulate_clicks(
    forward: Any,
    image: torch.Tensor,
    points: torch.Tensor,
    target: torch.Tensor,
    sampler: Any,
    rng: np.random.Generator,
    uses_prev_mask: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """0..``sampler.next_clicks_max`` rounds (uniformly) of predict-then-correct, no gradients.

    ``forward(image, points, prev_mask)`` is the training forward (in eval mode: BatchNorm uses
    its running statistics, as at test time). Returns the clicks with the corrective ones added
    and, for models that take it, the last prediction as the previous mask (an empty one
    before the first round; replaced by an empty one with ``sampler.prev_mask_drop_prob``).
    """
    prev = torch.zeros_like(target).clamp_(min=0) if uses_prev_mask else None
    most = int(sampler.next_clicks_max)
    rounds = int(rng.integers(0, most + 1)) if most else 0
    with torch.no_grad():
        for _ in range(rounds):
            probs = torch.sigmoid(forward(image, points, prev)["instances"]).float()
            points = add_clicks(points, corrective_clicks(probs, target, rng))
            if uses_prev_mask:
                prev = probs
    if prev is not None and sampler.prev_mask_drop_prob > 0:
        drop = torch.from_numpy(rng.random(prev.shape[0]) < sampler.prev_mask_drop_prob)
        prev[drop.to(prev.device)] = 0
    return points, prev
