"""The defects of a real annotation session (issue 22), each reproduced as a user meets it."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_fbrs._napari.launch import open_series
from napari_fbrs._napari.layers import CLICKS_LAYER, labels_name

from .helpers import FakeMouse, _Proxy, click, messages, wait_idle

pytestmark = pytest.mark.gui

GREY = np.random.default_rng(7).integers(0, 60, (48, 64), dtype=np.uint8)
GREY[10:30, 20:40] = 200


@pytest.fixture
def folder(tmp_path):  # noqa: ANN201
    images = tmp_path / "cells"
    images.mkdir()
    for i in range(5):
        tifffile.imwrite(images / f"img{i + 1}.tif", GREY)
    return images


def _object(widget, qtbot, at=(20, 30), percentile: float = 70) -> None:  # noqa: ANN001
    c = widget.controller
    click(c.clicks_layer, at, True)
    wait_idle(qtbot, widget)
    c.set_threshold(float(np.percentile(c.probs, percentile)))
    wait_idle(qtbot, widget)


def _finish(widget, qtbot) -> None:  # noqa: ANN001
    widget.controller.finish_object()
    wait_idle(qtbot, widget)


def _series(folder, tmp_path, tiny_model, qtbot):  # noqa: ANN001, ANN202
    out = tmp_path / "annotations"
    widget = open_series(str(folder), str(out), beside=False, skip_annotated=True, run=False)
    widget.set_model(tiny_model, "tiny")
    wait_idle(qtbot, widget)
    return widget, out


# -- 1: nothing lost --
@pytest.mark.parametrize("how", ["viewer.close", "window close button", "application quit"])
def test_closing_the_viewer_saves_the_series_labels(
    make_napari_viewer, qtbot, folder, tiny_model, tmp_path, notifications, how
) -> None:
    widget, out = _series(folder, tmp_path, tiny_model, qtbot)
    widget.series.move(1)
    widget.series.move(1)  # image 3
    assert widget.series.series.current.name == "img3.tif"
    _object(widget, qtbot)
    _finish(widget, qtbot)
    _object(widget, qtbot, at=(40, 5))  # an object in progress, not finished
    viewer = widget.viewer
    if how == "viewer.close":
        viewer.close()
    elif how == "window close button":
        viewer.window._qt_window.close()
    else:
        from qtpy.QtWidgets import QApplication

        QApplication.instance().aboutToQuit.emit()
    saved = tifffile.imread(out / "labels" / "img3.tif")
    assert saved.shape == (48, 64) and saved.max() == 1
    warnings = messages(notifications, "warning")
    assert any("not finished" in m for m in warnings), warnings
    if how != "viewer.close":
        viewer.close()


# -- 2: never stuck --
def test_a_deleted_clicks_layer_comes_back_when_the_image_is_selected(open_widget, qtbot) -> None:
    viewer, image, widget = open_widget(GREY)
    click(viewer.layers[CLICKS_LAYER], (20, 30), True)
    viewer.layers.remove(CLICKS_LAYER)  # while the prediction runs
    wait_idle(qtbot, widget)
    viewer.layers.selection.active = image
    assert CLICKS_LAYER in viewer.layers
    click(viewer.layers[CLICKS_LAYER], (20, 30), True)
    wait_idle(qtbot, widget)
    assert widget.controller.clicks == 1 and widget.controller.probs is not None


def test_a_click_on_the_image_brings_the_clicks_layer_back(open_widget, qtbot) -> None:
    from napari.utils.interactions import mouse_press_callbacks, mouse_release_callbacks

    viewer, image, widget = open_widget(GREY)
    viewer.layers.remove(CLICKS_LAYER)
    wait_idle(qtbot, widget)
    viewer.layers.selection.active = None
    world = image.data_to_world((20, 30))
    mouse_press_callbacks(viewer, _Proxy(FakeMouse("mouse_press", tuple(world), 1)))
    mouse_release_callbacks(viewer, FakeMouse("mouse_release", tuple(world), 1))
    assert CLICKS_LAYER in viewer.layers
    wait_idle(qtbot, widget)
    assert widget.controller.clicks == 1 and widget.controller.probs is not None
    assert len(viewer.layers[CLICKS_LAYER].data) == 1


# -- 4: Previous always reaches the previous image --
def test_previous_reaches_annotated_images_and_unticking_skip_applies_at_once(
    make_napari_viewer, qtbot, folder, tiny_model, tmp_path
) -> None:
    widget, _ = _series(folder, tmp_path, tiny_model, qtbot)
    panel = widget.series
    for _ in range(2):  # annotate images 1 and 2
        _object(widget, qtbot)
        _finish(widget, qtbot)
        panel.move(1)
    assert panel.series.current.name == "img3.tif"
    panel.move(-1)
    assert panel.series.current.name == "img2.tif"  # annotated, and still reached
    panel.move(-1)
    assert panel.series.current.name == "img1.tif"
    panel.skip.value = False
    panel.move(1)
    assert panel.series.current.name == "img2.tif"  # unticked: Next stops at annotated ones
    panel.skip.value = True
    panel.move(1)
    assert panel.series.current.name == "img3.tif"
    widget.viewer.close()


# -- 5: one id for one object --
def test_resegmenting_a_labelled_cell_replaces_its_label_in_one_undo_step(
    open_widget, qtbot, notifications
) -> None:
    viewer, _, widget = open_widget(GREY)
    _object(widget, qtbot, percentile=90)
    mask = widget.controller.current_mask.copy()
    old = mask.copy()  # an earlier outline of the object: most of it, and a ring beyond it
    ring = np.argwhere(~mask)[: int(mask.sum()) // 3]
    old[tuple(ring.T)] = True
    data = np.where(old, 4, 0).astype(np.int32)
    data[tuple(np.argwhere(~old)[-5:].T)] = 9  # another object: untouched
    target = viewer.add_labels(data, name="mine")
    before = target.data.copy()
    widget.labels_choice.value = target
    _finish(widget, qtbot)
    np.testing.assert_array_equal(target.data == 4, mask)  # same id, no ring left
    assert (target.data == 9).sum() == 5 and set(np.unique(target.data)) == {0, 4, 9}
    assert any("replaced" in m for m in messages(notifications, "info"))
    target.undo()  # napari's labels undo: exactly the old state, in one step
    np.testing.assert_array_equal(target.data, before)


# -- 6: bad objects are announced --
def test_a_tiny_object_warns_and_can_be_undone(open_widget, qtbot, notifications) -> None:
    viewer, image, widget = open_widget(GREY)
    click(viewer.layers[CLICKS_LAYER], (20, 30), True)
    wait_idle(qtbot, widget)
    probs = widget.controller.probs
    widget.controller.set_threshold(float(np.sort(probs.ravel())[-3]))  # ~2 pixels
    wait_idle(qtbot, widget)
    assert 0 < widget.controller.current_mask.sum() < 10
    _finish(widget, qtbot)
    warnings = messages(notifications, "warning")
    assert any("pixel" in m and "Ctrl+Z" in m for m in warnings), warnings
    labels = viewer.layers[labels_name(image.name)]
    labels.undo()
    assert not labels.data.any()


# -- 7: ids from the labels --
def test_the_next_id_is_max_plus_one_after_an_undo(open_widget, qtbot) -> None:
    viewer, image, widget = open_widget(GREY)
    widget.display.replace_ratio.value = 0  # the tiny model's objects overlap: never replace
    _object(widget, qtbot, at=(20, 30), percentile=97)
    _finish(widget, qtbot)
    _object(widget, qtbot, at=(40, 55), percentile=90)
    _finish(widget, qtbot)
    labels = viewer.layers[labels_name(image.name)]
    assert labels.data.max() == 2
    labels.undo()  # napari's undo of object 2
    _object(widget, qtbot, at=(40, 55), percentile=90)
    _finish(widget, qtbot)
    assert labels.data.max() == 2 and set(np.unique(labels.data)) == {0, 1, 2}


# -- 8: the plugin's Undo after Finish --
def test_undo_after_finish_says_what_to_press(open_widget, qtbot, notifications) -> None:
    viewer, image, widget = open_widget(GREY)
    _object(widget, qtbot)
    _finish(widget, qtbot)
    widget.controller.undo_click()
    text = widget.status.text()
    assert "Ctrl+Z" in text and labels_name(image.name) in text
    assert any("Ctrl+Z" in m for m in messages(notifications, "info"))


# -- 9: status messages belong to their moment --
def test_a_settings_message_is_gone_after_the_next_click(open_widget, qtbot) -> None:
    viewer, _, widget = open_widget(GREY)
    wait_idle(qtbot, widget)
    widget.compute.lbfgs_iters.value = 7
    widget.compute.mode.value = "f-BRS-B"
    assert "Settings changed." in widget.status.text()
    widget.compute.mode.value = "NoBRS"
    click(viewer.layers[CLICKS_LAYER], (20, 30), True)
    wait_idle(qtbot, widget)
    text = widget.status.text()
    assert "Settings changed." not in text and "ready" not in text, text
    assert "Clicks: 1" in text


# -- 10: the layer controls show add mode --
def test_the_layer_controls_show_add_mode(open_widget, qtbot) -> None:
    viewer, _, widget = open_widget(GREY, show=True)
    layer = viewer.layers[CLICKS_LAYER]
    controls = viewer.window._qt_viewer.controls.widgets[layer]
    assert layer.mode == "add"
    assert controls.addition_button.isChecked()
    assert not controls.panzoom_button.isChecked()


# -- 11: labels layers made only when needed, named after their image --
def test_labels_layers_are_made_when_painted_named_and_removed_with_an_empty_image(
    open_widget, qtbot
) -> None:
    from napari.layers import Labels

    viewer, first, widget = open_widget(GREY, name="nuclei")
    others = [viewer.add_image(GREY, name=f"img{i}") for i in range(3)]

    def own() -> list[str]:
        preview = widget.controller.preview_layer
        return [x.name for x in viewer.layers if isinstance(x, Labels) and x is not preview]

    assert own() == []  # selecting images makes nothing
    viewer.layers.selection.active = first
    _object(widget, qtbot)
    _finish(widget, qtbot)
    assert own() == ["f-BRS labels [nuclei]"]
    viewer.layers.remove(others[0])
    assert own() == ["f-BRS labels [nuclei]"]
    mine = viewer.add_labels(np.zeros(GREY.shape, np.int32), name="mine")
    widget.labels_choice.value = mine
    viewer.layers.selection.active = others[2]
    _object(widget, qtbot)
    _finish(widget, qtbot)
    assert sorted(own()) == ["f-BRS labels [nuclei]", "mine"] and mine.data.max() == 1
    widget.labels_choice.value = widget.labels_choice.choices[0]  # one per image
    viewer.layers.selection.active = others[1]
    _object(widget, qtbot)
    _finish(widget, qtbot)
    viewer.layers.remove(first)  # its labels hold an object: they stay
    assert "f-BRS labels [nuclei]" in own()
    second = viewer.layers["f-BRS labels [img1]"]
    second.undo()  # the user took its only object back: it is empty now
    viewer.layers.remove(others[1])
    assert "f-BRS labels [img1]" not in own()


# -- 12: uint8 and uint16 x 257: the model sees each as napari shows it --
def test_uint16_x257_is_seen_as_shown_and_equal_to_uint8_when_shown_alike(
    make_napari_viewer,
) -> None:
    from napari_fbrs._napari import layers as L
    from napari_fbrs.io.images import to_model_rgb

    dim = (GREY // 2 + 10).astype(np.uint8)  # 10..110: napari's uint16 limits stretch it
    low, high = int(dim.min()) * 257, int(dim.max()) * 257
    viewer = make_napari_viewer()
    small = viewer.add_image(dim)
    wide = viewer.add_image(dim.astype(np.uint16) * 257)
    assert tuple(small.contrast_limits) == (0, 255)
    assert tuple(wide.contrast_limits) == (low, high)  # napari's default: min..max
    seen_small = L.image_context(small, ()).load()
    seen_wide = L.image_context(wide, ()).load()
    np.testing.assert_array_equal(seen_small[..., 0], dim)  # uint8 at 0..255: unchanged
    np.testing.assert_array_equal(seen_wide, to_model_rgb(wide.data, (low, high)))
    assert not np.array_equal(seen_small, seen_wide)  # shown differently, seen differently
    wide.contrast_limits = (0, 65535)  # shown alike: the same model input, so the same masks
    np.testing.assert_array_equal(L.image_context(wide, ()).load(), seen_small)


def test_removing_an_image_drops_the_predictor_prepared_on_it(open_widget, qtbot) -> None:
    """Issue 23: the image context is keyed on the layer's unique_id and dropped with it, so
    a predictor prepared on a removed layer can never serve a new one."""
    from napari_fbrs._napari.layers import CLICKS_LAYER

    from .helpers import click, wait_idle

    viewer, image, widget = open_widget(np.zeros((40, 50), np.uint8))
    click(viewer.layers[CLICKS_LAYER], (10, 10), True)
    wait_idle(qtbot, widget)
    session = widget.controller._session
    assert session.predictor is not None
    assert session._context_owner == str(image.unique_id)
    viewer.layers.remove(image)
    wait_idle(qtbot, widget)
    assert session.predictor is None
