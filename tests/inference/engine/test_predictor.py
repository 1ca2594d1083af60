"""Predictor behaviour with a small seeded model: shapes, errors, undo, caching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.engine.config import BRSMode, ZoomInConfig, demo_preset, eval_preset
from napari_fbrs.inference.engine.predictor import Predictor

CLICKS = [Click(20, 30, True), Click(5, 5, False), Click(25, 40, True), Click(40, 10, False)]


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 60, (48, 64, 3), dtype=np.uint8)
    img[12:32, 20:50] += 150
    return img


def _config(mode: str, **changes):  # noqa: ANN202
    torch.set_num_threads(1)
    zoom = ZoomInConfig(target_size=64, min_crop_size=16)
    return eval_preset(mode).with_changes(zoom_in=zoom, **changes)


def test_predict_returns_probabilities_at_image_resolution(tiny_model, image) -> None:
    p = Predictor(tiny_model, _config("NoBRS"))
    p.set_image(image)
    probs = p.predict(CLICKS[:1])
    assert probs.shape == (48, 64) and probs.dtype == np.float32
    assert 0.0 <= probs.min() and probs.max() <= 1.0


def test_errors_are_clear(tiny_model, image) -> None:
    p = Predictor(tiny_model, _config("NoBRS"))
    with pytest.raises(RuntimeError, match="set_image"):
        p.predict(CLICKS[:1])
    p.set_image(image)
    with pytest.raises(ValueError, match="outside the 48 x 64 image"):
        p.predict([Click(48, 10, True)])
    with pytest.raises(ValueError, match="at least one click"):
        p.predict([])
    with pytest.raises(ValueError, match="H x W x 3"):
        p.set_image(image[..., 0])


def test_click_zero_is_the_same_in_every_mode(tiny_model, image) -> None:
    maps = []
    for mode in BRSMode:
        p = Predictor(tiny_model, _config(mode.value))
        p.set_image(image)
        maps.append(p.predict(CLICKS[:1]))
    for other in maps[1:]:
        np.testing.assert_array_equal(other, maps[0])


@pytest.mark.parametrize("mode", ["f-BRS-B", "RGB-BRS", "f-BRS-C"])
def test_restoring_a_state_and_repeating_a_click_reproduces_the_map(
    tiny_model, image, mode
) -> None:
    p = Predictor(tiny_model, _config(mode))
    p.set_image(image)
    p.predict(CLICKS[:1])
    p.predict(CLICKS[:2])
    state = p.get_state()
    first = p.predict(CLICKS[:3])
    p.predict(CLICKS[:4])  # move on, then undo twice worth of state
    p.set_state(state)
    again = p.predict(CLICKS[:3])
    np.testing.assert_array_equal(again, first)


def test_brs_mode_optimises_after_the_first_click(tiny_model, image) -> None:
    p = Predictor(tiny_model, _config("f-BRS-B"))
    p.set_image(image)
    p.predict(CLICKS[:1])
    assert p.last.lbfgs_evals == 0
    p.predict(CLICKS[:2])
    assert 1 <= p.last.lbfgs_evals <= 20


def test_feature_brs_keeps_backbone_features_after_the_clicks_limit(tiny_model, image) -> None:
    config = eval_preset("f-BRS-C").with_changes(zoom_in=None, net_clicks_limit=2)
    p = Predictor(tiny_model, config)
    p.set_image(image)
    runs = []
    for k in range(1, 5):
        p.predict(CLICKS[:k])
        runs.append(p.last.backbone_runs)
    assert runs == [1, 1, 0, 0]


def test_limit_longest_side_bounds_the_network_input(tiny_model) -> None:
    big = np.zeros((300, 200, 3), np.uint8)
    config = demo_preset("NoBRS").with_changes(max_size=64, zoom_in=None)
    seen = []
    hook = tiny_model.rgb_conv.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    try:
        p = Predictor(tiny_model, config)
        p.set_image(big)
        assert p.predict([Click(150, 100, True)]).shape == (300, 200)
    finally:
        hook.remove()
    assert seen[-1][2:] == (64, 43)


def test_reset_forgets_the_object(tiny_model, image) -> None:
    p = Predictor(tiny_model, _config("f-BRS-B"))
    p.set_image(image)
    first = p.predict(CLICKS[:1])
    p.predict(CLICKS[:2])
    p.reset()
    assert p.opt_data is None
    np.testing.assert_array_equal(p.predict(CLICKS[:1]), first)
