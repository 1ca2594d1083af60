"""The widget's "One click per object" mode (issue 24): checkbox, key, auto-finish, undo."""

from __future__ import annotations

import numpy as np
import pytest

import napari_fbrs
from napari_fbrs._napari.layers import CLICKS_LAYER
from napari_fbrs.io.samples import synthetic_nuclei_with_labels

from .helpers import click, fake_mouse_click, own_labels, wait_idle

pytestmark = pytest.mark.gui

PLUGIN, WIDGET = "napari-fbrs", "f-BRS interactive segmentation"
#: Centres of three separate nuclei of the sample -> their ground-truth id.
CENTRES = {(43, 159): 16, (202, 45): 8, (152, 191): 9}
#: Measured with the built-in model (release 2): IoU 0.916, 0.932, 0.949.
MIN_IOU = 0.88
RGB = np.random.default_rng(8).integers(0, 256, (40, 48, 3), dtype=np.uint8)


def test_the_checkbox_and_the_key_switch_the_mode(open_widget, qtbot) -> None:
    from qtpy.QtCore import Qt

    viewer, _, widget = open_widget(RGB, show=True, rgb=True)
    canvas = viewer.window._qt_viewer.canvas.native
    mode = widget.controller.one_click
    assert not mode.enabled and not widget.one_click_box.value
    widget.one_click_box.value = True
    assert mode.enabled
    assert "One click per object" in widget.controller.message
    assert viewer.layers.selection.active is viewer.layers[CLICKS_LAYER]
    qtbot.keyClick(canvas, Qt.Key.Key_O)
    assert not mode.enabled and not widget.one_click_box.value
    qtbot.keyClick(canvas, Qt.Key.Key_O)
    assert mode.enabled and widget.one_click_box.value


def _nuclei_in_one_click_mode(make_napari_viewer, qtbot):  # noqa: ANN001, ANN202
    """The sample nuclei, their truth, the viewer, the widget (model ready, one click per
    object on) and the clicks layer."""
    image, truth = synthetic_nuclei_with_labels((256, 256), count=18, seed=1)
    viewer = make_napari_viewer()
    viewer.add_image(image, name="nuclei")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    qtbot.waitUntil(lambda: widget.model_label is not None, timeout=240_000)
    widget.one_click_box.value = True
    return image, truth, viewer, widget, viewer.layers[CLICKS_LAYER]


@pytest.mark.slow
def test_one_click_on_each_of_three_nuclei_gives_three_labels(make_napari_viewer, qtbot) -> None:
    image, truth, viewer, widget, layer = _nuclei_in_one_click_mode(make_napari_viewer, qtbot)
    for row, col in CENTRES:
        click(layer, (row, col), True)
        wait_idle(qtbot, widget, timeout=240_000)
    assert widget.controller.message == "Object 2 finished; new object."
    assert len(layer.data) == 1  # the clicks layer shows the new object's click only
    labels = own_labels(viewer)
    first, second = np.array(labels.data == 1), np.array(labels.data == 2)

    # Undo of the click that finished object 2: it is the current object again, its pixels
    # leave the labels; clicking again finishes it again with the same id.
    widget.controller.undo_click()
    wait_idle(qtbot, widget, timeout=240_000)
    assert labels.data.max() == 1 and widget.controller.clicks == 1
    assert np.array_equal(widget.controller.current_mask, second)
    click(layer, list(CENTRES)[-1], True)
    wait_idle(qtbot, widget, timeout=240_000)
    assert np.array_equal(labels.data == 2, second)

    widget.controller.finish_object()
    wait_idle(qtbot, widget, timeout=240_000)
    data = np.asarray(labels.data)
    assert sorted(np.unique(data)) == [0, 1, 2, 3]
    assert np.array_equal(data == 1, first)
    for label_id, truth_id in enumerate(CENTRES.values(), start=1):
        iou = ((data == label_id) & (truth == truth_id)).sum() / (
            (data == label_id) | (truth == truth_id)
        ).sum()
        assert iou > MIN_IOU, (label_id, iou)

    # the same clicks in a script give the same labels (one path for a click)
    seg = napari_fbrs.Segmenter(one_click_per_object=True)
    seg.set_image(image)
    expected = np.zeros(image.shape, np.int32)
    seg.set_labels(expected)
    for row, col in CENTRES:
        seg.click(row, col)
    seg.finish()
    assert np.array_equal(data, expected)


@pytest.mark.slow
def test_shift_click_outside_the_object_corrects_it_instead_of_finishing(
    make_napari_viewer, qtbot
) -> None:
    _, _, viewer, widget, layer = _nuclei_in_one_click_mode(make_napari_viewer, qtbot)
    (first, _), (second, _) = list(CENTRES.items())[:2]
    fake_mouse_click(layer, first)
    wait_idle(qtbot, widget, timeout=240_000)
    assert not widget.controller.current_mask[second]
    fake_mouse_click(layer, second, modifiers=("Shift",))
    wait_idle(qtbot, widget, timeout=240_000)
    assert widget.controller.clicks == 2 and len(layer.data) == 2
    assert "finished" not in widget.controller.message
    assert widget.controller.current_mask[second]
    labels = [x for x in viewer.layers if x.name.startswith("f-BRS labels")]
    assert all(not np.asarray(x.data).any() for x in labels)
    fake_mouse_click(layer, list(CENTRES)[2])  # without Shift: the next object
    wait_idle(qtbot, widget, timeout=240_000)
    assert widget.controller.message == "Object 1 finished; new object."
    assert widget.controller.clicks == 1
