"""Clicks in, masks out: the link between napari layers and the background session.

The clicks layer is the source of truth for the object being built. Points added to it (by the
mouse in add mode, by ``layer.add``, or by setting ``layer.data``) become clicks; if points are
moved or deleted with napari's own tools, the object is recomputed from the clicks that remain.
Every click is mapped from world coordinates to the image's pixels, checked (model loaded,
inside the image, 2-D view, same slice as the object) and queued for the worker. Results come
back on the Qt thread and update the current-object layer; a finished object is painted into
the target labels layer as one undoable edit.

The object lives on the slice shown when its first click was placed. A click on another slice
while an object is in progress is refused with a message (nothing is finished or dropped
silently): finish (C) or reset (X) the object first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from napari.layers import Image, Labels, Points
from napari.utils.notifications import show_error, show_warning

from napari_fbrs.inference.clicks import Click
from napari_fbrs.inference.config import PredictorConfig, demo_preset

from . import layers as L
from .keybindings import bind_shortcuts, unbind_shortcuts
from .model_choice import ReadyModel
from .worker import (
    AddClick,
    Failure,
    Finished,
    FinishObject,
    ObjectContext,
    Prediction,
    ResetObject,
    Result,
    SegmentationQueue,
    StartObject,
    UndoClick,
)


@dataclass(frozen=True)
class _Accepted:
    coords: tuple[float, ...]  # as placed in the clicks layer
    positive: bool
    job_id: int


class Controller:
    """State of the object being built, on the Qt side. ``on_change`` refreshes the widget."""

    def __init__(self, viewer, on_change: Callable[[], None]) -> None:  # noqa: ANN001
        self.viewer = viewer
        self._on_change = on_change
        self.queue = SegmentationQueue(self._on_result)
        self.image: Image | None = None
        self.target: Labels | None = None  # None: create f-BRS labels
        self._own_target: Labels | None = None
        self.clicks_layer: Points | None = None
        self.preview_layer: Labels | None = None
        self.model: ReadyModel | None = None
        self.device = torch.device("cpu")
        self.config: PredictorConfig = demo_preset()
        self.threshold = self.config.prob_thresh
        self.overwrite = False
        self.click_size = 10.0
        self.opacity = 0.5
        self.last_latency: float | None = None
        self.last_network: float | None = None
        self.message = ""
        self._accepted: list[_Accepted] = []
        self._object: tuple[Image, tuple[int, ...]] | None = None  # image and slice in use
        self._pending_image: Image | None = None
        self._generation = 0
        self._probs: np.ndarray | None = None
        self._syncing = False
        self._closed = False
        self.queue.set_threshold(self.threshold)
        viewer.layers.events.removed.connect(self._on_layer_removed)

    # -- public actions ---------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def clicks(self) -> int:
        return len(self._accepted)

    @property
    def probs(self) -> np.ndarray | None:
        """The probability map shown (the session's map after the last handled result)."""
        return self._probs

    @property
    def current_mask(self) -> np.ndarray | None:
        """The shown object (2-D, image plane resolution) at the current threshold."""
        return None if self._probs is None else self._probs > self.threshold

    def set_image(self, image: Image | None) -> None:
        """Segment ``image`` from now on (after the current object, if one is in progress)."""
        if self._accepted and image is not self.image:
            self._pending_image = image
            self._say("The current object stays on its image; finish or reset it to switch.")
            return
        self._pending_image = None
        self.image = image
        self.ensure_layers()

    def ensure_layers(self) -> None:
        """Create (or re-fit) the target labels, current-object and clicks layers.

        Creating them up front keeps layer creation (hundreds of ms with software OpenGL) out
        of the first click.
        """
        image = self.image
        if image is None:
            return
        ndim = len(L.spatial_shape(image))
        if self._needs_new_target(image):
            self.target = self._own_target = self.viewer.add_layer(L.make_labels_layer(image))
        if self.preview_layer is None or self.preview_layer.ndim != ndim:
            self._remove_own(self.preview_layer)
            self.preview_layer = self.viewer.add_layer(L.make_preview_layer(image, self.opacity))
        if self.clicks_layer is None or self.clicks_layer.ndim != ndim:
            self._remove_own(self.clicks_layer)
            layer = L.make_clicks_layer(image, self.click_size)
            layer.events.data.connect(self._on_points_changed)
            bind_shortcuts(layer, self)
            self.clicks_layer = self.viewer.add_layer(layer)
        else:
            self.clicks_layer.scale = np.asarray(image.scale)[-ndim:]
            self.clicks_layer.translate = np.asarray(image.translate)[-ndim:]
        self.viewer.layers.selection.active = self.clicks_layer

    def set_model(self, model: ReadyModel) -> None:
        self.model = model
        self._say(f"Model {model.label} ready." + self._next_object_note())

    def set_config(self, config: PredictorConfig, device: torch.device) -> None:
        if (config, device) != (self.config, self.device):
            self.config, self.device = config, device
            self._say("Settings changed." + self._next_object_note())

    def set_threshold(self, value: float) -> None:
        """Re-threshold the current map; no network call."""
        self.threshold = float(value)
        self.queue.set_threshold(self.threshold)
        self._show()

    def set_display(self, opacity: float, click_size: float) -> None:
        self.opacity, self.click_size = float(opacity), float(click_size)
        if self.preview_layer is not None:
            self.preview_layer.opacity = self.opacity
        if self.clicks_layer is not None:
            self.clicks_layer.current_size = self.click_size
            if len(self.clicks_layer.data):
                self.clicks_layer.size = self.click_size

    def finish_object(self) -> None:
        if not self._accepted or self._object is None:
            self._say("Nothing to finish: place a click on an object first.")
            return
        image, slice_index = self._object
        try:
            ticket = (self._ensure_target(image), slice_index)
        except ValueError as exc:
            show_error(f"f-BRS: {exc}")
            return
        generation = self._generation
        self._end_object()
        self.queue.submit(FinishObject(generation, ticket=ticket))

    def undo_click(self) -> None:
        if not self._accepted:
            self._say("No click to undo.")
            return
        self._accepted.pop()
        self._remove_points([len(self._accepted)])
        self.queue.submit(UndoClick(self._generation))
        if not self._accepted:
            self._object_done()
        self._on_change()

    def reset_object(self) -> None:
        if self._object is not None:
            generation = self._generation
            self._end_object()
            self.queue.submit(ResetObject(generation))
        self.ensure_layers()
        self._on_change()

    def close(self) -> None:
        """Stop the worker, release keys and events, remove the plugin's transient layers."""
        if self._closed:
            return
        self._closed = True
        self.queue.shutdown()
        self.viewer.layers.events.removed.disconnect(self._on_layer_removed)
        clicks, preview = self.clicks_layer, self.preview_layer
        self._release_clicks_layer()
        self.preview_layer = None
        for layer in (clicks, preview):
            self._remove_own(layer)

    # -- clicks -------------------------------------------------------------------------------
    def _on_points_changed(self, event) -> None:  # noqa: ANN001 - napari event
        if self._syncing or str(event.action) not in ("added", "removed", "changed"):
            return
        assert self.clicks_layer is not None
        points = L.clicks_in_layer(self.clicks_layer)
        known = [(a.coords, a.positive) for a in self._accepted]
        if points[: len(known)] == known:
            new = list(enumerate(points))[len(known) :]
        else:  # moved or deleted with napari's tools: recompute from what remains
            if self._object is not None:
                generation = self._generation
                self._end_object(clear_points=False)
                self.queue.submit(ResetObject(generation))
            new = list(enumerate(points))
        rejected = [index for index, (coords, sign) in new if not self._accept(coords, sign)]
        self._remove_points(rejected)
        self._on_change()

    def _accept(self, coords: tuple[float, ...], positive: bool) -> bool:
        image = self.image
        if self.model is None:
            return self._refuse("Load a model first (Weights: Load, or Open file...).")
        if image is None or image not in self.viewer.layers:
            return self._refuse("Choose an image layer first.")
        dims = self.viewer.dims
        if dims.ndisplay != 2 or tuple(dims.displayed) != (dims.ndim - 2, dims.ndim - 1):
            return self._refuse("f-BRS works on 2-D planes: use the 2-D view, axes not rolled.")
        assert self.clicks_layer is not None
        pixel = L.pixel_of(image, np.asarray(self.clicks_layer.data_to_world(coords)))
        if pixel is None:
            where = ", ".join(f"{c:.1f}" for c in coords)
            return self._refuse(
                f"Click at ({where}) is outside image {image.name!r} "
                f"{L.spatial_shape(image)}: ignored."
            )
        slice_index, (row, col) = pixel[:-2], pixel[-2:]
        if self._object is None:
            if not self._start_object(image, slice_index):
                return False
        elif self._object[1] != slice_index:
            return self._refuse(
                f"The current object lives on slice {self._object[1]}; finish (C) or reset (X)"
                f" it before clicking on slice {slice_index}. Click ignored."
            )
        job = AddClick(self._generation, click=Click(row, col, positive))
        self._accepted.append(_Accepted(coords, positive, job.id))
        self.queue.submit(job)
        return True

    def _start_object(self, image: Image, slice_index: tuple[int, ...]) -> bool:
        assert self.model is not None
        try:
            self._ensure_target(image)
        except ValueError as exc:
            return self._refuse(str(exc))
        self._generation += 1
        self._object = (image, slice_index)
        contrast_limits, rgb = L.model_input_options(image)
        context = ObjectContext(
            image_key=(id(image), id(image.data), slice_index),
            plane=L.image_plane(image, slice_index),
            contrast_limits=contrast_limits,
            rgb=rgb,
            model=self.model.model,
            config=self.config,
            device=self.device,
        )
        self.queue.submit(StartObject(self._generation, context=context))
        return True

    def _needs_new_target(self, image: Image) -> bool:
        """No usable target: none chosen, removed, or our own made for another image shape."""
        if self.target is None or self.target not in self.viewer.layers:
            return True
        shape = tuple(self.target.data.shape)
        return self.target is self._own_target and shape != L.spatial_shape(image)

    def _ensure_target(self, image: Image) -> Labels:
        if self._needs_new_target(image):
            self.target = self._own_target = L.make_labels_layer(image)
            below = self.viewer.layers.index(self.preview_layer) if self.preview_layer else None
            if below is None:
                self.viewer.add_layer(self.target)
            else:
                self.viewer.layers.insert(below, self.target)
            self.viewer.layers.selection.active = self.clicks_layer
        assert self.target is not None
        L.check_target(self.target, image)
        return self.target

    # -- results --------------------------------------------------------------------------------
    def _on_result(self, result: Result) -> None:
        if self._closed:
            return
        job = result.job
        if isinstance(result, Failure):
            show_error(f"f-BRS: {result.message}")
            if job.generation == self._generation and isinstance(job, StartObject):
                self._end_object()
            elif job.generation == self._generation and isinstance(job, AddClick):
                index = next((i for i, a in enumerate(self._accepted) if a.job_id == job.id), None)
                if index is not None:
                    self._accepted.pop(index)
                    self._remove_points([index])
        elif isinstance(result, Finished):
            self._paint(result)
        elif isinstance(result, Prediction) and job.generation == self._generation:
            if not isinstance(job, StartObject):
                self._probs = result.probs
                self._show()
            if isinstance(job, AddClick):
                self.last_latency = time.perf_counter() - job.queued_at
                self.last_network = result.network_seconds
        self._on_change()

    def _show(self) -> None:
        if self.preview_layer is None or self.image is None:
            return
        slice_index = self._object[1] if self._object is not None else ()
        image = self._object[0] if self._object is not None else self.image
        L.show_preview(self.preview_layer, image, self.current_mask, slice_index)

    def _paint(self, result: Finished) -> None:
        target, slice_index = result.job.ticket
        if result.probs is None:
            return self._say("Nothing painted: the object had no prediction.")
        mask = result.probs > self.threshold
        if not mask.any():
            return self._say(f"Nothing painted: the object is empty at {self.threshold:.2f}.")
        if target not in self.viewer.layers:
            show_error(f"f-BRS: labels layer {target.name!r} was removed; object not saved.")
            return
        try:
            plan = L.paint_object(target, mask, slice_index, self.overwrite)
        except (OverflowError, ValueError) as exc:
            show_error(f"f-BRS: {exc}")
            return
        message, warning = L.describe_paint(plan, target.name)
        if warning:
            show_warning(warning)
        self._say(message)

    # -- helpers ---------------------------------------------------------------------------------
    def _end_object(self, clear_points: bool = True) -> None:
        """Forget the object on the Qt side (the worker is told separately)."""
        self._accepted = []
        if clear_points and self.clicks_layer is not None and len(self.clicks_layer.data):
            self._remove_points(list(range(len(self.clicks_layer.data))))
        self._generation += 1
        self._probs = None
        self._show()
        self._object_done()

    def _object_done(self) -> None:
        self._object = None
        if self._pending_image is not None:
            self.set_image(self._pending_image)

    def _remove_points(self, indices: list[int]) -> None:
        if not indices or self.clicks_layer is None:
            return
        self._syncing = True
        try:
            self.clicks_layer.selected_data = set()
            self.clicks_layer.remove(indices)
        finally:
            self._syncing = False

    def _remove_own(self, layer) -> None:  # noqa: ANN001
        if layer is not None and layer in self.viewer.layers:
            self.viewer.layers.remove(layer)  # _on_layer_removed releases it

    def _release_clicks_layer(self) -> None:
        if self.clicks_layer is not None:
            unbind_shortcuts(self.clicks_layer)
            self.clicks_layer.events.data.disconnect(self._on_points_changed)
            self.clicks_layer = None

    def _on_layer_removed(self, event) -> None:  # noqa: ANN001
        layer = event.value
        if (layer is self.clicks_layer or layer is self.image) and self._object is not None:
            generation = self._generation
            self._end_object(clear_points=False)
            self.queue.submit(ResetObject(generation))
        if layer is self.clicks_layer:
            self._release_clicks_layer()
        elif layer is self.preview_layer:
            self.preview_layer = None
        elif layer is self.image:
            self.image = None
        elif layer is self.target:
            self.target = None
        self._on_change()

    def _next_object_note(self) -> str:
        return " It applies from the next object on." if self._accepted else ""

    def _refuse(self, message: str) -> bool:
        show_warning(message)
        self._say(message)
        return False

    def _say(self, message: str) -> None:
        self.message = message
        self._on_change()
