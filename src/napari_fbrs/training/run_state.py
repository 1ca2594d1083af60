"""A run's state on disk: what ``last.pth`` holds beyond the weights, and how it comes back.

``last.pth`` carries the optimiser, AMP scaler, schedule factor, step, best metric and every
rank's RNG state next to the weights and the recipe, so that ``--resume`` continues exactly;
``best.pth`` and ``epoch_NNN.pth`` hold weights and meta only. What a trainer's state is, the
trainer says (``state_dict`` / ``load_state_dict`` / ``run_meta``); this module only puts it
on disk with the weights and every rank's RNG, and brings it back.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from napari_fbrs.model.checkpoint import load_into, save_checkpoint

from .distributed import DistContext, barrier, gather_objects
from .records import changed_keys, read_training_state, rng_state, set_rng_state

LAST, BEST = "last.pth", "best.pth"


class RunOwner(Protocol):
    """What the run state needs from a trainer: its model and where it writes, and its own
    state as a dict (the trainer decides what its state is)."""

    model: nn.Module
    arch: str
    out_dir: Path
    ctx: DistContext
    device: torch.device
    config: Any
    log: Any

    def state_dict(self, completed: int) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any], meta: dict[str, Any]) -> None: ...

    def run_meta(self, completed: int, mean_loss: float | None) -> dict[str, Any]: ...


def restore_state(trainer: RunOwner, path: Path) -> None:
    """Weights, the trainer's state and every rank's RNG from a run's last.pth."""
    arch, state_dict, meta, state = read_training_state(path)
    load_into(trainer.model, state_dict, arch, str(path))
    trainer.load_state_dict(state, meta)
    changed = changed_keys(meta.get("config", {}), trainer.config.to_dict())
    if changed and trainer.ctx.is_main:
        print(f"resuming {path} with changed settings: {', '.join(changed)}", file=sys.stderr)
    states = state.get("rng") or []
    if len(states) == trainer.ctx.world_size:
        set_rng_state(states[trainer.ctx.rank], trainer.device)
    elif trainer.ctx.is_main:
        print(
            f"{path} was written by {len(states)} processes, not {trainer.ctx.world_size}: "
            "random streams restart from the seed",
            file=sys.stderr,
        )
    trainer.log.truncate_after(int(state["step"]))


def save_state(
    trainer: RunOwner, completed: int, mean_loss: float | None, epoch_end: bool, improved: bool
) -> None:
    """Write last.pth (+ best / epoch files) on rank 0; every rank must call this."""
    rng = gather_objects(trainer.ctx, rng_state(trainer.device))
    if trainer.ctx.is_main:
        meta = trainer.run_meta(completed, mean_loss)
        state = {**trainer.state_dict(completed), "rng": rng}
        extra = {"training_state": state}
        save_checkpoint(trainer.out_dir / LAST, trainer.model, trainer.arch, meta, extra)
        if improved:
            save_checkpoint(trainer.out_dir / BEST, trainer.model, trainer.arch, meta)
        every = trainer.config.checkpoint.every_epochs
        if epoch_end and every and completed % every == 0:
            name = f"epoch_{completed:03d}.pth"
            save_checkpoint(trainer.out_dir / name, trainer.model, trainer.arch, meta)
    barrier(trainer.ctx)
