"""Segment everything on one image: seeds, batched clicks, selection (see the package doc)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from napari_fbrs.inference.dense.crops import predict_crops
from napari_fbrs.inference.dense.seeds import Seed, find_seeds, residual_seeds
from napari_fbrs.inference.dense.select import Canvas, complete_with_foreground, make_candidate


@dataclass(frozen=True)
class SegmentAllConfig:
    """Settings of segment-everything (defaults tuned on DSB2018/train, see the README)."""

    #: side of the network input of each crop (pixels)
    net_side: int = 128
    #: crop side as a multiple of the seed's radius estimate
    context: float = 4.0
    #: smallest crop side (image pixels)
    min_side: int = 24
    #: probability threshold of a mask
    prob_thresh: float = 0.5
    #: the threshold shift of the stability score
    stability_shift: float = 0.15
    #: masks scoring below this (confidence x stability) are dropped
    min_score: float = 0.3
    #: objects smaller than this (pixels, after overlaps are resolved) are dropped
    min_area: int = 10
    #: a mask whose IoU with an accepted object exceeds this is a duplicate
    max_overlap: float = 0.5
    #: cut masks to the image's foreground estimate (see ``select.make_candidate``)
    cut_to_foreground: bool = True
    #: average each crop with its mirror image (twice the network time)
    flip: bool = False
    #: fit objects to the foreground and add the pieces no click found
    #: (``select.complete_with_foreground``; off: no gain on five DSB2018/train images)
    complete: bool = False
    #: crops per network call
    batch_size: int = 16
    #: a second round of seeds in the foreground that the first round left uncovered
    residual_round: bool = True

    def __post_init__(self) -> None:
        if self.min_area < 0:
            raise ValueError(f"min_area must be >= 0, got {self.min_area}")
        if not 0 < self.prob_thresh < 1:
            raise ValueError(f"prob_thresh must lie in (0, 1), got {self.prob_thresh}")
        if not 0 <= self.min_score < 1:
            raise ValueError(f"min_score must lie in [0, 1), got {self.min_score}")
        if self.batch_size < 1 or self.net_side < 16:
            raise ValueError("batch_size must be >= 1 and net_side >= 16")


class Cancelled(Exception):
    """Raised by :func:`segment_rgb` when its ``cancelled`` callback says so."""


def segment_rgb(
    model: torch.nn.Module,
    rgb: np.ndarray,
    config: SegmentAllConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """int32 labels (1..N, 0 background) of the objects found in ``rgb`` (``H x W x 3``
    uint8). ``progress(done, total)`` is called after each batch of seeds; ``cancelled()``
    is asked before each batch and raises :class:`Cancelled` when true.

    Two rounds: the image's seeds, then seeds in the foreground no object covers yet.
    """
    config = config or SegmentAllConfig()
    seeds, fg = find_seeds(rgb)
    canvas = Canvas((int(rgb.shape[0]), int(rgb.shape[1])))
    chw = torch.as_tensor(np.ascontiguousarray(rgb)).permute(2, 0, 1).unsqueeze(0)
    with torch.no_grad():
        image = model.normalize(chw.to(device))
    total = len(seeds)
    cut = fg if config.cut_to_foreground and fg.any() else None
    done = _run_seeds(model, image, seeds, canvas, config, cut, (0, total), progress, cancelled)
    if config.residual_round and fg.any():
        extra = residual_seeds(fg, canvas.owner, config.min_area)
        total += len(extra)
        _run_seeds(model, image, extra, canvas, config, cut, (done, total), progress, cancelled)
    labels = canvas.labels(config.min_area)
    if config.complete and fg.any():
        labels = complete_with_foreground(labels, fg, config.min_area)
    return labels


def _run_seeds(
    model: torch.nn.Module,
    image: torch.Tensor,
    seeds: list[Seed],
    canvas: Canvas,
    config: SegmentAllConfig,
    foreground: np.ndarray | None,
    counts: tuple[int, int],
    progress: Callable[[int, int], None] | None,
    cancelled: Callable[[], bool] | None,
) -> int:
    """Predict ``seeds`` batch by batch into ``canvas``, skipping seeds already covered;
    returns the progress count after them."""
    offset, total = counts
    index = 0
    while index < len(seeds):
        if cancelled is not None and cancelled():
            raise Cancelled
        batch: list[Seed] = []
        while index < len(seeds) and len(batch) < config.batch_size:
            seed = seeds[index]
            index += 1
            if canvas.owner[seed.row, seed.col] == 0 and not canvas.tried[seed.row, seed.col]:
                batch.append(seed)
        preds = predict_crops(
            model, image, batch, config.net_side, config.context, config.min_side, config.flip
        )
        candidates = []
        for pred in preds:
            cand = make_candidate(pred, config.prob_thresh, config.stability_shift, foreground)
            if cand is not None and cand.score >= config.min_score:
                candidates.append(cand)
            else:  # nothing there: later seeds close by would find nothing either
                canvas.mark_tried(pred.seed)
        canvas.add(candidates, config.max_overlap)
        if progress is not None:
            progress(offset + index, total)
    return offset + index
