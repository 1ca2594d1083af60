"""The dock widget: what to click on, where objects go, and the buttons to keep them.

The panel shows first what a biologist needs (one line on how to click, the image and labels
choosers, Finish / Undo / Redo / Reset, the threshold and the status); the model choice follows,
and the computation settings an expert may change are folded away (folded sections make their
widgets when first unfolded, so the dock opens quickly: ``lazy_section.py``). The widget
only builds the panel, forwards what the user does to the
:class:`~napari_fbrs._napari.controller.Controller` and observes the controller's signals; it
never writes the controller's fields. It is the
``python_name`` of the manifest's widget, so napari imports it only when the user opens it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import napari
import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, PushButton
from napari.layers import Image, Labels
from napari.utils.notifications import show_error
from qtpy.QtCore import QEvent, QObject, Qt, QTimer
from qtpy.QtWidgets import (
    QApplication,
    QFileDialog,
    QFrame,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from napari_fbrs.inference.engine.config import DEFAULT_LOCAL_WINDOW, demo_preset
from napari_fbrs.threads import configure_threads

from .controller import Controller
from .docking import ClosesWithDock
from .keybindings import shortcut_help
from .layers import CONTRAST_RULE, OWN_LABELS_CHOICE, PREVIEW_LAYER
from .lazy_section import LazySection
from .model_choice import (
    ModelSource,
    add_choices_listener,
    default_source,
    model_choices,
    remove_choices_listener,
)
from .segment_all import SegmentAllPanel
from .series_panel import SeriesPanel
from .settings import ComputeSettings, DisplaySettings, PropagationSettings
from .slots import qt_slot
from .warmup import warmup

OWN_LABELS = OWN_LABELS_CHOICE
#: the worker starts at the latest this long after napari's layer imports are done
RELEASE_FALLBACK_MS = 2000
HOW_TO = "Click on your object: left = object, right = background. C keeps it."
SLICE_RULE = (
    "An object lives on the slice shown when its first click is placed; its mask is written "
    "into that slice. A click on another slice is refused until the object is finished (C) "
    "or reset (X)."
)


class FBRSWidget(ClosesWithDock):
    """f-BRS interactive segmentation: click, watch the mask follow, keep the object."""

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        configure_threads()  # before the first inference starts torch's thread pool
        # napari hands plugins a proxy of the viewer, whose layers are proxies too; layer events
        # carry the real layers, so identity checks ("is this our clicks layer?") need the
        # real viewer.
        napari_viewer = getattr(napari_viewer, "__wrapped__", napari_viewer)
        self.viewer = napari_viewer
        # the worker (torch's import, the model) starts once napari has added the dock's
        # layers: both at once make each layer's addition several times longer
        self.controller = controller = Controller(napari_viewer, hold_worker=True)
        # the viewer may delete this widget without closing it (viewer closed mid-prediction)
        self.destroyed.connect(lambda *_: controller.close())

        self.image_choice = ComboBox(label="Image", choices=self._images, nullable=True)
        self.labels_choice = ComboBox(label="Labels", choices=self._labels)
        self.finish_button = PushButton(text="Finish (C)")
        self.undo_button = PushButton(text="Undo (Shift+Z)")
        self.redo_button = PushButton(text="Redo (Shift+Y)")
        self.reset_button = PushButton(text="Reset (X)")
        self.one_click_box = CheckBox(text="One click per object (O)", value=False)
        self.one_click_box.tooltip = (
            "A click outside the current object finishes it and starts the next; clicks on it, "
            "right clicks and Shift+clicks (a part its mask missed) correct it. Shift+Z on "
            "such a click brings the object back."
        )
        self.edit_button = PushButton(text="Edit label (Alt+click)")  # issue 24
        self.box_button = PushButton(text="Box")  # issue 24: draw a rectangle
        # made one event-loop turn after the dock (the first magicgui sliders of a session are
        # the constructor's slowest widgets), or at once when code asks for it
        self._display: DisplaySettings | None = None
        self._display_holder = QWidget()
        self.model_choice = ComboBox(label="Weights", choices=lambda _widget: model_choices())
        self.load_button = PushButton(text="Load")
        self.open_button = PushButton(text="Open file...")
        # the folded sections' panels are made when first unfolded or used (lazy_section.py)
        self._compute: ComputeSettings | None = None
        self._propagation: PropagationSettings | None = None
        self._series: SeriesPanel | None = None
        self._segment_all: SegmentAllPanel | None = None
        self.propagate_button = PushButton(text="Propagate through the stack")
        self.cancel_propagate_button = PushButton(text="Cancel")
        self.how_to = QLabel(HOW_TO)
        self.status = QLabel()
        self.help = QLabel(f"{shortcut_help()}\n{SLICE_RULE}\n{CONTRAST_RULE}")
        self._build()
        self.setToolTip(SLICE_RULE)
        self._connect()
        add_choices_listener(self.model_choice.reset_choices)
        self._apply_compute()
        self._follow_active_layer()
        source = default_source()
        if source is not None:
            self.controller.load_model(source, "Loading the default model")
        # the controller releases its worker once the layers are added; without an image
        # there are none, and an image removed meanwhile makes none: then this does
        warmup().when_ready(self._release_worker_fallback)
        QTimer.singleShot(0, self._make_display_if_missing)
        self._refresh()

    def _build(self) -> None:
        row = {"layout": "horizontal", "labels": False}
        actions = Container(
            widgets=[self.finish_button, self.undo_button, self.redo_button, self.reset_button],
            **row,
        )
        prompts = Container(widgets=[self.edit_button, self.box_button], **row)
        choosers = Container(widgets=[self.image_choice, self.labels_choice])
        weights = Container(
            widgets=[
                self.model_choice,
                Container(widgets=[self.load_button, self.open_button], **row),
            ]
        )
        for combo in (self.image_choice, self.labels_choice, self.model_choice):
            combo.native.setMinimumContentsLength(12)
        for label in (self.how_to, self.help, self.status):
            label.setWordWrap(True)  # and let the dock, not the text, decide the width
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.how_to.setStyleSheet("font-weight: bold")
        stacks_actions = Container(
            widgets=[self.propagate_button, self.cancel_propagate_button], **row
        )
        self.stacks = LazySection(
            "Stacks: propagate the object through Z/T",
            lambda: [stacks_actions.native, self._make_propagation().native],
        )
        self.segment_all_box = LazySection(
            "Segment everything: all objects at once", lambda: [self._make_segment_all().native]
        )
        self.series_box = LazySection(
            "Image series: annotate a folder, image after image",
            lambda: [self._make_series().native],
        )
        self.advanced = LazySection(
            "Computation (expert; applies from the next object)",
            lambda: [self._make_compute().native],
        )
        for section in (self.stacks, self.segment_all_box, self.series_box, self.advanced):
            section.toggled.connect(lambda _open: self._fit_width())  # made when opened
        self.more_help = QCollapsible("Keys and rules")
        self.more_help.addWidget(self.help)
        inner = QWidget()
        layout = QVBoxLayout(inner)
        for widget in (
            self.how_to,
            choosers.native,
            actions.native,
            self.one_click_box.native,
            prompts.native,
            self.status,
            self._display_holder,
            weights.native,
            self.segment_all_box,
            self.stacks,
            self.series_box,
            self.advanced,
            self.more_help,
        ):
            layout.addWidget(widget)
        layout.addStretch(1)
        scroll = QScrollArea()  # a short screen scrolls the panel instead of squashing it
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(inner)
        self._scroll, self._inner = scroll, inner
        self._fit_width()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    # -- panels made after the dock opens or on first use ------------------------------------
    @property
    def display(self) -> DisplaySettings:
        if self._display is None:
            self._make_display()
        assert self._display is not None
        return self._display

    @qt_slot
    def _make_display_if_missing(self) -> None:
        if self._display is None and not self.controller.closed:
            self._make_display()

    def _make_display(self) -> None:
        self._display = d = DisplaySettings()
        layout = QVBoxLayout(self._display_holder)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(d.native)
        d.threshold.changed.connect(self.controller.set_threshold)
        for widget in (d.opacity, d.click_size, d.overwrite, d.min_pixels, d.replace_ratio):
            widget.changed.connect(self._apply_display)
        self._apply_display()
        self._fit_width()

    def _fit_width(self) -> None:
        """The panel never narrower than its widest row (it scrolls only vertically)."""
        self._scroll.setMinimumWidth(self._inner.minimumSizeHint().width() + 16)

    @property
    def compute(self) -> ComputeSettings:
        self.advanced.ensure_built()
        assert self._compute is not None
        return self._compute

    @property
    def propagation(self) -> PropagationSettings:
        self.stacks.ensure_built()
        assert self._propagation is not None
        return self._propagation

    @property
    def series(self) -> SeriesPanel:
        self.series_box.ensure_built()
        assert self._series is not None
        return self._series

    @property
    def segment_all(self) -> SegmentAllPanel:
        self.segment_all_box.ensure_built()
        assert self._segment_all is not None
        return self._segment_all

    def _make_compute(self) -> ComputeSettings:
        self._compute = compute = ComputeSettings()
        if self.controller.model_label is not None:  # torch is imported: list the devices
            compute.offer_devices()
        compute.changed.connect(self._apply_compute)
        return compute

    def _make_propagation(self) -> PropagationSettings:
        self._propagation = PropagationSettings()
        return self._propagation

    def _make_series(self) -> SeriesPanel:
        self._series = SeriesPanel(self.controller)
        return self._series

    def _make_segment_all(self) -> SegmentAllPanel:
        self._segment_all = SegmentAllPanel(self.controller.segment_everything)
        self._refresh()  # its Cancel button follows the action's state
        return self._segment_all

    @qt_slot
    def _release_worker_fallback(self) -> None:
        delay = 0 if self.controller.image is None else RELEASE_FALLBACK_MS
        QTimer.singleShot(delay, self.controller.release_worker)

    # -- wiring -----------------------------------------------------------------------------
    def _connect(self) -> None:
        c = self.controller
        self.image_choice.changed.connect(c.set_image)
        self.labels_choice.changed.connect(self._on_labels_choice)
        self.load_button.changed.connect(self._load_chosen)
        self.open_button.changed.connect(self._open_file)
        self.finish_button.changed.connect(c.finish_object)
        self.undo_button.changed.connect(c.undo_click)
        self.redo_button.changed.connect(c.redo_click)
        self.reset_button.changed.connect(c.reset_object)
        self.one_click_box.changed.connect(c.one_click.set_enabled)
        c.one_click.changed.connect(self._on_one_click_changed)
        self.edit_button.changed.connect(c.editor.arm)
        self.box_button.changed.connect(c.boxes.enable)
        self.propagate_button.changed.connect(self._propagate)
        self.cancel_propagate_button.changed.connect(c.propagator.cancel)
        for signal in (c.state_changed, c.status_changed, c.model_changed):
            signal.connect(self._refresh)
        c.model_changed.connect(self._on_model_changed)
        c.target_changed.connect(self._on_target_changed)
        events = self.viewer.layers.events
        for event in (events.inserted, events.removed, events.reordered, events.renamed):
            event.connect(self.reset_choices)
        self.viewer.layers.selection.events.active.connect(self._follow_active_layer)
        # every way out keeps the work: the dock (close_plugin), the window, the application
        window = self._main_window()
        if window is not None:
            window.installEventFilter(self)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._on_quit)

    def _disconnect(self) -> None:
        events = self.viewer.layers.events
        for event in (events.inserted, events.removed, events.reordered, events.renamed):
            event.disconnect(self.reset_choices)
        self.viewer.layers.selection.events.active.disconnect(self._follow_active_layer)
        window = self._main_window()
        if window is not None:
            window.removeEventFilter(self)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.disconnect(self._on_quit)
        c = self.controller
        for signal in (c.state_changed, c.status_changed, c.model_changed):
            signal.disconnect(self._refresh)
        c.model_changed.disconnect(self._on_model_changed)
        c.target_changed.disconnect(self._on_target_changed)
        c.one_click.changed.disconnect(self._on_one_click_changed)

    def _images(self, _widget: ComboBox | None = None) -> list[tuple[str, Image]]:
        return [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, Image)]

    def _labels(self, _widget: ComboBox | None = None) -> list[tuple[str, object]]:
        choices: list[tuple[str, object]] = [(OWN_LABELS, OWN_LABELS)]
        own = self.controller.layers.is_own
        for layer in self.viewer.layers:
            if isinstance(layer, Labels) and layer.name != PREVIEW_LAYER and not own(layer):
                choices.append((layer.name, layer))
        return choices

    @qt_slot
    def reset_choices(self, _event: object = None) -> None:
        """Refresh the layer choosers (napari also calls this when layers change)."""
        if self.controller.closed:
            return
        self.image_choice.reset_choices()
        self.labels_choice.reset_choices()
        self._refresh()

    @qt_slot
    def _follow_active_layer(self, _event: object = None) -> None:
        if self.controller.closed:
            return
        active = self.viewer.layers.selection.active
        if isinstance(active, Image) and active is not self.image_choice.value:
            self.image_choice.value = active
        elif isinstance(active, Image) and self.controller.clicks_layer is None:
            self.controller.set_image(active)  # the clicks layer was deleted: make it again
        elif self.image_choice.value is not None and self.controller.image is None:
            self.controller.set_image(self.image_choice.value)  # the dock just opened
        elif self.image_choice.value is None and self._images():
            self.image_choice.value = self._images()[-1][1]

    @qt_slot
    def _on_labels_choice(self, value: object) -> None:
        self.controller.set_target(value if isinstance(value, Labels) else None)

    @qt_slot
    def _on_target_changed(self, target: Labels | None) -> None:
        wanted = target if target is not None else OWN_LABELS
        if self.labels_choice.value is not wanted:
            self.labels_choice.reset_choices()
            self.labels_choice.value = wanted

    @qt_slot
    def _on_one_click_changed(self, on: bool) -> None:
        if self.one_click_box.value != on:
            self.one_click_box.value = on

    @qt_slot
    def _apply_compute(self, _value: object = None) -> None:
        compute = self._compute
        if compute is None:  # the folded panel was never made: its defaults
            self.controller.set_config(demo_preset(), "auto", DEFAULT_LOCAL_WINDOW)
            return
        window = int(compute.local_window.value)
        device = str(compute.device.value)  # checked in the worker, as torch lives there
        self.controller.set_config(compute.to_config(), device, window)

    @qt_slot
    def _propagate(self, _value: object = None) -> None:
        self.controller.propagator.propagate(self.propagation.to_config())
        self._refresh()

    @qt_slot
    def _apply_display(self, _value: object = None) -> None:
        d = self._display
        if d is None:  # not made yet: the controller holds the panel's defaults
            return
        self.controller.set_display(
            d.opacity.value,
            d.click_size.value,
            d.overwrite.value,
            d.min_pixels.value,
            d.replace_ratio.value,
        )

    # -- models -----------------------------------------------------------------------------
    def set_model(self, model: Any, label: str, arch: str = "") -> None:
        """Use an already built model (scripts and tests), after anything queued before."""
        self.controller.use_model(model, label, arch)

    def load_model_from_path(self, path: str | os.PathLike[str]) -> None:
        """Load a checkpoint file in the worker; errors become notifications."""
        source = ModelSource("file", os.fspath(path))
        self.controller.load_model(source, f"Loading {Path(path).name}")

    @qt_slot
    def _load_chosen(self, _value: object = None) -> None:
        source = self.model_choice.value
        if source is not None:
            self.controller.load_model(source, f"Loading {source.name} (downloading if needed)")

    @qt_slot
    def _open_file(self, _value: object = None) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open an f-BRS checkpoint", "", "Checkpoints (*.pth *.pt);;All files (*)"
        )
        if path:
            self.load_model_from_path(path)

    @qt_slot
    def _on_model_changed(self, _label: str) -> None:
        self.model_choice.reset_choices()
        if self._compute is not None:  # else it lists them when it is made
            self._compute.offer_devices()  # torch is imported by now (in the worker)

    def place_clicks(self, clicks: Sequence[tuple[float, float, bool]]) -> None:
        """Put ``(row, col, positive)`` clicks on the clicks layer, as a user would.

        They run in order after anything queued before (a model still loading, say); the
        ``napari-fbrs view --clicks`` command line uses this.
        """
        image = self.controller.image
        if image is None:
            show_error("f-BRS: choose an image layer before placing clicks")
            return
        self.controller.set_image(image)  # (re)makes the clicks layer if it was deleted
        # the first dock of a session makes its layers once napari's imports are done
        warmup().when_ready(partial(self._add_points, list(clicks)))

    @qt_slot
    def _add_points(self, clicks: list[tuple[float, float, bool]]) -> None:
        layer = self.controller.clicks_layer
        if layer is None:
            show_error("f-BRS: choose an image layer before placing clicks")
            return
        for row, col, positive in clicks:
            layer.feature_defaults = {"positive": bool(positive)}
            layer.add(np.array([row, col], dtype=float))

    @property
    def model_label(self) -> str | None:
        return self.controller.model_label

    # -- status and closing -------------------------------------------------------------------
    @qt_slot
    def _refresh(self, _value: object = None) -> None:
        if self.controller.closed or not hasattr(self, "status"):
            return
        c = self.controller
        if c.model_label is not None:
            model = c.model_label
        elif c.loading is not None:
            model = c.loading + "..."
        else:
            model = "none (Weights: Load, or Open file...)"
        latency = "-"
        if c.last_latency is not None:
            latency = f"{c.last_latency:.2f} s (network {c.last_network or 0:.2f} s)"
        queued = f", {c.worker.pending} queued" if c.worker.pending else ""
        state = c.state
        editing = f"Editing label {state.edit_label}. " if state.edit_label is not None else ""
        self.status.setText(
            f"Model: {model} | device: {c.device} | last click: {latency}{queued}\n"
            f"{editing}Clicks: {c.clicks}. {c.message}"
        )
        # an object started from a label or a box can be finished before any click
        self.finish_button.enabled = bool(state.clicks) or state.map is not None
        self.undo_button.enabled = state.can_undo
        self.redo_button.enabled = state.can_redo
        self.cancel_propagate_button.enabled = c.propagator.running
        if self._segment_all is not None:
            self._segment_all.cancel_button.enabled = c.segment_everything.running

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """The napari window is closing (its close button, ``viewer.close()``): save."""
        if event.type() == QEvent.Type.Close and watched is self._main_window():
            self._keep_work("the window was closed")
        return False

    def _main_window(self) -> QObject | None:
        """napari's main window (looked up each time: holding it would keep the viewer alive
        after it closed)."""
        viewer = getattr(self, "viewer", None)  # Qt may filter events before __init__ ends
        return None if viewer is None else getattr(viewer.window, "_qt_window", None)

    @qt_slot
    def _on_quit(self) -> None:
        self._keep_work("the application quit")

    @qt_slot
    def _keep_work(self, why: str) -> None:
        """Save the series' labels; say that an object in progress is not in them."""
        if self.controller.closed:
            return
        self.controller.warn_unfinished(why)
        if self._series is not None:  # a series is open only if its panel was made
            self._series.save_on_close()

    def close_plugin(self) -> None:
        """Release shortcuts, events, the worker and the transient layers (idempotent)."""
        if self.controller.closed:
            return
        self.controller.warn_unfinished("the f-BRS dock was closed")
        if self._series is not None:
            self._series.release()
        self._disconnect()
        remove_choices_listener(self.model_choice.reset_choices)
        self.controller.close()
