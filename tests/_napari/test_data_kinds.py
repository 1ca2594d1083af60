"""The data users have: 16-bit and float, RGBA, channels, Z stacks, physical units, big images."""

from __future__ import annotations

import resource

import numpy as np
import pytest

from napari_fbrs._napari.layers import CLICKS_LAYER
from napari_fbrs._napari.sample_data import synthetic_nuclei
from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.io.images import to_model_rgb

from .helpers import (
    click,
    core_probs,
    fake_mouse_click,
    messages,
    own_labels,
    record_predictors,
    wait_idle,
)

pytestmark = pytest.mark.gui

NUCLEI = synthetic_nuclei((48, 64), count=5, seed=4)


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_non_uint8_images_reach_the_model_through_the_contrast_limits(
    open_widget, qtbot, tiny_model, dtype
) -> None:
    data = NUCLEI.astype(dtype)
    limits = (300.0, 2500.0)
    viewer, _, widget = open_widget(data, contrast_limits=limits)
    click(viewer.layers[CLICKS_LAYER], (20, 30), True)
    wait_idle(qtbot, widget)
    shown = to_model_rgb(data, limits)
    reference = core_probs(tiny_model, shown, widget.compute.to_config(), [Click(20, 30, True)])
    np.testing.assert_allclose(widget.controller.probs, reference, rtol=0, atol=1e-6)
    auto = core_probs(
        tiny_model, to_model_rgb(data), widget.compute.to_config(), [Click(20, 30, True)]
    )
    assert not np.array_equal(reference, auto)  # the limits really changed the input


def test_rgba_drops_alpha(open_widget, qtbot, tiny_model) -> None:
    rgba = np.random.default_rng(5).integers(0, 256, (40, 56, 4), dtype=np.uint8)
    viewer, _, widget = open_widget(rgba, rgb=True)
    click(viewer.layers[CLICKS_LAYER], (10, 12), True)
    wait_idle(qtbot, widget)
    config = widget.compute.to_config()
    reference = core_probs(tiny_model, rgba[..., :3], config, [Click(10, 12, True)])
    np.testing.assert_allclose(widget.controller.probs, reference, rtol=0, atol=1e-6)


def test_multichannel_segments_the_chosen_channel_layer(open_widget, qtbot, tiny_model) -> None:
    channels = np.stack([NUCLEI, NUCLEI[::-1]]).astype(np.uint16)
    viewer, _, widget = open_widget(channels[0], contrast_limits=(0, 3000), name="ch0")
    second = viewer.add_image(channels[1], contrast_limits=(0, 3000), name="ch1")
    assert widget.image_choice.value is second  # follows the active image layer
    click(viewer.layers[CLICKS_LAYER], (30, 30), True)
    wait_idle(qtbot, widget)
    shown = to_model_rgb(channels[1], (0, 3000))
    reference = core_probs(tiny_model, shown, widget.compute.to_config(), [Click(30, 30, True)])
    np.testing.assert_allclose(widget.controller.probs, reference, rtol=0, atol=1e-6)


def test_stack_object_lives_on_its_slice_with_physical_units(
    open_widget, qtbot, tiny_model, notifications
) -> None:
    stack = np.random.default_rng(6).integers(0, 256, (4, 40, 48), dtype=np.uint8)
    viewer, image, widget = open_widget(stack, scale=(3, 2, 2), translate=(0, 5, 7))
    viewer.dims.set_current_step(0, 2)
    clicks = viewer.layers[CLICKS_LAYER]
    assert clicks.ndim == 3
    # a mouse click through napari's own callbacks, at the world position of pixel (20, 24)
    fake_mouse_click(clicks, image.data_to_world([2, 20, 24]), button=1)
    fake_mouse_click(clicks, image.data_to_world([2, 5, 40]), button=2)
    wait_idle(qtbot, widget)
    expected = [Click(20, 24, True), Click(5, 40, False)]
    assert widget.controller.state.clicks == tuple(expected)
    config = widget.compute.to_config()
    reference = core_probs(tiny_model, to_model_rgb(stack[2]), config, expected)
    np.testing.assert_allclose(widget.controller.probs, reference, rtol=0, atol=1e-6)
    preview = widget.controller.preview_layer
    assert preview.data.shape[0] == 1 and preview.translate[0] == pytest.approx(6.0)

    click(clicks, (3, 10, 10), True)  # another slice while the object is in progress
    wait_idle(qtbot, widget)
    assert len(clicks.data) == 2 and widget.controller.clicks == 2
    assert any("slice (2,)" in m for m in messages(notifications, "warning"))

    widget.controller.set_threshold(float(np.median(reference)))
    wait_idle(qtbot, widget)
    mask = widget.controller.current_mask.copy()
    widget.controller.finish_object()
    wait_idle(qtbot, widget)
    labels = own_labels(viewer)
    assert labels.data.shape == stack.shape
    np.testing.assert_allclose(labels.scale, image.scale)
    np.testing.assert_array_equal(labels.data[2] == 1, mask)
    assert not labels.data[[0, 1, 3]].any()

    click(clicks, (3, 10, 10), True)  # after finishing, a new object may start anywhere
    wait_idle(qtbot, widget)
    reference = core_probs(tiny_model, to_model_rgb(stack[3]), config, [Click(10, 10, True)])
    np.testing.assert_allclose(widget.controller.probs, reference, rtol=0, atol=1e-6)
    widget.undo_button.native.click()  # undoing the only click ends the object
    wait_idle(qtbot, widget)
    assert widget.controller.current_mask is None and not preview.data.any()


def test_clicks_outside_the_image_are_ignored_with_a_message(
    open_widget, qtbot, notifications, monkeypatch
) -> None:
    made = record_predictors(monkeypatch)
    rgb = np.zeros((30, 40, 3), dtype=np.uint8)
    viewer, image, widget = open_widget(rgb, rgb=True, translate=(10, 20))
    clicks = viewer.layers[CLICKS_LAYER]
    click(clicks, (-3, 5), True)
    click(clicks, (30, 5), True)
    fake_mouse_click(clicks, image.data_to_world([12, 41]))
    wait_idle(qtbot, widget)
    assert len(clicks.data) == 0 and widget.controller.clicks == 0
    assert made == []  # nothing ran
    outside = [m for m in messages(notifications, "warning") if "outside" in m]
    assert len(outside) == 3 and "(30, 40)" in outside[0]


@pytest.mark.slow
def test_a_4000_pixel_image_runs_without_running_out_of_memory(
    open_widget, qtbot, monkeypatch
) -> None:
    made = record_predictors(monkeypatch)
    big = np.zeros((4000, 4000), dtype=np.uint8)
    big[1500:2500, 1200:2800] = 200
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    viewer, _, widget = open_widget(big, zoom_in=True)
    clicks = viewer.layers[CLICKS_LAYER]
    click(clicks, (2000, 2000), True)
    wait_idle(qtbot, widget, timeout=120_000)
    click(clicks, (1000, 1000), False)
    wait_idle(qtbot, widget, timeout=120_000)
    assert widget.controller.probs.shape == (4000, 4000)
    assert made[-1].config.max_size == 800  # LimitLongestSide from the demo preset
    assert made[-1].last.zoom_roi is not None  # the second click ran on a crop
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(f"peak RSS grew by {grown_mb:.0f} MB")
    assert grown_mb < 3000, f"peak memory grew by {grown_mb:.0f} MB"
