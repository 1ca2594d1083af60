"""Models that take the previous prediction (EfficientNet-Lite): every BRS mode, exact undo,
and the previous mask carried through ZoomIn and flips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.engine.config import BRSMode, ZoomInConfig, eval_preset
from napari_fbrs.inference.engine.predictor import Predictor
from napari_fbrs.model.registry import build_model

CLICKS = [Click(20, 30, True), Click(5, 5, False), Click(25, 40, True)]


@pytest.fixture(scope="module")
def lite_model():
    torch.manual_seed(0)
    model = build_model("efficientnet_lite0_fpn96")
    with torch.no_grad():
        model.maps_scale.fill_(1.0)  # make the click / previous-mask input matter at random init
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 60, (48, 64, 3), dtype=np.uint8)
    img[12:32, 20:50] += 150
    return img


def _config(mode: BRSMode | str, zoom: bool = False):  # noqa: ANN202
    torch.set_num_threads(1)
    zoom_in = ZoomInConfig(target_size=64, min_crop_size=16, prob_thresh=0.0) if zoom else None
    return eval_preset(mode).with_changes(zoom_in=zoom_in)


@pytest.mark.parametrize("mode", list(BRSMode))
def test_every_mode_runs_and_undo_is_exact(lite_model, image, mode: BRSMode) -> None:
    p = Predictor(lite_model, _config(mode, zoom=True))
    p.set_image(image)
    p.predict(CLICKS[:1])
    state = p.get_state()
    second = p.predict(CLICKS[:2])
    p.predict(CLICKS)
    p.set_state(state)
    again = p.predict(CLICKS[:2])
    assert second.shape == (48, 64)
    np.testing.assert_array_equal(again, second)


class _Spy:
    """Records the previous mask the network receives (first half of the flip batch)."""

    def __init__(self, model) -> None:  # noqa: ANN001
        self.model, self.seen = model, []
        self.original = model.mix_clicks

    def __enter__(self) -> list[torch.Tensor]:
        def spy(image_t, points, prev_mask=None):  # noqa: ANN001, ANN202
            self.seen.append(prev_mask.clone())
            return self.original(image_t, points, prev_mask)

        self.model.mix_clicks = spy
        return self.seen

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        del self.model.mix_clicks


def test_the_previous_prediction_is_an_input(lite_model, image) -> None:
    """Click 1 sees an empty mask, click 2 the prediction of click 1; undo and reset restore
    what the next click sees."""
    p = Predictor(lite_model, _config("NoBRS"))
    p.set_image(image)
    with _Spy(lite_model) as seen:
        first = p.predict(CLICKS[:1])
        state = p.get_state()
        p.predict(CLICKS[:2])
        p.set_state(state)
        p.predict(CLICKS[:2])
        p.reset()
        p.predict(CLICKS[:2])
    assert float(seen[0].abs().max()) == 0.0
    expected = torch.from_numpy(first)[None, None]
    torch.testing.assert_close(seen[1][:1], expected)
    torch.testing.assert_close(seen[1][1:], torch.flip(expected, dims=[3]))
    torch.testing.assert_close(seen[2], seen[1])
    assert float(seen[3].abs().max()) == 0.0


def test_zoom_in_crops_the_previous_mask_with_the_image(lite_model, image) -> None:
    """The network sees the previous mask in the ZoomIn crop's coordinates (the same crop and
    resize as the image), so it is equal to the image-space mask cut out and resampled."""
    p = Predictor(lite_model, _config("NoBRS", zoom=True))
    p.set_image(image)
    with _Spy(lite_model) as seen:
        first = p.predict(CLICKS[:1])
        p.predict(CLICKS[:2])
    roi = p.last.zoom_roi
    assert roi is not None and seen[-1].shape[0] == 2  # the flip batch
    rmin, rmax, cmin, cmax = roi
    crop = torch.from_numpy(first)[None, None, rmin : rmax + 1, cmin : cmax + 1]
    expected = torch.nn.functional.interpolate(
        crop, size=seen[-1].shape[2:], mode="bilinear", align_corners=True
    )
    torch.testing.assert_close(seen[-1][:1], expected)
    torch.testing.assert_close(seen[-1][1:], torch.flip(expected, dims=[3]))
