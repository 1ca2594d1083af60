"""Correct an existing label in the widget (issue 24, item 1): Alt+click or Edit label, clicks,
Finish writes it back with the same id as one napari undo step."""

from __future__ import annotations

import numpy as np
import pytest

from napari_fbrs._napari.layers import CLICKS_LAYER

from .helpers import click, fake_mouse_click, full_preview, messages, wait_idle

pytestmark = pytest.mark.gui

RGB = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def _labels() -> np.ndarray:
    labels = np.zeros(RGB.shape[:2], dtype=np.int32)
    labels[10:30, 15:40] = 7
    labels[35:45, 5:20] = 3
    return labels


def test_alt_click_edits_a_label_and_finish_keeps_its_id_in_one_undo_step(
    open_widget, qtbot, notifications
) -> None:
    viewer, _, widget = open_widget(RGB, rgb=True)
    wait_idle(qtbot, widget)  # the model is ready
    before = _labels()
    target = viewer.add_labels(before.copy(), name="cellpose")
    widget.labels_choice.value = target
    controller = widget.controller
    clicks = viewer.layers[CLICKS_LAYER]
    viewer.layers.selection.active = clicks

    fake_mouse_click(clicks, (20, 25), modifiers=("Alt",))
    wait_idle(qtbot, widget)
    assert len(clicks.data) == 0  # the pick is not a click
    assert controller.state.edit_label == 7 and controller.plane is not None
    np.testing.assert_array_equal(controller.current_mask, before == 7)
    np.testing.assert_array_equal(full_preview(widget, before.shape), before == 7)
    assert "Editing label 7" in controller.message
    assert any("Editing label 7" in m for m in messages(notifications, "info"))

    click(clicks, (12, 17), False)  # a correction
    wait_idle(qtbot, widget)
    assert len(controller.state.clicks) == 1
    controller.set_threshold(float(np.percentile(controller.probs, 70)))
    wait_idle(qtbot, widget)
    corrected = controller.current_mask.copy()
    assert corrected.any()
    widget.finish_button.native.click()
    wait_idle(qtbot, widget)

    after = np.asarray(target.data)
    assert set(np.unique(after)) <= {0, 3, 7}  # no new id
    np.testing.assert_array_equal(after == 7, corrected & ((before == 0) | (before == 7)))
    np.testing.assert_array_equal(after == 3, before == 3)  # the other label is untouched
    assert ((before == 7) & ~corrected).any()  # old pixels of 7 were cleared
    assert controller.plane is None and controller.state.edit_label is None

    target.undo()  # napari's own undo: the old label comes back, in one step
    np.testing.assert_array_equal(np.asarray(target.data), before)


def test_edit_label_button_then_a_click_edits_and_background_is_refused(
    open_widget, qtbot, notifications
) -> None:
    viewer, _, widget = open_widget(RGB, rgb=True)
    wait_idle(qtbot, widget)  # the model is ready
    target = viewer.add_labels(_labels(), name="mine")
    widget.labels_choice.value = target
    controller = widget.controller
    clicks = viewer.layers[CLICKS_LAYER]

    widget.edit_button.native.click()
    click(clicks, (2, 2), True)  # background: nothing to edit
    wait_idle(qtbot, widget)
    assert controller.plane is None and len(clicks.data) == 0
    assert any("No label at (2, 2)" in m for m in messages(notifications, "warning"))

    widget.edit_button.native.click()
    click(clicks, (40, 10), True)
    wait_idle(qtbot, widget)
    assert controller.state.edit_label == 3
    np.testing.assert_array_equal(controller.current_mask, _labels() == 3)
    widget.reset_button.native.click()
    wait_idle(qtbot, widget)
    assert controller.plane is None and controller.state.edit_label is None
    np.testing.assert_array_equal(np.asarray(target.data), _labels())


def test_the_panel_says_editing_and_finish_is_ready_before_any_click(open_widget, qtbot):
    viewer, _, widget = open_widget(RGB, rgb=True)
    wait_idle(qtbot, widget)
    widget.labels_choice.value = viewer.add_labels(_labels(), name="mine")
    widget.edit_button.native.click()
    click(viewer.layers[CLICKS_LAYER], (20, 25), True)
    wait_idle(qtbot, widget)
    assert "Editing label 7." in widget.status.text()
    assert widget.finish_button.enabled
