"""The widget with the built-in model segments a known nucleus, with the Python API's mask.

Most widget tests run a tiny random-weight model (plumbing); this one checks segmentation:
the shipped model on the synthetic nuclei sample, whose ground truth is known, clicked in the
viewer exactly as ``napari_fbrs.Segmenter`` is clicked in a script (one path for a click).
"""

from __future__ import annotations

import numpy as np
import pytest

import napari_fbrs
from napari_fbrs._napari.layers import CLICKS_LAYER
from napari_fbrs.io.samples import synthetic_nuclei_with_labels

from .helpers import click, full_preview, own_labels, wait_idle

pytestmark = [pytest.mark.gui, pytest.mark.slow]

PLUGIN, WIDGET = "napari-fbrs", "f-BRS interactive segmentation"


def test_a_click_on_a_nucleus_in_the_viewer_gives_the_scripts_mask_and_its_label(
    make_napari_viewer, qtbot
) -> None:
    image, truth = synthetic_nuclei_with_labels((256, 256), count=18, seed=1)
    clicks = [(203, 45, True), (120, 120, False)]
    seg = napari_fbrs.Segmenter()  # the widget's defaults: built-in model, f-BRS-B, demo
    seg.set_image(image)
    for row, col, positive in clicks:
        expected = seg.click(row, col, positive)

    viewer = make_napari_viewer()
    viewer.add_image(image, name="nuclei")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    qtbot.waitUntil(lambda: widget.model_label is not None, timeout=240_000)
    layer = viewer.layers[CLICKS_LAYER]
    for row, col, positive in clicks:
        click(layer, (row, col), positive)
        wait_idle(qtbot, widget, timeout=240_000)
    shown = full_preview(widget, image.shape)
    assert np.array_equal(shown, expected)

    nucleus = truth == truth[203, 45]
    iou = (shown & nucleus).sum() / (shown | nucleus).sum()
    assert iou > 0.6, iou
    widget.controller.finish_object()
    wait_idle(qtbot, widget, timeout=240_000)
    labels = np.asarray(own_labels(viewer).data)
    assert np.array_equal(labels == 1, expected)
