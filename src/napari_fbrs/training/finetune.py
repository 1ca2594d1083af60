"""Fine-tuning on a user's own labels: the engine behind the ``f-BRS fine-tune`` dock widget.

Two steps, both free of napari so that they are testable and scriptable:

* :func:`write_finetune_folder` turns (image, labels) pairs, e.g. napari layers, into the
  ``folder`` dataset layout (``train/`` and ``val/``, each with ``images/`` and ``labels/``).
  Some images are held out for validation; with a single image, its last rows are held out, so
  that "before / after" is always measured on pixels the model was not tuned on.
* :func:`finetune_folder` measures NoC on the held-out part with the starting model, trains
  with the ``training/finetune_folder.toml`` settings for a given number of steps, measures
  again, and exports a slim float16 checkpoint that the segmentation widget can load.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import (
    AugmentConfig,
    CheckpointConfig,
    DataConfig,
    LoggingConfig,
    ModelConfig,
    SamplerConfig,
    ScheduleConfig,
    TrainConfig,
    TrainParams,
    ValidationConfig,
)
from .trainer import StepCallback, train
from .validation import validate

#: Fraction of the images (or of the rows of a single image) held out for validation.
HOLD_OUT = 0.25
MIN_HELD_OUT_ROWS = 32


@dataclass(frozen=True)
class LabelledImage:
    """One training image: ``image`` ``(H, W, 3)`` uint8, ``labels`` ``(H, W)`` ids (0 = none)."""

    name: str
    image: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValueError(
                f"{self.name}: the image must be (H, W, 3) uint8, got {self.image.shape} "
                f"{self.image.dtype}"
            )
        if self.labels.shape != self.image.shape[:2]:
            raise ValueError(
                f"{self.name}: labels {self.labels.shape} do not match the image "
                f"{self.image.shape[:2]}"
            )
        if not np.issubdtype(self.labels.dtype, np.integer) or self.labels.min() < 0:
            raise ValueError(f"{self.name}: labels must be non-negative integer ids")


@dataclass(frozen=True)
class FinetuneResult:
    """What a fine-tuning run produced. NoC dicts are ``{"noc@85": ..., "noc@90": ...}``."""

    checkpoint: Path | None
    run_dir: Path
    steps: int
    seconds: float
    cancelled: bool
    before: dict[str, float]
    after: dict[str, float]
    validation_samples: int


def split_for_validation(
    items: Sequence[LabelledImage], hold_out: float = HOLD_OUT
) -> tuple[list[LabelledImage], list[LabelledImage]]:
    """Training and held-out parts: whole images when there are several, else a row band."""
    labelled = [item for item in items if item.labels.any()]
    if not labelled:
        raise ValueError("no labelled objects: paint some objects in the labels layer first")
    if len(labelled) >= 2:
        n_val = max(1, math.floor(len(labelled) * hold_out))
        return labelled[:-n_val], labelled[-n_val:]
    item = labelled[0]
    height = item.image.shape[0]
    cut = height - max(MIN_HELD_OUT_ROWS, round(height * hold_out))
    if cut < MIN_HELD_OUT_ROWS:
        raise ValueError(
            f"{item.name}: {height} rows are too few to hold some out for validation; "
            "add another labelled image"
        )
    top = LabelledImage(f"{item.name}_top", item.image[:cut], item.labels[:cut])
    bottom = LabelledImage(f"{item.name}_bottom", item.image[cut:], item.labels[cut:])
    if not bottom.labels.any() or not top.labels.any():
        raise ValueError(
            f"{item.name}: hold-out needs labelled objects both above and below row {cut}; "
            "label objects over the whole image or add another labelled image"
        )
    return [top], [bottom]


def write_finetune_folder(
    items: Sequence[LabelledImage], folder: str | os.PathLike[str], hold_out: float = HOLD_OUT
) -> tuple[int, int]:
    """Write ``folder/{train,val}/{images,labels}``; returns (train, val) image counts.

    Images are RGB TIFF, labels uint32 TIFF (any number of ids); every file is written
    atomically.
    """
    from napari_fbrs.io.masks import write_labels, write_rgb_tiff

    train_items, val_items = split_for_validation(items, hold_out)
    root = Path(folder)
    for split, part in (("train", train_items), ("val", val_items)):
        for index, item in enumerate(part):
            stem = f"{index:03d}_{_safe(item.name)}"
            for sub in ("images", "labels"):
                (root / split / sub).mkdir(parents=True, exist_ok=True)
            write_rgb_tiff(root / split / "images" / f"{stem}.tif", item.image)
            write_labels(root / split / "labels" / f"{stem}.tif", item.labels.astype(np.uint32))
    return len(train_items), len(val_items)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:60] or "image"


def finetune_config(
    data_root: str | os.PathLike[str],
    steps: int,
    batch_size: int = 4,
    crop_size: int = 320,
    lr: float = 5e-5,
    freeze_backbone: bool = False,
    seed: int = 0,
) -> TrainConfig:
    """The ``training/finetune_folder.toml`` recipe for ``steps`` optimiser steps.

    One epoch of exactly ``steps`` batches, constant learning rate (a short run has no room for
    a schedule), training split ``train`` of ``data_root``; validation is done by
    :func:`finetune_folder` before and after, not by the trainer.
    """
    if steps < 1:
        raise ValueError(f"the number of iterations must be >= 1, got {steps}")
    return TrainConfig(
        model=ModelConfig(arch="auto", freeze_backbone=freeze_backbone),
        data=DataConfig(
            kind="folder",
            root=str(Path(data_root).resolve()),
            split="train",
            crop_size=(crop_size, crop_size),
            min_object_area=20,
            epoch_len=steps * batch_size,
            num_workers=0,
        ),
        # corrective clicks from the model's own errors (what RITM-style models learn from)
        sampler=SamplerConfig(num_max_points=10, merge_objects_prob=0.1, next_clicks_max=2),
        augment=AugmentConfig(scale_range=(0.8, 1.25)),
        train=TrainParams(
            batch_size=batch_size,
            epochs=1,
            lr=lr,
            backbone_lr_mult=0.1,
            device="auto",
            seed=seed,
        ),
        schedule=ScheduleConfig(kind="constant"),
        validation=ValidationConfig(kind="folder", every_epochs=0),
        checkpoint=CheckpointConfig(every_epochs=0),
        logging=LoggingConfig(every_steps=max(1, min(10, steps)), tensorboard=False),
    )


def validation_noc(
    checkpoint: str | os.PathLike[str],
    root: str | os.PathLike[str],
    max_samples: int = 20,
    max_clicks: int = 20,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[dict[str, float], int]:
    """NoC@85/90 (NoBRS, the trainer's validation protocol) on ``root``'s ``val`` split."""
    from napari_fbrs.io.datasets import open_dataset
    from napari_fbrs.model.checkpoint import load_checkpoint

    dataset = open_dataset("folder", root, split="val")
    config = ValidationConfig(
        kind="folder",
        num_samples=max_samples,
        max_clicks=max_clicks,
        iou_thresholds=(0.85, 0.9),
        best_iou=0.9,
    )
    device = torch.device("cpu")
    loaded = load_checkpoint(checkpoint, device=device)
    metrics = validate(loaded.model, device, config, dataset, should_stop)
    return {k: v for k, v in metrics.items() if k.startswith("noc@")}, min(
        len(dataset), max_samples
    )


#: ``on_phase(phase, detail)``: "before" / "after" (NoC on N held-out objects), "training"
#: (N iterations), "export"; for a status line, so that no phase looks like another.
PhaseCallback = Callable[[str, int], None]


def finetune_folder(
    root: str | os.PathLike[str],
    init: str | os.PathLike[str],
    output: str | os.PathLike[str],
    steps: int,
    *,
    batch_size: int = 4,
    crop_size: int = 320,
    lr: float = 5e-5,
    freeze_backbone: bool = False,
    validation_samples: int = 20,
    on_step: StepCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_phase: PhaseCallback | None = None,
    keep_run: bool = True,
) -> FinetuneResult:
    """Fine-tune ``init`` on ``root/train``, compare NoC on ``root/val``, export ``output``.

    The trainer's own files go to ``<output stem>_run/`` beside ``output`` (a folder that
    already holds a run is refused, nothing is overwritten); ``keep_run=False`` removes them
    after a successful export (they are only needed to resume). ``should_stop`` is polled in
    every phase (NoC before, training, NoC after): once it returns true the run ends there and
    ``output`` is not written. ``output`` is written only when the run was not cancelled.
    """
    output = Path(output)
    if output.suffix != ".pth":
        raise ValueError(f"{output}: the fine-tuned checkpoint must be a .pth file")
    if output.exists():
        raise FileExistsError(f"{output} exists; choose another file name")
    stop = should_stop or (lambda: False)
    phase = on_phase or (lambda name, detail: None)
    run_dir = output.with_name(output.stem + "_run")
    has_val = (Path(root) / "val" / "images").is_dir()
    before: dict[str, float] = {}
    after: dict[str, float] = {}
    n_val, steps_done, seconds = 0, 0, 0.0

    def result(checkpoint: Path | None, cancelled: bool) -> FinetuneResult:
        return FinetuneResult(
            checkpoint, run_dir, steps_done, seconds, cancelled, before, after, n_val
        )

    if has_val:
        phase("before", validation_samples)
        before, n_val = validation_noc(init, root, validation_samples, should_stop=stop)
    if stop():
        return result(None, True)
    config = finetune_config(root, steps, batch_size, crop_size, lr, freeze_backbone)

    def step(done: int, total: int, loss: float) -> bool:
        keep_going = on_step(done, total, loss) if on_step is not None else None
        return keep_going is not False and not stop()

    phase("training", steps)
    started = time.perf_counter()
    summary = train(config, run_dir, init=init, progress=False, on_step=step)
    seconds, steps_done = time.perf_counter() - started, summary.steps
    if summary.cancelled or summary.last_checkpoint is None or stop():
        return result(None, True)
    from napari_fbrs.model.checkpoint import export_checkpoint

    phase("export", 0)
    meta: dict[str, Any] = {"finetuned_from": str(init), "finetune_steps": summary.steps}
    exported = export_checkpoint(summary.last_checkpoint, output, half=False, meta=meta)
    if has_val:
        phase("after", validation_samples)
        after, _ = validation_noc(exported, root, validation_samples, should_stop=stop)
        if stop():  # the checkpoint exists; only the "after" figure is incomplete
            after = {}
    if not keep_run:
        shutil.rmtree(run_dir, ignore_errors=True)
    return result(exported, False)


def describe(result: FinetuneResult) -> str:
    """One line for a status bar or a terminal."""
    if result.cancelled:
        return f"Cancelled after {result.steps} steps; nothing was exported ({result.run_dir})."
    parts = [f"{result.steps} steps in {result.seconds:.0f} s"]
    for key in sorted(result.before):
        after = result.after.get(key, float("nan"))
        parts.append(f"{key.upper()} {result.before[key]:.2f} -> {after:.2f}")
    if result.validation_samples:
        parts.append(f"on {result.validation_samples} held-out objects")
    kept = f"; trainer files (resumable) in {result.run_dir}" if result.run_dir.exists() else ""
    return "; ".join(parts) + f". Saved {result.checkpoint}{kept}."


__all__ = [
    "FinetuneResult",
    "LabelledImage",
    "describe",
    "finetune_config",
    "finetune_folder",
    "split_for_validation",
    "validation_noc",
    "write_finetune_folder",
]
