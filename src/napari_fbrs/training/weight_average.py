"""Averaging the weights of two checkpoints of one lineage ("model soup", WiSE-FT).

A run that continues from the shipped model can get better on most rows of the model card and
worse on one (release 3's f-BRS-B row on nuclei). When the run started from the other model's
weights, the two lie in one basin of the loss, and the straight line between them often holds
models that keep most of both: ``(1 - alpha) * first + alpha * second``, parameter by parameter,
batch-norm statistics included. ``alpha`` is chosen on the run's own validation sets, never on
the model card's reporting sets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from napari_fbrs.model.checkpoint import CheckpointError, read_checkpoint, save_weights
from napari_fbrs.training.model_init import ARCH_UPGRADES


def average_state_dicts(
    first: Mapping[str, torch.Tensor], second: Mapping[str, torch.Tensor], alpha: float
) -> dict[str, torch.Tensor]:
    """``(1 - alpha) * first + alpha * second`` for every floating-point tensor (in float32);
    integer tensors (batch-norm step counters) are taken from ``second``. Both must hold the
    same keys and shapes."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if set(first) != set(second):
        missing = sorted(set(first) ^ set(second))[:3]
        raise CheckpointError(f"the checkpoints hold different weights (e.g. {missing})")
    out: dict[str, torch.Tensor] = {}
    for key, b in second.items():
        a = first[key]
        if a.shape != b.shape:
            raise CheckpointError(f"{key}: shape {tuple(a.shape)} against {tuple(b.shape)}")
        if b.is_floating_point():
            out[key] = (1.0 - alpha) * a.float() + alpha * b.float()
        else:
            out[key] = b.clone()
    return out


def average_checkpoints(
    first: str | os.PathLike[str],
    second: str | os.PathLike[str],
    alpha: float,
    target: str | os.PathLike[str],
    half: bool = True,
) -> Path:
    """Write the average of two checkpoints as an inference checkpoint (float16 when ``half``).

    The result has ``second``'s architecture; ``first`` is grown to it when the training code
    knows how (``ARCH_UPGRADES``, e.g. release 2 -> the disk-input architecture of release 3,
    whose new inputs start at zero). The weights are loaded strictly before anything is
    written, and the file records both sources and ``alpha``.
    """
    arch_a, state_a, _, _ = read_checkpoint(first)
    arch_b, state_b, _, _ = read_checkpoint(second)
    if arch_a != arch_b:
        upgrade = ARCH_UPGRADES.get((arch_a, arch_b))
        if upgrade is None:
            raise CheckpointError(
                f"{first} holds {arch_a} weights and {second} {arch_b}: no way to average them"
            )
        state_a = upgrade(state_a)
    mixed = average_state_dicts(state_a, state_b, alpha)
    meta: dict[str, Any] = {
        "weight_average": {
            "first": Path(first).name,
            "second": Path(second).name,
            "alpha": alpha,
        }
    }
    return save_weights(target, arch_b, mixed, meta, half, str(second))
