"""One click per object: the rule, and what the session keeps to take an auto-finish back.

Dense images (hundreds of nuclei) cost one click + Finish per object; in this mode a *positive
click outside the current object* (when the current object has a non-empty mask at the
threshold) means "this one is done, here is the next": the session finishes the current object
into the labels (the same plan and id rule as Finish) and starts a new object with that click.
A click on the current object, and every negative click, corrects it as usual.

Undo must be able to take the click that auto-finished back, exactly: before finishing, the
session *parks* the object (its clicks, the predictor's state after its last click, its map
and its undo history) with the finish it made; the caller's undo of that click
(:meth:`InteractiveSession.undo_click`) restores the parked object as the one being edited and
returns that finish, whose pixels the caller restores in the labels (it holds them: the session
never writes labels). Parked objects are kept while the chain of auto-finished objects goes on
(a Finish, a Reset or a new image ends it); beyond a memory budget the oldest keep only their
clicks and are recomputed on undo, which the deterministic predictor reproduces exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.engine.maps import ProbabilityMap
from napari_fbrs.inference.session.history import History, nbytes


def starts_new_object(current: ProbabilityMap | None, threshold: float, click: Click) -> bool:
    """The rule: ``click`` is positive and falls outside the current object's non-empty mask
    (``current`` at ``threshold``; the pixel under the click, ``int(row), int(col)``)."""
    if not click.positive or current is None:
        return False
    mask = current.mask(threshold)
    if not mask.any():
        return False
    (r0, c0), (h, w) = current.origin, mask.shape
    row, col = int(click.row) - r0, int(click.col) - c0
    return not (0 <= row < h and 0 <= col < w and bool(mask[row, col]))


@dataclass(frozen=True)
class OneClick:
    """What a one-click-per-object call did.

    ``finished``: the object a click finished (apply its plan, as after Finish), or the object
    an undo took back (``unfinished``: restore the labels it painted); None when neither.
    """

    state: Any  # the session's ObjectState after the call
    finished: Any = None  # a session Finished, or None
    unfinished: Any = None  # a session Finished, or None


@dataclass
class Parked:
    """An object finished by a click, kept so that undoing that click restores it."""

    clicks: tuple[Click, ...]
    predictor: Any  # the predictor's state after the last click; None once dropped
    map: ProbabilityMap | None
    history: History
    finished: Any  # the session's Finished
    labels_key: int  # id() of the label array it was planned into
    click: Click  # the click that finished it and started the next object
    successor: int  # the session's object id of the object that click started
    stack_object: Any = None  # the session's last object finished on a slice, before this one
    nbytes: int = 0


def drop_oldest(parked: list[Parked], budget: int) -> None:
    """Within ``budget`` bytes: the oldest parked objects keep only their clicks (they are
    recomputed from them on undo)."""
    total = sum(p.nbytes for p in parked)
    for old in parked:
        if total <= budget:
            break
        if old.predictor is None and old.nbytes == 0:
            continue
        total -= old.nbytes
        old.predictor, old.map, old.nbytes = None, None, 0
        for snapshot in old.history.undo:
            snapshot.predictor, snapshot.map, snapshot.nbytes = None, None, 0


def parked_bytes(item: Parked) -> int:
    """Memory held by a parked object (its predictor state, map and history snapshots)."""
    return nbytes(item.predictor) + nbytes(item.map) + sum(s.nbytes for s in item.history.undo)
