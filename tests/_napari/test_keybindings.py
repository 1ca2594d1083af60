"""Shortcuts: free of napari's own bindings, working on the clicks layer, released on close."""

from __future__ import annotations

import numpy as np
import pytest

from napari_fbrs._napari.keybindings import SHORTCUTS
from napari_fbrs._napari.layers import CLICKS_LAYER, PREVIEW_LAYER

from .helpers import click, own_labels, wait_idle

RGB = np.random.default_rng(8).integers(0, 256, (40, 48, 3), dtype=np.uint8)


def test_shortcuts_collide_with_no_viewer_or_points_binding() -> None:
    import napari.components  # noqa: F401 - registers the viewer actions
    import napari.layers  # noqa: F401 - registers the layer actions
    from napari._app_model import get_app_model
    from napari.settings import get_settings
    from napari.utils.action_manager import action_manager
    from napari.utils.key_bindings import coerce_keybinding

    ours = {coerce_keybinding(s.key) for s in SHORTCUTS}
    assert len(ours) == len(SHORTCUTS)
    taken = {}
    for action, keys in get_settings().shortcuts.shortcuts.items():
        provider = getattr(action_manager._actions.get(action), "keymapprovider", None)
        if getattr(provider, "__name__", "") in ("ViewerModel", "Points", "Layer"):
            for key in keys:
                taken[coerce_keybinding(key)] = action
    taken.update(
        {
            coerce_keybinding(str(kb.keybinding)): kb.command_id
            for kb in get_app_model().keybindings
        }
    )
    assert coerce_keybinding("Space") in taken and coerce_keybinding("Backspace") in taken
    assert not ours & set(taken), {str(k): taken[k] for k in ours & set(taken)}


@pytest.mark.gui
def test_keys_on_the_canvas_undo_finish_and_reset(open_widget, qtbot) -> None:
    from qtpy.QtCore import Qt

    viewer, _, widget = open_widget(RGB, show=True, rgb=True)
    canvas = viewer.window._qt_viewer.canvas.native
    layer = viewer.layers[CLICKS_LAYER]
    assert viewer.layers.selection.active is layer

    click(layer, (10, 10), True)
    click(layer, (30, 30), False)
    wait_idle(qtbot, widget)
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ShiftModifier)
    wait_idle(qtbot, widget)
    assert widget.controller.clicks == 1 and len(layer.data) == 1

    qtbot.keyClick(canvas, Qt.Key.Key_C)
    wait_idle(qtbot, widget)
    assert own_labels(viewer).data.max() == 1 and len(layer.data) == 0

    click(layer, (20, 20), True)
    wait_idle(qtbot, widget)
    qtbot.keyClick(canvas, Qt.Key.Key_X)
    wait_idle(qtbot, widget)
    assert widget.controller.clicks == 0 and widget.controller.current_mask is None
    assert own_labels(viewer).data.max() == 1  # reset painted nothing


@pytest.mark.gui
def test_closing_the_dock_releases_keys_and_transient_layers_but_keeps_labels(
    open_widget, qtbot
) -> None:
    from napari.utils.key_bindings import coerce_keybinding

    viewer, _, widget = open_widget(RGB, rgb=True)
    layer = viewer.layers[CLICKS_LAYER]
    assert {coerce_keybinding(s.key) for s in SHORTCUTS} <= set(layer.keymap)
    click(layer, (10, 10), True)
    wait_idle(qtbot, widget)
    widget.controller.finish_object()
    wait_idle(qtbot, widget)
    click(layer, (20, 20), True)  # still running when the dock closes
    viewer.window.remove_dock_widget(widget)
    assert widget.controller.closed
    assert not set(layer.keymap)  # every shortcut released
    assert CLICKS_LAYER not in viewer.layers  # the current-object layer one turn later:
    qtbot.waitUntil(lambda: PREVIEW_LAYER not in viewer.layers, timeout=5_000)
    assert own_labels(viewer).data.max() == 1  # the user's work stays
    qtbot.waitUntil(lambda: not widget.controller.worker.running, timeout=30_000)
