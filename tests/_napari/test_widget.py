"""The dock widget driven as a user and as a script: clicks, undo, reset, finish, threshold."""

from __future__ import annotations

import numpy as np
import pytest

from napari_fbrs._napari.layers import (
    CLICKS_LAYER,
    NEGATIVE_COLOUR,
    POSITIVE_COLOUR,
    PREVIEW_LAYER,
)
from napari_fbrs._napari.widget import FBRSWidget
from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.engine.predictor import Predictor

from .helpers import (
    click,
    core_probs,
    full_preview,
    messages,
    own_labels,
    wait_idle,
    wait_settled,
)

pytestmark = pytest.mark.gui

RGB = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def test_widget_opens_from_the_plugin_menu_with_its_layers(open_widget, qtbot) -> None:
    viewer, image, widget = open_widget(RGB, rgb=True)
    assert isinstance(widget, FBRSWidget)
    clicks = viewer.layers[CLICKS_LAYER]
    assert viewer.layers.selection.active is clicks
    assert clicks.mode == "add"
    # the current-object layer follows one turn of the event loop later (the layer adds are
    # napari's longest blocks: two short ones instead of one long one)
    qtbot.waitUntil(lambda: PREVIEW_LAYER in viewer.layers, timeout=5_000)
    assert viewer.layers.selection.active is clicks
    assert widget.image_choice.value is image
    assert clicks.features["positive"].dtype == bool
    # positive and negative clicks are drawn in two different colours
    click(clicks, (5, 5), True)
    click(clicks, (6, 6), False)
    colours = np.asarray(clicks.face_color)
    assert not np.allclose(colours[0], colours[1])
    from napari.utils.colormaps.standardize_color import transform_color

    assert np.allclose(colours[0], transform_color(POSITIVE_COLOUR)[0])
    assert np.allclose(colours[1], transform_color(NEGATIVE_COLOUR)[0])
    text = widget.help.text()
    assert "C finish object" in text and "Shift+Z undo click" in text and "X reset" in text
    assert "slice" in widget.toolTip()
    wait_idle(qtbot, widget)


def test_programmatic_clicks_queue_in_order_and_match_the_core_session(
    open_widget, qtbot, tiny_model
) -> None:
    viewer, _, widget = open_widget(RGB, rgb=True)
    layer = viewer.layers[CLICKS_LAYER]
    expected = [Click(20, 30, True), Click(5, 50, False), Click(40, 10, True)]
    for c in expected:  # no waiting: the later clicks arrive while the first one runs
        click(layer, (c.row, c.col), c.positive)
    wait_idle(qtbot, widget)
    assert widget.controller.state.clicks == tuple(expected)
    reference = core_probs(tiny_model, RGB, widget.compute.to_config(), expected)
    np.testing.assert_allclose(widget.controller.probs, reference, rtol=0, atol=1e-6)
    threshold = float(np.median(reference))
    widget.controller.set_threshold(threshold)
    wait_idle(qtbot, widget)
    mask = widget.controller.current_mask
    assert 0 < mask.sum() < mask.size
    np.testing.assert_array_equal(mask, reference > threshold)
    np.testing.assert_array_equal(full_preview(widget, RGB.shape[:2]), mask)
    assert "last click:" in widget.status.text() and " s (network" in widget.status.text()


def test_setting_layer_data_triggers_prediction(open_widget, qtbot, tiny_model) -> None:
    viewer, _, widget = open_widget(RGB, rgb=True)
    layer = viewer.layers[CLICKS_LAYER]
    layer.feature_defaults = {"positive": True}
    layer.data = np.array([[12.0, 40.0], [30.0, 20.0]])
    wait_idle(qtbot, widget)
    expected = (Click(12, 40, True), Click(30, 20, True))
    assert widget.controller.state.clicks == expected
    reference = core_probs(tiny_model, RGB, widget.compute.to_config(), expected)
    np.testing.assert_allclose(widget.controller.probs, reference, rtol=0, atol=1e-6)


def test_real_mouse_clicks_left_right_and_ctrl_left(open_widget, qtbot, tiny_model) -> None:
    from qtpy.QtCore import QPoint, Qt

    viewer, image, widget = open_widget(RGB, show=True, rgb=True, scale=(2, 2))
    canvas = viewer.window._qt_viewer.canvas
    wait_settled(qtbot, canvas.native)  # the dock laid out: the canvas keeps its size
    left, right = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton
    none, ctrl = Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ControlModifier
    plan = [((20, 30), left, none, True), ((8, 50), right, none, False)]
    plan.append(((40, 12), left, ctrl, False))
    for (row, col), button, modifier, _ in plan:
        to_canvas = canvas.layer_to_visual[image].node.get_transform("visual", "canvas")
        x, y = to_canvas.map([col + 0.5, row + 0.5])[:2]  # the node's pixel i spans [i, i+1)
        placed = len(viewer.layers[CLICKS_LAYER].data)
        qtbot.mouseClick(canvas.native, button, modifier, QPoint(round(x), round(y)))
        qtbot.waitUntil(lambda n=placed: len(viewer.layers[CLICKS_LAYER].data) > n)
    wait_idle(qtbot, widget)
    expected = tuple(Click(r, c, sign) for (r, c), _, _, sign in plan)
    assert widget.controller.state.clicks == expected
    layer = viewer.layers[CLICKS_LAYER]
    assert list(layer.features["positive"]) == [True, False, False]
    np.testing.assert_allclose(layer.data, [[20, 30], [8, 50], [40, 12]], atol=0.35)
    reference = core_probs(tiny_model, RGB, widget.compute.to_config(), expected)
    np.testing.assert_allclose(widget.controller.probs, reference, rtol=0, atol=1e-6)


def test_fbrs_b_undo_restores_state_and_repeating_the_click_gives_the_same_map(
    open_widget, qtbot, tiny_model
) -> None:
    viewer, _, widget = open_widget(RGB, mode="f-BRS-B", rgb=True)
    layer = viewer.layers[CLICKS_LAYER]
    clicks = [Click(24, 32, True), Click(4, 4, False), Click(40, 56, False)]
    for c in clicks[:2]:
        click(layer, (c.row, c.col), c.positive)
    wait_idle(qtbot, widget)
    two = widget.controller.probs.copy()
    click(layer, (clicks[2].row, clicks[2].col), False)
    wait_idle(qtbot, widget)
    three = widget.controller.probs.copy()
    assert widget.controller.state.lbfgs_evals > 0
    assert not np.array_equal(two, three)
    reference = core_probs(tiny_model, RGB, widget.compute.to_config(), clicks)
    np.testing.assert_allclose(three, reference, rtol=0, atol=1e-6)

    widget.undo_button.native.click()
    wait_idle(qtbot, widget)
    assert len(layer.data) == 2 and widget.controller.clicks == 2
    np.testing.assert_array_equal(widget.controller.probs, two)
    np.testing.assert_array_equal(full_preview(widget, RGB.shape[:2]), two > 0.5)

    click(layer, (clicks[2].row, clicks[2].col), False)
    wait_idle(qtbot, widget)
    np.testing.assert_array_equal(widget.controller.probs, three)


def test_reset_drops_the_object_and_the_next_click_starts_fresh(
    open_widget, qtbot, tiny_model
) -> None:
    viewer, _, widget = open_widget(RGB, rgb=True)
    layer = viewer.layers[CLICKS_LAYER]
    click(layer, (10, 10), True)
    click(layer, (30, 30), False)
    wait_idle(qtbot, widget)
    widget.reset_button.native.click()
    wait_idle(qtbot, widget)
    assert len(layer.data) == 0 and widget.controller.current_mask is None
    assert not full_preview(widget, RGB.shape[:2]).any()
    click(layer, (20, 40), True)
    wait_idle(qtbot, widget)
    reference = core_probs(tiny_model, RGB, widget.compute.to_config(), [Click(20, 40, True)])
    np.testing.assert_allclose(widget.controller.probs, reference, rtol=0, atol=1e-6)


def test_finish_writes_ids_1_then_2_without_overwriting_as_one_undo_step(
    open_widget, qtbot, notifications
) -> None:
    viewer, _, widget = open_widget(RGB, rgb=True)
    widget.display.replace_ratio.value = 0  # object 2 covers object 1: do not replace it
    layer = viewer.layers[CLICKS_LAYER]
    controller = widget.controller

    click(layer, (10, 10), True)
    wait_idle(qtbot, widget)
    controller.set_threshold(float(np.percentile(controller.probs, 80)))
    wait_idle(qtbot, widget)
    first = controller.current_mask.copy()
    widget.finish_button.native.click()
    wait_idle(qtbot, widget)
    labels = own_labels(viewer)
    assert labels.data.shape == RGB.shape[:2]
    np.testing.assert_array_equal(labels.data == 1, first)
    assert len(layer.data) == 0 and controller.current_mask is None

    click(layer, (35, 50), True)
    wait_idle(qtbot, widget)
    controller.set_threshold(float(np.percentile(controller.probs, 30)))
    wait_idle(qtbot, widget)
    second = controller.current_mask.copy()
    assert (second & first).any() and (second & ~first).any()
    widget.finish_button.native.click()
    wait_idle(qtbot, widget)
    np.testing.assert_array_equal(labels.data == 1, first)  # object 1 untouched
    np.testing.assert_array_equal(labels.data == 2, second & ~first)
    assert any("already had a label" in m for m in messages(notifications, "warning"))

    labels.undo()  # napari's own undo reverts the whole object in one step
    np.testing.assert_array_equal(labels.data == 1, first)
    assert not (labels.data == 2).any()


def test_paint_over_replaces_existing_labels(open_widget, qtbot) -> None:
    viewer, _, widget = open_widget(RGB, rgb=True)
    target = viewer.add_labels(np.full(RGB.shape[:2], 7, dtype=np.int32), name="mine")
    widget.labels_choice.value = target
    viewer.layers.selection.active = viewer.layers[CLICKS_LAYER]
    widget.display.overwrite.value = True
    widget.display.replace_ratio.value = 0  # the object covers most of label 7: keep it
    click(viewer.layers[CLICKS_LAYER], (10, 10), True)
    wait_idle(qtbot, widget)
    mask = widget.controller.current_mask.copy()
    assert mask.any()
    widget.controller.finish_object()
    wait_idle(qtbot, widget)
    np.testing.assert_array_equal(target.data == 8, mask)  # next free id is max + 1
    np.testing.assert_array_equal(target.data == 7, ~mask)
    assert not [x for x in viewer.layers if x.name.startswith("f-BRS labels [")]  # none made


def test_threshold_slider_rethresholds_without_any_network_call(
    open_widget, qtbot, monkeypatch
) -> None:
    calls = []
    original = Predictor.predict

    def counting(self, clicks):
        calls.append(len(clicks))
        return original(self, clicks)

    monkeypatch.setattr(Predictor, "predict", counting)
    viewer, _, widget = open_widget(RGB, rgb=True)
    click(viewer.layers[CLICKS_LAYER], (20, 20), True)
    wait_idle(qtbot, widget)
    assert calls == [1]
    probs = widget.controller.probs
    before = widget.controller.current_mask.copy()
    widget.display.threshold.value = 0.99
    wait_idle(qtbot, widget)
    after = widget.controller.current_mask
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(after, probs > 0.99)
    assert widget.controller.state.threshold == pytest.approx(0.99)  # the session's
    np.testing.assert_array_equal(full_preview(widget, RGB.shape[:2]), after)
    assert calls == [1]


def test_deleting_a_click_with_napari_tools_recomputes_from_the_rest(
    open_widget, qtbot, tiny_model
) -> None:
    viewer, _, widget = open_widget(RGB, rgb=True)
    layer = viewer.layers[CLICKS_LAYER]
    clicks = [Click(20, 30, True), Click(5, 50, False), Click(40, 10, True)]
    for c in clicks:
        click(layer, (c.row, c.col), c.positive)
    wait_idle(qtbot, widget)
    layer.selected_data = {1}
    layer.remove_selected()  # what napari's Delete key does
    wait_idle(qtbot, widget)
    kept = [clicks[0], clicks[2]]
    assert widget.controller.state.clicks == tuple(kept)
    reference = core_probs(tiny_model, RGB, widget.compute.to_config(), kept)
    np.testing.assert_allclose(widget.controller.probs, reference, rtol=0, atol=1e-6)


def test_a_new_image_is_used_from_the_next_object_on(open_widget, qtbot, tiny_model) -> None:
    viewer, _, widget = open_widget(RGB, rgb=True, name="first")
    layer = viewer.layers[CLICKS_LAYER]
    click(layer, (10, 10), True)
    wait_idle(qtbot, widget)
    flipped = RGB[::-1].copy()
    second = viewer.add_image(flipped, rgb=True, name="second")
    assert widget.image_choice.value is second
    assert "finish or reset it to switch" in widget.status.text()
    click(layer, (20, 20), False)
    wait_idle(qtbot, widget)
    config = widget.compute.to_config()
    both = [Click(10, 10, True), Click(20, 20, False)]
    np.testing.assert_allclose(
        widget.controller.probs, core_probs(tiny_model, RGB, config, both), rtol=0, atol=1e-6
    )
    widget.controller.finish_object()
    click(layer, (20, 20), True)
    wait_idle(qtbot, widget)
    reference = core_probs(tiny_model, flipped, config, [Click(20, 20, True)])
    np.testing.assert_allclose(widget.controller.probs, reference, rtol=0, atol=1e-6)


def test_folded_sections_make_their_widgets_when_unfolded(
    make_napari_viewer, tiny_model, qtbot
) -> None:
    """Issue 22, defect 13: the dock opens with only what it shows; a folded section's panel
    is made when the user unfolds it (or code uses it), with the settings it would have had."""
    from napari_fbrs._napari.model_choice import Engine
    from napari_fbrs._napari.settings import ComputeSettings
    from napari_fbrs.inference.engine.config import DEFAULT_LOCAL_WINDOW

    viewer = make_napari_viewer(show=False)
    viewer.add_image(RGB, rgb=True)
    _, widget = viewer.window.add_plugin_dock_widget(
        "napari-fbrs", "f-BRS interactive segmentation"
    )
    widget.set_model(tiny_model, "tiny")
    sections = (widget.advanced, widget.stacks, widget.series_box, widget.segment_all_box)
    assert [section.built for section in sections] == [False] * 4
    assert widget._compute is None and widget._series is None
    # the unmade computation panel's defaults are what the panel shows when made
    assert widget.controller.engine == Engine(ComputeSettings().to_config(), DEFAULT_LOCAL_WINDOW)
    assert widget.controller.device_choice == "auto"
    before = len(widget.findChildren(object))
    widget.advanced.toggleButton().click()  # the user unfolds "Computation"
    assert widget.advanced.built and widget.advanced.isExpanded()
    assert widget._compute is not None
    assert widget._compute.native in widget.advanced.findChildren(type(widget._compute.native))
    assert len(widget.findChildren(object)) > before
    # the dock scrolls only vertically: it widens to the unfolded panel's widest row
    assert widget._scroll.minimumWidth() >= widget._compute.native.minimumSizeHint().width()
    # a changed setting reaches the controller as before
    widget.compute.local_window.value = 256
    assert widget.controller.engine.local_window == 256
    # code that uses a folded panel makes it; the others stay unmade
    assert widget.segment_all.start_button.text == "Segment everything"
    assert widget.segment_all_box.built
    assert not widget.series_box.built and not widget.stacks.built
    wait_idle(qtbot, widget)


def test_a_dock_opened_without_an_image_starts_its_worker(make_napari_viewer, tiny_model, qtbot):
    """The worker is held until napari has added the dock's layers (issue 22, defect 13);
    without an image there are no layers, and the model must load all the same."""
    viewer = make_napari_viewer(show=False)
    _, widget = viewer.window.add_plugin_dock_widget(
        "napari-fbrs", "f-BRS interactive segmentation"
    )
    widget.set_model(tiny_model, "tiny")
    qtbot.waitUntil(lambda: widget.model_label == "tiny", timeout=30_000)
    assert CLICKS_LAYER not in viewer.layers
    wait_idle(qtbot, widget)


def test_the_display_panel_comes_one_turn_after_the_dock_with_the_controllers_values(
    make_napari_viewer, tiny_model, qtbot
) -> None:
    """Issue 22, defect 13: the threshold, opacity and painting settings are made in the event
    loop's next turn (the dock's constructor stays short); they show what the controller
    uses, and changing them still applies at once."""
    viewer = make_napari_viewer(show=False)
    viewer.add_image(RGB, rgb=True)
    _, widget = viewer.window.add_plugin_dock_widget(
        "napari-fbrs", "f-BRS interactive segmentation"
    )
    assert widget._display is None
    qtbot.waitUntil(lambda: widget._display is not None, timeout=5_000)
    d, c = widget.display, widget.controller
    assert d.native.isVisibleTo(widget)
    assert d.threshold.value == pytest.approx(c.state.threshold)
    assert (d.opacity.value, d.click_size.value) == (c.layers.opacity, c.layers.click_size)
    assert d.overwrite.value is c.overwrite is False
    assert d.min_pixels.value == c.checks.min_pixels
    assert d.replace_ratio.value == pytest.approx(c.replace_ratio)
    d.opacity.value = 0.3
    d.min_pixels.value = 25
    assert c.layers.opacity == pytest.approx(0.3) and c.checks.min_pixels == 25
    widget.set_model(tiny_model, "tiny")
    wait_idle(qtbot, widget)
