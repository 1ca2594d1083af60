"""Open a napari window with the plugin's widget from a script or the command line.

Used by ``napari-fbrs view``; kept here because only ``napari_fbrs._napari`` talks to napari
and Qt.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PLUGIN = "napari-fbrs"
WIDGET = "f-BRS interactive segmentation"


class LaunchError(RuntimeError):
    """The window could not show the requested result (the message says why)."""


def open_viewer(
    image: str | None = None,
    sample: str | None = None,
    clicks: Sequence[tuple[float, float, bool]] = (),
    checkpoint: str | None = None,
    screenshot: Path | None = None,
    timeout: float = 300.0,
) -> str:
    """Open napari with an image (or a sample, ``nuclei`` by default) and the dock widget.

    Without ``screenshot`` this runs napari's event loop until the window is closed. With it,
    the window is saved once the model is loaded and every click answered, then closed; the
    returned text summarises the result.
    """
    import napari

    from napari_fbrs.io.samples import load_sample

    viewer = napari.Viewer(title="napari-fbrs")
    if image is not None:
        viewer.open(image)
    else:
        name = sample or "nuclei"
        data = load_sample(name)
        viewer.add_image(data, name=name, rgb=data.ndim == 3)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    if checkpoint is not None:
        widget.load_model_from_path(checkpoint)
    if clicks:
        widget.place_clicks(list(clicks))
    if screenshot is None:
        napari.run()
        return ""
    return _screenshot_when_done(viewer, widget, len(clicks), screenshot, timeout)


def _screenshot_when_done(
    viewer: Any, widget: Any, n_clicks: int, path: Path, timeout: float
) -> str:
    """Spin the Qt event loop until the model is loaded and every click answered, then save."""
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance()
    deadline = time.monotonic() + timeout

    def done() -> bool:
        c = widget.controller
        return c.model_label is not None and not c.busy and (n_clicks == 0 or c.clicks > 0)

    while not done():
        if time.monotonic() > deadline:
            status = widget.status.text()  # read before closing deletes the widget
            viewer.close()
            raise LaunchError(f"no result within {timeout:g} s; status: {status}")
        app.processEvents()
        time.sleep(0.02)
    viewer.reset_view()  # fit the image to the canvas as the docks left it
    for _ in range(10):  # let the canvas draw the final mask
        app.processEvents()
        time.sleep(0.02)
    viewer.screenshot(str(path), canvas_only=False)
    mask = widget.controller.current_mask
    area = 0 if mask is None else int(mask.sum())
    status = widget.status.text().splitlines()[0]
    viewer.close()
    return f"{status}\nmask: {area} object pixels; wrote {path}"


def open_series(
    source: str,
    out: str | None,
    beside: bool,
    skip_annotated: bool,
    checkpoint: str | None = None,
    run: bool = True,
) -> Any:
    """Open napari with the dock widget's image series on ``source`` (``annotate-folder``).

    With ``run`` this runs napari's event loop until the window is closed; else it returns
    the widget (tests drive it).
    """
    import napari

    viewer = napari.Viewer(title="napari-fbrs: annotate a folder")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    if checkpoint is not None:
        widget.load_model_from_path(checkpoint)
    panel = widget.series
    panel.beside.value = beside
    panel.skip.value = skip_annotated
    widget.series_box.expand(animate=False)
    panel.open(source=source, out=out)
    if run:
        napari.run()
    return widget
