"""The "Segment everything" button: every object of the current image (or slice) at once.

The work is :func:`napari_fbrs.segment_all`, run as one call of the widget's worker FIFO (after
anything queued before it, never on the Qt thread). A thread-safe progress callback moves a
napari progress bar on the Qt thread; Cancel sets a flag the core checks between batches of
seeds. The new objects are painted into the target labels as ONE step of napari's labels undo,
only on unlabelled pixels unless "Over existing labels" is ticked.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from magicgui.widgets import CheckBox, Container, PushButton, SpinBox
from napari.layers import Image

from napari_fbrs._napari.progress_run import ProgressRun, WorkerHost

from . import layers as L


def current_slice(viewer: Any, image: Any) -> tuple[int, ...] | None:
    """The indices of the plane of ``image`` the viewer shows (``()`` for a 2-D image)."""
    ndim = len(L.spatial_shape(image))
    if ndim == 2:
        return ()
    pixel = L.pixel_of(image, np.asarray(viewer.dims.point))
    if pixel is None:
        return None
    return tuple(pixel[:-2])


class SegmentAllHost(WorkerHost, Protocol):
    """What "Segment everything" needs from the controller, and nothing more."""

    @property
    def image(self) -> Image | None: ...
    @property
    def plane(self) -> object | None: ...


class SegmentEverything:
    """Runs :func:`napari_fbrs.segment_all` on the shown plane and paints the result."""

    def __init__(self, controller: SegmentAllHost, session: Any) -> None:
        self.controller = controller
        self._session = session  # read only from the worker, like the controller does
        self.run: ProgressRun | None = None

    @property
    def running(self) -> bool:
        return self.run is not None

    def start(self, min_area: int, overwrite: bool) -> None:
        c = self.controller
        image = c.image
        if image is None or image not in c.viewer.layers:
            c.say("Nothing to segment: choose an image first.")
            return
        if self.running:
            c.say("Segment everything is running; cancel it or wait for it.")
            return
        if c.plane is not None:
            c.say("Finish (C) or reset (X) the current object first.")
            return
        slice_index = current_slice(c.viewer, image)
        if slice_index is None:
            c.say("The shown slice lies outside the image.")
            return
        target = c.target_for(image)
        if target is None:
            return
        plane = np.asarray(L.image_plane(image, slice_index))
        limits, rgb = L.model_input_options(image)
        self.run = run = ProgressRun("f-BRS segment everything")
        where = f" on slice {slice_index[-1]}" if slice_index else ""
        c.say(f"Segmenting everything{where}...")

        def work() -> tuple[tuple[np.ndarray, ...], np.ndarray]:
            from napari_fbrs.dense import segment_all
            from napari_fbrs.inference.dense.select import add_objects

            model, device = self._session.model, self._session.device
            if model is None:
                raise RuntimeError("no model is loaded yet (Weights: Load, or Open file...)")
            found = segment_all(
                plane,
                model,
                min_area=min_area,
                device=str(device or "cpu"),
                contrast_limits=limits,
                rgb=rgb,
                progress=run.report,
                cancelled=run.cancelled.is_set,
            )
            labels = np.asarray(target.data)[slice_index]
            indices, values = add_objects(labels, found, min_area, overwrite)
            lead = tuple(np.full(len(values), i, dtype=np.intp) for i in slice_index)
            return (*lead, *indices), values

        def done(result: tuple[tuple[np.ndarray, ...], np.ndarray]) -> None:
            self._finish(run)
            indices, values = result
            count = len(np.unique(values))
            if count == 0:
                c.say("Segment everything found no new object.")
                return
            target.data_setitem(indices, values)  # one undo step
            c.painted_into(target)
            c.say(
                f"Segment everything: {count} objects -> {target.name!r} "
                f"(Ctrl+Z on that layer takes them all back)."
            )

        def failed(exc: Exception) -> None:
            from napari_fbrs.inference.dense.automatic import Cancelled

            self._finish(run)
            if isinstance(exc, Cancelled):
                c.say("Segment everything cancelled: nothing painted.")
                return
            c.report_failure(exc)

        c.submit(work, done, failed)

    def cancel(self) -> None:
        if self.run is not None:
            self.run.cancelled.set()
            self.controller.say("Cancelling segment everything after the current batch...")

    def _finish(self, run: ProgressRun) -> None:
        run.close()
        if self.run is run:
            self.run = None


class SegmentAllPanel(Container):
    """The button, Cancel, the smallest object and "Over existing labels"."""

    def __init__(self, action: SegmentEverything) -> None:
        self.action = action
        self.start_button = PushButton(text="Segment everything")
        self.start_button.tooltip = (
            "Find every object of the image (or the slice shown) with the model and add them "
            "to the labels, as one undo step"
        )
        self.cancel_button = PushButton(text="Cancel")
        self.min_area = SpinBox(label="Smallest object (pixels)", min=0, max=1_000_000, value=10)
        self.overwrite = CheckBox(text="Over existing labels", value=False)
        buttons = Container(
            widgets=[self.start_button, self.cancel_button], layout="horizontal", labels=False
        )
        super().__init__(widgets=[buttons, self.min_area, self.overwrite])
        self.start_button.changed.connect(self._start)
        self.cancel_button.changed.connect(action.cancel)

    def _start(self, _value: object = None) -> None:
        self.action.start(int(self.min_area.value), bool(self.overwrite.value))
