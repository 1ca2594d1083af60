"""The dock widget: choose image, labels and model; click on objects; keep them.

This module only builds the panel and forwards what the user does to the
:class:`~napari_fbrs._napari.controller.Controller` (clicks, objects, layers) and to model
loading in a napari ``thread_worker``. It is the ``python_name`` of the manifest's widget, so
napari imports it only when the user opens the widget.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import napari
import numpy as np
import torch
from magicgui.widgets import ComboBox, Container, PushButton
from napari.layers import Image, Labels
from napari.qt.threading import FunctionWorker, create_worker
from napari.utils.notifications import show_error
from qtpy.QtCore import QEvent, Qt
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QGroupBox,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from napari_fbrs.model.device import select_device

from .controller import Controller
from .keybindings import shortcut_help
from .layers import PREVIEW_LAYER
from .model_choice import (
    ModelSource,
    ReadyModel,
    add_choices_listener,
    default_source,
    load_model,
    model_choices,
    remove_choices_listener,
)
from .settings import ComputeSettings, DisplaySettings

NEW_LABELS = "new: f-BRS labels"
_SHRINKABLE = QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
SLICE_RULE = (
    "An object lives on the slice shown when its first click is placed; its mask is written "
    "into that slice. A click on another slice is refused until the object is finished (C) "
    "or reset (X)."
)


class FBRSWidget(QWidget):
    """f-BRS interactive segmentation: click, watch the mask follow, keep the object."""

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self._docked = False
        self._model_worker: FunctionWorker | None = None
        # Bumped by every load request and set_model: a load that finishes after a newer
        # request (e.g. the default model still loading when a script sets its own) is dropped.
        self._model_request = 0
        self._clicks_after_load: list[tuple[float, float, bool]] = []
        self.controller = Controller(napari_viewer, self._refresh)
        # the viewer may delete this widget without closing it (viewer closed mid-prediction)
        self.destroyed.connect(self.controller.close)

        self.image_choice = ComboBox(label="Image", choices=self._images, nullable=True)
        self.labels_choice = ComboBox(label="Labels", choices=self._labels)
        self.model_choice = ComboBox(label="Weights", choices=lambda _widget: model_choices())
        self.load_button = PushButton(text="Load")
        self.open_button = PushButton(text="Open file...")
        self.compute = ComputeSettings()
        self.display = DisplaySettings()
        self.finish_button = PushButton(text="Finish (C)")
        self.undo_button = PushButton(text="Undo (Shift+Z)")
        self.reset_button = PushButton(text="Reset (X)")
        model_buttons = Container(
            widgets=[self.load_button, self.open_button], layout="horizontal", labels=False
        )
        choosers = Container(
            widgets=[self.image_choice, self.labels_choice, self.model_choice, model_buttons]
        )
        buttons = Container(
            widgets=[self.finish_button, self.undo_button, self.reset_button],
            layout="horizontal",
            labels=False,
        )
        for combo in (self.image_choice, self.labels_choice, self.model_choice):
            combo.native.setSizeAdjustPolicy(_SHRINKABLE)
            combo.native.setMinimumContentsLength(12)
        self.help = QLabel(f"{shortcut_help()}\n{SLICE_RULE}")
        self.status = QLabel()
        for label in (self.help, self.status):
            label.setWordWrap(True)  # and let the dock, not the text, decide the width
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        inner = QWidget()
        layout = QVBoxLayout(inner)
        layout.addWidget(choosers.native)
        layout.addWidget(_group("Computation: from the next object", self.compute))
        layout.addWidget(_group("Display: live", self.display))
        layout.addWidget(buttons.native)
        layout.addWidget(self.status)
        layout.addWidget(self.help)
        layout.addStretch(1)
        scroll = QScrollArea()  # a short screen scrolls the panel instead of squashing it
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(inner)
        scroll.setMinimumWidth(inner.minimumSizeHint().width() + 16)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.setToolTip(SLICE_RULE)
        self._connect()
        add_choices_listener(self.model_choice.reset_choices)
        self._apply_compute()
        self._follow_active_layer()
        source = default_source()
        if source is not None:
            self._load(source, "Loading the default model")
        self._refresh()

    # -- wiring -----------------------------------------------------------------------------
    def _connect(self) -> None:
        self.image_choice.changed.connect(self.controller.set_image)
        self.labels_choice.changed.connect(self._on_labels_choice)
        self.load_button.changed.connect(self._load_chosen)
        self.open_button.changed.connect(self._open_file)
        self.compute.changed.connect(self._apply_compute)
        self.display.threshold.changed.connect(self.controller.set_threshold)
        self.display.opacity.changed.connect(self._apply_display)
        self.display.click_size.changed.connect(self._apply_display)
        self.display.overwrite.changed.connect(self._apply_display)
        self.finish_button.changed.connect(self.controller.finish_object)
        self.undo_button.changed.connect(self.controller.undo_click)
        self.reset_button.changed.connect(self.controller.reset_object)
        events = self.viewer.layers.events
        for event in (events.inserted, events.removed, events.reordered, events.renamed):
            event.connect(self.reset_choices)
        self.viewer.layers.selection.events.active.connect(self._follow_active_layer)

    def _disconnect(self) -> None:
        events = self.viewer.layers.events
        for event in (events.inserted, events.removed, events.reordered, events.renamed):
            event.disconnect(self.reset_choices)
        self.viewer.layers.selection.events.active.disconnect(self._follow_active_layer)

    def _images(self, _widget: ComboBox | None = None) -> list[tuple[str, Image]]:
        return [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, Image)]

    def _labels(self, _widget: ComboBox | None = None) -> list[tuple[str, object]]:
        choices: list[tuple[str, object]] = [(NEW_LABELS, NEW_LABELS)]
        for layer in self.viewer.layers:
            if isinstance(layer, Labels) and layer.name != PREVIEW_LAYER:
                choices.append((layer.name, layer))
        return choices

    def reset_choices(self, _event: object = None) -> None:
        """Refresh the layer choosers (napari also calls this when layers change)."""
        if self.controller.closed:
            return
        self.image_choice.reset_choices()
        self.labels_choice.reset_choices()
        self._refresh()

    def _follow_active_layer(self, _event: object = None) -> None:
        if self.controller.closed:
            return
        active = self.viewer.layers.selection.active
        if isinstance(active, Image) and active is not self.image_choice.value:
            self.image_choice.value = active
        elif self.image_choice.value is None and self._images():
            self.image_choice.value = self._images()[-1][1]

    def _on_labels_choice(self, value: object) -> None:
        self.controller.target = value if isinstance(value, Labels) else None

    def _apply_compute(self) -> None:
        try:
            device = select_device(self.compute.device.value)
        except ValueError as exc:
            show_error(f"f-BRS: {exc}")
            self.compute.device.value = "auto"
            return
        self.controller.set_config(self.compute.to_config(), device)

    def _apply_display(self) -> None:
        self.controller.overwrite = bool(self.display.overwrite.value)
        self.controller.set_display(self.display.opacity.value, self.display.click_size.value)

    # -- models -----------------------------------------------------------------------------
    def set_model(self, model: torch.nn.Module, label: str, arch: str = "") -> None:
        """Use an already built model (scripts and tests); wins over loads still running."""
        self._model_request += 1
        self.controller.set_model(ReadyModel(model, label, arch))

    def load_model_from_path(self, path: str | os.PathLike[str]) -> FunctionWorker:
        """Load a checkpoint file in a worker; errors become notifications."""
        return self._load(ModelSource("file", os.fspath(path)), f"Loading {Path(path).name}")

    def _load_chosen(self) -> None:
        source = self.model_choice.value
        if source is not None:
            self._load(source, f"Loading {source.name} (downloading if not cached)")

    def _open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open an f-BRS checkpoint", "", "Checkpoints (*.pth *.pt);;All files (*)"
        )
        if path:
            self.load_model_from_path(path)

    def _load(self, source: ModelSource, description: str) -> FunctionWorker:
        worker = create_worker(
            _load_or_explain, source, _progress={"total": 0, "desc": description}
        )
        self._model_request += 1
        request = self._model_request
        worker.returned.connect(lambda result: self._on_model_loaded(result, request))
        self._model_worker = worker
        self.controller.message = description + "..."
        self._refresh()
        worker.start()
        return worker

    def _on_model_loaded(self, result: ReadyModel | str, request: int | None = None) -> None:
        if request is not None and request != self._model_request:
            return  # superseded by a newer load or set_model
        if isinstance(result, str):
            show_error(f"f-BRS: {result}")
            self.controller.message = result
            self._refresh()
        elif not self.controller.closed:
            self.controller.set_model(result)
            self.model_choice.reset_choices()
        pending, self._clicks_after_load = self._clicks_after_load, []
        if pending and self.controller.model is not None and not self.controller.closed:
            self.place_clicks(pending)

    def place_clicks(self, clicks: Sequence[tuple[float, float, bool]]) -> None:
        """Put ``(row, col, positive)`` clicks on the clicks layer, as a user would.

        While a model is still loading they wait and are placed once it is ready (the
        ``napari-fbrs view --clicks`` command line uses this).
        """
        if self.controller.model is None and self._model_worker is not None:
            self._clicks_after_load.extend(clicks)
            return
        self.controller.ensure_layers()
        layer = self.controller.clicks_layer
        if layer is None:
            show_error("f-BRS: choose an image layer before placing clicks")
            return
        for row, col, positive in clicks:
            layer.feature_defaults = {"positive": bool(positive)}
            layer.add(np.array([row, col], dtype=float))

    @property
    def model_label(self) -> str | None:
        return self.controller.model.label if self.controller.model is not None else None

    # -- status and closing -------------------------------------------------------------------
    def _refresh(self) -> None:
        if self.controller.closed or not hasattr(self, "status"):
            return
        c = self.controller
        if isinstance(c.target, Labels) and c.target is not self.labels_choice.value:
            self.labels_choice.reset_choices()
            self.labels_choice.value = c.target
        model = c.model.label if c.model is not None else "none (Weights: Load, or Open file...)"
        latency = "-"
        if c.last_latency is not None:
            latency = f"{c.last_latency:.2f} s (network {c.last_network or 0:.2f} s)"
        queued = f", {c.queue.pending} queued" if c.queue.pending else ""
        self.status.setText(
            f"Model: {model} | device: {c.device} | last click: {latency}{queued}\n"
            f"Clicks: {c.clicks}. {c.message}"
        )
        for button in (self.finish_button, self.undo_button):
            button.enabled = c.clicks > 0

    def close_plugin(self) -> None:
        """Release shortcuts, events, the worker and the transient layers (idempotent)."""
        if self.controller.closed:
            return
        self._disconnect()
        remove_choices_listener(self.model_choice.reset_choices)
        self.controller.close()

    def closeEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt override
        self.close_plugin()
        super().closeEvent(event)

    def event(self, event: QEvent) -> bool:
        # napari removes a closed dock by re-parenting its widget to None: treat that as close.
        if event.type() == QEvent.Type.ParentChange:
            if self.parent() is not None:
                self._docked = True
            elif self._docked:
                self.close_plugin()
        return super().event(event)


def _group(title: str, container: Container) -> QGroupBox:
    box = QGroupBox(title)
    QVBoxLayout(box).addWidget(container.native)
    return box


def _load_or_explain(source: ModelSource) -> ReadyModel | str:
    """Runs in the worker: a message instead of an exception keeps one clear notification."""
    try:
        return load_model(source)
    except Exception as exc:  # CheckpointError, WeightsError, OSError, ...
        text = str(exc).strip() or type(exc).__name__
        return f"could not load model {source.name!r}: {text}"
