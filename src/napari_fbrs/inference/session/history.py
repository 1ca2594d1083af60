"""The session's undo history: exact snapshots within a memory budget, and the redo stack.

A snapshot is the session before one click: the clicks, the predictor's state (transform
regions, BRS variables, cached features, the previous mask) and the map. On a large image each
is tens of megabytes, so the history keeps at most ``budget`` bytes of them, dropping the oldest
first (the newest is always kept, so one undo is always instant); the session replays the clicks
of a dropped snapshot from the nearest kept one, which the deterministic predictor reproduces
exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.engine.maps import ProbabilityMap


@dataclass
class Snapshot:
    """The session before one click; ``predictor`` is None once dropped to save memory."""

    clicks: tuple[Click, ...]
    predictor: Any
    map: ProbabilityMap | None
    nbytes: int = 0


def nbytes(value: Any) -> int:
    """Memory held by arrays and tensors inside a (nested) predictor state."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if hasattr(value, "element_size") and hasattr(value, "nelement"):
        return int(value.element_size() * value.nelement())
    if isinstance(value, (tuple, list)):
        return sum(nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values())
    if hasattr(value, "__dataclass_fields__"):
        return sum(nbytes(getattr(value, f)) for f in value.__dataclass_fields__)
    return 0


@dataclass
class History:
    """Undo snapshots (oldest first) within a memory budget, and the redo stack."""

    budget: int
    undo: list[Snapshot] = field(default_factory=list)
    redo: list[tuple[Click, ...]] = field(default_factory=list)

    def push(self, snapshot: Snapshot) -> None:
        snapshot.nbytes = nbytes(snapshot.predictor) + nbytes(snapshot.map)
        self.undo.append(snapshot)
        total = sum(s.nbytes for s in self.undo)
        for old in self.undo[:-1]:  # the newest is always kept: one undo is always instant
            if total <= self.budget:
                break
            if old.predictor is not None:
                total -= old.nbytes
                old.predictor, old.map, old.nbytes = None, None, 0

    def clear(self) -> None:
        self.undo, self.redo = [], []
