"""Annotating a folder of images one after another (the panel's "Image series" part).

The core is :class:`napari_fbrs.series.ImageSeries` (which files, where labels go, which
are annotated); this panel shows one image at a time with its labels (the ones saved before,
so work resumes where it stopped), saves them when the user moves on (and on Save, and when
the dock closes, when napari's window closes, when its labels layer is removed -- as
``viewer.close()`` does -- and when the application quits), and can skip images already
annotated when the series opens and on *Next*; *Previous* always goes to the previous image.
Saved labels are in the ``folder`` dataset layout, so ``napari-fbrs evaluate --dataset
folder`` and the fine-tune widget read them.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from magicgui.widgets import CheckBox, Container, FileEdit, LineEdit, PushButton
from napari.layers import Image, Labels
from napari.utils.notifications import show_info
from qtpy.QtWidgets import QLabel

from napari_fbrs._napari import layers as L
from napari_fbrs._napari.slots import qt_slot
from napari_fbrs.series import ImageSeries, default_output_dir


class LabelsOfImages(Protocol):
    """The plugin's labels layers, one per image (``PluginLayers``)."""

    def existing_labels(self, image: Image) -> Labels | None: ...
    def own_labels(self, image: Image) -> Labels: ...


class SeriesHost(Protocol):
    """What the series panel needs from the controller, and nothing more."""

    @property
    def viewer(self) -> Any: ...
    @property
    def layers(self) -> LabelsOfImages: ...
    @property
    def plane(self) -> object | None: ...
    @property
    def clicks_layer(self) -> Any: ...
    def set_image(self, image: Image | None) -> None: ...
    def set_target(self, labels: Labels | None) -> None: ...
    def say(self, message: str) -> None: ...
    def refuse(self, message: str) -> bool: ...


class SeriesPanel(Container):
    """Folder (or glob), output folder, Previous / Save / Next, skip annotated."""

    def __init__(self, controller: SeriesHost) -> None:
        self.controller = controller
        self.source = LineEdit(label="Folder or glob", value="")
        self.browse = FileEdit(label="or choose", mode="d", nullable=True, value=None)
        self.output = LineEdit(label="Save labels in", value="")
        self.output.tooltip = "Empty: <folder>_annotations beside the folder (images/ + labels/)"
        self.beside = CheckBox()
        # set after construction: magicgui turns underscores of a ``text`` argument into spaces
        self.beside.text = "Save labels beside the images (<name>_labels.tif)"
        self.skip = CheckBox(text="Skip images already annotated", value=True)
        self.open_button = PushButton(text="Open series")
        self.previous_button = PushButton(text="< Previous")
        self.save_button = PushButton(text="Save")
        self.next_button = PushButton(text="Next >")
        row = Container(
            widgets=[self.previous_button, self.save_button, self.next_button],
            layout="horizontal",
            labels=False,
        )
        super().__init__(
            widgets=[
                self.source,
                self.browse,
                self.output,
                self.beside,
                self.skip,
                self.open_button,
                row,
            ]
        )
        self.where = QLabel("No series open.")
        self.where.setWordWrap(True)
        self.native.layout().addWidget(self.where)
        self.series: ImageSeries | None = None
        self.image: Image | None = None
        self.browse.changed.connect(self._browsed)
        self.skip.changed.connect(self._skip_changed)
        controller.viewer.layers.events.removed.connect(self._on_removed)
        self.open_button.changed.connect(self.open)
        self.previous_button.changed.connect(lambda *_: self.move(-1))
        self.next_button.changed.connect(lambda *_: self.move(1))
        self.save_button.changed.connect(lambda *_: self.save())
        self._enable()

    # -- actions -----------------------------------------------------------------------------
    @property
    def labels_layer(self) -> Labels | None:
        """The current image's own f-BRS labels, if it has any (they are made when painted)."""
        if self.image is None:
            return None
        return self.controller.layers.existing_labels(self.image)

    @qt_slot
    def _skip_changed(self, value: bool) -> None:
        if self.series is not None:
            self.series.skip_annotated = bool(value)

    @qt_slot
    def _on_removed(self, event) -> None:  # noqa: ANN001 - napari event
        """Its labels layer leaves the viewer (deleted, or ``viewer.close()``): save it."""
        layer = event.value
        if self.series is not None and self.image is not None:
            if isinstance(layer, Labels) and L.is_labels_of(layer, self.image):
                self.save(np.asarray(layer.data))

    @qt_slot
    def _browsed(self, value: object = None) -> None:
        if value:
            self.source.value = str(value)

    @qt_slot
    def open(self, _value: object = None, source: str | None = None, out: str | None = None):
        """Open a series (the fields' values unless given) at its first unannotated image."""
        source = source or str(self.source.value).strip()
        if not source:
            self.controller.refuse("Give a folder of images (or a glob such as 'data/*.tif').")
            return
        out = out if out is not None else (str(self.output.value).strip() or None)
        self.save()  # the series open before keeps its work
        try:
            series = ImageSeries.open(
                source, out, beside=bool(self.beside.value), skip_annotated=bool(self.skip.value)
            )
        except (OSError, ValueError) as exc:
            self.controller.refuse(str(exc))
            return
        self.series = series
        self.source.value = source
        target = "beside the images" if series.out_dir is None else str(series.out_dir)
        if out is None and series.out_dir is not None:
            self.output.value = str(default_output_dir(source))
        self._show()
        self.controller.say(f"Series of {len(series)} images; labels are saved {target}.")

    def move(self, step: int) -> None:
        if self.series is None:
            return
        if self.controller.plane is not None:
            self.controller.refuse("Finish (C) or reset (X) the current object first.")
            return
        if not self.save():
            return
        skip_annotated = bool(self.skip.value)
        if step > 0:
            moved = self.series.next(skip_annotated)
        else:  # always the neighbour: the user goes back to look at or fix an image
            moved = self.series.previous(skip_annotated=False)
        if not moved:
            end = "last" if step > 0 else "first"
            skip = " not yet annotated" if skip_annotated and step > 0 else ""
            self.controller.say(f"This is the {end} image{skip} of the series.")
            show_info(f"f-BRS: no {'next' if step > 0 else 'previous'} image{skip}")
            self._enable()
            return
        self._show()

    def save(self, data: np.ndarray | None = None) -> bool:
        """Write the current image's labels (``data``, else its labels layer's; atomic);
        True unless writing failed."""
        if self.series is None:
            return True
        if data is None:
            labels = self.labels_layer
            if labels is None:
                return True  # nothing was painted
            data = np.asarray(labels.data)
        try:
            path = self.series.save_labels(data)
        except (OSError, ValueError) as exc:
            self.controller.refuse(f"could not save the labels: {exc}")
            return False
        if path is not None:
            self.controller.say(f"Saved {path}.")
        self._describe()
        return True

    # -- display -----------------------------------------------------------------------------
    @property
    def viewer_layers(self):  # noqa: ANN201
        return self.controller.viewer.layers

    def _show(self) -> None:
        """Replace the series' image and labels layers by the current image's."""
        assert self.series is not None
        old, self.image = (
            (self.labels_layer, self.image),
            None,
        )  # saved already: no save on removal
        for layer in old:
            if layer is not None and layer in self.viewer_layers:
                self.viewer_layers.remove(layer)
        data = self.series.load_image()
        rgb = data.ndim == 3 and data.shape[-1] in (3, 4)
        viewer = self.controller.viewer
        self.image = image = viewer.add_image(data, name=f"{self.series.current.name}", rgb=rgb)
        # The image's own f-BRS labels, filled with what was saved before (made only then: an
        # image without saved labels gets its layer when its first object is painted).
        saved = self.series.load_labels()
        if saved is not None and saved.shape == L.spatial_shape(image):
            labels = self.controller.layers.own_labels(image)
            labels.data = saved.astype(np.int32, copy=False)
        self.controller.set_target(None)
        self.controller.set_image(self.image)
        viewer.layers.selection.active = self.controller.clicks_layer
        self._describe()

    def _describe(self) -> None:
        if self.series is not None:
            done = sum(self.series.annotated())
            self.where.setText(
                f"{self.series.describe()} | {done} of {len(self.series)} annotated | "
                f"labels: {self.series.labels_path()}"
            )
        self._enable()

    def _enable(self) -> None:
        active = self.series is not None
        for button in (self.previous_button, self.save_button, self.next_button):
            button.enabled = active

    def save_on_close(self) -> None:
        """The dock, the window or the application is closing: keep the current image's
        work."""
        self.save()

    def release(self) -> None:
        """The dock closes: save, and stop following the viewer's layers."""
        self.save()
        self.controller.viewer.layers.events.removed.disconnect(self._on_removed)
