"""Local clicks on large images: exactly the plain predictor on small images, windows that grow
around the object, lazy sources read only where the window is, exact undo."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.engine.config import ZoomInConfig, eval_preset
from napari_fbrs.inference.engine.predictor import ClickStats, Predictor
from napari_fbrs.inference.windows.local import LocalWindowConfig, LocalWindowPredictor
from napari_fbrs.io.images import to_model_rgb
from napari_fbrs.io.planes import plane_source


class BrightOracle:
    """A stand-in predictor that sees only the image it is given: probability 1 on the bright
    pixels connected to a positive click. Records every image shape it was given."""

    uses_prev_mask = False
    prob_thresh = 0.5

    def __init__(self) -> None:
        self.image: np.ndarray | None = None
        self.shapes: list[tuple[int, int]] = []
        self.last = ClickStats()
        self.prev_masks = 0

    def set_image(self, image: np.ndarray) -> None:
        self.image = np.asarray(image)
        self.shapes.append(self.image.shape[:2])

    def predict(self, clicks) -> np.ndarray:  # noqa: ANN001
        from scipy import ndimage

        assert self.image is not None
        components, _ = ndimage.label(self.image[..., 0] > 128)
        ids = {components[int(c.row), int(c.col)] for c in clicks if c.positive} - {0}
        self.last = ClickStats(seconds=0.0)
        return np.isin(components, list(ids)).astype(np.float32)

    def set_previous_mask(self, probs) -> None:  # noqa: ANN001
        self.prev_masks += 1

    def get_state(self) -> int:
        return 0

    def set_state(self, state: int) -> None:
        pass

    def reset(self) -> None:
        pass


class CountingArray:
    """A lazy array stand-in that records which windows were read."""

    def __init__(self, data: np.ndarray) -> None:
        self.data, self.reads = data, []
        self.shape, self.dtype = data.shape, data.dtype

    def __getitem__(self, key):  # noqa: ANN001, ANN204
        self.reads.append(key)
        return self.data[key]


def _disks(shape: tuple[int, int], disks: list[tuple[int, int, int]]) -> np.ndarray:
    rows, cols = np.indices(shape)
    image = np.full(shape, 30, np.uint8)
    for r, c, radius in disks:
        image[(rows - r) ** 2 + (cols - c) ** 2 <= radius**2] = 220
    return image


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 60, (48, 64, 3), dtype=np.uint8)
    img[12:32, 20:50] += 150
    return img


def _config(mode: str = "NoBRS"):  # noqa: ANN202
    torch.set_num_threads(1)
    return eval_preset(mode).with_changes(zoom_in=ZoomInConfig(target_size=64, min_crop_size=16))


CLICKS = (Click(20, 30, True), Click(5, 5, False), Click(25, 40, True))


@pytest.mark.parametrize("size", [0, 64, 100])
def test_small_images_give_exactly_the_plain_predictor(tiny_model, image, size: int) -> None:
    plain = Predictor(tiny_model, _config("f-BRS-B"))
    plain.set_image(image)
    inner = Predictor(tiny_model, _config("f-BRS-B"))
    local = LocalWindowPredictor(inner, LocalWindowConfig(size))
    local.set_image(image)
    assert not local.windowed
    for n in range(1, len(CLICKS) + 1):
        expected = plain.predict(CLICKS[:n])
        result = local.predict_map(CLICKS[:n])
        assert result.covers_image
        np.testing.assert_array_equal(result.probs, expected)
    assert local.last.backbone_runs == plain.last.backbone_runs


def test_a_16_bit_plane_source_matches_the_plain_predictor_on_its_rgb(tiny_model) -> None:
    raw = np.random.default_rng(2).integers(200, 3000, (40, 50), dtype=np.uint16)
    plain = Predictor(tiny_model, _config())
    plain.set_image(to_model_rgb(raw))
    local = LocalWindowPredictor(Predictor(tiny_model, _config()), LocalWindowConfig(64))
    local.set_image(plane_source(raw))
    np.testing.assert_array_equal(local.predict_map(CLICKS[:1]).probs, plain.predict(CLICKS[:1]))


def test_first_click_runs_in_a_window_around_it() -> None:
    oracle = BrightOracle()
    local = LocalWindowPredictor(oracle, LocalWindowConfig(size=64))
    local.set_image(plane_source(_disks((400, 500), [(300, 350, 10)])))
    result = local.predict_map([Click(300, 350, True)])
    assert oracle.shapes == [(64, 64)]
    assert result.origin == (268, 318) and result.probs.shape == (64, 64)
    assert result.image_shape == (400, 500)
    assert result.full_mask(0.5).sum() == _disks((400, 500), [(300, 350, 10)]).__gt__(128).sum()
    assert local.last.window == (268, 332, 318, 382) and local.last.predictions == 1


def test_window_grows_until_the_object_no_longer_touches_its_border() -> None:
    truth = _disks((300, 300), [(150, 150, 70)])
    lazy = CountingArray(truth)
    oracle = BrightOracle()
    local = LocalWindowPredictor(oracle, LocalWindowConfig(size=64, grow_margin=8))
    local.set_image(plane_source(lazy))
    result = local.predict_map([Click(150, 150, True)])
    np.testing.assert_array_equal(result.full_mask(0.5), truth > 128)
    window = local.window
    assert window is not None and window.r0 < 80 and window.r1 > 221 and window.c0 < 80
    assert local.last.predictions == len(oracle.shapes) >= 2
    assert all(len(key) == 2 for key in lazy.reads)  # only windows are read, never the whole
    assert all((k[0].stop - k[0].start) * (k[1].stop - k[1].start) < 300 * 300 for k in lazy.reads)


def test_window_at_the_image_border_does_not_grow() -> None:
    oracle = BrightOracle()
    local = LocalWindowPredictor(oracle, LocalWindowConfig(size=64))
    local.set_image(plane_source(_disks((200, 200), [(0, 0, 20)])))
    local.predict_map([Click(5, 5, True)])
    assert local.last.predictions == 1 and local.last.window == (0, 64, 0, 64)


def test_a_click_outside_the_window_grows_it() -> None:
    truth = _disks((400, 400), [(50, 50, 10), (300, 320, 10)])
    oracle = BrightOracle()
    local = LocalWindowPredictor(oracle, LocalWindowConfig(size=64))
    local.set_image(plane_source(truth))
    local.predict_map([Click(50, 50, True)])
    result = local.predict_map([Click(50, 50, True), Click(300, 320, True)])
    np.testing.assert_array_equal(result.full_mask(0.5), truth > 128)
    assert local.last.dropped_clicks == 0 and oracle.shapes[-1][0] > 250


def test_clicks_beyond_the_largest_window_are_dropped() -> None:
    truth = _disks((600, 600), [(20, 20, 8), (580, 580, 8)])
    local = LocalWindowPredictor(BrightOracle(), LocalWindowConfig(size=64, max_size=128))
    local.set_image(plane_source(truth))
    result = local.predict_map([Click(20, 20, True), Click(580, 580, True)])
    assert max(result.probs.shape) <= 128 and local.last.dropped_clicks == 1


def test_undo_is_exact_across_a_window_change(tiny_model) -> None:
    rng = np.random.default_rng(3)
    big = rng.integers(0, 255, (96, 120, 3), dtype=np.uint8)
    local = LocalWindowPredictor(
        Predictor(tiny_model, _config("f-BRS-B")), LocalWindowConfig(40, prob_thresh=0.99)
    )
    local.set_image(big)
    first = local.predict_map([Click(20, 20, True)])
    state = local.get_state()
    clicks = [Click(20, 20, True), Click(80, 100, False)]
    second = local.predict_map(clicks)
    assert second.origin != first.origin or second.probs.shape != first.probs.shape
    local.predict_map([*clicks, Click(30, 30, True)])
    local.set_state(state)
    assert local.window is not None and local.window.origin == first.origin
    again = local.predict_map(clicks)
    assert again.origin == second.origin
    np.testing.assert_array_equal(again.probs, second.probs)


def test_reset_drops_the_window_and_errors_are_clear(tiny_model) -> None:
    local = LocalWindowPredictor(Predictor(tiny_model, _config()), LocalWindowConfig(32))
    with pytest.raises(RuntimeError, match="set_image"):
        local.predict_map([Click(1, 1, True)])
    local.set_image(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="outside the 64 x 64 image"):
        local.predict_map([Click(64, 1, True)])
    local.predict_map([Click(10, 10, True)])
    assert local.window is not None and local.windowed
    local.reset()
    assert local.window is None
    with pytest.raises(ValueError, match="max_size"):
        LocalWindowConfig(size=512, max_size=256)


def test_a_grown_window_passes_the_last_prediction_to_previous_mask_models() -> None:
    oracle = BrightOracle()
    oracle.uses_prev_mask = True
    local = LocalWindowPredictor(oracle, LocalWindowConfig(size=64, grow_margin=8))
    local.set_image(plane_source(_disks((300, 300), [(150, 150, 70)])))
    local.predict_map([Click(150, 150, True)])
    assert oracle.prev_masks == len(oracle.shapes) - 1 >= 1  # every grown window got one


def test_an_existing_mask_starts_the_object(tiny_model, image) -> None:
    mask = np.zeros(image.shape[:2], np.float32)
    mask[10:30, 20:40] = 1
    plain = Predictor(tiny_model, _config())
    plain.set_image(image)
    local = LocalWindowPredictor(Predictor(tiny_model, _config()), LocalWindowConfig(64))
    local.set_image(image)
    plain.set_previous_mask(mask)
    local.set_previous_mask(mask)  # whole image: handed on as it is
    np.testing.assert_array_equal(local.predict_map(CLICKS[:1]).probs, plain.predict(CLICKS[:1]))

    oracle = BrightOracle()
    oracle.uses_prev_mask = True
    big = LocalWindowPredictor(oracle, LocalWindowConfig(size=64))
    big.set_image(plane_source(_disks((400, 400), [(100, 100, 10)])))
    existing = np.zeros((400, 400), np.float32)
    existing[90:111, 90:111] = 1
    big.set_previous_mask(existing)
    before = big.get_state()
    big.predict_map([Click(100, 100, True)])
    assert oracle.prev_masks == 1  # the first window got the mask, cropped to it
    big.set_state(before)  # undo the first click: the object still starts from the mask
    big.predict_map([Click(100, 100, True)])
    assert oracle.prev_masks == 2
    with pytest.raises(ValueError, match="differs from image"):
        big.set_previous_mask(np.zeros((10, 10)))
