"""The three screenshots of the README's "Large images, stacks and image series" section.

Writes, next to this file:

* ``screenshot_local_window.png``: a 4096 x 4096 px synthetic slide of small nuclei, one
  positive click on one nucleus answered by the widget with its default settings (built-in
  model, f-BRS-B, Local window 512 px), zoomed on the object; the window the click ran on is
  outlined (a Shapes layer drawn by this script from the widget's state).
* ``screenshot_propagation.png``: a synthetic nuclei Z stack (``io.stacks``); one nucleus
  clicked on its largest slice, then *Propagate through the stack*; shown on another slice,
  with the Z slider and the widget's report of the slices reached and why each side stopped.
* ``screenshot_series.png``: the *Image series* panel on a temporary folder of four synthetic
  nuclei images; three nuclei of the first image annotated (a corrective click where one
  click misses part of a nucleus), finished and saved.

Everything is driven the way a user does it: the dock widget opened from the Plugins menu
entry, clicks added to the clicks layer, the widget's buttons pressed; the script waits for
the widget's worker by processing Qt events. Needs a display; on a headless machine run::

    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python docs/make_screenshots.py

It takes about 20 s on a 2-core CPU. It fails (and says why) if the widget reports an error or
a warning, or if a picture would be 400 KB or more.
"""

# ruff: noqa: TID251 - a script that drives napari, like the tests and benchmarks do

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import napari
import numpy as np
import tifffile
from PIL import Image as PILImage
from qtpy.QtCore import QPoint
from qtpy.QtWidgets import QApplication, QScrollArea, QWidget
from scipy import ndimage

from napari_fbrs._napari.layers import (
    CLICKS_LAYER,
    NEGATIVE_COLOUR,
    POSITIVE_COLOUR,
    PREVIEW_COLOUR,
    labels_name,
)
from napari_fbrs.io.samples import synthetic_nuclei_with_labels
from napari_fbrs.synthetic import synthetic_nuclei_stack

DOCS = Path(__file__).resolve().parent
PLUGIN = "napari-fbrs"
WIDGET = "f-BRS interactive segmentation"
WINDOW_SIZE = (1200, 840)
MAX_BYTES = 400_000
WINDOW_COLOUR = "#00ffff"  # the outline of the local window
TIMEOUT = 600.0  # seconds for any one wait (generous: a busy CPU is slow)


# -- waiting for Qt and the widget's worker --------------------------------------------------
def wait_until(done: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Process Qt events until ``done()`` is true; fail after ``timeout`` seconds."""
    app = QApplication.instance()
    assert app is not None
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not done after {timeout:g} s")
        app.processEvents()
        time.sleep(0.02)


def settle(seconds: float = 0.5) -> None:
    """Let the canvas and the widgets redraw."""
    end = time.monotonic() + seconds
    wait_until(lambda: time.monotonic() > end, "settle")


def wait_idle(widget: Any, what: str) -> None:
    """Until the model is loaded and every queued call's result has been shown."""
    c = widget.controller
    wait_until(lambda: c.model_label is not None and not c.busy, what)


# -- the viewer, the widget and the saved pictures -------------------------------------------
def open_viewer(title: str) -> napari.Viewer:
    """A 1200 x 840 window; the layer list and layer controls are hidden (as with the Window
    menu's toggles) so the canvas keeps its room beside the dock widget."""
    viewer = napari.Viewer(title=title, show=True)
    viewer.window.resize(*WINDOW_SIZE)
    qt_viewer = viewer.window._qt_viewer
    qt_viewer.dockLayerList.setVisible(False)
    qt_viewer.dockLayerControls.setVisible(False)
    return viewer


def camera(viewer: napari.Viewer) -> Any:
    """The camera (``viewer.scene.camera`` since napari 0.9, ``viewer.camera`` before)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera


def overlay(viewer: napari.Viewer, name: str) -> Any:
    """A canvas overlay: ``text``, ``scale_bar`` or ``axes`` (napari 0.9 or earlier)."""
    canvas = getattr(viewer, "canvas", None)
    if canvas is not None:
        return canvas.overlays[name]
    return getattr(viewer, {"text": "text_overlay"}.get(name, name))


def open_widget(viewer: napari.Viewer) -> Any:
    """The dock widget, opened as the Plugins menu does; it loads the built-in model."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    wait_idle(widget, "loading the built-in model")
    return widget


def click(widget: Any, coords: tuple[float, ...], positive: bool = True) -> None:
    """A click on pixel ``coords`` as the mouse places one in the clicks layer's add mode."""
    layer = widget.viewer.layers[CLICKS_LAYER]
    layer.feature_defaults = {"positive": positive}
    layer.add(np.asarray(coords, dtype=float))
    layer.selected_data = set()  # drawn in its own colour, not highlighted as selected


def check_no_error(widget: Any, seen: list[Any]) -> None:
    """Fail on any error or warning notification so far; print the widget's status line."""
    bad = [str(n.message) for n in seen if str(n.severity).lower() in ("error", "warning")]
    if bad:
        raise RuntimeError(f"the widget reported: {bad}")
    print("  status:", widget.status.text().replace("\n", " | "))


def interior_point(mask: np.ndarray) -> tuple[int, int]:
    """The pixel of ``mask`` farthest from its border (where a user clicks first)."""
    depth = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    r, c = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return int(r), int(c)


def scroll_to(widget: Any, child: QWidget, top: bool = False) -> None:
    """Scroll the dock's panel (a scroll area) until ``child`` is in view (``top``: at the
    top of the view)."""
    settle(0.3)
    area = widget.findChild(QScrollArea)
    assert area is not None
    if top:
        y = child.mapTo(area.widget(), QPoint(0, 0)).y()
        area.verticalScrollBar().setValue(y - 8)
    else:
        area.ensureWidgetVisible(child, 0, 40)


def quantised(picture: PILImage.Image, colours: int) -> PILImage.Image:
    """``picture`` with a palette of ``colours``: median-cut colours of the picture plus the
    plugin's exact click and mask colours (few pixels, which median cut would merge into their
    neighbours), not dithered (grey nuclei stay smooth)."""
    keys = [POSITIVE_COLOUR, NEGATIVE_COLOUR, PREVIEW_COLOUR, WINDOW_COLOUR]
    base = picture.quantize(colors=colours - len(keys), method=PILImage.Quantize.MEDIANCUT)
    palette = (base.getpalette() or [])[: 3 * (colours - len(keys))]
    for key in keys:
        palette += [int(key[i : i + 2], 16) for i in (1, 3, 5)]
    reference = PILImage.new("P", (1, 1))
    reference.putpalette(palette)
    return picture.quantize(palette=reference, dither=PILImage.Dither.NONE)


def save(viewer: napari.Viewer, name: str) -> Path:
    """The whole window (canvas and dock) as a PNG under MAX_BYTES: lossless when it fits,
    else with a palette of 256 colours or fewer (see :func:`quantised`)."""
    settle(1.0)
    shot = viewer.screenshot(canvas_only=False, flash=False)
    picture = PILImage.fromarray(np.ascontiguousarray(shot[..., :3]))
    target = DOCS / name
    picture.save(target, optimize=True)
    for colours in (256, 128, 64):
        if target.stat().st_size < MAX_BYTES:
            break
        quantised(picture, colours).save(target, optimize=True)
    size = target.stat().st_size
    print(f"  wrote {target} ({picture.width} x {picture.height} px, {size / 1000:.0f} KB)")
    if size >= MAX_BYTES:
        raise RuntimeError(f"{target} is {size} bytes, over {MAX_BYTES}")
    return target


# -- 1. a local click on a large slide -------------------------------------------------------
def nuclei_slide(
    size: int = 4096, count: int = 12_000, seed: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """A fluorescence-like slide of small nuclei (uint16) and their labels (int32).

    Ellipses of 8-15 px radius at random positions (a later nucleus covers an earlier one),
    blurred, on a dim background with Poisson noise, like ``io.samples``' nuclei but small
    relative to the slide.
    """
    rng = np.random.default_rng(seed)
    signal = np.zeros((size, size), np.float32)
    labels = np.zeros((size, size), np.int32)
    for index in range(count):
        ry, rx = rng.uniform(8.0, 15.0, size=2)
        cy, cx = rng.uniform(20.0, size - 20.0, size=2)
        angle = rng.uniform(0.0, np.pi)
        r0, r1 = int(cy - 16), int(cy + 17)
        c0, c1 = int(cx - 16), int(cx + 17)
        yy, xx = np.mgrid[r0:r1, c0:c1].astype(np.float32)
        dy, dx = yy - cy, xx - cx
        u = dy * np.cos(angle) + dx * np.sin(angle)
        v = -dy * np.sin(angle) + dx * np.cos(angle)
        inside = (u / ry) ** 2 + (v / rx) ** 2 <= 1.0
        signal[r0:r1, c0:c1][inside] = rng.uniform(1500.0, 4000.0)
        labels[r0:r1, c0:c1][inside] = index + 1
    blurred = ndimage.gaussian_filter(signal, sigma=1.5) + 200.0
    image = np.clip(rng.poisson(blurred), 0, np.iinfo(np.uint16).max).astype(np.uint16)
    return image, labels


def shot_local_window(seen: list[Any]) -> Path:
    print("1. local click on a large slide")
    image, labels = nuclei_slide()
    centre = image.shape[0] // 2
    # the nucleus under the slide's centre, clicked at its most interior pixel
    crop = labels[centre - 100 : centre + 100, centre - 100 : centre + 100]
    near = [int(i) for i in np.unique(crop[70:130, 70:130]) if i]
    largest = max(near, key=lambda i: int((crop == i).sum()))
    r, c = interior_point(crop == largest)
    row, col = centre - 100 + r, centre - 100 + c

    viewer = open_viewer("napari-fbrs: a local click on a 4096 x 4096 px slide")
    viewer.add_image(image, name="slide", colormap="gray", contrast_limits=(150, 4200))
    widget = open_widget(viewer)
    assert widget.compute.local_window.value == 512  # the default
    click(widget, (row, col))
    wait_idle(widget, "the click")
    state = widget.controller.state
    assert state.map is not None and not state.map.covers_image
    (r0, c0), (h, w) = state.map.origin, state.map.probs.shape
    corners = [[r0, c0], [r0, c0 + w], [r0 + h, c0 + w], [r0 + h, c0]]
    viewer.add_shapes(
        [np.asarray(corners, float) - 0.5],
        shape_type="polygon",
        name="local window",
        edge_color=WINDOW_COLOUR,
        edge_width=2,
        face_color="transparent",
    )
    viewer.layers.selection.active = viewer.layers[CLICKS_LAYER]
    widget.advanced.expand(animate=False)  # Computation, where "Local window" is
    scroll_to(widget, widget.status, top=True)
    cam = camera(viewer)
    cam.center = (r0 + h / 2, c0 + w / 2)
    cam.zoom = 1.4
    text = overlay(viewer, "text")
    text.visible = True
    text.position = "top_left"
    text.font_size = 9
    text.text = f"4096 x 4096 px slide; cyan: the {h} x {w} px window of the click"
    overlay(viewer, "scale_bar").visible = True
    check_no_error(widget, seen)
    path = save(viewer, "screenshot_local_window.png")
    viewer.close()
    return path


# -- 2. propagation through a Z stack --------------------------------------------------------
#: A stack of ``io.stacks.synthetic_nuclei_stack`` and the nucleus shown: one whose
#: propagation with the built-in model stops on both sides near the nucleus' poles.
STACK = {"shape": (16, 128, 128), "count": 6, "seed": 4}
NUCLEUS = 4


def shot_propagation(seen: list[Any]) -> Path:
    print("2. propagation through a Z stack")
    image, gt = synthetic_nuclei_stack(**STACK)
    z = int(np.argmax((gt == NUCLEUS).sum(axis=(1, 2))))  # its largest slice
    r, c = interior_point(gt[z] == NUCLEUS)

    viewer = open_viewer("napari-fbrs: propagation through a Z stack")
    viewer.add_image(
        image, name="nuclei stack", colormap="gray", scale=(3, 1, 1), contrast_limits=(150, 4200)
    )
    widget = open_widget(viewer)
    viewer.dims.set_current_step(0, z)
    click(widget, (z, r, c))
    wait_idle(widget, "the click")
    widget.stacks.expand(animate=False)
    widget.propagate_button.native.click()
    wait_until(lambda: not widget.controller.propagator.running, "propagation")
    wait_idle(widget, "propagation")
    painted = np.nonzero(viewer.layers[labels_name("nuclei stack")].data.any(axis=(1, 2)))[0]
    truth = np.nonzero((gt == NUCLEUS).any(axis=(1, 2)))[0]
    print(
        f"  slices painted {painted.min()}..{painted.max()}, nucleus {truth.min()}..{truth.max()}"
    )
    assert len(painted) > 1
    # a slice the click was not on, with the Z slider showing where it is
    viewer.dims.axis_labels = ("z", "y", "x")
    shown = int(painted.min()) + 1
    viewer.dims.set_current_step(0, shown)
    text = overlay(viewer, "text")
    text.visible = True
    text.position = "top_left"
    text.font_size = 9
    text.text = f"slice {shown}: propagated from the click on slice {z}"
    check_no_error(widget, seen)
    path = save(viewer, "screenshot_propagation.png")
    viewer.close()
    return path


# -- 3. an image series ----------------------------------------------------------------------
def isolated(labels: np.ndarray, gap: int = 4) -> list[int]:
    """Ids of objects at least ``gap`` px from any other, largest first."""
    found = []
    for obj in np.unique(labels)[1:]:
        mask = labels == obj
        ring = ndimage.binary_dilation(mask, iterations=gap) & ~mask
        if not labels[ring].any():
            found.append((int(mask.sum()), int(obj)))
    return [obj for _, obj in sorted(found, reverse=True)]


def annotate(widget: Any, truth: np.ndarray, max_clicks: int = 3, target: float = 0.85) -> None:
    """Segment one object as a careful user does, then Finish: a click inside it, then, while
    the mask's IoU with ``truth`` is below ``target``, a click in the largest error (positive
    where the mask misses the object, negative where it spills over)."""
    click(widget, interior_point(truth))
    wait_idle(widget, "a click")
    for _ in range(max_clicks - 1):
        mask = widget.controller.current_mask
        assert mask is not None
        if (mask & truth).sum() >= target * (mask | truth).sum():
            break
        missed, extra = truth & ~mask, mask & ~truth
        positive = bool(missed.sum() >= extra.sum())
        click(widget, interior_point(missed if positive else extra), positive)
        wait_idle(widget, "a corrective click")
    widget.finish_button.native.click()
    wait_idle(widget, "finishing")


def shot_series(seen: list[Any], folder: Path) -> Path:
    print("3. image series")
    images = folder / "nuclei"
    images.mkdir()
    truths = []
    for i, seed in enumerate((21, 25, 28, 32)):  # seeds with well separated nuclei
        data, truth = synthetic_nuclei_with_labels((256, 256), count=12, seed=seed)
        tifffile.imwrite(images / f"nuclei_{i + 1}.tif", data)
        truths.append(truth)

    viewer = open_viewer("napari-fbrs: annotating a folder")
    widget = open_widget(viewer)
    panel = widget.series
    widget.series_box.expand(animate=False)
    panel.source.value = str(images)
    panel.open_button.native.click()
    assert panel.series is not None
    wait_idle(widget, "opening the series")
    for obj in isolated(truths[0])[:3]:
        annotate(widget, truths[0] == obj)
    panel.save_button.native.click()
    wait_idle(widget, "saving")
    print("  panel:", panel.where.text())
    scroll_to(widget, widget.status, top=True)
    check_no_error(widget, seen)
    path = save(viewer, "screenshot_series.png")
    viewer.close()
    return path


def main() -> int:
    from napari.utils.notifications import notification_manager

    seen: list[Any] = []
    notification_manager.notification_ready.connect(seen.append)
    start = time.perf_counter()
    shot_local_window(seen)
    shot_propagation(seen)
    folder = Path(tempfile.gettempdir()) / "napari-fbrs-series"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    try:
        shot_series(seen, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
