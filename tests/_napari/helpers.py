"""Helpers shared by the widget tests (drive the widget, compare with the core session)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np


def messages(notes: Iterable, severity: str) -> list[str]:
    return [str(n.message) for n in notes if str(n.severity).lower() == severity]


def wait_idle(qtbot, widget, timeout: int = 60_000) -> None:
    """Wait until every queued job's result has been shown."""
    qtbot.waitUntil(lambda: not widget.controller.busy, timeout=timeout)


def click(layer, coords: Iterable[float], positive: bool) -> None:
    """A click the way a script places one: feature_defaults, then ``add``."""
    layer.feature_defaults = {"positive": positive}
    layer.add(np.asarray(list(coords), dtype=float))


def core_probs(model, rgb: np.ndarray, config, clicks) -> np.ndarray:
    """The core session's map for the same image, settings and clicks."""
    from napari_fbrs.inference.engine.predictor import Predictor
    from napari_fbrs.inference.session.interactive import InteractiveSession

    session = InteractiveSession(Predictor(model, config))
    session.set_image(rgb)
    for c in clicks:
        state = session.add_click(c)
    assert state.probs is not None
    return state.probs


def record_predictors(monkeypatch) -> list:  # noqa: ANN001
    """Every Predictor built from now on (to check the settings an object used)."""
    from napari_fbrs.inference.engine.predictor import Predictor

    made: list = []
    original = Predictor.__init__

    def init(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(Predictor, "__init__", init)
    return made


def full_preview(widget, shape: tuple[int, int]) -> np.ndarray:
    """Rebuild the 2-D mask shown by the current-object layer (it holds a bounding-box crop)."""
    layer = widget.controller.preview_layer
    image = widget.controller.image
    offset = (np.asarray(layer.translate) - np.asarray(image.translate)) / np.asarray(image.scale)
    row, col = (int(round(v)) for v in offset[-2:])
    crop = np.asarray(layer.data).reshape(np.asarray(layer.data).shape[-2:])
    full = np.zeros(shape, dtype=bool)
    full[row : row + crop.shape[0], col : col + crop.shape[1]] = crop > 0
    return full


@dataclass
class FakeMouse:
    """The fields napari's mouse callbacks read from a vispy mouse event."""

    type: str
    position: tuple[float, ...]
    button: int = 1
    modifiers: tuple[str, ...] = ()
    pos: np.ndarray = field(default_factory=lambda: np.zeros(2))
    is_dragging: bool = False
    handled: bool = False
    view_direction: None = None


def fake_mouse_click(
    layer, world: Iterable[float], button: int = 1, modifiers: tuple[str, ...] = ()
) -> None:
    """Press and release at a world position through napari's own mouse callbacks."""
    from napari.utils.interactions import mouse_press_callbacks, mouse_release_callbacks

    position = tuple(float(v) for v in world)
    press = _Proxy(FakeMouse("mouse_press", position, button, modifiers))
    mouse_press_callbacks(layer, press)
    # napari swaps the release event in behind the proxy the drag generators hold
    mouse_release_callbacks(layer, FakeMouse("mouse_release", position, button, modifiers))


class _Proxy:
    """Stands in for napari's event proxy: attributes come from ``__wrapped__``."""

    def __init__(self, event: FakeMouse) -> None:
        self.__wrapped__ = event

    def __getattr__(self, name: str):
        return getattr(self.__wrapped__, name)


def own_labels(viewer):  # noqa: ANN001, ANN201
    """The plugin's one labels layer in ``viewer`` (``f-BRS labels [<image name>]``)."""
    from napari_fbrs._napari.layers import LABELS_LAYER

    found = [x for x in viewer.layers if x.name.startswith(LABELS_LAYER + " [")]
    assert len(found) == 1, [x.name for x in viewer.layers]
    return found[0]


def wait_settled(qtbot, widget, timeout: int = 5_000) -> None:  # noqa: ANN001
    """Until ``widget`` is shown and its size is the same at two checks in a row (a dock
    still being laid out resizes the canvas under the mouse)."""
    qtbot.waitExposed(widget, timeout=timeout)
    last: list = [None]

    def same() -> bool:
        size = (widget.width(), widget.height())
        settled, last[0] = size == last[0], size
        return settled

    qtbot.waitUntil(same, timeout=timeout)
