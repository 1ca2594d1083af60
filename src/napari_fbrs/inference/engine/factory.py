"""The one way a predictor is built for interactive work: the widget, ``predict`` and Python.

A predictor is a :class:`~napari_fbrs.inference.engine.predictor.Predictor` on a loaded model,
wrapped in a local-window predictor for images beyond the preset's size limit. Building it in one
place means that the same clicks give the same mask in the viewer, on the command line and in a
notebook (a test asserts it).
"""

from __future__ import annotations

from typing import Any

import torch

from napari_fbrs.inference.engine.config import DEFAULT_LOCAL_WINDOW, PredictorConfig
from napari_fbrs.inference.engine.predictor import Predictor
from napari_fbrs.inference.windows.local import with_local_window


def default_local_window(preset: str) -> int:
    """The window the interactive preset uses (``demo``: 512 px); the ``eval`` preset
    predicts whole images, as the NoC protocol does."""
    return DEFAULT_LOCAL_WINDOW if preset == "demo" else 0


def make_predictor(
    model: torch.nn.Module, config: PredictorConfig, device: Any, local_window: int = 0
) -> Any:
    """``model`` (moved to ``device`` if needed) in a predictor with ``config``, windowed
    when ``local_window`` > 0 (images up to the preset's size limit stay whole)."""
    if next(model.parameters()).device != torch.device(device):
        model.to(device)
    return with_local_window(Predictor(model, config, device), local_window)
