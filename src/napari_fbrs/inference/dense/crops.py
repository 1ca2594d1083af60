"""One positive click per seed, predicted in batched crops through the network.

The click maps enter the network after its stem (EfficientNet-Lite) or before the backbone
(f-BRS families), so nothing substantial can be shared between clicks on one image. What makes
many clicks cheap is what ZoomIn does for one: a crop around the click, a few times the object's
estimated size, resized to a fixed side so that the crops stack into one batch and the object
appears at the scale the network was trained on. Each crop's probabilities come back at the
crop's own resolution, with the box they cover.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from napari_fbrs.inference.dense.seeds import Seed
from napari_fbrs.model.dist_maps import encode_points


@dataclass(frozen=True)
class CropPrediction:
    """Probabilities of the object clicked at ``seed`` over ``box`` = (row0, col0, row1, col1)."""

    seed: Seed
    box: tuple[int, int, int, int]
    probs: np.ndarray


def crop_box(
    seed: Seed, shape: tuple[int, int], context: float, min_side: int
) -> tuple[int, int, int, int]:
    """A square box of side ``context * radius`` (at least ``min_side``) centred on the seed,
    shifted to lie inside the image (and cut to it when the image is smaller)."""
    side = max(int(np.ceil(context * seed.radius)), min_side)
    box = []
    for centre, extent in ((seed.row, shape[0]), (seed.col, shape[1])):
        length = min(side, extent)
        start = min(max(centre - length // 2, 0), extent - length)
        box.append((start, start + length))
    return box[0][0], box[1][0], box[0][1], box[1][1]


def predict_crops(
    model: torch.nn.Module,
    image: torch.Tensor,
    seeds: Sequence[Seed],
    net_side: int,
    context: float,
    min_side: int,
    flip: bool = False,
) -> list[CropPrediction]:
    """Predict every seed as one positive click, all crops in one batch.

    ``image``: the normalised ``[1, 3, H, W]`` network image (``model.normalize``). ``flip``:
    average with the horizontally mirrored crops, as the interactive predictor does (twice
    the cost).
    """
    if not seeds:
        return []
    height, width = int(image.shape[2]), int(image.shape[3])
    boxes = [crop_box(s, (height, width), context, min_side) for s in seeds]
    crops, points = [], []
    for seed, (r0, c0, r1, c1) in zip(seeds, boxes, strict=True):
        crop = image[:, :, r0:r1, c0:c1]
        crops.append(F.interpolate(crop, size=(net_side, net_side), mode="bilinear"))
        scale_r, scale_c = net_side / (r1 - r0), net_side / (c1 - c0)
        points.append(
            ((seed.row - r0 + 0.5) * scale_r - 0.5, (seed.col - c0 + 0.5) * scale_c - 0.5)
        )
    batch = torch.cat(crops, dim=0)
    if flip:
        batch = torch.cat((batch, torch.flip(batch, dims=[3])), dim=0)
        points += [(row, net_side - 1 - col) for row, col in points]
    encoded = encode_points([[p] for p in points], [[] for _ in points], 1, image.device)
    with torch.no_grad():
        logits = model(batch, encoded)["instances"]
    if flip:
        half = len(seeds)
        logits = 0.5 * (logits[:half] + torch.flip(logits[half:], dims=[3]))
    results = []
    for index, (seed, box) in enumerate(zip(seeds, boxes, strict=True)):
        size = (box[2] - box[0], box[3] - box[1])
        probs = torch.sigmoid(F.interpolate(logits[index : index + 1], size=size, mode="bilinear"))
        results.append(CropPrediction(seed, box, probs[0, 0].cpu().numpy()))
    return results
