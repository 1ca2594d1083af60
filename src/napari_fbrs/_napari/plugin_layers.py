"""The lifecycle of the plugin's own layers: the clicks, the current object, f-BRS labels.

One owner for the layers the plugin creates:

* ``f-BRS clicks`` and ``f-BRS current object`` follow the image being segmented (its number
  of spatial axes, scale and translate) and are re-made when it changes or after the user
  deleted them;
* every image gets its own ``f-BRS labels [<image name>]`` layer, made only when an object of
  that image is painted into it (selecting an image makes nothing, and writing into a layer of
  the user's makes nothing either), and never shared with another image; a user's labels
  layer is never touched unless the user picked it; when an image is removed, its own labels
  go with it if they are empty (labels holding objects are results and stay);
* the plugin's layers stay on top of the layer list, so an image opened later does not hide the
  clicks and the mask.

Deleting any of them is fine: the layer is forgotten here (the controller resets the object)
and made again when needed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from weakref import WeakKeyDictionary

import numpy as np
from napari.layers import Image, Labels, Layer, Points
from qtpy.QtCore import QTimer

from napari_fbrs._napari import layers as L
from napari_fbrs.inference.session.interactive import ObjectState

#: The second of two layer adds (or removals) waits this long, so that the events queued by the
#: first (a repaint, a click) run between the two blocks instead of after both.
LATER_MS = 50


class PluginLayers:
    """Creates, re-fits, re-stacks and forgets the plugin's layers in one viewer."""

    def __init__(  # noqa: ANN001
        self,
        viewer,
        click_size: float = L.DEFAULT_CLICK_SIZE,
        opacity: float = L.DEFAULT_OPACITY,
    ) -> None:
        self.viewer = viewer
        self.click_size = click_size
        self.opacity = opacity
        self.clicks: Points | None = None
        self.preview: Labels | None = None
        self._own_labels: WeakKeyDictionary[Image, Labels] = WeakKeyDictionary()
        self._on_new_clicks_layer: Callable[[Points], None] | None = None
        self._restacking = False

    # -- making ----------------------------------------------------------------------------------
    def on_new_clicks_layer(self, callback: Callable[[Points], None]) -> None:
        """``callback(layer)`` runs whenever a clicks layer is made (to connect its events)."""
        self._on_new_clicks_layer = callback

    def fit(
        self, image: Image, preview_later: bool = False, then: Callable[[], None] | None = None
    ) -> None:
        """Make (or re-fit) the clicks and current-object layers for ``image``.

        ``preview_later``: make the current-object layer in a later turn of the event loop
        (napari's cost of adding a layer is paid in two shorter blocks with the event loop
        running between them, not in one long one); it is made at once whenever an object needs it
        first. ``then()`` runs once both layers are there (``LATER_MS`` after the last one was
        added, so that napari repaints first).
        """
        ndim = len(L.spatial_shape(image))
        later = False
        if self.preview is None or self.preview.ndim != ndim:
            if preview_later:
                self._remove(self.preview)
                self.preview = None
                later = True
            else:
                self._make_preview(image)
        self._fit_clicks(image, ndim)
        if later:  # counted from the end of the clicks layer's addition: a repaint between
            QTimer.singleShot(LATER_MS, partial(self._make_preview_if_missing, image, then))
        elif then is not None:
            QTimer.singleShot(LATER_MS, then)

    def _make_preview_if_missing(
        self, image: Image, then: Callable[[], None] | None = None
    ) -> None:
        if self.preview is None and self.clicks is not None and image in self.viewer.layers:
            self._make_preview(image)
        if then is not None:
            QTimer.singleShot(LATER_MS, then)

    def _make_preview(self, image: Image) -> None:
        selection = self.viewer.layers.selection
        active = selection.active  # napari selects the layer it adds: the user's choice stays
        self._remove(self.preview)
        self.preview = L.make_preview_layer(image, self.opacity)
        self.viewer.add_layer(self.preview)
        self.keep_on_top()
        if active is not None and active in self.viewer.layers:
            selection.active = active

    def _fit_clicks(self, image: Image, ndim: int) -> None:
        if self.clicks is None or self.clicks.ndim != ndim:
            self._remove(self.clicks)
            layer = L.make_clicks_layer(image, self.click_size)
            if self._on_new_clicks_layer is not None:
                self._on_new_clicks_layer(layer)
            self.viewer.add_layer(layer)
            self.clicks = layer
        else:
            self.clicks.scale = np.asarray(image.scale)[-ndim:]
            self.clicks.translate = np.asarray(image.translate)[-ndim:]
        self.keep_on_top()
        self.viewer.layers.selection.active = self.clicks
        # changed once the layer is in the viewer, so its controls show it (not "Move camera")
        self.clicks.mode = "add"

    def existing_labels(self, image: Image) -> Labels | None:
        """The plugin's labels layer of ``image`` if it has one that fits (none is made)."""
        labels = self._own_labels.get(image)
        if labels is None or labels not in self.viewer.layers:  # made by an earlier dock?
            labels = next((x for x in self.viewer.layers if L.is_labels_of(x, image)), None)
        fits = labels is not None and tuple(labels.data.shape) == L.spatial_shape(image)
        if labels is None or not fits:
            return None
        self._own_labels[image] = labels
        return labels

    def own_labels(self, image: Image) -> Labels:
        """The plugin's labels layer of ``image`` (made now if it has none, or it was deleted
        or no longer fits the image)."""
        labels = self.existing_labels(image)
        if labels is None:
            labels = L.make_labels_layer(image)
            self.viewer.add_layer(labels)
            self._own_labels[image] = labels
            self.keep_on_top()
            if self.clicks is not None:
                self.viewer.layers.selection.active = self.clicks
        return labels

    def target_for(self, image: Image, chosen: Labels | None) -> Labels:
        """Where objects of ``image`` go: the user's ``chosen`` layer if it fits the image
        (ValueError naming the choices otherwise), else the image's own labels."""
        if chosen is None:
            return self.own_labels(image)
        L.check_target(chosen, image)
        return chosen

    def is_own(self, layer: Layer | None) -> bool:
        """The plugin's labels of some image (made by this dock or an earlier one)."""
        if layer is None:
            return False
        if any(layer is v for v in self._own_labels.values()):
            return True
        images = [x for x in self.viewer.layers if isinstance(x, Image)]
        return any(L.is_labels_of(layer, image) for image in images)

    # -- order -----------------------------------------------------------------------------------
    def keep_on_top(self) -> None:
        """Own labels, then the current object, then the clicks at the top of the list."""
        if self._restacking:
            return
        layers = self.viewer.layers
        wanted = [lb for lb in self._own_labels.values() if lb in layers]
        wanted += [x for x in (self.preview, self.clicks) if x is not None and x in layers]
        top = len(layers) - len(wanted)
        if [layers.index(x) for x in wanted] == list(range(top, len(layers))):
            return
        self._restacking = True
        try:
            for layer in wanted:
                layers.move(layers.index(layer), len(layers))
        finally:
            self._restacking = False

    def on_inserted(self, layer: Layer) -> None:
        """A layer was added: keep the plugin's layers above it."""
        plugin = (self.clicks, self.preview, *self._own_labels.values())
        if not any(layer is x for x in plugin):
            self.keep_on_top()

    # -- forgetting ------------------------------------------------------------------------------
    def forget(self, layer: Layer) -> str | None:
        """The user removed ``layer``: drop our reference; say which of ours it was."""
        if layer is self.clicks:
            self.clicks = None
            return "clicks"
        if layer is self.preview:
            self.preview = None
            return "preview"
        for image, labels in list(self._own_labels.items()):
            if labels is layer:
                del self._own_labels[image]
                return "labels"
        if isinstance(layer, Image):
            self.remove_if_empty(self.existing_labels(layer))
        return None

    def remove_if_empty(self, labels: Labels | None) -> None:
        """Remove one of the plugin's labels layers that holds no object."""
        if labels is not None and labels in self.viewer.layers and not np.any(labels.data):
            self.viewer.layers.remove(labels)

    def remove_transient(self) -> None:
        """Remove the clicks and current-object layers (the labels stay: they are results).

        One layer now, the other ``LATER_MS`` later: napari's cost of removing
        a layer is paid in two short blocks, not in one long one.
        """
        clicks, self.clicks, self.preview, preview = self.clicks, None, None, self.preview
        self._remove(clicks)
        if preview is not None:
            QTimer.singleShot(LATER_MS, partial(self._remove, preview))

    def _remove(self, layer: Layer | None) -> None:
        if layer is not None and layer in self.viewer.layers:
            self.viewer.layers.remove(layer)

    # -- display ---------------------------------------------------------------------------------
    def show_object(self, image: Image, state: ObjectState, slice_index: tuple[int, ...]) -> None:
        """Show the state's mask (a crop at its place) in the current-object layer."""
        if self.preview is None:
            self.fit(image)
        assert self.preview is not None
        origin = state.map.origin if state.map is not None else (0, 0)
        L.show_preview(self.preview, image, state.mask(), slice_index, origin)

    def set_display(self, opacity: float, click_size: float) -> None:
        self.opacity, self.click_size = float(opacity), float(click_size)
        if self.preview is not None:
            self.preview.opacity = self.opacity
        if self.clicks is not None:
            self.clicks.current_size = self.click_size
            if len(self.clicks.data):
                self.clicks.size = self.click_size
