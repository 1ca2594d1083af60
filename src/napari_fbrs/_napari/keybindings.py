"""Keyboard shortcuts, bound at run time on the plugin's clicks layer and released on close.

napari ignores keybindings declared in a plugin manifest, and viewer-wide bindings would steal
keys from every layer, so the shortcuts live on the ``f-BRS clicks`` layer only: they work while
that layer is selected, which is also when clicks are placed. The keys avoid every napari
binding of the viewer and of Points layers (checked by a test against napari's own table):
Space is hold-to-pan, Z/P/S and the digits switch modes, Backspace/Delete delete points, A
selects all. C matches micro-sam's "commit" key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from napari.layers import Layer


@dataclass(frozen=True)
class Shortcut:
    key: str  # napari key syntax
    action: str  # name of the method called on the target
    label: str


SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut("C", "finish_object", "finish object"),
    Shortcut("Shift-Z", "undo_click", "undo click"),
    Shortcut("Shift-Y", "redo_click", "redo click"),
    Shortcut("X", "reset_object", "reset object"),
    Shortcut("O", "toggle_one_click", "one click per object on/off"),
)


def shortcut_help() -> str:
    """One line per shortcut, for the widget."""
    keys = ", ".join(f"{s.key.replace('-', '+')} {s.label}" for s in SHORTCUTS)
    return (
        f"Keys (with the clicks layer selected): {keys}.\n"
        "Mouse: left click = object, right click or Ctrl+left click = background; with one "
        "click per object, Shift+left click adds to the current object instead of starting "
        "the next."
    )


def _caller(target: object, action: str) -> Callable[[Layer], None]:
    def call(layer: Layer) -> None:
        getattr(target, action)()

    call.__name__ = action
    return call


def bind_shortcuts(layer: Layer, target: object) -> None:
    """Bind every shortcut on ``layer`` to the method of ``target`` it names."""
    for shortcut in SHORTCUTS:
        layer.bind_key(shortcut.key, _caller(target, shortcut.action), overwrite=True)


def unbind_shortcuts(layer: Layer) -> None:
    for shortcut in SHORTCUTS:
        layer.bind_key(shortcut.key, None)
