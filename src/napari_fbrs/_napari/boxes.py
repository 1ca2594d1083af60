"""Box prompts in the viewer: a rectangle drawn on the ``f-BRS box`` shapes layer starts an
object (``napari_fbrs.inference.session.boxes``), then clicks on the clicks layer correct it.

*Box* (the widget's button, or :meth:`BoxInput.enable`) makes the shapes layer (or selects it)
in rectangle mode. Each rectangle drawn is read once: its corners become a pixel box of the
image being segmented (on the slice shown), the rectangle is removed again, the object starts
from the box, and the clicks layer is selected so the next clicks correct it.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from napari.layers import Image, Shapes

from napari_fbrs._napari import layers as L
from napari_fbrs._napari.slots import qt_slot
from napari_fbrs.inference.session.boxes import Box, box_start, check_box

BOX_LAYER = "f-BRS box"
BOX_COLOUR = "#ffd400"


class BoxHost(Protocol):
    """What the box input needs of the controller."""

    viewer: Any
    image: Image | None
    layers: Any  # PluginLayers: the clicks layer to select after a box

    def refuse(self, message: str) -> bool: ...

    def start_prompted(
        self, image: Image, slice_index: tuple[int, ...], make_start: Any, message: str
    ) -> bool: ...


class BoxInput:
    """Owns the ``f-BRS box`` layer and turns its rectangles into object starts."""

    def __init__(self, host: BoxHost) -> None:
        self.host = host
        self.layer: Shapes | None = None
        self._quiet = False

    def enable(self) -> Shapes | None:
        """Make or select the box layer, in rectangle mode (None: no image chosen)."""
        image = self.host.image
        if image is None or image not in self.host.viewer.layers:
            self.host.refuse("Choose an image layer first.")
            return None
        if self.layer is None or self.layer not in self.host.viewer.layers:
            ndim = len(L.spatial_shape(image))
            self.layer = Shapes(
                ndim=ndim,
                name=BOX_LAYER,
                edge_color=BOX_COLOUR,
                face_color="transparent",
                edge_width=2,
                scale=np.asarray(image.scale)[-ndim:],
                translate=np.asarray(image.translate)[-ndim:],
            )
            self.layer.events.data.connect(self._on_data)
            self.host.viewer.add_layer(self.layer)
        self.host.viewer.layers.selection.active = self.layer
        self.layer.mode = "add_rectangle"
        return self.layer

    def close(self) -> None:
        layer, self.layer = self.layer, None
        if layer is not None:
            layer.events.data.disconnect(self._on_data)
            if layer in self.host.viewer.layers:
                self.host.viewer.layers.remove(layer)

    @qt_slot
    def _on_data(self, event: Any) -> None:
        layer = self.layer
        if self._quiet or layer is None or str(event.action) != "added" or not len(layer.data):
            return
        corners = np.asarray(layer.data[-1], dtype=float)
        self._quiet = True
        try:
            layer.selected_data = set()
            layer.data = []
        finally:
            self._quiet = False
        self.start(layer, corners)

    def start(self, layer: Shapes, corners: np.ndarray) -> bool:
        """Start an object from a rectangle with data coordinates ``corners`` (N x ndim)."""
        host = self.host
        image = host.image
        if image is None or image not in host.viewer.layers:
            return host.refuse("Choose an image layer first.")
        world = np.array([layer.data_to_world(c) for c in corners])
        data = np.array([image.world_to_data(w) for w in world])
        shape = L.spatial_shape(image)
        slice_index = tuple(int(np.floor(v + 0.5)) for v in data[0, : len(shape) - 2])
        rows, cols = data[:, len(shape) - 2], data[:, len(shape) - 1]
        # pixel centres are integers: a rectangle from -0.5 to 9.5 covers pixels 0..9
        values = (
            np.floor(rows.min() + 0.5),
            np.floor(cols.min() + 0.5),
            np.ceil(rows.max() - 0.5) + 1,
            np.ceil(cols.max() - 0.5) + 1,
        )
        clipped = (
            max(values[0], 0),
            max(values[1], 0),
            min(values[2], shape[-2]),
            min(values[3], shape[-1]),
        )
        try:
            box = check_box(clipped, (shape[-2], shape[-1]))
        except ValueError as exc:
            return host.refuse(f"Box ignored: {exc}.")
        started = host.start_prompted(image, slice_index, _box_start(box), _describe(box))
        if started and host.layers.clicks is not None:
            host.viewer.layers.selection.active = host.layers.clicks
            host.layers.clicks.mode = "add"
        return started


def _box_start(box: Box) -> Any:
    def make_start(predictor: Any) -> Any:
        return box_start(predictor, box)

    return make_start


def _describe(box: Box) -> str:
    return (
        f"Object from the box rows {box.row0}..{box.row1 - 1}, cols {box.col0}..{box.col1 - 1}:"
        " click to correct it, C keeps it."
    )
