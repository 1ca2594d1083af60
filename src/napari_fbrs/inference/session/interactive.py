"""A UI-free interactive segmentation session: the one owner of the object being segmented.

From the first click to finishing, everything about the current object lives here: the model
and settings it is computed with, the image it is computed on (and the predictor prepared for
that image, reused while the image and settings stay the same), its clicks, the probability
threshold, the undo and redo history, and finishing it into a label image with an id the
session chooses. Every call returns an :class:`ObjectState`, an immutable value, so callers
(the napari widget's worker, the command line, tests) never read results out of attributes
after the fact. The session does no threading and no I/O: it runs unchanged inside a worker
thread, which must then be the only thread calling it.

Undo is exact: a snapshot holds the predictor's state (transform regions, BRS variables, cached
features, the previous mask) and the map. Snapshots of large images are big, so the history
keeps at most ``history_bytes`` of them; an undo to a point whose snapshot was dropped replays
the clicks from the nearest kept snapshot (or from the start), which the deterministic
predictor reproduces exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_fbrs.inference.engine.clicks import Click, check_inside
from napari_fbrs.inference.engine.maps import ProbabilityMap
from napari_fbrs.inference.engine.protocol import ObjectPredictor
from napari_fbrs.inference.session.history import History, Snapshot
from napari_fbrs.inference.session.init_mask import ObjectStart, correct_locally
from napari_fbrs.inference.session.one_click import (
    OneClick,
    Parked,
    drop_oldest,
    parked_bytes,
    starts_new_object,
)
from napari_fbrs.inference.session.painting import (
    REPLACE_RATIO,
    PaintPlan,
    next_label_id,
    plan_paint,
)
from napari_fbrs.inference.stacks.seeding import SliceMask
from napari_fbrs.inference.stacks.stack_objects import StackObject, StackPlan, plan_stack

#: Default memory budget of the undo history (snapshots beyond it are replayed on undo).
DEFAULT_HISTORY_BYTES = 512 * 2**20


class NoImageError(RuntimeError):
    """A click arrived but no image is prepared (its object failed to start)."""


@dataclass(frozen=True)
class ObjectState:
    """The current object after a session call."""

    clicks: tuple[Click, ...] = ()
    map: ProbabilityMap | None = None
    threshold: float = 0.5
    can_undo: bool = False
    can_redo: bool = False
    network_seconds: float = 0.0
    lbfgs_evals: int = 0  # L-BFGS evaluations of the last click (BRS modes)
    object_id: int = 0  # changes whenever a new object starts (finish, reset, new image)
    edit_label: int | None = None  # the existing label this object replaces when finished

    def mask(self) -> np.ndarray | None:
        """The object inside its map's window at the threshold (``None``: no prediction)."""
        return None if self.map is None else self.map.mask(self.threshold)

    @property
    def probs(self) -> np.ndarray | None:
        """The map at image size (builds it for a windowed map)."""
        return None if self.map is None else self.map.full()


@dataclass(frozen=True)
class StackFinished:
    """What :meth:`InteractiveSession.propagate` did: the plan over the stack and the result."""

    plan: StackPlan | None
    state: ObjectState
    reason: str = ""
    result: Any = None  # the PropagationResult (slices reached, why each direction stopped)


@dataclass(frozen=True)
class Finished:
    """What :meth:`InteractiveSession.finish` did: the plan to apply and the new state."""

    plan: PaintPlan | None
    state: ObjectState
    reason: str = ""  # why nothing is painted, when ``plan`` is None


class InteractiveSession:
    """Clicks -> probability map -> finished objects, with exact undo and redo.

    Give a ready ``predictor`` (scripts, tests, the command line) and call :meth:`set_image`;
    or give a ``predictor_factory`` (``(model, config, device) -> predictor``) and let
    :meth:`start_object` prepare one per image context, as the widget does.
    """

    def __init__(
        self,
        predictor: ObjectPredictor | None = None,
        prob_thresh: float = 0.5,
        *,
        history_bytes: int = DEFAULT_HISTORY_BYTES,
        predictor_factory: Any = None,
    ) -> None:
        self.predictor = predictor
        self._factory = predictor_factory
        self._threshold = float(prob_thresh)
        self._model: Any = None
        self._settings: tuple[Any, Any] | None = None  # config, device
        self._context_key: Hashable | None = None
        self._context_owner: Hashable = None
        self._clicks: tuple[Click, ...] = ()
        self._map: ProbabilityMap | None = None
        self._history = History(history_bytes)
        self._object_id = 0
        self._last_seconds = 0.0
        self._last_evals = 0
        # id(label array) -> ids planned for it that the caller has not applied yet
        self._reserved: dict[int, set[int]] = {}
        self._stack_object: StackObject | None = None  # last object finished on a stack slice
        self._parked: list[Parked] = []  # objects finished by a click, newest last (one_click)
        self._parking = False  # while a click finishes an object: the chain goes on
        self._start: ObjectStart | None = None  # what the object started from, if not a click

    # -- what the object is computed with and on ----------------------------------------------
    def use_model(self, model: Any) -> None:
        """The network for the next object (the current one keeps its own)."""
        self._model = model

    @property
    def model(self) -> Any:
        """The network the next object uses (None before one is loaded)."""
        return self._model

    @property
    def device(self) -> Any:
        """The device of the next object's predictor (None before settings are given)."""
        return None if self._settings is None else self._settings[1]

    def use_settings(self, config: Any, device: Any) -> None:
        """Predictor settings and device for the next object."""
        self._settings = (config, device)

    def start_object(self, context: ImageContext) -> ObjectState:
        """Start a new object on ``context``; the prepared image is reused when unchanged."""
        if self._model is None:
            raise RuntimeError("no model is loaded yet (Weights: Load, or Open file...)")
        if self._settings is None:
            raise RuntimeError("no predictor settings were given")
        model, (config, device) = self._model, self._settings
        key = (context.key, id(model), config, str(device))
        if self.predictor is None or key != self._context_key:
            # Nothing of the previous image survives a failed preparation: the clicks that
            # follow must not run on it.
            self.predictor, self._context_key = None, None
            if self._factory is None:
                raise RuntimeError("this session was made without a predictor factory")
            predictor = self._factory(model, config, device)
            predictor.set_image(context.load())
            self.predictor, self._context_key = predictor, key
            self._context_owner = context.owner
        self._new_object()
        return self.state

    def forget(self, owner: Hashable) -> ObjectState:
        """The pixels of ``owner`` are gone (its layer was removed): drop the image prepared
        from them, and the object on it. Images of other owners stay prepared."""
        if owner is not None and self._context_key is not None and self._context_owner == owner:
            self.predictor, self._context_key, self._context_owner = None, None, None
            self._new_object()
        return self.state

    def set_image(self, image: Any) -> ObjectState:
        """Start over on a new image (an ``H x W x 3`` RGB array for the plain predictor)."""
        if self.predictor is None:
            raise RuntimeError("this session has no predictor; use start_object")
        self.predictor.set_image(image)
        self._context_key = None
        self._new_object()
        return self.state

    @property
    def image_shape(self) -> tuple[int, int]:
        if self.predictor is None:
            raise RuntimeError("no image is prepared")
        return self.predictor.image_shape

    # -- the object ------------------------------------------------------------------------------
    @property
    def state(self) -> ObjectState:
        return ObjectState(
            clicks=self._clicks,
            map=self._map,
            threshold=self._threshold,
            can_undo=bool(self._history.undo),
            can_redo=bool(self._history.redo),
            network_seconds=self._last_seconds,
            lbfgs_evals=self._last_evals,
            object_id=self._object_id,
            edit_label=None if self._start is None else self._start.label_id,
        )

    @property
    def clicks(self) -> tuple[Click, ...]:
        return self._clicks

    @property
    def threshold(self) -> float:
        return self._threshold

    def add_click(self, click: Click) -> ObjectState:
        """Add one click and predict; a failing click changes nothing."""
        self._predict_click(click)
        self._history.redo = []
        return self.state

    def _predict_click(self, click: Click) -> None:
        predictor = self._predictor()
        height, width = predictor.image_shape
        check_inside((click,), height, width)
        snapshot = Snapshot(self._clicks, predictor.get_state(), self._map)
        clicks = (*self._clicks, click)
        result = self._predict_map(predictor, clicks, self._map)  # raises before commit
        self._last_seconds = float(predictor.last.seconds)
        self._last_evals = int(predictor.last.lbfgs_evals)
        self._history.push(snapshot)
        self._clicks, self._map = clicks, result

    def undo(self) -> ObjectState:
        """Back to before the last click (exact); the click can be redone."""
        if not self._history.undo:
            return self.state
        undone = self._clicks[-1]
        snapshot = self._history.undo.pop()
        if snapshot.predictor is None:
            self._replay(snapshot.clicks)
        else:
            self._predictor().set_state(snapshot.predictor)
            self._clicks, self._map = snapshot.clicks, snapshot.map
        self._history.redo.append((undone,))
        self._last_seconds = 0.0
        return self.state

    def redo(self) -> ObjectState:
        """Place the last undone click again."""
        if not self._history.redo:
            return self.state
        (click,) = self._history.redo.pop()
        self._predict_click(click)
        return self.state

    def _replay(self, clicks: tuple[Click, ...]) -> None:
        """Rebuild the state after ``clicks`` from the nearest kept snapshot (or the start)."""
        predictor = self._predictor()
        kept = [s for s in self._history.undo if s.predictor is not None]
        base = next((s for s in reversed(kept) if len(s.clicks) <= len(clicks)), None)
        if base is None:
            predictor.reset()
            done: tuple[Click, ...] = ()
            result: ProbabilityMap | None = self._apply_start(predictor)
        else:
            predictor.set_state(base.predictor)
            done, result = base.clicks, base.map
        for index in range(len(done), len(clicks)):
            result = self._predict_map(predictor, clicks[: index + 1], result)
        self._clicks, self._map = clicks, result

    def reset(self) -> ObjectState:
        """Drop the current object (clicks, history, the predictor's per-object state)."""
        self._new_object()
        return self.state

    def set_threshold(self, value: float) -> ObjectState:
        """Re-threshold the current map; no network call."""
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"threshold {value} is outside 0..1")
        self._threshold = float(value)
        return self.state

    def set_previous_mask(self, probs: np.ndarray | None) -> None:
        """Start the object from an existing mask (see ``Predictor.set_previous_mask``)."""
        self._predictor().set_previous_mask(probs)

    def start_from(self, start: ObjectStart) -> ObjectState:
        """Start a new object from ``start`` (an existing mask or label, or a box; see
        :mod:`.init_mask`): its map is the object until the first click, and with a
        ``label_id`` finishing replaces that label."""
        predictor = self._predictor()
        if start.probs.shape != predictor.image_shape:
            raise ValueError(
                f"the start has shape {start.probs.shape}, the image {predictor.image_shape}"
            )
        self._new_object()
        self._start = start
        self._map = self._apply_start(predictor)
        return self.state

    def _apply_start(self, predictor: ObjectPredictor) -> ProbabilityMap | None:
        """Give the (reset) predictor the object's start; returns the starting map."""
        if self._start is None:
            return None
        predictor.set_previous_mask(self._start.probs)
        predictor.seed_zoom(self._start.region)
        return ProbabilityMap.whole(self._start.probs)

    def _predict_map(
        self, predictor: ObjectPredictor, clicks: tuple[Click, ...], last: ProbabilityMap | None
    ) -> ProbabilityMap:
        """The map after ``clicks`` (the last one new) from the map ``last`` before it."""
        start = self._start
        if start is None:
            return predictor.predict_map(clicks)
        result = predictor.predict_map((*start.seeds, *clicks))
        if not start.local or last is None:
            return result
        merged = correct_locally(last.full(), result.full(), clicks[-1], self._threshold)
        predictor.set_previous_mask(merged)  # what the user sees is what the network saw
        predictor.seed_zoom(merged)
        return ProbabilityMap.whole(merged)

    # -- finishing -------------------------------------------------------------------------------
    def finish(
        self,
        labels: np.ndarray,
        slice_index: tuple[int, ...] = (),
        overwrite: bool = False,
        replace_ratio: float | None = REPLACE_RATIO,
    ) -> Finished:
        """Plan the current object into ``labels`` (its plane ``slice_index``) and start anew.

        The id is ``max + 1`` of what the label array holds (so ids stay unique in a stack),
        above the ids planned for that array that the caller has not yet applied and
        :meth:`release`-d (the widget applies a plan on another thread after the worker may
        have planned the next object); an object covering at least ``replace_ratio`` of an
        existing label replaces it instead (``painting.plan_paint``). A plan that would paint
        nothing is no plan and uses no id. The caller applies the plan
        (``plan.apply_to(labels)``, or napari's undoable ``data_setitem``); existing labels are
        kept unless ``overwrite``.
        """
        state, mask = self.state, self.state.mask()
        plan, reason = None, ""
        if mask is None:
            reason = "the object has no prediction"
        elif not mask.any():
            reason = f"the object is empty at threshold {self._threshold:.2f}"
        else:
            assert state.map is not None
            label_id = self._next_id(labels) if state.edit_label is None else state.edit_label
            origin = (*slice_index, *state.map.origin)
            plan = plan_paint(
                labels, mask, label_id, overwrite, origin, replace_ratio, state.edit_label
            )
            if not plan.num_pixels:
                plan, reason = None, "every pixel of the object already had a label"
            else:
                self._reserved.setdefault(id(labels), set()).add(plan.label_id)
            if plan is not None and len(slice_index) >= 1:  # may be propagated next
                seed = SliceMask(mask.copy(), state.map.origin)
                lead = tuple(slice_index[:-1])
                self._stack_object = StackObject(
                    id(labels), lead, plan.label_id, None, slice_index[-1], seed
                )
        self._new_object()
        return Finished(plan, self.state, reason)

    def release(self, labels: np.ndarray, label_id: int) -> None:
        """The caller applied (or dropped) the plan of ``label_id`` into ``labels``: from now
        on the labels alone say which ids are taken."""
        reserved = self._reserved.get(id(labels))
        if reserved is not None:
            reserved.discard(int(label_id))

    def _next_id(self, labels: np.ndarray) -> int:
        reserved = self._reserved.get(id(labels)) or {0}
        return max(next_label_id(labels), max(reserved) + 1)

    def propagate(
        self,
        labels: np.ndarray,
        stack: Any,
        slice_index: tuple[int, ...],
        overwrite: bool = False,
        config: Any = None,
        on_slice: Any = None,
    ) -> StackFinished:
        """Follow an object through ``stack`` (the slices along the axis of ``slice_index[-1]``)
        and plan it into ``labels`` as one id.

        The object is the current one (clicks on ``slice_index``), or else the last object
        finished on a slice. A current object on a slice of the last propagated object (or
        next to it) corrects it: the same id, re-propagated from that slice outwards
        (:func:`~napari_fbrs.inference.stacks.propagation.repropagate`). The session then starts a
        new object. ``on_slice(index, done, total)`` reports progress; returning False cancels
        (the slices done so far are kept).
        """
        from napari_fbrs.inference.stacks.propagation import propagate, repropagate

        if self._factory is None or self._model is None or self._settings is None:
            raise RuntimeError("propagation needs a model and settings (use_model / settings)")
        lead, index = tuple(slice_index[:-1]), int(slice_index[-1])
        key, mask, state = id(labels), self.state.mask(), self.state
        last, cleared = self._stack_object, ()
        scratch = self._factory(self._model, *self._settings)
        if mask is not None and mask.any() and state.map is not None:
            seed = SliceMask(mask.copy(), state.map.origin)
            if last is not None and last.covers(key, lead, index):
                assert last.result is not None
                result = repropagate(scratch, stack, last.result, index, seed, config, on_slice)
                label_id, cleared = last.label_id, tuple(last.result.indices)
            else:
                result = propagate(scratch, stack, index, seed, config, 0, on_slice)
                label_id = self._next_id(labels)
        elif last is not None and last.labels_key == key:
            result = propagate(scratch, stack, last.seed_slice, last.seed, config, 0, on_slice)
            label_id, lead = last.label_id, last.lead
            cleared = tuple(last.result.indices) if last.result is not None else ()
        else:
            self._new_object()
            return StackFinished(None, self.state, "nothing to propagate: click an object first")
        plan = plan_stack(labels, lead, result, label_id, overwrite, cleared)
        self._reserved.setdefault(key, set()).add(label_id)
        start = result.start
        self._stack_object = StackObject(key, lead, label_id, result, start, result.masks[start])
        self._new_object()
        return StackFinished(plan, self.state, "", result)

    # -- one click per object (see inference.session.one_click) --------------------------------
    def click_one_per_object(
        self,
        click: Click,
        labels: np.ndarray,
        slice_index: tuple[int, ...] = (),
        overwrite: bool = False,
        replace_ratio: float | None = REPLACE_RATIO,
        same_object: bool = False,
    ) -> OneClick:
        """Add ``click``; a positive click outside the current object's mask first finishes
        that object into ``labels`` (as :meth:`finish`: same id rule, the caller applies the
        plan) and the click starts the next object. ``same_object``: the click corrects the
        current object wherever it is (the widget's Shift+click: a part the mask missed). A
        failing click changes nothing."""
        if same_object or not starts_new_object(self._map, self._threshold, click):
            return OneClick(self.add_click(click))
        predictor = self._predictor()
        check_inside((click,), *predictor.image_shape)
        kept = (self._clicks, predictor.get_state(), self._map, self._history, self._stack_object)
        self._history = History(self._history.budget)  # the parked object keeps its own
        self._parking = True
        try:
            finished = self.finish(labels, slice_index, overwrite, replace_ratio)
        finally:
            self._parking = False
        item = Parked(*kept[:4], finished, id(labels), click, self._object_id, kept[4])
        try:
            self._predict_click(click)
        except BaseException:
            self._restore(item)
            raise
        item.nbytes = parked_bytes(item)
        self._parked.append(item)
        drop_oldest(self._parked, self._history.budget)
        return OneClick(self.state, finished=finished)

    def undo_click(self) -> OneClick:
        """:meth:`undo`, which also takes back a click that finished the previous object: that
        object is the one being edited again (exactly as it was) and is returned as
        ``unfinished``, whose plan the caller takes out of the labels. Redo does not finish
        it again (click again)."""
        top = self._parked[-1] if self._parked else None
        if top is not None and top.successor == self._object_id and self._clicks == (top.click,):
            self._parked.pop()
            self._restore(top)
            return OneClick(self.state, unfinished=top.finished)
        return OneClick(self.undo())

    def _restore(self, item: Parked) -> None:
        """Make a parked object the current one again and free the id its finish planned."""
        predictor = self._predictor()
        predictor.reset()
        self._history, self._history.redo = item.history, []
        if item.predictor is None:
            self._replay(item.clicks)
        else:
            predictor.set_state(item.predictor)
            self._clicks, self._map = item.clicks, item.map
        self._object_id = item.successor - 1  # the id it had (finishing added one)
        self._last_seconds, self._stack_object = 0.0, item.stack_object
        plan = item.finished.plan
        if plan is not None:
            self._reserved.get(item.labels_key, set()).discard(plan.label_id)

    # -- helpers ---------------------------------------------------------------------------------
    def _predictor(self) -> ObjectPredictor:
        if self.predictor is None:
            raise NoImageError("no image is prepared: place the first click again")
        return self.predictor

    def _new_object(self) -> None:
        if self.predictor is not None:
            self.predictor.reset()
        self._clicks, self._map, self._start = (), None, None
        self._history.clear()
        self._object_id += 1
        self._last_seconds = 0.0
        if not self._parking:  # a Finish, Reset or new image ends the chain of one-click objects
            self._parked = []


@dataclass(frozen=True)
class ImageContext:
    """The pixels an object is computed on.

    ``key`` identifies them (layer, data, slice and normalisation): the same key means the same
    model input, so the prepared predictor is reused. ``load`` produces the predictor's image
    (the normalised ``H x W x 3`` RGB array, see ``io.images.to_model_rgb``); it runs in the
    session's thread, so a slow conversion never blocks the caller's.
    """

    key: Hashable
    load: Callable[[], Any] = field(compare=False)
    #: Who the pixels belong to (the napari layer's ``unique_id``): :meth:`InteractiveSession.
    #: forget` drops a prepared image with its owner, so it can never serve another layer.
    owner: Hashable = None
