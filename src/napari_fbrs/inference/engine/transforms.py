"""Geometric transforms between the user's image and the network input.

* :class:`ZoomIn` crops the region around the current object (from the previous prediction,
  expanded by ``expansion_ratio``) and resizes the crop so its longest side is ``target_size``;
  small objects get more network pixels.
* :class:`LimitLongestSide` resizes the whole image down to ``max_size`` so a large image never
  reaches the network at full size.
* :class:`HorizontalFlip` adds the mirrored image to the batch; the two logit maps are averaged.

``transform`` maps an image ``[1, C, H, W]`` and clicks into the next space; ``inverse`` maps a
``[1, 1, h, w]`` map back. ``image_changed`` tells the predictor that the network input differs
from the previous call. ``get_state``/``set_state`` snapshot everything for undo.

The bookkeeping reproduces the original implementation, including two of its quirks that
change numbers: ``LimitLongestSide`` reports ``image_changed`` on every call in which it
resizes, and it keeps its full-image region after ZoomIn starts feeding it crops that are
already small enough, so the inverse then resamples twice (to the full image size, then to
the ZoomIn crop size). One deliberate fix: when the previous prediction is empty, ZoomIn
returns to the whole image instead of pasting a full-image prediction into a stale crop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.engine.config import ZoomInConfig

Roi = tuple[int, int, int, int]  # rmin, rmax, cmin, cmax (inclusive)


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


def bbox_of_mask(mask: np.ndarray) -> Roi:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def expand_bbox(bbox: Roi, ratio: float, min_size: float | None = None) -> Roi:
    """Grow a box about its centre by ``ratio`` (and to at least ``min_size``)."""
    rmin, rmax, cmin, cmax = bbox
    rc, cc = 0.5 * (rmin + rmax), 0.5 * (cmin + cmax)
    height, width = ratio * (rmax - rmin + 1), ratio * (cmax - cmin + 1)
    if min_size is not None:
        height, width = max(height, min_size), max(width, min_size)
    return (
        int(round(rc - 0.5 * height)),
        int(round(rc + 0.5 * height)),
        int(round(cc - 0.5 * width)),
        int(round(cc + 0.5 * width)),
    )


def clamp_bbox(bbox: Roi, height: int, width: int) -> Roi:
    return max(0, bbox[0]), min(height - 1, bbox[1]), max(0, bbox[2]), min(width - 1, bbox[3])


def _segment_iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]) + 1)
    union = max(1e-6, max(a[1], b[1]) - min(a[0], b[0]) + 1)
    return inter / union


def bbox_iou(a: Roi, b: Roi) -> float:
    return _segment_iou(a[:2], b[:2]) * _segment_iou(a[2:], b[2:])


def object_roi(mask: np.ndarray, clicks: Sequence[Click], ratio: float, min_size: float) -> Roi:
    """Box around the predicted mask and the positive clicks, expanded and clamped."""
    mask = mask.copy()
    for click in clicks:
        if click.positive:
            mask[int(click.row), int(click.col)] = True
    bbox = expand_bbox(bbox_of_mask(mask), ratio, min_size)
    return clamp_bbox(bbox, mask.shape[0], mask.shape[1])


def roi_covers_clicks(roi: Roi, clicks: Sequence[Click]) -> bool:
    for click in clicks:
        if click.positive and not (roi[0] <= click.row < roi[1] and roi[2] <= click.col < roi[3]):
            return False
    return True


def crop_and_resize(image: torch.Tensor, roi: Roi, target_size: int) -> torch.Tensor:
    rmin, rmax, cmin, cmax = roi
    height, width = rmax - rmin + 1, cmax - cmin + 1
    scale = target_size / max(height, width)
    size = (int(round(height * scale)), int(round(width * scale)))
    with torch.no_grad():
        return _resize(image[:, :, rmin : rmax + 1, cmin : cmax + 1], size)


@dataclass(frozen=True)
class RoiState:
    input_shape: tuple[int, ...] | None
    roi: Roi | None
    prev_probs: torch.Tensor | None
    roi_image: torch.Tensor | None
    image_changed: bool
    seeded: bool = False


class _RoiTransform:
    """Shared state and inverse of the crop-and-resize transforms."""

    def __init__(
        self,
        target_size: int,
        expansion_ratio: float = 1.4,
        min_crop_size: int = 200,
        prob_thresh: float = 0.5,
    ) -> None:
        self.target_size = target_size
        self.expansion_ratio = expansion_ratio
        self.min_crop_size = min_crop_size
        self.prob_thresh = prob_thresh
        self.reset()

    def reset(self) -> None:
        self._input_shape: tuple[int, ...] | None = None
        self._roi: Roi | None = None
        self._prev_probs: torch.Tensor | None = None
        self._roi_image: torch.Tensor | None = None
        self._cropped = False
        self._seeded = False
        self.image_changed = False

    def transform_map(self, x: torch.Tensor) -> torch.Tensor:
        """Apply what the last :meth:`transform` did to the image to another ``[B, C, H, W]``
        map of the same size (the previous prediction that some models take as input)."""
        if not self._cropped or self._roi is None or self._roi_image is None:
            return x
        rmin, rmax, cmin, cmax = self._roi
        with torch.no_grad():
            return _resize(x[:, :, rmin : rmax + 1, cmin : cmax + 1], self._roi_image.shape[2:])

    @property
    def roi(self) -> Roi | None:
        return self._roi

    def get_state(self) -> RoiState:
        return RoiState(
            self._input_shape,
            self._roi,
            self._prev_probs,
            self._roi_image,
            self.image_changed,
            self._seeded,
        )

    def set_state(self, state: RoiState) -> None:
        self._input_shape, self._roi = state.input_shape, state.roi
        self._prev_probs, self._roi_image = state.prev_probs, state.roi_image
        self.image_changed = state.image_changed
        self._seeded = state.seeded

    def _map_clicks(self, clicks: Sequence[Click]) -> tuple[Click, ...]:
        if self._roi is None or self._roi_image is None:
            return tuple(clicks)
        rmin, rmax, cmin, cmax = self._roi
        crop_h, crop_w = self._roi_image.shape[2:]
        return tuple(
            c.moved(
                crop_h * (c.row - rmin) / (rmax - rmin + 1),
                crop_w * (c.col - cmin) / (cmax - cmin + 1),
            )
            for c in clicks
        )

    def inverse(self, probs: torch.Tensor) -> torch.Tensor:
        if self._roi is None:
            self._prev_probs = probs.detach().cpu()
            return probs
        rmin, rmax, cmin, cmax = self._roi
        probs = _resize(probs, (rmax - rmin + 1, cmax - cmin + 1))
        if self._prev_probs is not None:
            full = probs.new_zeros(self._prev_probs.shape)
            full[:, :, rmin : rmax + 1, cmin : cmax + 1] = probs
            probs = full
        self._prev_probs = probs.detach().cpu()
        return probs


class ZoomIn(_RoiTransform):
    def __init__(self, config: ZoomInConfig) -> None:
        self.config = config
        self.skip_clicks = config.skip_clicks
        self.recompute_thresh_iou = config.recompute_thresh_iou
        super().__init__(
            config.target_size, config.expansion_ratio, config.min_crop_size, config.prob_thresh
        )

    def seed(self, probs: torch.Tensor) -> None:
        """Crop around ``probs`` (``[1, 1, H, W]`` at image size: an existing mask the object
        starts from, or a box) from the first click on, as if it were the last prediction."""
        self._prev_probs = probs.detach().cpu()
        self._seeded = True

    def _predicted_mask(self) -> np.ndarray | None:
        if self._prev_probs is None:
            return None
        mask = (self._prev_probs[0, 0] > self.prob_thresh).numpy()
        return mask if mask.any() else None

    def transform(
        self, image: torch.Tensor, clicks: Sequence[Click]
    ) -> tuple[torch.Tensor, tuple[Click, ...]]:
        self.image_changed = self._cropped = False
        if len(clicks) <= self.skip_clicks and not self._seeded:
            return image, tuple(clicks)
        self._input_shape = tuple(image.shape)
        mask = self._predicted_mask()
        if mask is None:
            if self._roi is not None:  # deliberate fix, see the module docstring
                self._roi, self._roi_image, self.image_changed = None, None, True
            return image, tuple(clicks)
        current = object_roi(mask, clicks, self.expansion_ratio, self.min_crop_size)
        if (
            self._roi is None
            or not roi_covers_clicks(self._roi, clicks)
            or bbox_iou(current, self._roi) < self.recompute_thresh_iou
        ):
            self._roi = current
            self._roi_image = crop_and_resize(image, current, self.target_size)
            self.image_changed = True
        assert self._roi_image is not None
        self._cropped = True
        return self._roi_image.to(image.device), self._map_clicks(clicks)

    def needs_recalculation(self) -> bool:
        """With ``skip_clicks == 0``: redo the first click inside a crop if the object is small."""
        if self._prev_probs is None or self._roi is not None or self.skip_clicks > 0:
            return False
        mask = self._predicted_mask()
        if mask is None or self._input_shape is None:
            return False
        candidate = object_roi(mask, [], self.expansion_ratio, self.min_crop_size)
        image_roi = (0, self._input_shape[2] - 1, 0, self._input_shape[3] - 1)
        return bbox_iou(candidate, image_roi) < 0.5


class LimitLongestSide(_RoiTransform):
    """Resize the whole image so its longest side is at most ``max_size``."""

    def __init__(self, max_size: int) -> None:
        super().__init__(target_size=max_size)
        self._cached_source: torch.Tensor | None = None

    def reset(self) -> None:
        super().reset()
        self._cached_source = None

    def transform(
        self, image: torch.Tensor, clicks: Sequence[Click]
    ) -> tuple[torch.Tensor, tuple[Click, ...]]:
        self.image_changed = self._cropped = False
        if max(image.shape[2:4]) <= self.target_size:
            return image, tuple(clicks)
        self._roi = (0, image.shape[2] - 1, 0, image.shape[3] - 1)
        # The resized image depends only on the input; reuse it while the input is the same.
        if self._roi_image is None or self._cached_source is not image:
            self._roi_image = crop_and_resize(image, self._roi, self.target_size)
            self._cached_source = image
        self.image_changed = self._cropped = True
        return self._roi_image, self._map_clicks(clicks)

    def inverse(self, probs: torch.Tensor) -> torch.Tensor:
        """Resize back to the whole image; the region always covers all of it, so no previous
        map is kept (saves one full-resolution map per undo snapshot on large images)."""
        if self._roi is None:
            return probs
        rmin, rmax, cmin, cmax = self._roi
        return _resize(probs, (rmax - rmin + 1, cmax - cmin + 1))


class HorizontalFlip:
    """Test-time augmentation: predict on the image and its mirror, average the logits."""

    image_changed = False

    def transform(
        self, image: torch.Tensor, clicks_lists: Sequence[Sequence[Click]]
    ) -> tuple[torch.Tensor, list[tuple[Click, ...]]]:
        width = image.shape[3]
        mirrored = [
            tuple(c.moved(c.row, width - c.col - 1) for c in clicks) for clicks in clicks_lists
        ]
        return torch.cat([image, torch.flip(image, dims=[3])], dim=0), [
            *map(tuple, clicks_lists),
            *mirrored,
        ]

    def inverse(self, maps: torch.Tensor) -> torch.Tensor:
        half = maps.shape[0] // 2
        return 0.5 * (maps[:half] + torch.flip(maps[half:], dims=[3]))

    def get_state(self) -> None:
        return None

    def set_state(self, state: None) -> None:
        pass

    def reset(self) -> None:
        pass
