"""Fixtures for the napari widget tests: a viewer with the widget, the tiny model, helpers."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

PLUGIN = "napari-fbrs"
WIDGET = "f-BRS interactive segmentation"


@pytest.fixture(autouse=True, scope="session")
def _napari_layers_prepared():
    """napari's first labels and points layers made once for the whole session, as in a napari
    that has shown such layers before: a dock then makes its clicks layer as it opens (the
    first dock of a fresh napari waits for a thread: tests/_napari/test_event_loop.py)."""
    from napari_fbrs._napari.warmup import _prepare

    _prepare()


@pytest.fixture(autouse=True)
def _no_checkpoints_from_other_tests(monkeypatch):
    """Checkpoints registered by a fine-tuning test stay out of the next test's choosers."""
    from napari_fbrs._napari import model_choice

    monkeypatch.setattr(model_choice, "_registered", [])
    monkeypatch.setattr(model_choice, "_listeners", [])


@pytest.fixture
def open_widget(make_napari_viewer, tiny_model) -> Callable:
    """``open_widget(data, show=False, mode="NoBRS", zoom_in=False, **image_kwargs)``.

    A viewer holding one image layer and the dock widget opened the way a user does (the
    Plugins menu entry), with the tiny seeded model and fast settings. Returns
    ``(viewer, image_layer, widget)``.
    """
    import torch

    torch.set_num_threads(1)

    def make(
        data: np.ndarray,
        show: bool = False,
        mode: str = "NoBRS",
        zoom_in: bool = False,
        **image_kwargs,
    ):
        viewer = make_napari_viewer(show=show)
        image = viewer.add_image(data, **image_kwargs)
        _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
        widget.compute.mode.value = mode
        widget.compute.zoom_in.value = zoom_in
        widget.set_model(tiny_model, "tiny")
        return viewer, image, widget

    return make


@pytest.fixture
def notifications():
    """Every napari notification dispatched during the test."""
    from napari.utils.notifications import notification_manager

    seen: list = []
    notification_manager.notification_ready.connect(seen.append)
    yield seen
    notification_manager.notification_ready.disconnect(seen.append)
