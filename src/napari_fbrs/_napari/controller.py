"""napari events in, session calls out; session results in, layer updates out.

The core :class:`~napari_fbrs.inference.session.interactive.InteractiveSession` owns the object
being segmented (model and settings, prepared image, clicks, threshold, undo/redo, finishing). It
lives on the worker side: the controller only submits calls to the FIFO
:class:`~napari_fbrs._napari.worker.SessionWorker` and renders the :class:`ObjectState` each
call returns. A click therefore travels in one direction: the clicks layer (the user's view of
the clicks) -> :meth:`Controller._on_points_changed` -> worker -> session -> predictor ->
model, and the state comes back to :meth:`Controller.show_state`. When the queue is idle, the
clicks layer is made to show exactly the session's clicks (a refused click disappears).

The widget observes the controller through its signals and never writes its fields.

The object lives on the slice shown when its first click was placed. A click on another slice
while an object is in progress is refused with a message: finish (C) or reset (X) first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from napari.layers import Image, Labels, Points
from napari.utils.notifications import show_error, show_info, show_warning
from psygnal import Signal

from napari_fbrs._napari import layers as L
from napari_fbrs._napari.boxes import BoxInput
from napari_fbrs._napari.click_input import ClickInput
from napari_fbrs._napari.edit_label import LabelEditor
from napari_fbrs._napari.finishing import Result, finish_call, how_to_undo, paint
from napari_fbrs._napari.keybindings import bind_shortcuts, unbind_shortcuts
from napari_fbrs._napari.model_choice import (
    Engine,
    ModelSource,
    ReadyModel,
    load_model,
    make_predictor,
)
from napari_fbrs._napari.one_click import OneClickMode
from napari_fbrs._napari.plugin_layers import PluginLayers
from napari_fbrs._napari.propagation import Propagator
from napari_fbrs._napari.segment_all import SegmentEverything
from napari_fbrs._napari.slots import describe, qt_slot
from napari_fbrs._napari.warmup import warmup
from napari_fbrs._napari.worker import SessionWorker
from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.engine.config import PredictorConfig, demo_preset
from napari_fbrs.inference.session.interactive import InteractiveSession, NoImageError, ObjectState
from napari_fbrs.inference.session.object_checks import ObjectChecks
from napari_fbrs.inference.session.painting import REPLACE_RATIO


@dataclass(frozen=True)
class _Plane:
    """The image and slice the object in progress lives on."""

    image: Image
    slice_index: tuple[int, ...]


#: what the status adds when a change applies from the next object on
NEXT_OBJECT = " It applies from the next object on."


class Controller:
    """Maps napari events to session calls and session states to layers."""

    state_changed = Signal(object)  # the ObjectState now shown
    status_changed = Signal(str)  # one line for the user
    model_changed = Signal(str)  # the label of the model now in use
    target_changed = Signal(object)  # the chosen labels layer, None = one per image

    def __init__(self, viewer, hold_worker: bool = False) -> None:  # noqa: ANN001
        """``hold_worker``: queue the worker's calls until :meth:`release_worker` (the dock
        lets napari add its layers before torch's import competes for Python's lock)."""
        self.viewer = viewer
        self.worker = SessionWorker(held=hold_worker)
        warmup().start()  # napari's first labels and points layers, prepared in a thread
        self.layers = PluginLayers(viewer)
        self.input = ClickInput(
            viewer, lambda: self.image, self._on_click, self._restart, self.refuse
        )
        self.layers.on_new_clicks_layer(self._connect_clicks)
        # Touched only by calls running in the worker thread.
        self._session = InteractiveSession(predictor_factory=make_predictor)
        self.image: Image | None = None
        self.target: Labels | None = None  # None: the image's own f-BRS labels
        self.overwrite = False
        self.checks = ObjectChecks()  # the finish-time warnings (tiny, grown beyond)
        self.replace_ratio = REPLACE_RATIO  # an object covering this much of a label replaces it
        self.last_painted: Labels | None = None  # where the last Finish/Propagate painted
        self.engine = Engine(demo_preset())
        self.device_choice = "auto"  # the user's words; the worker resolves them
        self.device = "..."  # the resolved device, for the status line
        self.model_label: str | None = None
        self.loading: str | None = None  # what is being loaded, if anything
        self.state = ObjectState(threshold=self.config.prob_thresh)
        self.message = ""
        self.last_latency: float | None = None
        self.last_network: float | None = None
        self.plane: _Plane | None = None
        self.last_plane: _Plane | None = None  # of the last object finished or propagated
        self.propagator = Propagator(self, self._session)
        self.one_click = OneClickMode(self, self._session)  # "One click per object" (O)
        self.editor = LabelEditor(self)  # Alt+click / Edit label: correct an existing label
        self.boxes = BoxInput(self)  # the f-BRS box layer: a rectangle starts an object
        self.segment_everything = SegmentEverything(self, self._session)
        self._pending_image: Image | None = None
        self._closed = False
        self.submit(partial(self._use_settings, self.engine, self.device_choice), self._on_device)
        self.submit(partial(self._session.set_threshold, self.config.prob_thresh))
        viewer.layers.events.removed.connect(self._on_layer_removed)
        viewer.layers.events.inserted.connect(self._on_layer_inserted)
        self.input.remake_layer = self._remake_clicks_layer
        viewer.mouse_drag_callbacks.append(self.input.click_without_layer)

    # -- read-only views for the widget, scripts and tests ----------------------------------------
    closed = property(lambda self: self._closed)
    busy = property(lambda self: self.worker.busy, doc="until every result has been shown")
    clicks = property(lambda self: len(self.state.clicks))
    clicks_layer = property(lambda self: self.layers.clicks)
    preview_layer = property(lambda self: self.layers.preview)
    probs = property(lambda self: self.state.probs, doc="the shown map, at the plane's size")

    @property
    def current_mask(self) -> np.ndarray | None:
        """The shown object (2-D, plane resolution) at the current threshold."""
        m = self.state.map
        return None if m is None else m.full_mask(self.state.threshold)

    # -- image, target, model, settings -----------------------------------------------------------
    @qt_slot
    def set_image(self, image: Image | None) -> None:
        """Segment ``image`` from now on (after the current object, if one is in progress)."""
        if self.plane is not None and image is not self.plane.image:
            self._pending_image = image
            self.say("The current object stays on its image; finish or reset it to switch.")
            return
        self._pending_image = None
        self.image = image
        if image is not None:  # the labels layer is made when something is painted
            warmup().when_ready(partial(self._fit_layers, image))

    @qt_slot
    def _fit_layers(self, image: Image) -> None:
        """The clicks and current-object layers for ``image``, if it is still the one chosen
        (the first dock of a session waits for napari's layer imports; see warmup.py)."""
        if not self._closed and self.image is image and image in self.viewer.layers:
            self.layers.fit(image, preview_later=True, then=self.release_worker)

    @qt_slot
    def set_target(self, labels: Labels | None) -> None:
        """Finish objects into ``labels`` (``None``: every image's own f-BRS labels)."""
        if labels is not None and self.layers.is_own(labels):
            labels = None  # our own layer is what "one per image" means
        self.target = labels
        self.target_changed.emit(labels)

    @qt_slot
    def release_worker(self) -> None:
        """Start the worker held since construction (see ``__init__``; idempotent): once the
        plugin's layers are there, or by the dock's fallback."""
        self.worker.release()

    @qt_slot
    def load_model(self, source: ModelSource, description: str) -> None:
        """Load a model in the worker; clicks placed meanwhile wait for it."""
        self._use(partial(load_model, source), description)

    @qt_slot
    def use_model(self, model: Any, label: str, arch: str = "") -> None:
        """Use an already built model (scripts and tests), after anything queued before."""
        self._use(lambda: ReadyModel(model, label, arch), None)

    def _use(self, make: Callable[[], ReadyModel], description: str | None) -> None:
        if description is not None:
            self.loading = description
            self.say(description + "...")

        def run() -> tuple[ReadyModel, bool]:
            ready = make()
            self._session.use_model(ready.model)
            # whether an object had started in the worker's order (the Qt side may already
            # hold the first click of an object that will use this model)
            state = self._session.state
            return ready, bool(state.clicks) or state.map is not None

        self.submit(run, self._model_ready, self._model_failed)

    def _model_ready(self, outcome: tuple[ReadyModel, bool]) -> None:
        ready, object_started = outcome
        self.loading, self.model_label = None, ready.label
        self.model_changed.emit(ready.label)
        self.say(f"Model {ready.label} ready." + (NEXT_OBJECT if object_started else ""))

    def _model_failed(self, exc: Exception) -> None:
        self.loading = None
        message = f"could not load the model: {describe(exc)}"
        show_error(f"f-BRS: {message}")
        self.say(message)

    @qt_slot
    def set_config(self, config: PredictorConfig, device: str, local_window: int = 0) -> None:
        """Settings for the next object; ``device`` is the user's choice ("auto", "cpu",
        "cuda:1"...), checked in the worker (torch is imported there, never on this thread)."""
        engine = Engine(config, int(local_window))
        if (engine, device) == (self.engine, self.device_choice):
            return
        self.engine, self.device_choice = engine, device
        self.submit(partial(self._use_settings, engine, device), self._on_device)
        self.say("Settings changed." + self._next_object_note())

    def _use_settings(self, engine: Engine, device: str) -> str:
        """In the worker: resolve the device (ValueError naming the choices) and use it."""
        from napari_fbrs.model.device import select_device

        resolved = select_device(device)
        self._session.use_settings(engine, resolved)
        return str(resolved)

    def _on_device(self, device: str) -> None:
        self.device = device

    @property
    def config(self) -> PredictorConfig:
        return self.engine.config

    @qt_slot
    def set_threshold(self, value: float) -> None:
        """Re-threshold the current map in the session; no network call."""
        self.submit(partial(self._session.set_threshold, float(value)), self.show_state)

    @qt_slot
    def set_display(
        self,
        opacity: float,
        click_size: float,
        overwrite: bool,
        min_pixels: int | None = None,
        replace_ratio: float | None = None,
    ) -> None:
        """Display and finishing options; they apply at once."""
        self.overwrite = bool(overwrite)
        if min_pixels is not None:
            self.checks = ObjectChecks(int(min_pixels), self.checks.max_growth)
        if replace_ratio is not None:
            self.replace_ratio = float(replace_ratio)
        self.layers.set_display(opacity, click_size)

    # -- object actions (buttons and keys) --------------------------------------------------------
    @qt_slot
    def finish_object(self) -> None:
        plane = self.plane
        if plane is None:
            self.say("Nothing to finish: place a click on an object first.")
            return
        made = self.target is None and self.layers.existing_labels(plane.image) is None
        target = self.target_for(plane.image)
        if target is None:
            return
        options = (self.overwrite, self.replace_ratio, self.checks)
        self.hand_over(plane)
        grey = L.GreyPlane(plane.image, plane.slice_index)
        run = finish_call(self._session, target, grey, plane.slice_index, options)
        self.submit(run, partial(self._apply, target, made))

    @qt_slot
    def undo_click(self) -> None:
        if self.plane is None and self.last_painted is not None and not self.worker.busy:
            self._say_how_to_undo_painting()
            return
        if self.plane is None or not (self.state.clicks or self.worker.busy):
            self.say("No click to undo.")
            return
        self.input.remove_last()
        self.one_click.undo()  # the session's undo, which also takes back an auto-finish

    @qt_slot
    def redo_click(self) -> None:
        if self.plane is None or not self.state.can_redo:
            self.say("No undone click to redo.")
            return
        self.submit(self._session.redo, self.show_state)

    @qt_slot
    def reset_object(self) -> None:
        self.end_object()
        self.submit(self._session.reset, self.show_state)
        if self.image is not None and self.image in self.viewer.layers:
            self.layers.fit(self.image)

    @qt_slot
    def toggle_one_click(self) -> None:
        self.one_click.toggle()

    @qt_slot
    def close(self) -> None:
        """Stop the worker, release keys and events, remove the clicks and mask layers."""
        if self._closed:
            return
        self._closed = True
        self.worker.shutdown()
        self.viewer.layers.events.removed.disconnect(self._on_layer_removed)
        self.viewer.layers.events.inserted.disconnect(self._on_layer_inserted)
        if self.input.click_without_layer in self.viewer.mouse_drag_callbacks:
            self.viewer.mouse_drag_callbacks.remove(self.input.click_without_layer)
        if self.layers.clicks is not None:
            self._disconnect_clicks(self.layers.clicks)
        self.boxes.close()
        self.layers.remove_transient()

    # -- clicks -----------------------------------------------------------------------------------
    def _connect_clicks(self, layer: Points) -> None:
        self.input.attach(layer)
        bind_shortcuts(layer, self)
        layer.mouse_drag_callbacks.insert(0, self.editor.alt_press)
        layer.mouse_drag_callbacks.insert(0, self.one_click.note_press)

    def _disconnect_clicks(self, layer: Points) -> None:
        unbind_shortcuts(layer)
        for callback in (self.editor.alt_press, self.one_click.note_press):
            if callback in layer.mouse_drag_callbacks:
                layer.mouse_drag_callbacks.remove(callback)
        self.input.detach()

    def _restart(self) -> None:
        """Points were moved or deleted with napari's tools: start over from what remains."""
        self.end_object(clear_points=False)
        self.submit(self._session.reset, self.show_state)

    def _on_click(self, image: Image, slice_index: tuple[int, ...], click: Click) -> bool:
        if self.model_label is None and self.loading is None:
            return self.refuse("No model: choose one under Weights and Load, or Open file...")
        if self.plane is None:
            if not self.target_fits(image):
                return False
            self._start_object(_Plane(image, slice_index))
        elif self.plane.slice_index != slice_index:
            return self.refuse(
                f"The current object lives on slice {self.plane.slice_index}; finish (C) or "
                f"reset (X) it before clicking on slice {slice_index}. Click ignored."
            )
        elif self.one_click.enabled:  # this click may finish the object and start the next
            self.say("")
            done = partial(self._clicked, time.perf_counter())
            return self.one_click.click(self.plane.image, slice_index, click, done)
        queued = time.perf_counter()
        self.submit(partial(self._session.add_click, click), partial(self._clicked, queued))
        self.say("")  # earlier messages belong to earlier moments
        return True

    def start_prompted(
        self,
        image: Image,
        slice_index: tuple[int, ...],
        make_start: Callable[[Any], Any],
        message: str,
    ) -> bool:
        """Start an object from something other than a click (an existing label, a box):
        ``make_start(predictor) -> ObjectStart`` runs in the worker on the prepared image."""
        if self.model_label is None and self.loading is None:
            return self.refuse("No model: choose one under Weights and Load, or Open file...")
        if self.plane is not None:
            return self.refuse("An object is in progress: finish (C) or reset (X) it first.")
        if not self.target_fits(image):
            return False
        self._start_object(_Plane(image, slice_index))
        session = self._session
        self.submit(lambda: session.start_from(make_start(session.predictor)), self.show_state)
        self.say(message)
        return True

    def _remake_clicks_layer(self) -> Points | None:
        """The clicks layer was deleted and the user clicked the image: make it again."""
        if self.image is None or self._closed:
            return None
        self.set_image(self.image)
        return self.layers.clicks

    def _start_object(self, plane: _Plane) -> None:
        self.plane = plane
        windowed = self.engine.local_window > 0
        context = L.image_context(plane.image, plane.slice_index, windowed)
        self.submit(partial(self._session.start_object, context), self.show_state)

    def _clicked(self, queued: float, state: ObjectState) -> None:
        self.last_latency = time.perf_counter() - queued
        self.last_network = state.network_seconds
        self.show_state(state)

    def target_fits(self, image: Image) -> bool:
        """Whether objects of ``image`` can go where the user chose (refused otherwise);
        nothing is made (the image's own labels are made when an object is painted)."""
        if self.target is not None and self.target not in self.viewer.layers:
            self.set_target(None)  # the chosen layer was deleted
        if self.target is None:
            return True
        try:
            L.check_target(self.target, image)
        except ValueError as exc:
            return self.refuse(str(exc))
        return True

    def target_for(self, image: Image) -> Labels | None:
        """The labels layer objects of ``image`` go into (``None`` after a refusal)."""
        if self.target is not None and self.target not in self.viewer.layers:
            self.set_target(None)  # the chosen layer was deleted
        try:
            return self.layers.target_for(image, self.target)
        except ValueError as exc:
            self.refuse(str(exc))
            return None

    # -- results ----------------------------------------------------------------------------------
    def submit(
        self,
        run: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.worker.submit(
            run, qt_slot(partial(self._after, on_done)), qt_slot(on_error or self.report_failure)
        )

    def _after(self, on_done: Callable[[Any], None] | None, value: Any) -> None:
        if on_done is not None:
            on_done(value)
        self._sync_when_idle()

    def report_failure(self, exc: Exception) -> None:
        if not isinstance(exc, NoImageError):  # the failed start was already reported
            message = describe(exc)
            show_error(f"f-BRS: {message}")
            self.say(message)
        self._sync_when_idle()

    def show_state(self, state: ObjectState) -> None:
        self.state = state
        plane = self.plane
        image = plane.image if plane is not None else self.image
        if image is not None and image in self.viewer.layers:
            self.layers.show_object(image, state, plane.slice_index if plane else ())
        self.state_changed.emit(state)

    def _apply(self, target: Labels, made: bool, result: Result) -> None:
        finished, problems = result
        self.show_state(finished.state)
        plan = finished.plan
        if plan is None:
            if made:  # made for this object, which painted nothing: no empty layer stays
                self.layers.remove_if_empty(target)
            self.say(f"Nothing painted: {finished.reason}.")
            return
        release = partial(self._session.release, np.asarray(target.data), plan.label_id)
        if target not in self.viewer.layers:
            show_error(f"f-BRS: labels layer {target.name!r} was removed; object not saved.")
        else:
            self.painted_into(target)
            self.say(paint(target, plan, problems))
        self.submit(release)  # after painting: the labels now say which ids are taken

    def _say_how_to_undo_painting(self) -> None:
        """After Finish or Propagate the object is in the labels, whose undo is napari's."""
        target = self.last_painted
        assert target is not None
        if target not in self.viewer.layers:
            self.say("No click to undo.")
            return
        message = f"The object is finished: to take it back, {how_to_undo(target)}."
        show_info(message)
        self.say(message)

    def _sync_when_idle(self) -> None:
        """With nothing queued, the clicks layer shows exactly the session's clicks."""
        if self.worker.busy or self._closed:
            return
        clicks = self.state.clicks if self.plane is not None else ()
        lead = self.plane.slice_index if self.plane is not None else ()
        if not clicks and self.state.map is None:  # a started label or box has no clicks
            self._object_done()
        self.input.show(clicks, lead)

    # -- the object's hand-over to Finish and Propagate -------------------------------------------
    def object_to_propagate(self) -> _Plane | None:
        """The object on show, else the last one finished or propagated."""
        return self.plane or self.last_plane

    def hand_over(self, plane: _Plane) -> None:
        """The object on ``plane`` goes to the labels: end it here and remember its plane."""
        self.last_plane = plane
        self.end_object()

    def painted_into(self, target: Labels) -> None:
        """Where the last Finish or Propagate painted (Undo then says how to take it back)."""
        self.last_painted = target

    # -- helpers ----------------------------------------------------------------------------------
    def end_object(self, clear_points: bool = True) -> None:
        """Forget the object on the Qt side (the session is told by the caller)."""
        if clear_points:
            self.input.clear()
        self.one_click.forget()
        self._object_done()

    def _object_done(self) -> None:
        self.plane = None
        if self._pending_image is not None:
            image, self._pending_image = self._pending_image, None
            self.set_image(image)

    @qt_slot
    def _on_layer_removed(self, event) -> None:  # noqa: ANN001
        layer = event.value
        clicks_layer = self.layers.clicks
        kind = self.layers.forget(layer)
        if kind == "clicks" and clicks_layer is not None:
            self._disconnect_clicks(clicks_layer)
        ends_object = kind in ("clicks", "preview") or (
            self.plane is not None and layer is self.plane.image
        )
        if ends_object and self.plane is not None:
            self.warn_unfinished(f"{layer.name!r} was removed")
            self.end_object(clear_points=False)
            self.submit(self._session.reset, self.show_state)
        if isinstance(layer, Image):  # its prepared pixels go with it, in the worker
            self.submit(partial(self._session.forget, str(layer.unique_id)), self.show_state)
        if layer is self.image:
            self.image = None
        if layer is self.target:
            self.set_target(None)

    @qt_slot
    def _on_layer_inserted(self, event) -> None:  # noqa: ANN001
        self.layers.on_inserted(event.value)

    def warn_unfinished(self, why: str) -> None:
        """Tell the user that the object in progress is dropped (never silently)."""
        if self.plane is None:
            return
        count = len(self.state.clicks)
        where = self.plane.image.name
        self.refuse(
            f"The object in progress on {where!r} ({count} click{'s' * (count != 1)}) was not "
            f"finished and is not in the labels: {why}. Finish objects with C before closing."
        )

    def _next_object_note(self) -> str:
        return NEXT_OBJECT if self.plane is not None else ""

    def refuse(self, message: str) -> bool:
        show_warning(message)
        self.say(message)
        return False

    def say(self, message: str) -> None:
        self.message = message
        self.status_changed.emit(message)
