"""``torchrun`` awareness: the process group, DDP wrapping and rank-0-only side effects.

``torchrun --nproc_per_node N -m napari_fbrs.cli train RECIPE.toml`` starts N copies of the
ordinary training command with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT`` in the environment. Nothing else is needed: the same code runs alone (world size
1, no process group) or as one of many (NCCL on GPUs, Gloo on CPUs); only rank 0 logs, validates
and writes checkpoints, and the others wait at a barrier so that nobody reads a file that is
still being written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistContext:
    """Where this process stands among the training processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def context_from_env(env: Mapping[str, str] | None = None) -> DistContext:
    """Read what ``torchrun`` sets; without ``WORLD_SIZE`` (or with 1) this is a lone process."""
    env = os.environ if env is None else env
    try:
        world_size = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local_rank = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise ValueError(f"bad torchrun environment variable: {exc}") from None
    if world_size > 1:
        missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if not env.get(k)]
        if missing:
            raise ValueError(
                f"WORLD_SIZE={world_size} but {', '.join(missing)} is not set; start "
                "distributed training with torchrun"
            )
        if not 0 <= rank < world_size:
            raise ValueError(f"RANK={rank} is outside 0..{world_size - 1}")
    return DistContext(rank, world_size, local_rank)


def init_distributed(device: torch.device, env: Mapping[str, str] | None = None) -> DistContext:
    """Join the process group (NCCL for CUDA, Gloo otherwise) when started by torchrun."""
    ctx = context_from_env(env)
    if not ctx.enabled:
        return ctx
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(
            backend=backend,
            init_method="env://",
            rank=ctx.rank,
            world_size=ctx.world_size,
            timeout=timedelta(minutes=30),
        )
    return DistContext(ctx.rank, ctx.world_size, ctx.local_rank, backend)


def training_device(requested: str, ctx: DistContext | None = None) -> torch.device:
    """``auto`` picks CUDA when present; under torchrun each rank takes GPU ``LOCAL_RANK``."""
    ctx = ctx or context_from_env()
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(requested)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {requested!r} requested but CUDA is not available")
        if device.index is None:
            device = torch.device("cuda", ctx.local_rank if ctx.enabled else 0)
    return device


def wrap_model(model: nn.Module, ctx: DistContext, device: torch.device) -> nn.Module:
    """DDP around ``model`` when distributed (BatchNorm stays per-process, as upstream)."""
    if not ctx.enabled:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def barrier(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.barrier()


def gather_objects(ctx: DistContext, obj: Any) -> list[Any]:
    """Every rank's ``obj`` (a list of one element when alone)."""
    if not ctx.enabled:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def all_reduce_mean(ctx: DistContext, value: float) -> float:
    """Mean of a float over ranks (for logging one loss per step)."""
    if not ctx.enabled:
        return value
    tensor = torch.tensor([value], dtype=torch.float64)
    if ctx.backend == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return float(tensor.item()) / ctx.world_size


def shutdown(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
