"""Annotating a folder of images one after another (the panel's "Image series" part).

The core is :class:`napari_fbrs.io.series.ImageSeries` (which files, where labels go, which
are annotated); this panel shows one image at a time with its labels (the ones saved before,
so work resumes where it stopped), saves them when the user moves on (and on Save, and when
the dock closes), and can skip images already annotated. Saved labels are in the ``folder``
dataset layout, so ``napari-fbrs evaluate --dataset folder`` and the fine-tune widget read them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from magicgui.widgets import CheckBox, Container, FileEdit, LineEdit, PushButton
from napari.layers import Image, Labels
from napari.utils.notifications import show_info
from qtpy.QtWidgets import QLabel

from napari_fbrs.io.series import ImageSeries, default_output_dir

from .slots import qt_slot


class SeriesPanel(Container):
    """Folder (or glob), output folder, Previous / Save / Next, skip annotated."""

    def __init__(self, controller: Any) -> None:
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
        self.labels: Labels | None = None
        self.browse.changed.connect(self._browsed)
        self.open_button.changed.connect(self.open)
        self.previous_button.changed.connect(lambda *_: self.move(-1))
        self.next_button.changed.connect(lambda *_: self.move(1))
        self.save_button.changed.connect(lambda *_: self.save())
        self._enable()

    # -- actions -----------------------------------------------------------------------------
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
        moved = self.series.next() if step > 0 else self.series.previous()
        if not moved:
            end = "last" if step > 0 else "first"
            skip = " not yet annotated" if self.series.skip_annotated and step > 0 else ""
            self.controller.say(f"This is the {end} image{skip} of the series.")
            show_info(f"f-BRS: no {'next' if step > 0 else 'previous'} image{skip}")
            self._enable()
            return
        self._show()

    def save(self) -> bool:
        """Write the current image's labels (atomic); True unless writing failed."""
        if self.series is None or self.labels is None or self.labels not in self.viewer_layers:
            return True
        try:
            path = self.series.save_labels(np.asarray(self.labels.data))
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
        for layer in (self.labels, self.image):
            if layer is not None and layer in self.viewer_layers:
                self.viewer_layers.remove(layer)
        data = self.series.load_image()
        rgb = data.ndim == 3 and data.shape[-1] in (3, 4)
        viewer = self.controller.viewer
        self.image = viewer.add_image(data, name=f"{self.series.current.name}", rgb=rgb)
        # The image's own f-BRS labels (the widget may have made them already on seeing the
        # image), filled with what was saved before: one labels layer per image, never two.
        labels = self.controller.layers.own_labels(self.image)
        saved = self.series.load_labels()
        if saved is not None and saved.shape == labels.data.shape:
            labels.data = saved.astype(np.int32, copy=False)
        self.labels = labels
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
        """The dock is closing: keep the current image's work."""
        self.save()
