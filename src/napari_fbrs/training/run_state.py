"""A run's state on disk: what ``last.pth`` holds beyond the weights, and how it comes back.

``last.pth`` carries the optimiser, AMP scaler, schedule factor, step, best metric and every
rank's RNG state next to the weights and the recipe, so that ``--resume`` continues exactly;
``best.pth`` and ``epoch_NNN.pth`` hold weights and meta only. The functions take the
:class:`~napari_fbrs.training.trainer.Trainer` whose fields they read and write.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch

from napari_fbrs.model.checkpoint import load_into, save_checkpoint

from .distributed import barrier, gather_objects
from .records import changed_keys, read_training_state, rng_state, set_rng_state

LAST, BEST = "last.pth", "best.pth"


def restore_state(trainer: Any, path: Path) -> None:
    """Weights, optimiser, scaler, step, best metric and RNG from a trainer's last.pth."""
    arch, state_dict, meta, state = read_training_state(path)
    load_into(trainer.model, state_dict, arch, str(path))
    trainer.optimizer.load_state_dict(state["optimizer"])
    tp = trainer.config.train
    for group in trainer.optimizer.param_groups:  # a changed train.lr applies from here on
        group["base_lr"] = tp.lr * (tp.backbone_lr_mult if group["name"] == "backbone" else 1)
    if trainer.use_amp and state.get("scaler"):
        trainer.scaler.load_state_dict(state["scaler"])
    trainer.step = int(state["step"])
    trainer.best = state.get("best")
    trainer.metrics = dict(meta.get("metrics") or {})
    trainer.init_path = meta.get("init_checkpoint")
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
    trainer.log.truncate_after(trainer.step)


def save_state(
    trainer: Any, completed: int, mean_loss: float | None, epoch_end: bool, improved: bool
) -> None:
    """Write last.pth (+ best / epoch files) on rank 0; every rank must call this."""
    rng = gather_objects(trainer.ctx, rng_state(trainer.device))
    if trainer.ctx.is_main:
        meta = {
            "config": trainer.config.to_dict(),
            "recipe": trainer.config.source,
            "init_checkpoint": trainer.init_path,
            "metrics": dict(trainer.metrics),
            "step": trainer.step,
            "epoch": completed,
            "train_loss": mean_loss,
            "torch": str(torch.__version__),
        }
        state = {
            "optimizer": trainer.optimizer.state_dict(),
            "scaler": trainer.scaler.state_dict() if trainer.use_amp else {},
            "scheduler": {"kind": trainer.config.schedule.kind, "factor": trainer.lr_factor},
            "step": trainer.step,
            "epoch": completed,
            "best": trainer.best,
            "world_size": trainer.ctx.world_size,
            "rng": rng,
        }
        extra = {"training_state": state}
        save_checkpoint(trainer.out_dir / LAST, trainer.model, trainer.arch, meta, extra)
        if improved:
            save_checkpoint(trainer.out_dir / BEST, trainer.model, trainer.arch, meta)
        every = trainer.config.checkpoint.every_epochs
        if epoch_end and every and completed % every == 0:
            name = f"epoch_{completed:03d}.pth"
            save_checkpoint(trainer.out_dir / name, trainer.model, trainer.arch, meta)
    barrier(trainer.ctx)
