"""Starting an object from an existing mask or label (issue 24, item 1): the session side."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_fbrs.evaluation.clicker import next_click
from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.engine.config import demo_preset
from napari_fbrs.inference.engine.factory import make_predictor
from napari_fbrs.inference.session.init_mask import (
    check_mask,
    correct_locally,
    inner_point,
    mask_of_label,
    start_from_mask,
)
from napari_fbrs.inference.session.interactive import InteractiveSession
from napari_fbrs.io.images import to_model_rgb
from napari_fbrs.io.samples import synthetic_nuclei_with_labels
from napari_fbrs.model.checkpoint import load_checkpoint
from napari_fbrs.model.weights import resolve_checkpoint


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.fixture(scope="module")
def nuclei():
    return synthetic_nuclei_with_labels((256, 256), count=18, seed=1)


@pytest.fixture(scope="module")
def builtin():
    return load_checkpoint(resolve_checkpoint("default")).model


def _session(model, image, mode: str = "NoBRS") -> InteractiveSession:
    config = demo_preset(mode)
    session = InteractiveSession(make_predictor(model, config, "cpu", 512), config.prob_thresh)
    session.set_image(to_model_rgb(image))
    return session


def test_check_mask_refuses_other_size_empty_and_non_binary():
    good = np.zeros((4, 5), np.uint8)
    good[1, 2] = 1
    assert check_mask(good, (4, 5)).dtype == bool
    assert check_mask(good * 255, (4, 5)).sum() == 1
    with pytest.raises(ValueError, match="shape"):
        check_mask(good, (5, 4))
    with pytest.raises(ValueError, match="empty"):
        check_mask(np.zeros((4, 5), bool), (4, 5))
    with pytest.raises(ValueError, match="not binary"):
        check_mask(good * 3 + (good == 0) * 2, (4, 5))
    labels = np.array([[0, 7], [3, 7]])
    assert mask_of_label(labels, 7).sum() == 2
    with pytest.raises(ValueError, match="not in the label image"):
        mask_of_label(labels, 4)


def test_inner_point_and_seed_clicks_follow_the_model_kind():
    mask = np.zeros((20, 30), bool)
    mask[5:16, 3:14] = True
    assert inner_point(mask) == (10, 8)
    assert start_from_mask(mask, uses_prev_mask=True, seed_click=False).seeds == ()
    (seed,) = start_from_mask(mask, uses_prev_mask=False, label_id=4).seeds
    assert (seed.row, seed.col, seed.positive) == (10, 8, True)


def test_the_start_is_the_object_until_a_click_and_one_click_corrects_it(builtin, nuclei):
    image, truth = nuclei
    gt = truth == 5
    init = ndimage.binary_erosion(gt, iterations=3)
    assert 0.6 < _iou(init, gt) < 0.85
    session = _session(builtin, image)
    state = session.start_from(start_from_mask(init, True, label_id=5))
    assert state.edit_label == 5 and state.clicks == ()
    assert np.array_equal(state.map.full_mask(state.threshold), init)
    # the NoC user's click: the largest missed region lies along the eroded border
    state = session.add_click(Click(193, 90, True))
    corrected = state.map.full_mask(state.threshold)
    assert _iou(corrected, gt) > max(_iou(init, gt), 0.85)
    # undo goes back to the start, exactly
    state = session.undo()
    assert state.clicks == () and np.array_equal(state.map.full_mask(state.threshold), init)


def test_finish_replaces_the_label_with_its_own_id(builtin, nuclei):
    image, truth = nuclei
    labels = truth.copy()
    gt = truth == 5
    grown = ndimage.binary_dilation(gt, iterations=4) & (truth == 0) | gt
    labels[grown & (truth == 0)] = 5  # a label that spills into the background
    session = _session(builtin, image)
    session.start_from(start_from_mask(labels == 5, True, label_id=5))
    start = labels == 5
    click = next_click(gt.astype(np.int8), start, np.ones(gt.shape, bool))
    assert not click.positive
    session.add_click(click)
    state = session.state
    mask = state.map.full_mask(state.threshold)
    finished = session.finish(labels)
    assert finished.plan is not None and finished.plan.label_id == 5
    assert finished.plan.replaced == 5
    before = labels.copy()
    finished.plan.apply_to(labels)
    assert set(np.unique(labels)) == set(np.unique(before))  # no new id
    assert np.array_equal(labels == 5, mask & ((before == 0) | (before == 5)))
    assert _iou(labels == 5, gt) > _iou(before == 5, gt)
    # every other label is untouched
    others = (before != 5) & (before != 0)
    assert np.array_equal(labels[others], before[others])


def test_a_model_without_previous_mask_input_gets_a_seed_click(tiny_model, nuclei):
    image, truth = nuclei
    assert not tiny_model.uses_prev_mask
    gt = truth == 5
    session = _session(tiny_model, image)
    start = start_from_mask(gt, tiny_model.uses_prev_mask, label_id=5)
    assert len(start.seeds) == 1 and gt[int(start.seeds[0].row), int(start.seeds[0].col)]
    state = session.start_from(start)
    assert np.array_equal(state.map.full_mask(state.threshold), gt)
    state = session.add_click(Click(20, 20, False))
    assert state.clicks == (Click(20, 20, False),)  # the seed is never shown
    assert state.map is not None and state.map.image_shape == gt.shape


def _disk(shape: tuple[int, int], centre: tuple[int, int], radius: float) -> np.ndarray:
    rows, cols = np.ogrid[: shape[0], : shape[1]]
    return (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius**2


def test_a_local_correction_changes_only_the_part_the_click_is_on():
    shape = (80, 80)
    truth = _disk(shape, (40, 40), 20)
    dilated = _disk(shape, (40, 40), 24).astype(np.float32)
    # a network that lost most of the object: only a small blob survives
    poor = _disk(shape, (40, 40), 5).astype(np.float32)
    out = correct_locally(dilated, poor, Click(40, 62, False), 0.5) > 0.5
    assert _iou(out, truth) > 0.85  # a band along the border went, not the object
    assert out[40, 40] and not out[40, 62]
    # a good prediction: the ring's part holding the click goes, the rest stays
    good = truth.astype(np.float32)
    out = correct_locally(dilated, good, Click(40, 62, False), 0.5) > 0.5
    assert np.array_equal(out, truth)
    # the prediction disagrees with the click: a disk up to the border is flipped
    out = correct_locally(dilated, dilated, Click(40, 62, False), 0.5) > 0.5
    assert not out[40, 62] and out[40, 40] and out.sum() < (dilated > 0.5).sum()
    eroded = _disk(shape, (40, 40), 16).astype(np.float32)
    out = correct_locally(eroded, good, Click(40, 58, True), 0.5) > 0.5
    assert np.array_equal(out, truth)
