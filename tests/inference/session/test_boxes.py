"""Box prompts (issue 24, item 4): boxes checked, turned into a start, and corrected."""

from __future__ import annotations

import numpy as np
import pytest

from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.engine.config import demo_preset
from napari_fbrs.inference.engine.factory import make_predictor
from napari_fbrs.inference.session.boxes import (
    BOX_VARIANTS,
    Box,
    box_fit,
    box_start,
    check_box,
    ellipse,
    side_clicks,
)
from napari_fbrs.inference.session.interactive import InteractiveSession
from napari_fbrs.io.images import to_model_rgb
from napari_fbrs.io.samples import synthetic_nuclei_with_labels
from napari_fbrs.model.checkpoint import load_checkpoint
from napari_fbrs.model.weights import resolve_checkpoint


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_check_box_refuses_boxes_outside_or_without_area():
    assert check_box((1, 2, 3, 4), (10, 10)) == Box(1, 2, 3, 4)
    assert check_box((0, 0, 10, 10), (10, 10)).mask((10, 10)).all()
    with pytest.raises(ValueError, match="zero area"):
        check_box((5, 2, 5, 8), (10, 10))
    with pytest.raises(ValueError, match="zero area"):
        check_box((6, 2, 5, 8), (10, 10))
    with pytest.raises(ValueError, match="outside"):
        check_box((0, 0, 11, 5), (10, 10))
    with pytest.raises(ValueError, match="outside"):
        check_box((-1, 0, 5, 5), (10, 10))
    with pytest.raises(ValueError, match="4 numbers"):
        check_box((1, 2, 3), (10, 10))


def test_box_geometry():
    box = Box(10, 20, 30, 60)
    assert box.centre == (19, 39)
    mask = box.mask((50, 80))
    assert mask.sum() == 20 * 40 and Box.of_mask(mask) == box
    assert box_fit(mask, box) == 1.0 and box_fit(np.zeros_like(mask), box) == 0.0
    clicks = side_clicks(box, (50, 80))
    assert [(c.row, c.col) for c in clicks] == [(7, 39), (32, 39), (19, 17), (19, 62)]
    assert not any(c.positive for c in clicks)
    assert side_clicks(Box(0, 0, 50, 80), (50, 80)) == ()
    shape = ellipse(box, (50, 80)) > 0
    assert shape[19, 39] and not shape[10, 20] and Box.of_mask(shape) == box


@pytest.fixture(scope="module")
def session():
    model = load_checkpoint(resolve_checkpoint("default")).model
    config = demo_preset("NoBRS")
    image, truth = synthetic_nuclei_with_labels((256, 256), count=18, seed=1)
    session = InteractiveSession(make_predictor(model, config, "cpu", 512), config.prob_thresh)
    session.set_image(to_model_rgb(image))
    return session, truth


@pytest.mark.parametrize("variant", BOX_VARIANTS)
def test_a_box_around_a_nucleus_segments_it_inside_the_box(session, variant):
    session, truth = session
    gt = truth == 9
    box = Box.of_mask(gt)
    start = box_start(session.predictor, box, variant)
    assert start.seeds and start.seeds[0].positive or variant == "inner"
    state = session.start_from(start)
    mask = state.map.full_mask(state.threshold)
    assert not (mask & ~box.mask(gt.shape)).any()  # clipped to the box
    assert _iou(mask, gt) > 0.8
    assert state.clicks == () and state.edit_label is None


def test_clicks_after_a_box_correct_it_and_undo_returns_to_the_box(session):
    session, truth = session
    gt = truth == 9
    state = session.start_from(box_start(session.predictor, Box.of_mask(gt)))
    boxed = state.map.full_mask(state.threshold)
    row, col = np.argwhere(gt)[len(np.argwhere(gt)) // 2]
    state = session.add_click(Click(int(row), int(col), True))
    assert state.clicks == (Click(int(row), int(col), True),)
    assert _iou(state.map.full_mask(state.threshold), gt) > 0.8
    state = session.undo()
    assert np.array_equal(state.map.full_mask(state.threshold), boxed)
