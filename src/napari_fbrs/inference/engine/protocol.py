"""What a predictor is, for everything that drives one: the one predictor protocol.

:class:`~napari_fbrs.inference.engine.predictor.Predictor` (a network on one image) and
:class:`~napari_fbrs.inference.windows.local.LocalWindowPredictor` (the same, window by window on a
large image) both satisfy :class:`ObjectPredictor`, so the session, the local window, stack
seeding and propagation call its methods directly instead of probing with ``getattr``. The NoC
loop needs only :class:`ClickPredictor`, which the random-walker baseline also satisfies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.engine.maps import ProbabilityMap


class ClickPredictor(Protocol):
    """Clicks on one image in, object probabilities out (what the NoC evaluation needs)."""

    def set_image(self, image: Any) -> None:
        """Take an image and forget any per-object state."""

    def predict(self, clicks: Sequence[Click]) -> np.ndarray:
        """Float (H, W) object probabilities given every click of the object so far."""


class PredictionStats(Protocol):
    """What a predictor says about its last click."""

    seconds: float
    lbfgs_evals: int


class ObjectPredictor(ClickPredictor, Protocol):
    """An interactive predictor: one object at a time, its state saved and restored for undo."""

    last: Any  # PredictionStats of the last click (ClickStats or LocalClickStats)

    @property
    def image_shape(self) -> tuple[int, int]: ...

    @property
    def prob_thresh(self) -> float:
        """The threshold that turns this predictor's probabilities into its mask."""

    @property
    def uses_prev_mask(self) -> bool: ...

    def predict_map(self, clicks: Sequence[Click]) -> ProbabilityMap: ...

    def set_previous_mask(self, probs: Any) -> None: ...

    def seed_zoom(self, region: Any) -> None: ...

    def get_state(self) -> Any: ...

    def set_state(self, state: Any) -> None: ...

    def reset(self) -> None: ...
