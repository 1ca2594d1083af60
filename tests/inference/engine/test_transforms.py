"""ZoomIn / LimitLongestSide / flip bookkeeping and the bbox helpers."""

from __future__ import annotations

import numpy as np
import torch

from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.engine.config import ZoomInConfig
from napari_fbrs.inference.engine.transforms import (
    HorizontalFlip,
    LimitLongestSide,
    ZoomIn,
    bbox_iou,
    clamp_bbox,
    expand_bbox,
    object_roi,
)


def test_expand_and_clamp_bbox() -> None:
    assert expand_bbox((10, 19, 10, 29), 1.0) == (10, 20, 10, 30)
    # half-way values round to even, as Python's round() does: -5.5 -> -6
    assert expand_bbox((10, 19, 10, 29), 2.0, min_size=50) == (-10, 40, -6, 44)
    assert clamp_bbox((-10, 40, -6, 44), 30, 35) == (0, 29, 0, 34)


def test_bbox_iou() -> None:
    assert bbox_iou((0, 9, 0, 9), (0, 9, 0, 9)) == 1.0
    assert bbox_iou((0, 9, 0, 9), (10, 19, 0, 9)) == 0.0
    assert abs(bbox_iou((0, 9, 0, 9), (5, 14, 0, 9)) - 5 / 15) < 1e-12


def test_object_roi_includes_positive_clicks() -> None:
    mask = np.zeros((100, 100), bool)
    mask[40:50, 40:50] = True
    roi = object_roi(mask, [Click(90, 90, True), Click(5, 5, False)], 1.0, 0)
    assert roi == (40, 90, 40, 90)


def test_limit_longest_side_resizes_and_inverts() -> None:
    image = torch.rand(1, 3, 600, 450)
    t = LimitLongestSide(400)
    out, clicks = t.transform(image, (Click(300, 225, True),))
    assert out.shape == (1, 3, 400, 300) and t.image_changed
    assert clicks[0].row == 400 * 300 / 600 and clicks[0].col == 300 * 225 / 450
    probs = t.inverse(torch.ones(1, 1, 400, 300))
    assert probs.shape == (1, 1, 600, 450)
    small = torch.rand(1, 3, 300, 200)
    t2 = LimitLongestSide(400)
    out2, _ = t2.transform(small, ())
    assert out2 is small and not t2.image_changed


def test_zoom_in_crops_around_previous_prediction_and_restores_state() -> None:
    image = torch.rand(1, 3, 300, 300)
    zoom = ZoomIn(
        ZoomInConfig(target_size=200, skip_clicks=1, expansion_ratio=1.4, min_crop_size=20)
    )
    first = (Click(150, 150, True),)
    out, _ = zoom.transform(image, first)
    assert out is image  # skipped: only one click
    prev = torch.zeros(1, 1, 300, 300)
    prev[..., 140:160, 130:170] = 0.9
    zoom.inverse(prev)
    state = zoom.get_state()
    two = (*first, Click(100, 100, False))
    out, mapped = zoom.transform(image, two)
    assert zoom.image_changed and zoom.roi == (136, 164, 122, 178)
    assert out.shape[2:] == (round(29 * 200 / 57), 200)
    assert abs(mapped[0].row - out.shape[2] * (150 - 136) / 29) < 1e-9
    back = zoom.inverse(torch.ones(1, 1, *out.shape[2:]))
    assert back.shape == (1, 1, 300, 300)
    assert float(back[0, 0, 136:165, 122:179].min()) > 1 - 1e-6
    assert abs(float(back.sum()) - 29 * 57) < 1e-2
    zoom.set_state(state)
    assert zoom.roi is None


def test_zoom_in_returns_to_whole_image_when_prediction_is_empty() -> None:
    image = torch.rand(1, 3, 100, 100)
    zoom = ZoomIn(ZoomInConfig(target_size=50, min_crop_size=10))
    clicks = (Click(50, 50, True), Click(10, 10, False))
    prev = torch.zeros(1, 1, 100, 100)
    prev[..., 45:55, 45:55] = 1.0
    zoom.inverse(prev)
    zoom.transform(image, clicks)
    assert zoom.roi is not None
    zoom.inverse(torch.zeros(1, 1, 50, 50))  # the object vanished
    out, _ = zoom.transform(image, (*clicks, Click(20, 20, False)))
    assert out is image and zoom.roi is None and zoom.image_changed


def test_horizontal_flip_round_trip() -> None:
    flip = HorizontalFlip()
    image = torch.arange(12.0).view(1, 1, 3, 4)
    batch, lists = flip.transform(image, [(Click(1, 0, True),)])
    assert batch.shape[0] == 2 and torch.equal(batch[1, 0, :, 0], image[0, 0, :, 3])
    assert lists[1][0].col == 3
    assert torch.equal(flip.inverse(torch.cat([image, torch.flip(image, dims=[3])])), image)
