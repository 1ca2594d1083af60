"""Normal user sessions that broke before the redesign (issue 14), driven as a user does."""

from __future__ import annotations

import numpy as np
import pytest

from napari_fbrs._napari.layers import CLICKS_LAYER, LABELS_LAYER, PREVIEW_LAYER, labels_name
from napari_fbrs._napari.widget import OWN_LABELS
from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.io.images import to_model_rgb

from .conftest import PLUGIN, WIDGET
from .helpers import click, core_probs, messages, own_labels, wait_idle, wait_settled

pytestmark = pytest.mark.gui

SMALL = np.random.default_rng(5).integers(0, 256, (48, 64, 3), dtype=np.uint8)
OTHER = np.random.default_rng(6).integers(0, 256, (40, 30), dtype=np.uint8)


def _object_and_finish(viewer, widget, qtbot, at) -> None:  # noqa: ANN001
    click(viewer.layers[CLICKS_LAYER], at, True)
    wait_idle(qtbot, widget)
    widget.controller.set_threshold(float(np.median(widget.controller.probs)))
    wait_idle(qtbot, widget)
    widget.controller.finish_object()
    wait_idle(qtbot, widget)


def test_a_second_image_of_another_size_gets_its_own_labels(
    open_widget, qtbot, notifications
) -> None:
    viewer, first, widget = open_widget(SMALL, rgb=True, name="first")
    _object_and_finish(viewer, widget, qtbot, (20, 30))
    first_labels = own_labels(viewer)
    assert first_labels.data.shape == (48, 64) and first_labels.data.max() == 1
    user = viewer.add_labels(np.zeros((10, 10), np.int32), name="mine")

    second = viewer.add_image(OTHER, name="second")  # another size: no refusal
    assert widget.image_choice.value is second
    _object_and_finish(viewer, widget, qtbot, (20, 15))
    errors = messages(notifications, "error") + messages(notifications, "warning")
    assert not [m for m in errors if "has shape" in m], errors
    own = [
        layer
        for layer in viewer.layers
        if layer.name.startswith(LABELS_LAYER) and layer is not first_labels
    ]
    assert len(own) == 1 and own[0].data.shape == (40, 30) and own[0].data.max() == 1
    assert first_labels.data.max() == 1  # the first image's labels are untouched
    assert not user.data.any()  # and so is the user's layer
    assert widget.labels_choice.value == OWN_LABELS

    # a user layer that does not fit is refused with a message naming entries that exist
    widget.labels_choice.value = user
    click(viewer.layers[CLICKS_LAYER], (5, 5), True)
    wait_idle(qtbot, widget)
    refusal = [m for m in messages(notifications, "warning") if "'mine' has shape" in m]
    assert refusal and OWN_LABELS in refusal[-1]
    combo = widget.labels_choice.native
    names = {combo.itemText(i) for i in range(combo.count())}
    assert OWN_LABELS in names and "mine" in names


def test_closing_and_reopening_the_dock_keeps_working(open_widget, qtbot, tiny_model) -> None:
    viewer, _, widget = open_widget(SMALL, rgb=True)
    _object_and_finish(viewer, widget, qtbot, (20, 30))
    viewer.window.remove_dock_widget(widget)
    _, again = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    again.compute.mode.value = "NoBRS"
    again.compute.zoom_in.value = False
    again.set_model(tiny_model, "tiny")
    again.display.replace_ratio.value = 0  # the tiny model's objects overlap: never replace
    click(viewer.layers[CLICKS_LAYER], (10, 40), True)
    wait_idle(qtbot, again)
    reference = core_probs(tiny_model, SMALL, again.compute.to_config(), [Click(10, 40, True)])
    np.testing.assert_allclose(again.controller.probs, reference, rtol=0, atol=1e-6)
    again.controller.finish_object()
    wait_idle(qtbot, again)
    assert own_labels(viewer).data.max() == 2  # the same image's labels, next id


@pytest.mark.parametrize("layer_name", [CLICKS_LAYER, PREVIEW_LAYER])
def test_deleting_a_plugin_layer_mid_object_resets_it_without_an_exception(
    open_widget, qtbot, notifications, layer_name
) -> None:
    viewer, image, widget = open_widget(SMALL, rgb=True)
    click(viewer.layers[CLICKS_LAYER], (20, 30), True)
    wait_idle(qtbot, widget)
    assert widget.controller.clicks == 1
    viewer.layers.remove(layer_name)
    wait_idle(qtbot, widget)
    assert widget.controller.clicks == 0 and widget.controller.current_mask is None
    assert "Clicks: 0" in widget.status.text()
    widget.reset_button.native.click()  # used to raise "Cannot select item not in list"
    viewer.add_image(OTHER, name="another")  # and so did opening another image
    wait_idle(qtbot, widget)
    assert not messages(notifications, "error")
    viewer.layers.selection.active = image
    assert CLICKS_LAYER in viewer.layers  # made again, the current-object layer a turn later
    qtbot.waitUntil(lambda: PREVIEW_LAYER in viewer.layers, timeout=5_000)
    click(viewer.layers[CLICKS_LAYER], (10, 10), True)
    wait_idle(qtbot, widget)
    assert widget.controller.clicks == 1 and widget.controller.probs is not None


def test_a_new_image_does_not_hide_the_clicks_and_the_mask(open_widget, qtbot) -> None:
    viewer, _, widget = open_widget(SMALL, rgb=True)
    viewer.add_image(OTHER, name="opened later")
    _object_and_finish(viewer, widget, qtbot, (20, 15))  # labels of "opened later" made
    viewer.add_image(OTHER, name="opened last")
    names = [layer.name for layer in viewer.layers]
    assert names[-2:] == [PREVIEW_LAYER, CLICKS_LAYER], names
    assert names.index("opened last") < names.index(labels_name("opened later"))


def test_a_click_while_the_builtin_model_loads_waits_for_it(make_napari_viewer, qtbot) -> None:
    viewer = make_napari_viewer()
    viewer.add_image(SMALL, rgb=True)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget.compute.mode.value = "NoBRS"
    assert widget.model_label is None  # still loading
    click(viewer.layers[CLICKS_LAYER], (20, 30), True)  # a user's click, not place_clicks
    assert len(viewer.layers[CLICKS_LAYER].data) == 1  # kept, not dropped
    wait_idle(qtbot, widget, timeout=120_000)
    assert widget.model_label is not None and widget.controller.clicks == 1
    assert widget.controller.probs is not None


def test_one_normalisation_rule_for_every_dtype(open_widget, qtbot, tiny_model) -> None:
    """uint8 and the same pixels as uint16 x 257 give the same mask; raising the contrast of a
    dim 8-bit image changes what the model sees."""
    dim = (OTHER // 4).astype(np.uint8)
    results = []
    for data in (dim, dim.astype(np.uint16) * 257):
        viewer, layer, widget = open_widget(data)
        if data.dtype == np.uint16:
            layer.contrast_limits = (0, 65535)
        else:
            layer.contrast_limits = (0, 255)
        click(viewer.layers[CLICKS_LAYER], (20, 15), True)
        wait_idle(qtbot, widget)
        results.append(widget.controller.probs.copy())
    np.testing.assert_allclose(results[0], results[1], rtol=0, atol=1e-6)

    viewer, layer, widget = open_widget(dim)
    layer.contrast_limits = (0, 64)  # the user brightens the dim image
    click(viewer.layers[CLICKS_LAYER], (20, 15), True)
    wait_idle(qtbot, widget)
    config = widget.compute.to_config()
    shown = core_probs(tiny_model, to_model_rgb(dim, (0, 64)), config, [Click(20, 15, True)])
    np.testing.assert_allclose(widget.controller.probs, shown, rtol=0, atol=1e-6)
    assert not np.allclose(shown, results[0])
    assert "contrast limits" in widget.help.text()


def test_an_exception_in_a_slot_becomes_a_notification(
    open_widget, qtbot, notifications, monkeypatch
) -> None:
    viewer, _, widget = open_widget(SMALL, rgb=True)
    from napari_fbrs._napari import layers

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(layers, "pixel_of", broken)
    click(viewer.layers[CLICKS_LAYER], (20, 30), True)  # runs the slot that now raises
    wait_idle(qtbot, widget)
    assert any("simulated bug" in m for m in messages(notifications, "error"))
    monkeypatch.undo()
    viewer.layers[CLICKS_LAYER].data = np.empty((0, 2))
    wait_idle(qtbot, widget)
    click(viewer.layers[CLICKS_LAYER], (20, 30), True)
    wait_idle(qtbot, widget)
    assert widget.controller.clicks == 1  # the widget still works


def test_the_panel_shows_the_actions_first_and_folds_the_expert_settings(
    open_widget, qtbot
) -> None:
    viewer, _, widget = open_widget(SMALL, rgb=True, show=True)
    wait_settled(qtbot, widget)
    assert "left = object, right = background" in widget.how_to.text()
    assert not widget.advanced.isExpanded()  # BRS mode, ZoomIn, L-BFGS, device, fast: folded

    def top(native) -> int:  # noqa: ANN001
        return native.mapTo(widget, native.rect().topLeft()).y()

    order = [
        top(widget.how_to),
        top(widget.image_choice.native),
        top(widget.finish_button.native),
        top(widget.status),
        top(widget.advanced),
    ]
    assert order == sorted(order)
    assert top(widget.finish_button.native) < 300  # above the fold of napari's default window
