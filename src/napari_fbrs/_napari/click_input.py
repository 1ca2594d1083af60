"""The clicks layer as input: which of its points are new clicks, and where they are.

The ``f-BRS clicks`` points layer is the user's view of the clicks (the session holds the
record). This class watches it: points appended to it (the mouse in add mode, ``layer.add`` or
setting ``layer.data`` in a script) are offered as new clicks one by one, after the checks that
need only the viewer (an image is chosen, the 2-D view, the point lies inside the image); a
point moved or deleted with napari's own tools means "recompute from what remains". Refused
points are removed again. The session owns the clicks; the layer only shows them. When the
plugin makes the layer show the session's clicks, napari's own event blocker keeps that change
from being read as the user's (the layer's data and signs change in two steps).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from napari.layers import Image, Points

from napari_fbrs._napari import layers as L
from napari_fbrs._napari.slots import qt_slot
from napari_fbrs.inference.engine.clicks import Click

Point = tuple[tuple[float, ...], bool]


class ClickInput:
    """Reports new clicks of the clicks layer: ``on_click(image, slice_index, click)``."""

    def __init__(
        self,
        viewer,  # noqa: ANN001
        image: Callable[[], Image | None],
        on_click: Callable[[Image, tuple[int, ...], Click], bool],
        on_restart: Callable[[], None],
        refuse: Callable[[str], bool],
    ) -> None:
        self.viewer = viewer
        self._image = image  # the image clicks are mapped onto (the controller's choice)
        self._on_click = on_click
        self._on_restart = on_restart
        self._refuse = refuse
        self.layer: Points | None = None
        self._seen: list[Point] = []  # what the layer showed after the last change was taken
        # makes the clicks layer again after the user deleted it (see click_without_layer)
        self.remake_layer: Callable[[], Points | None] = lambda: None
        # the next new point is not a click but goes here once (``edit_label``: pick a label)
        self.divert: Callable[[Image, tuple[int, ...], Click], bool] | None = None

    def attach(self, layer: Points) -> None:
        self.detach()
        self.layer, self._seen = layer, []
        layer.events.data.connect(self._on_points_changed)

    def detach(self) -> None:
        if self.layer is not None:
            self.layer.events.data.disconnect(self._on_points_changed)
        self.layer, self._seen = None, []

    # -- changes made by the plugin ---------------------------------------------------------------
    def remove(self, indices: list[int]) -> None:
        """Remove points (refused, undone or of a finished object) without reporting it."""
        layer = self.layer
        if layer is None:
            return
        if indices:
            with self._silently():
                layer.selected_data = set()
                layer.remove(indices)
        self._seen = L.clicks_in_layer(layer)

    def clear(self) -> None:
        if self.layer is not None:
            self.remove(list(range(len(self.layer.data))))

    def remove_last(self) -> None:
        if self.layer is not None and len(self.layer.data):
            self.remove([len(self.layer.data) - 1])

    def show(self, clicks: tuple[Click, ...], lead: tuple[int, ...]) -> None:
        """Make the layer show exactly ``clicks`` on the plane ``lead``.

        A point the user placed between pixel centres counts as the pixel it selects, so a
        layer that already agrees is left exactly as the user made it.
        """
        layer = self.layer
        if layer is None:
            return
        coords = np.array([(*lead, c.row, c.col) for c in clicks], dtype=float)
        positive = np.array([c.positive for c in clicks], dtype=bool)
        wanted = [
            (tuple(float(v) for v in row), bool(sign))
            for row, sign in zip(coords, positive, strict=True)
        ]
        shown = [(tuple(np.floor(np.add(c, 0.5))), s) for c, s in L.clicks_in_layer(layer)]
        if shown != wanted:
            with self._silently():
                L.set_clicks(layer, coords.reshape(-1, layer.ndim), positive)
        self._seen = L.clicks_in_layer(layer)

    def _silently(self):  # noqa: ANN202
        """``with``: the layer's changes made inside are not offered as clicks."""
        assert self.layer is not None
        return self.layer.events.data.blocker(self._on_points_changed)

    # -- changes made by the user -----------------------------------------------------------------
    @qt_slot
    def _on_points_changed(self, event) -> None:  # noqa: ANN001 - napari event
        layer = self.layer
        if layer is None or str(event.action) not in ("added", "removed", "changed"):
            return
        points = L.clicks_in_layer(layer)
        if points[: len(self._seen)] == self._seen:
            new = list(enumerate(points))[len(self._seen) :]
        else:  # moved or deleted with napari's tools: recompute from what remains
            self._on_restart()
            new = list(enumerate(points))
        rejected = [index for index, point in new if not self._offer(point)]
        self._seen = [p for i, p in enumerate(points) if i not in rejected]
        self.remove(rejected)

    def click_without_layer(self, viewer, event):  # noqa: ANN001, ANN202 - viewer callback
        """A click on the image while the clicks layer is deleted: make the layer again and
        place the click there (the user is never stuck without it). A drag is a pan."""
        image = self._image()
        if self.layer is not None or image is None or image not in viewer.layers:
            return
        if L.pixel_of(image, np.asarray(event.position)) is None:
            return
        dragged = False
        yield
        while event.type == "mouse_move":
            dragged = True
            yield
        layer = None if dragged else self.remake_layer()
        if layer is not None:
            L.set_sign_from_button(layer, event)
            layer.add(np.asarray(layer.world_to_data(event.position)))

    def _offer(self, point: Point) -> bool:
        coords, positive = point
        image = self._image()
        if image is None or image not in self.viewer.layers:
            return self._refuse("Choose an image layer first.")
        dims = self.viewer.dims
        if dims.ndisplay != 2 or tuple(dims.displayed) != (dims.ndim - 2, dims.ndim - 1):
            return self._refuse("f-BRS works on 2-D planes: use the 2-D view, axes not rolled.")
        assert self.layer is not None
        pixel = L.pixel_of(image, np.asarray(self.layer.data_to_world(coords)))
        if pixel is None:
            where = ", ".join(f"{c:.1f}" for c in coords)
            return self._refuse(
                f"Click at ({where}) is outside image {image.name!r} "
                f"{L.spatial_shape(image)}: ignored."
            )
        slice_index, (row, col) = pixel[:-2], pixel[-2:]
        if self.divert is not None:  # consumed: the point is removed again
            divert, self.divert = self.divert, None
            divert(image, slice_index, Click(row, col, positive))
            return False
        return self._on_click(image, slice_index, Click(row, col, positive))
