"""The front door for scripts and notebooks: :class:`Segmenter`.

``Segmenter`` is the interactive session (``inference.session.InteractiveSession``) with
everything a script would otherwise assemble by hand: the model resolved by name or path
and loaded strictly, the interactive preset, the local window for large images, the one image
normalisation rule, one click per call and finishing into a label array. The napari widget and
``napari-fbrs predict`` run the same session on the same predictor factory
(:func:`~napari_fbrs.inference.engine.factory.make_predictor`), so one set of clicks gives one mask
in all three.

    import napari_fbrs
    seg = napari_fbrs.Segmenter()            # the built-in model, f-BRS-B, interactive preset
    seg.set_image(image)                     # grey / RGB / RGBA, any dtype, numpy or dask
    mask = seg.click(120, 200)               # bool mask of the image's shape
    mask = seg.click(40, 60, positive=False)
    new_id = seg.finish(labels)              # paints into an integer array in place
    seg.edit_label(labels, 7)                # correct an existing label (or seg.set_mask(mask))
    mask = seg.box(10, 20, 90, 120)          # start from a box (row0, col0, row1, col1)

One click per object (dense nuclei): ``seg.set_labels(labels)``, then
``seg.one_click_per_object = True``: a positive click outside the current object finishes it
into those labels and starts the next object; ``seg.finish()`` keeps the last one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .threads import configure_threads


class Segmenter:
    """Click-based segmentation of one object at a time, with exact undo and redo.

    ``model``: ``"default"`` (the built-in model, offline), an official weights name such as
    ``"hrnet18_ocr64_sbd"`` (downloaded on first use), a checkpoint path, or a loaded
    ``torch.nn.Module`` of this package. ``mode``: NoBRS, RGB-BRS, DistMap-BRS, f-BRS-A/B/C.
    ``preset``: ``"demo"`` (the widget's: ZoomIn, images limited to 800 px, a 512-px local
    window beyond) or ``"eval"`` (the NoC protocol's). ``local_window``: override the window
    side in pixels (0 = predict large images whole).
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | Any = "default",
        mode: str = "f-BRS-B",
        device: str = "auto",
        preset: str = "demo",
        local_window: int | None = None,
        one_click_per_object: bool = False,
    ) -> None:
        configure_threads()
        from .inference.engine.config import preset as make_preset
        from .inference.engine.factory import default_local_window
        from .inference.session.interactive import InteractiveSession
        from .model.device import select_device

        self.config = make_preset(preset, mode)
        self.device = select_device(device)
        self.model, self.arch = _load(model, self.device)
        window = default_local_window(preset) if local_window is None else int(local_window)
        if window < 0:
            raise ValueError(f"local_window must be 0 (off) or positive, got {window}")
        self.local_window = window
        self._session = InteractiveSession(prob_thresh=self.config.prob_thresh)
        self._shape: tuple[int, int] | None = None
        self.one_click_per_object = bool(one_click_per_object)
        self._labels: np.ndarray | None = None  # set_labels: where finish() paints by default
        self._undo_paint: list[tuple[int, tuple[np.ndarray, ...], np.ndarray]] = []

    # -- the image -----------------------------------------------------------------------------
    def set_image(
        self,
        image: Any,
        rgb: bool | None = None,
        contrast_limits: Sequence[float] | None = None,
    ) -> None:
        """Prepare ``image`` (2-D grey, ``H x W x 3`` RGB or ``x 4`` RGBA; numpy or dask; any
        dtype) and start a new object. Intensities become 8-bit RGB by the package's one rule
        (``napari_fbrs.io.images.to_model_rgb``: ``contrast_limits`` when given, else the
        image's own range), as in the widget. A plane of a stack: pass ``stack[z]``."""
        from .inference.engine.factory import make_predictor
        from .io.images import to_model_rgb

        data = np.asarray(image)
        if data.ndim not in (2, 3) or (data.ndim == 3 and data.shape[-1] not in (3, 4)):
            raise ValueError(
                f"expected a 2-D grey, H x W x 3 or H x W x 4 image, got shape {data.shape}; "
                "for a stack pass one plane, e.g. stack[z]"
            )
        pixels = to_model_rgb(data, contrast_limits, rgb)
        predictor = make_predictor(self.model, self.config, self.device, self.local_window)
        self._session.predictor = predictor
        self._session.set_image(pixels)
        self._shape = (int(pixels.shape[0]), int(pixels.shape[1]))
        self._undo_paint = []

    @property
    def image_shape(self) -> tuple[int, int]:
        if self._shape is None:
            raise RuntimeError("no image: call set_image(image) first")
        return self._shape

    # -- the object ----------------------------------------------------------------------------
    def click(
        self, row: float, col: float, positive: bool = True, same_object: bool = False
    ) -> np.ndarray:
        """Add one click (row 0 at the top) and return the object's mask after it.

        With :attr:`one_click_per_object`, a positive click outside the current object first
        finishes it into the labels of :meth:`set_labels` (as :meth:`finish`); the mask
        returned is then the new object's. ``same_object=True`` makes such a click correct
        the current object instead (a part its mask missed; the widget's Shift+click)."""
        from .inference.engine.clicks import Click

        self.image_shape  # noqa: B018 - raises without an image
        click = Click(float(row), float(col), bool(positive))
        if not self.one_click_per_object:
            self._session.add_click(click)
            return self._mask()
        labels = self._checked_labels(None)
        done = self._session.click_one_per_object(click, labels, same_object=same_object)
        plan = done.finished.plan if done.finished is not None else None
        if plan is not None:
            self._undo_paint.append((plan.label_id, plan.all_indices, labels[plan.all_indices]))
            plan.apply_to(labels)
            self._session.release(labels, plan.label_id)
        return self._mask()

    def undo(self) -> np.ndarray | None:
        """Take back the last click (exactly); returns the mask before it (None: no click).

        Undoing the click that finished an object in :attr:`one_click_per_object` mode takes
        that object out of the labels (their earlier values restored) and makes it the current
        object again, with its clicks."""
        self.image_shape  # noqa: B018 - raises without an image
        undone = self._session.undo_click().unfinished
        plan = undone.plan if undone is not None else None
        if plan is not None and self._labels is not None and self._undo_paint:
            label_id, indices, old = self._undo_paint.pop()
            if label_id == plan.label_id:
                self._labels[indices] = old
        return self._mask()

    def redo(self) -> np.ndarray | None:
        """Place the last undone click again; returns the mask."""
        self.image_shape  # noqa: B018
        self._session.redo()
        return self._mask()

    def reset(self) -> None:
        """Drop the current object's clicks and history (the image stays prepared)."""
        self._session.reset()
        self._undo_paint = []

    def set_labels(self, labels: np.ndarray) -> None:
        """The integer array (the image's shape) that :meth:`finish` without an argument and
        one-click-per-object paint into, in place."""
        _check_labels(labels, self._shape)
        self._labels = labels
        self._undo_paint = []

    @property
    def labels(self) -> np.ndarray | None:
        """The array given to :meth:`set_labels` (None: none yet)."""
        return self._labels

    def _checked_labels(self, labels: np.ndarray | None) -> np.ndarray:
        if labels is None:
            labels = self._labels
        if labels is None:
            raise RuntimeError(
                "no labels: call set_labels(labels) first (one click per object and finish() "
                "without an argument paint into them)"
            )
        _check_labels(labels, self.image_shape)
        return labels

    # -- starting from a mask, a label or a box (issue 24) --------------------------------------
    def set_mask(self, mask: np.ndarray, label_id: int | None = None) -> np.ndarray:
        """Start a new object from an existing ``mask`` (bool or 0/1 of the image's shape):
        :attr:`mask` is it until the first click, and clicks correct it (see
        ``napari_fbrs.inference.session.init_mask`` for what models without a previous-mask
        input do). With ``label_id``, :meth:`finish` writes the object back with that id,
        replacing its old pixels. Returns the starting mask (a bool copy)."""
        from .inference.session.init_mask import check_mask, start_from_mask

        checked = check_mask(mask, self.image_shape)
        predictor = self._session.predictor
        assert predictor is not None
        start = start_from_mask(checked, predictor.uses_prev_mask, label_id)
        self._session.start_from(start)
        return checked.copy()

    def edit_label(self, labels: np.ndarray, label_id: int) -> np.ndarray:
        """Correct label ``label_id`` of ``labels``: ``set_mask(labels == label_id,
        label_id)``; ``finish(labels)`` then keeps its id. Returns its mask."""
        from .inference.session.init_mask import mask_of_label

        return self.set_mask(mask_of_label(labels, label_id), label_id)

    def box(self, row0: float, col0: float, row1: float, col1: float) -> np.ndarray:
        """Start a new object from a box (ends exclusive, like slices) and return its mask;
        clicks then correct it (see ``napari_fbrs.inference.session.boxes``)."""
        from .inference.session.boxes import box_start, check_box

        box = check_box((row0, col0, row1, col1), self.image_shape)
        predictor = self._session.predictor
        assert predictor is not None
        self._session.start_from(box_start(predictor, box))
        mask = self._mask()
        assert mask is not None
        return mask

    @property
    def clicks(self) -> tuple[Any, ...]:
        """The current object's clicks (``Click(row, col, positive)``), oldest first."""
        return self._session.clicks

    @property
    def probabilities(self) -> np.ndarray | None:
        """Float32 object probabilities of the image's shape after the last click (None
        before the first click)."""
        probs = self._session.state.probs
        return None if probs is None else np.asarray(probs, dtype=np.float32)

    @property
    def mask(self) -> np.ndarray | None:
        """The current object as a bool array of the image's shape (None before a click or a
        start from a mask or box)."""
        return self._mask()

    def _mask(self) -> np.ndarray | None:
        probs = self.probabilities
        return None if probs is None else probs > self._session.threshold

    def finish(self, labels: np.ndarray | None = None, overwrite: bool = False) -> int:
        """Paint the current object into ``labels`` (an integer array of the image's shape;
        default: the array of :meth:`set_labels`) in place and start a new object. The id is
        the next free one (max + 1), or the edited label's (:meth:`edit_label`,
        ``set_mask(..., label_id)``), whose old pixels are then replaced; existing labels are
        kept unless ``overwrite``. Returns the id, or 0 when nothing was painted (no click
        yet, an empty mask, or every pixel already labelled). Objects finished before it by
        one click per object stay finished (undo no longer takes them back)."""
        labels = self._checked_labels(labels)
        self._undo_paint = []
        finished = self._session.finish(labels, overwrite=overwrite)
        plan = finished.plan
        if plan is None or plan.num_pixels == 0:
            return 0
        plan.apply_to(labels)
        return int(plan.label_id)


def _check_labels(labels: Any, shape: tuple[int, int] | None) -> None:
    if not isinstance(labels, np.ndarray) or not np.issubdtype(labels.dtype, np.integer):
        raise TypeError("labels must be an integer numpy array (e.g. np.zeros(shape, int))")
    if shape is not None and labels.shape != shape:
        raise ValueError(f"labels have shape {labels.shape}, the image {shape}")


def _load(model: Any, device: Any) -> tuple[Any, str]:
    """A loaded model and its architecture name from a name, a path or a module."""
    import torch

    if isinstance(model, torch.nn.Module):
        return model.eval(), type(model).__name__
    from .model.checkpoint import load_checkpoint
    from .model.weights import resolve_checkpoint

    loaded = load_checkpoint(resolve_checkpoint(model), device=device)
    return loaded.model, loaded.arch
