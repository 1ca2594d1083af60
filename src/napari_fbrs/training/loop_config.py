"""Recipe sections about how training runs: loss, optimiser, schedule, validation, files.

Part of the recipe schema of :mod:`napari_fbrs.training.config` (which re-exports every name);
split from it only to keep modules small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .data_config import path_field
from .toml_values import RecipeError, check_kind, check_nonneg, check_prob

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("multistep", "cosine", "constant")


@dataclass(frozen=True)
class LossConfig:
    """Normalised focal loss on the main output, sigmoid BCE on HRNet's auxiliary output."""

    instance_weight: float = 1.0
    focal_alpha: float = 0.5
    focal_gamma: float = 2.0
    aux_weight: float = 0.4
    #: Extra weight of the main loss within ``outline_width`` pixels of the object's outline
    #: (a pixel there counts ``1 + outline_weight`` times); 0 is the paper's loss.
    outline_weight: float = 0.0
    outline_width: int = 2

    def __post_init__(self) -> None:
        check_nonneg("loss.instance_weight", self.instance_weight)
        check_nonneg("loss.outline_weight", self.outline_weight)
        if isinstance(self.outline_width, bool) or not isinstance(self.outline_width, int):
            raise RecipeError(f"loss.outline_width must be an integer, got {self.outline_width!r}")
        if not 1 <= self.outline_width <= 16:
            raise RecipeError(f"loss.outline_width must be 1-16 pixels, got {self.outline_width}")
        check_nonneg("loss.aux_weight", self.aux_weight)
        check_prob("loss.focal_alpha", self.focal_alpha)


@dataclass(frozen=True)
class TrainParams:
    """Optimiser and loop settings. ``batch_size`` is global: split over DDP processes."""

    batch_size: int = 32
    epochs: int = 120
    max_steps: int = 0
    optimizer: str = "adam"
    lr: float = 5e-4
    betas: tuple[float, ...] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    backbone_lr_mult: float = 0.1
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    #: NHWC activations and weights: 1.3-1.6x faster training of depthwise-convolution
    #: networks (EfficientNet-Lite) on a CPU; the weights saved are the same tensors.
    channels_last: bool = False
    #: bfloat16 autocast on a CPU with native bfloat16 (AVX-512 BF16 or AMX; others train in
    #: float32 and say so): the corrective-click forward passes 2x and a training step 1.3x
    #: faster (EfficientNet-Lite0, batch 8 of 320 x 320, AVX-512 BF16); weights, optimiser and
    #: loss stay float32.
    cpu_bf16: bool = False

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.epochs < 1:
            raise RecipeError(
                f"train.batch_size and train.epochs must be >= 1, "
                f"got {self.batch_size} and {self.epochs}"
            )
        check_nonneg("train.max_steps", self.max_steps)
        if self.optimizer not in OPTIMIZERS:
            raise RecipeError(
                f"train.optimizer: unknown optimiser {self.optimizer!r}; "
                f"choose one of {', '.join(OPTIMIZERS)}"
            )
        if len(self.betas) != 2:
            raise RecipeError(f"train.betas must be [beta1, beta2], got {list(self.betas)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise RecipeError(f"train.lr must be a positive finite number, got {self.lr}")
        check_nonneg("train.backbone_lr_mult", self.backbone_lr_mult)


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning-rate factor per epoch: ``multistep`` (milestones, gamma), cosine or constant."""

    kind: str = "multistep"
    milestones: tuple[int, ...] = (100,)
    gamma: float = 0.1
    min_factor: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise RecipeError(
                f"schedule.kind: unknown schedule {self.kind!r}; "
                f"choose one of {', '.join(SCHEDULES)}"
            )
        if list(self.milestones) != sorted(self.milestones):
            raise RecipeError(
                f"schedule.milestones must be increasing, got {list(self.milestones)}"
            )

    def factor(self, epoch: int, epochs: int) -> float:
        """Multiplier of the base learning rate during ``epoch`` (0-based)."""
        if self.kind == "multistep":
            return self.gamma ** sum(1 for m in self.milestones if epoch >= m)
        if self.kind == "cosine":
            progress = epoch / max(1, epochs)
            return self.min_factor + (1 - self.min_factor) * 0.5 * (
                1 + math.cos(math.pi * progress)
            )
        return 1.0


@dataclass(frozen=True)
class ValidationConfig:
    """NoC on the first validation samples with the NoBRS predictor (``eval`` preset, ZoomIn
    optional); ``every_epochs = 0`` turns validation and ``best.pth`` off."""

    kind: str = "sbd"
    root: str = path_field(".")
    split: str | None = None
    num_samples: int = 20
    max_clicks: int = 20
    iou_thresholds: tuple[float, ...] = (0.8, 0.85, 0.9)
    best_iou: float = 0.9
    every_epochs: int = 1
    zoom_in: bool = True

    def __post_init__(self) -> None:
        check_kind("validation.kind", self.kind)
        if self.num_samples < 1 or self.max_clicks < 1:
            raise RecipeError("validation.num_samples and validation.max_clicks must be >= 1")
        if self.best_iou not in self.iou_thresholds:
            raise RecipeError(
                f"validation.best_iou {self.best_iou} must be one of validation.iou_thresholds "
                f"{list(self.iou_thresholds)}"
            )
        check_nonneg("validation.every_epochs", self.every_epochs)

    @property
    def enabled(self) -> bool:
        return self.every_epochs > 0


@dataclass(frozen=True)
class CheckpointConfig:
    """``last.pth`` after every epoch, ``best.pth`` on a better NoC, ``epoch_NNN.pth`` every N."""

    every_epochs: int = 5

    def __post_init__(self) -> None:
        check_nonneg("checkpoint.every_epochs", self.every_epochs)


@dataclass(frozen=True)
class LoggingConfig:
    """CSV always; TensorBoard when installed and wanted."""

    every_steps: int = 10
    tensorboard: bool = True

    def __post_init__(self) -> None:
        if self.every_steps < 1:
            raise RecipeError(f"logging.every_steps must be >= 1, got {self.every_steps}")
