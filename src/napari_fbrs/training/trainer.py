"""The training loop: one explicit :meth:`Trainer.run_step`, epochs, validation, checkpoints.

``train(config, out_dir)`` is what ``napari-fbrs train`` calls. A run directory holds
``last.pth`` (after every epoch, and when ``train.max_steps`` stops a run; it carries the
optimiser, AMP scaler, step and RNG states so that ``resume=True`` continues exactly),
``best.pth`` (best validation NoC at ``validation.best_iou``), ``epoch_NNN.pth`` every
``checkpoint.every_epochs`` epochs, ``config.json``, ``train_log.csv`` / ``val_log.csv`` and,
when installed, TensorBoard files. Checkpoints are our own format (``save_checkpoint``) and
hold only tensors and plain containers, so they load with ``torch.load(weights_only=True)``,
in ``load_checkpoint``, ``predict`` and the widget.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from napari_fbrs.atomic import atomic_write_text
from napari_fbrs.model.is_model import HRNetModel

from .config import TrainConfig
from .data import InstanceSource, build_click_dataset, epoch_keys, open_instances
from .distributed import (
    DistContext,
    all_reduce_mean,
    barrier,
    context_from_env,
    init_distributed,
    shutdown,
    training_device,
    wrap_model,
)
from .forward import StepCallback, TrainForward, TrainSummary
from .iterative import simulate_clicks
from .losses import NormalizedFocalLoss, SigmoidBCELoss, instance_losses
from .model_init import (
    build_training_model,
    freeze_backbone,
    keep_frozen_norms_in_eval,
    parameter_groups,
)
from .precision import autocast_dtype
from .records import RunLog, window_row
from .run_folder import RunFolder
from .run_state import BEST, LAST, restore_state, save_state
from .validation import noc_key, validate

__all__ = ["LAST", "BEST", "StepCallback", "TrainSummary", "Trainer", "train"]


class Trainer:
    """Model, optimiser and data of one run. ``fit`` loops; ``run_step`` is one update."""

    def __init__(
        self,
        config: TrainConfig,
        out_dir: str | Path,
        *,
        init: str | Path | None = None,
        device: torch.device | str | None = None,
        progress: bool = True,
        ctx: DistContext | None = None,
        resume_from: Path | None = None,
        source: InstanceSource | None = None,
        val_source: Any = None,
        on_step: StepCallback | None = None,
    ) -> None:
        self.config = config
        self.on_step = on_step
        self.out_dir = Path(out_dir)
        self.ctx = ctx or DistContext()
        requested = config.train.device if device is None else str(device)
        self.device = training_device(requested, self.ctx)
        self.progress = progress and self.ctx.is_main
        tp = config.train
        self.batch_per_rank = _batch_per_rank(tp.batch_size, self.ctx.world_size)
        torch.manual_seed(tp.seed + self.ctx.rank)

        init_path = None if resume_from else (init or config.model.init_checkpoint)
        self.init_path = str(init_path) if init_path else None
        self.arch, self.model = build_training_model(config, init_path, resume_from)
        self.model.to(self.device)
        self.memory_format = torch.channels_last if tp.channels_last else torch.contiguous_format
        self.model.to(memory_format=self.memory_format)  # type: ignore[call-overload]
        if config.model.freeze_backbone:
            freeze_backbone(self.model)

        self.autocast_dtype = autocast_dtype(self.device, tp.amp, tp.cpu_bf16)
        self.use_amp = self.autocast_dtype is torch.float16  # CUDA's float16: loss scaling
        with_aux = config.loss.aux_weight > 0 and isinstance(self.model, HRNetModel)
        self.net = wrap_model(TrainForward(self.model, with_aux), self.ctx, self.device)
        self.optimizer = self._make_optimizer()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.focal = NormalizedFocalLoss(
            config.loss.focal_alpha,
            config.loss.focal_gamma,
            outline_weight=config.loss.outline_weight,
            outline_width=config.loss.outline_width,
        )
        self.aux = SigmoidBCELoss() if with_aux else None
        self.dataset = build_click_dataset(
            config.data, config.sampler, config.augment, tp.seed, source
        )
        self.steps_per_epoch = self._steps_per_epoch()
        self._val_source = val_source
        self.step = 0
        self.best: float | None = None
        self.metrics: dict[str, float] = {}
        self.lr_factor = 1.0
        self.log = RunLog(self.out_dir, config.logging.tensorboard, enabled=self.ctx.is_main)
        if resume_from is not None:
            restore_state(self, resume_from)  # weights, optimiser, step, RNG
        else:
            self.log.reset()

    # -- setup -------------------------------------------------------------------------------
    def _make_optimizer(self) -> torch.optim.Optimizer:
        tp = self.config.train
        optimizer = torch.optim.AdamW if tp.optimizer == "adamw" else torch.optim.Adam
        return optimizer(
            parameter_groups(self.model, tp.lr, tp.backbone_lr_mult),
            lr=tp.lr,
            betas=(tp.betas[0], tp.betas[1]),
            eps=tp.eps,
            weight_decay=tp.weight_decay,
        )

    def _steps_per_epoch(self) -> int:
        tp, ctx = self.config.train, self.ctx
        per_rank = len(epoch_keys(self.dataset, 0, tp.seed, ctx.rank, ctx.world_size))
        steps = per_rank // self.batch_per_rank
        if steps < 1:
            raise ValueError(
                f"an epoch of {len(self.dataset)} samples is smaller than train.batch_size "
                f"{tp.batch_size}; raise data.epoch_len or lower the batch size"
            )
        return steps

    def set_train_mode(self) -> None:
        self.net.train()
        if self.config.model.freeze_backbone:
            keep_frozen_norms_in_eval(self.model)

    # -- one step ----------------------------------------------------------------------------
    def run_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """Forward, loss, backward and optimiser update on one batch; returns the losses."""
        if not self.model.training:
            self.set_train_mode()
        image = batch["image"].to(self.device, non_blocking=True)
        image = image.contiguous(memory_format=self.memory_format)
        points = batch["points"].to(self.device, non_blocking=True)
        target = batch["mask"].to(self.device, non_blocking=True)
        points, prev = self.simulate_clicks(image, points, target)
        with self._autocast():
            outputs = self.net(image, points, prev)
        outputs = {name: value.float() for name, value in outputs.items()}
        loss, parts = instance_losses(
            outputs,
            target,
            self.focal,
            self.config.loss.instance_weight,
            self.aux,
            self.config.loss.aux_weight,
        )
        value = float(loss.detach())
        if not math.isfinite(value) and not self.use_amp:
            raise FloatingPointError(f"step {self.step + 1}: the loss is {value}")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step += 1
        return {"loss": value, **parts}

    def _autocast(self) -> torch.autocast:
        dtype = self.autocast_dtype
        return torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=bool(dtype))

    def simulate_clicks(
        self, image: torch.Tensor, points: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Corrective clicks from the model's own predictions, and its last prediction as
        ``prev_mask`` for models that take one (see :mod:`.iterative`)."""
        rng = np.random.default_rng((self.config.train.seed, self.step, self.ctx.rank))
        self.net.eval()
        try:
            with self._autocast():
                return simulate_clicks(
                    self.net,
                    image,
                    points,
                    target,
                    self.config.sampler,
                    rng,
                    self.model.uses_prev_mask,
                )
        finally:
            self.set_train_mode()

    def set_epoch_lr(self, epoch: int) -> None:
        self.lr_factor = self.config.schedule.factor(epoch, self.config.train.epochs)
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * self.lr_factor

    def loader(self, epoch: int, skip_batches: int = 0) -> DataLoader:
        """This rank's batches of ``epoch``, the first ``skip_batches`` left out (resume)."""
        keys = epoch_keys(
            self.dataset,
            epoch,
            self.config.train.seed,
            self.ctx.rank,
            self.ctx.world_size,
            skip=skip_batches * self.batch_per_rank,
        )
        return DataLoader(
            self.dataset,
            batch_size=self.batch_per_rank,
            sampler=keys,  # type: ignore[arg-type]
            num_workers=self.config.data.num_workers,
            drop_last=True,
            pin_memory=self.device.type == "cuda",
            # Own generator: creating an iterator must not draw from the global torch RNG.
            generator=torch.Generator().manual_seed(self.config.train.seed),
        )

    # -- the loop ----------------------------------------------------------------------------
    def fit(self) -> TrainSummary:
        tp, spe = self.config.train, self.steps_per_epoch
        stop_at = tp.epochs * spe if not tp.max_steps else min(tp.epochs * spe, tp.max_steps)
        start_time, start_step = time.perf_counter(), self.step
        epoch_losses: list[float] = []
        window: list[dict[str, float]] = []
        cancelled = False
        bar = tqdm(
            total=stop_at,
            initial=self.step,
            disable=not self.progress,
            file=sys.stderr,
            dynamic_ncols=True,
            desc=f"train {self.arch}",
        )
        try:
            while self.step < stop_at:
                epoch = self.step // spe
                self.set_epoch_lr(epoch)
                self.set_train_mode()
                epoch_losses = []
                for batch in self.loader(epoch, self.step % spe):
                    result = self.run_step(batch)
                    epoch_losses.append(result["loss"])
                    window.append(result)
                    bar.update(1)
                    bar.set_postfix(epoch=epoch + 1, loss=f"{result['loss']:.4f}")
                    if self.step % self.config.logging.every_steps == 0 or self.step == stop_at:
                        self._log_window(window, epoch, start_time, start_step)
                        window = []
                    if self.on_step is not None:
                        cancelled = self.on_step(self.step, stop_at, result["loss"]) is False
                    if self.step >= stop_at or cancelled:
                        break
                mean_loss = float(np.mean(epoch_losses)) if epoch_losses else None
                if cancelled:
                    self.save(self.step // spe, mean_loss, epoch_end=False)
                    break
                if self.step % spe == 0:
                    self._end_epoch(self.step // spe, mean_loss)
                else:
                    self.save(self.step // spe, mean_loss, epoch_end=False)
        finally:
            bar.close()
            self.log.close()
        return self._summary(start_time, start_step, epoch_losses, cancelled)

    def _log_window(
        self, window: list[dict[str, float]], epoch: int, start_time: float, start_step: int
    ) -> None:
        """One row of the train log: the window's mean values and the run's speed so far."""
        reduce = partial(all_reduce_mean, self.ctx)
        row = window_row(window, self.step, epoch, self.optimizer, reduce)
        elapsed = time.perf_counter() - start_time
        done = (self.step - start_step) * self.config.train.batch_size
        row["images_per_s"] = done / elapsed if elapsed else 0.0
        row["elapsed_s"] = elapsed
        self.log.write("train", row, self.step)

    def _summary(
        self, start_time: float, start_step: int, epoch_losses: list[float], cancelled: bool
    ) -> TrainSummary:
        spe = self.steps_per_epoch
        seconds = time.perf_counter() - start_time
        images = (self.step - start_step) * self.config.train.batch_size
        out = self.out_dir
        return TrainSummary(
            out_dir=out,
            arch=self.arch,
            steps=self.step,
            epochs_completed=self.step // spe,
            last_checkpoint=out / LAST if (out / LAST).exists() else None,
            best_checkpoint=out / BEST if (out / BEST).exists() else None,
            best_metric=self.best,
            metrics=dict(self.metrics),
            mean_loss=float(np.mean(epoch_losses)) if epoch_losses else None,
            seconds=seconds,
            images_per_second=images / seconds if seconds > 0 else 0.0,
            cancelled=cancelled,
        )

    def _end_epoch(self, completed: int, mean_loss: float | None) -> None:
        vc = self.config.validation
        improved = False
        if vc.enabled and (
            completed % vc.every_epochs == 0 or completed == self.config.train.epochs
        ):
            if self.ctx.is_main:
                self.metrics = self.validate()
                value = self.metrics[noc_key(vc.best_iou)]
                improved = self.best is None or value < self.best
                if improved:
                    self.best = value
                self.log.write(
                    "val", {"step": self.step, "epoch": completed, **self.metrics}, self.step
                )
            barrier(self.ctx)
        self.save(completed, mean_loss, epoch_end=True, improved=improved)

    def validate(self) -> dict[str, float]:
        """NoC and mIoU of the NoBRS predictor on the first validation samples."""
        vc = self.config.validation
        if self._val_source is None:
            self._val_source = open_instances(vc.kind, vc.root, vc.split)
        try:
            return validate(self.model, self.device, vc, self._val_source)
        finally:
            self.set_train_mode()

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self, completed: int) -> dict[str, Any]:
        """What ``last.pth`` holds beyond the weights and RNG, for :meth:`load_state_dict`."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.use_amp else {},
            "scheduler": {"kind": self.config.schedule.kind, "factor": self.lr_factor},
            "step": self.step,
            "epoch": completed,
            "best": self.best,
            "world_size": self.ctx.world_size,
        }

    def load_state_dict(self, state: dict[str, Any], meta: dict[str, Any]) -> None:
        """Continue from a saved state; a changed ``train.lr`` applies from here on."""
        self.optimizer.load_state_dict(state["optimizer"])
        tp = self.config.train
        for group in self.optimizer.param_groups:
            group["base_lr"] = tp.lr * (tp.backbone_lr_mult if group["name"] == "backbone" else 1)
        if self.use_amp and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.best = state.get("best")
        self.metrics = dict(meta.get("metrics") or {})
        self.init_path = meta.get("init_checkpoint")

    def run_meta(self, completed: int, mean_loss: float | None) -> dict[str, Any]:
        """The meta every checkpoint of the run carries (recipe, step, metrics, ...)."""
        return {
            "config": self.config.to_dict(),
            "recipe": self.config.source,
            "init_checkpoint": self.init_path,
            "metrics": dict(self.metrics),
            "step": self.step,
            "epoch": completed,
            "train_loss": mean_loss,
            "torch": str(torch.__version__),
        }

    def save(
        self, completed: int, mean_loss: float | None, epoch_end: bool, improved: bool = False
    ) -> None:
        """Write last.pth (+ best / epoch files) on rank 0; every rank must call this."""
        save_state(self, completed, mean_loss, epoch_end, improved)


def _batch_per_rank(batch_size: int, world_size: int) -> int:
    if batch_size % world_size:
        raise ValueError(
            f"train.batch_size {batch_size} is not divisible by the {world_size} processes"
        )
    per_rank = batch_size // world_size
    if per_rank < 2:
        raise ValueError(
            f"train.batch_size {batch_size} leaves {per_rank} sample per process; batch "
            "normalisation needs at least 2"
        )
    return per_rank


def train(
    config: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    init: str | Path | None = None,
    progress: bool = True,
    device: str | None = None,
    on_step: StepCallback | None = None,
) -> TrainSummary:
    """Train from a recipe into ``out_dir``; alone or as one torchrun process.

    ``resume`` continues ``out_dir/last.pth`` exactly; ``init`` (a new run only) starts from a
    whole official or own checkpoint; ``device`` overrides ``train.device``; ``on_step``
    reports progress and can stop the run (see :data:`StepCallback`). A directory that
    already holds a run is refused unless ``resume`` is given, so nothing is overwritten. A
    run that fails before it has written ``last.pth`` removes what it created in ``out_dir``
    (and ``out_dir`` itself when it made it), so no folder holding only ``config.json`` is left.
    """
    out_dir = Path(out_dir)
    if resume and init:
        raise ValueError("resume continues out_dir/last.pth; init is only for a new run")
    device_obj = training_device(device or config.train.device, context_from_env())
    created_group = not torch.distributed.is_initialized()
    ctx = init_distributed(device_obj)
    last = _check_run_folder(out_dir, resume)
    run_folder = RunFolder(out_dir)  # a run that fails before last.pth takes back its files
    try:
        with _algorithm_settings(device_obj):
            return _train_in(
                config, out_dir, ctx, device_obj, last, resume, init, progress, on_step
            )
    except BaseException:
        if ctx.is_main and not last.exists():
            run_folder.undo()
        raise
    finally:
        if created_group:
            shutdown(ctx)


def _check_run_folder(out_dir: Path, resume: bool) -> Path:
    """``out_dir/last.pth``, after checking that it exists (resume) or does not (new run)."""
    last = out_dir / LAST
    if resume and not last.is_file():
        raise FileNotFoundError(f"{last}: nothing to resume (no last.pth in {out_dir})")
    if not resume and last.exists():
        raise FileExistsError(
            f"{out_dir} already holds a run ({LAST}); resume it or choose another output folder"
        )
    return last


@contextmanager
def _algorithm_settings(device: torch.device) -> Iterator[None]:
    """Deterministic kernels on the CPU, cuDNN autotuning on a GPU; restored afterwards."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    benchmark = torch.backends.cudnn.benchmark
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.backends.cudnn.benchmark = benchmark


def _train_in(
    config: TrainConfig,
    out_dir: Path,
    ctx: DistContext,
    device: torch.device,
    last: Path,
    resume: bool,
    init: str | Path | None,
    progress: bool,
    on_step: StepCallback | None,
) -> TrainSummary:
    """Write the recipe beside the run, then build the trainer and fit."""
    if ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(config.to_dict(), indent=2) + "\n"
        atomic_write_text(out_dir / "config.json", text)
    barrier(ctx)
    trainer = Trainer(
        config,
        out_dir,
        init=init,
        device=device,
        progress=progress,
        ctx=ctx,
        resume_from=last if resume else None,
        on_step=on_step,
    )
    return trainer.fit()
