"""What a training run reports, and the module the optimiser steps through.

:class:`TrainSummary` is what :func:`napari_fbrs.training.trainer.train` returns;
:class:`TrainForward` wraps the model so that DDP sees one module (uint8 image in, logits out,
the auxiliary head and the previous-mask input included).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from napari_fbrs.model.is_model import HRNetModel, InteractiveModel


@dataclass
class TrainSummary:
    """What a call to :func:`train` did (the process's view; rank 0 holds the files)."""

    out_dir: Path
    arch: str
    steps: int
    epochs_completed: int
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    best_metric: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    mean_loss: float | None = None
    seconds: float = 0.0
    images_per_second: float = 0.0
    cancelled: bool = False


#: ``on_step(step, total_steps, loss)`` after every optimiser step; returning ``False`` stops
#: the run (``last.pth`` is written at that step, so ``--resume`` can continue it).
StepCallback = Callable[[int, int, float], bool | None]


class TrainForward(nn.Module):
    """uint8 image + points -> outputs; the module DDP wraps (so the aux path syncs too)."""

    def __init__(self, model: InteractiveModel, with_aux: bool) -> None:
        super().__init__()
        self.model = model
        self.with_aux = with_aux

    def forward(
        self, image: torch.Tensor, points: torch.Tensor, prev_mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        x = self.model.normalize(image)
        if self.with_aux:
            assert isinstance(self.model, HRNetModel)
            return self.model.forward_with_aux(x, points)
        return self.model(x, points, prev_mask)
