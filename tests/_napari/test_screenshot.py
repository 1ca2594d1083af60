"""A real screenshot of the plugin at work; written to docs/ only when asked.

``NAPARI_FBRS_WRITE_SCREENSHOT=1`` writes ``docs/screenshot.png`` (the README's picture).
``NAPARI_FBRS_SCREENSHOT_CHECKPOINT=/path/to/weights.pth`` uses trained weights instead of the
seeded random test model; with random weights every probability is close to 0.52, so the
threshold is then raised to the map's 88th percentile to show a region rather than a
full-image mask.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from napari_fbrs._napari.layers import (
    CLICKS_LAYER,
    NEGATIVE_COLOUR,
    POSITIVE_COLOUR,
    PREVIEW_COLOUR,
)

from .conftest import PLUGIN, WIDGET
from .helpers import click, wait_idle, wait_settled

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.gui
def test_screenshot_of_the_astronaut_with_clicks(make_napari_viewer, qtbot, tiny_model) -> None:
    import torch
    from skimage.transform import resize

    torch.set_num_threads(1)
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1280, 860)
    viewer.open_sample(PLUGIN, "astronaut")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    checkpoint = os.environ.get("NAPARI_FBRS_SCREENSHOT_CHECKPOINT")
    if checkpoint:
        widget.load_model_from_path(checkpoint)
        qtbot.waitUntil(lambda: widget.model_label == Path(checkpoint).name, timeout=120_000)
    else:
        widget.compute.mode.value = "NoBRS"  # keeps this test to seconds on a CPU
        widget.compute.zoom_in.value = False
        widget.set_model(tiny_model, "random test weights (hrnet18s_ocr64)")
    layer = viewer.layers[CLICKS_LAYER]
    click(layer, (150, 240), True)  # face
    click(layer, (40, 250), False)  # background above the head
    wait_idle(qtbot, widget, timeout=120_000)
    if not checkpoint:
        widget.display.threshold.value = float(np.percentile(widget.controller.probs, 88))
        wait_idle(qtbot, widget)
    mask = widget.controller.current_mask
    assert mask is not None and 0 < mask.mean() < 0.5
    wait_settled(qtbot, viewer.window._qt_viewer.canvas.native)

    shot = viewer.screenshot(canvas_only=False, flash=False)
    assert shot.ndim == 3 and shot.shape[0] > 600 and shot.shape[1] > 1000
    assert shot[..., :3].std() > 20  # not a blank or black grab
    canvas = viewer.screenshot(canvas_only=True, flash=False)[..., :3].astype(int)
    yellow = np.abs(canvas - np.array([255, 212, 0])).sum(axis=2) < 120
    assert PREVIEW_COLOUR == "#ffd400" and yellow.any()  # the object is drawn on the canvas

    if os.environ.get("NAPARI_FBRS_WRITE_SCREENSHOT") == "1":
        from PIL import Image

        height, width = shot.shape[:2]
        scale = min(1.0, 1000 / width)
        small = resize(shot[..., :3], (round(height * scale), round(width * scale)), order=1)
        rgb = (small * 255).round().astype(np.uint8)
        picture = Image.fromarray(rgb).quantize(colors=256, method=Image.Quantize.FASTOCTREE)
        DOCS.mkdir(exist_ok=True)
        target = DOCS / "screenshot.png"
        picture.save(target, optimize=True)
        assert target.stat().st_size < 300_000
        with Image.open(target) as saved:
            back = np.asarray(saved.convert("RGB")).astype(int)
        for colour in (POSITIVE_COLOUR, NEGATIVE_COLOUR):  # both clicks survive the palette
            rgb_value = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
            assert (np.abs(back - rgb_value).sum(axis=2) < 60).sum() > 10, colour
