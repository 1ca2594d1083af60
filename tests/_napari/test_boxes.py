"""Box prompts in the widget (issue 24, item 4): a rectangle on ``f-BRS box`` starts an object,
then clicks correct it."""

from __future__ import annotations

import numpy as np
import pytest

from napari_fbrs._napari.boxes import BOX_LAYER
from napari_fbrs._napari.layers import CLICKS_LAYER

from .helpers import click, messages, own_labels, wait_idle

pytestmark = pytest.mark.gui

RGB = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def test_drawing_a_box_starts_an_object_inside_it_and_clicks_correct_it(
    open_widget, qtbot
) -> None:
    viewer, _, widget = open_widget(RGB, rgb=True)
    wait_idle(qtbot, widget)  # the model is ready
    controller = widget.controller
    widget.box_button.native.click()
    boxes = viewer.layers[BOX_LAYER]
    assert boxes.mode == "add_rectangle" and viewer.layers.selection.active is boxes

    boxes.add_rectangles(np.array([[10, 20], [30, 50]], dtype=float))  # as the tool adds one
    wait_idle(qtbot, widget)
    assert len(boxes.data) == 0  # read once, then removed
    assert controller.plane is not None and controller.state.clicks == ()
    assert "box rows 10..30, cols 20..50" in controller.message
    mask = controller.current_mask
    assert mask is not None
    inside = np.zeros(mask.shape, bool)
    inside[10:31, 20:51] = True
    assert not (mask & ~inside).any()  # clipped to the box
    clicks = viewer.layers[CLICKS_LAYER]
    assert viewer.layers.selection.active is clicks
    assert widget.finish_button.enabled  # a box object can be kept as it is

    click(clicks, (20, 35), True)
    wait_idle(qtbot, widget)
    assert len(controller.state.clicks) == 1
    controller.set_threshold(float(np.percentile(controller.probs, 70)))
    wait_idle(qtbot, widget)
    shown = controller.current_mask.copy()
    widget.finish_button.native.click()
    wait_idle(qtbot, widget)
    np.testing.assert_array_equal(own_labels(viewer).data == 1, shown)


def test_a_box_while_an_object_is_in_progress_is_refused(open_widget, qtbot, notifications):
    viewer, _, widget = open_widget(RGB, rgb=True)
    wait_idle(qtbot, widget)  # the model is ready
    click(viewer.layers[CLICKS_LAYER], (20, 35), True)
    wait_idle(qtbot, widget)
    widget.box_button.native.click()
    viewer.layers[BOX_LAYER].add_rectangles(np.array([[10, 20], [30, 50]], dtype=float))
    wait_idle(qtbot, widget)
    assert len(widget.controller.state.clicks) == 1
    assert any("in progress" in m for m in messages(notifications, "warning"))
