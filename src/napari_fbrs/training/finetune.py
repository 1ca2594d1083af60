"""Fine-tuning on a user's own labels: the engine behind the ``f-BRS fine-tune`` dock widget.

Free of napari so that it is testable and scriptable (``benchmarks/bench_finetune.py`` runs
exactly what the widget runs):

* :func:`finetune_items` is the widget's entry point: it writes the user's pairs as a
  ``folder`` dataset with a held-out part (:mod:`.finetune_split`), runs
  :func:`finetune_folder` and removes the copies afterwards.
* :func:`finetune_folder` measures NoC on the held-out part with the starting model, trains
  with :class:`~.finetune_policy.FinetuneSettings` (the ``training/finetune_folder.toml``
  recipe) for a given number of steps, measures again, and exports a checkpoint that the
  segmentation widget can load; :attr:`FinetuneResult.verdict` says whether it got better.
"""

from __future__ import annotations

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
from .finetune_policy import FinetuneSettings, Verdict, compare_noc
from .finetune_split import (
    LabelledImage,
    folder_items,
    split_for_validation,
    write_finetune_folder,
)
from .trainer import StepCallback, train
from .validation import validate


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
    noc_seconds: float = 0.0

    @property
    def data_dir(self) -> Path:
        """Where :func:`finetune_items` copies the user's images (removed unless kept)."""
        return self.run_dir.with_name(self.run_dir.name.removesuffix("_run") + "_data")

    @property
    def verdict(self) -> Verdict:
        """Better, unchanged, worse or unmeasured: only "better" is kept without asking."""
        if self.cancelled:
            return Verdict.UNMEASURED
        return compare_noc(self.before, self.after, self.validation_samples)


def finetune_config(data_root: str | os.PathLike[str], settings: FinetuneSettings) -> TrainConfig:
    """The ``training/finetune_folder.toml`` recipe for ``settings.steps`` optimiser steps.

    One epoch of exactly ``steps`` batches, constant learning rate (a short run has no room for
    a schedule), training split ``train`` of ``data_root``; the sampling and augmentation are
    those the built-in model was trained with (objects zoomed as ZoomIn shows them, corrective
    clicks, the previous mask sometimes dropped), so that fine-tuning adapts it to new images
    instead of to a new protocol. Validation is done by :func:`finetune_folder` before and
    after, not by the trainer.
    """
    s = settings
    return TrainConfig(
        model=ModelConfig(arch="auto", freeze_backbone=s.freeze_backbone),
        data=DataConfig(
            kind="folder",
            root=str(Path(data_root).resolve()),
            split="train",
            crop_size=(s.crop_size, s.crop_size),
            min_object_area=20,
            epoch_len=s.steps * s.batch_size,
            num_workers=0,
        ),
        # corrective clicks from the model's own errors (what RITM-style models learn from)
        sampler=SamplerConfig(
            num_max_points=10, merge_objects_prob=0.1, next_clicks_max=2, prev_mask_drop_prob=0.1
        ),
        augment=AugmentConfig(scale_range=(0.6, 1.4), object_zoom_prob=s.object_zoom_prob),
        train=TrainParams(
            batch_size=s.batch_size,
            epochs=1,
            lr=s.lr,
            backbone_lr_mult=s.backbone_lr_mult,
            device="auto",
            seed=s.seed,
            channels_last=True,
        ),
        schedule=ScheduleConfig(kind="constant"),
        validation=ValidationConfig(kind="folder", every_epochs=0),
        checkpoint=CheckpointConfig(every_epochs=0),
        logging=LoggingConfig(every_steps=max(1, min(10, s.steps)), tensorboard=False),
    )


def validation_noc(
    checkpoint: str | os.PathLike[str],
    root: str | os.PathLike[str],
    max_samples: int = 20,
    max_clicks: int = 20,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[dict[str, float], int]:
    """NoC@85/90 (NoBRS, the trainer's validation protocol) on ``root``'s ``val`` split.

    The objects are spread over the held-out images (every k-th one), not the first few of
    the first image.
    """
    from napari_fbrs.io.datasets import open_dataset
    from napari_fbrs.model.checkpoint import load_checkpoint

    dataset = spread_samples(open_dataset("folder", root, split="val"), max_samples)
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
    return {k: v for k, v in metrics.items() if k.startswith("noc@")}, len(dataset)


class SpreadSamples:
    """``count`` samples of ``dataset`` evenly spaced over all of them (a dataset view)."""

    def __init__(self, dataset: Any, count: int) -> None:
        self.dataset, self.name = dataset, dataset.name
        total = len(dataset)
        count = min(count, total)
        self.indices = [int(i) for i in np.linspace(0, total - 1, count).round()] if count else []

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[self.indices[index]]


def spread_samples(dataset: Any, count: int) -> SpreadSamples:
    """See :class:`SpreadSamples`."""
    return SpreadSamples(dataset, count)


#: ``on_phase(phase, detail)``: "before" / "after" (NoC on N held-out objects), "training"
#: (N iterations), "export"; for a status line, so that no phase looks like another.
PhaseCallback = Callable[[str, int], None]


def finetune_folder(
    root: str | os.PathLike[str],
    init: str | os.PathLike[str],
    output: str | os.PathLike[str],
    settings: FinetuneSettings = FinetuneSettings(),  # noqa: B008 - frozen
    *,
    on_step: StepCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_phase: PhaseCallback | None = None,
    keep_run: bool = True,
) -> FinetuneResult:
    """Fine-tune ``init`` on ``root/train``, compare NoC on ``root/val``, export ``output``.

    The trainer's own files go to ``<output stem>_run/`` beside ``output`` (a folder that
    already holds a run is refused, nothing is overwritten); ``keep_run=False`` removes them
    at the end, also after a cancelled run (they are only needed to resume). ``should_stop``
    is polled in every phase (NoC before, training, NoC after): once it returns true the run
    ends there and ``output`` is not written. ``output`` is written only when the run was not
    cancelled; whether it is worth using is :attr:`FinetuneResult.verdict`.
    """
    output = Path(output)
    if output.suffix != ".pth":
        raise ValueError(f"{output}: the fine-tuned checkpoint must be a .pth file")
    if output.exists():
        raise FileExistsError(f"{output} exists; choose another file name")
    run_dir = output.with_name(output.stem + "_run")
    try:
        return _finetune(root, init, output, run_dir, settings, on_step, should_stop, on_phase)
    finally:
        if not keep_run:
            shutil.rmtree(run_dir, ignore_errors=True)


def _finetune(
    root: str | os.PathLike[str],
    init: str | os.PathLike[str],
    output: Path,
    run_dir: Path,
    settings: FinetuneSettings,
    on_step: StepCallback | None,
    should_stop: Callable[[], bool] | None,
    on_phase: PhaseCallback | None,
) -> FinetuneResult:
    stop = should_stop or (lambda: False)
    phase = on_phase or (lambda name, detail: None)
    has_val = (Path(root) / "val" / "images").is_dir()
    noc: dict[str, dict[str, float]] = {"before": {}, "after": {}}
    n_val, steps_done, seconds, noc_seconds = 0, 0, 0.0, 0.0
    samples, clicks = settings.validation_samples, settings.max_clicks

    def result(checkpoint: Path | None, cancelled: bool) -> FinetuneResult:
        return FinetuneResult(
            checkpoint,
            run_dir,
            steps_done,
            seconds,
            cancelled,
            noc["before"],
            noc["after"],
            n_val,
            noc_seconds,
        )

    if has_val:
        phase("before", samples)
        (noc["before"], n_val), took = _timed(validation_noc, init, root, samples, clicks, stop)
        noc_seconds += took
    if stop():
        return result(None, True)
    config = finetune_config(root, settings)

    def step(done: int, total: int, loss: float) -> bool:
        keep_going = on_step(done, total, loss) if on_step is not None else None
        return keep_going is not False and not stop()

    phase("training", settings.steps)
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
        phase("after", samples)
        (noc["after"], _), took = _timed(validation_noc, exported, root, samples, clicks, stop)
        noc_seconds += took
        if stop():  # the checkpoint exists; only the "after" figure is incomplete
            noc["after"] = {}
    return result(exported, False)


def _timed(
    noc: Callable[..., tuple[dict[str, float], int]],
    checkpoint: str | os.PathLike[str],
    root: str | os.PathLike[str],
    samples: int,
    clicks: int,
    stop: Callable[[], bool],
) -> tuple[tuple[dict[str, float], int], float]:
    """The validation NoC of ``checkpoint`` and the seconds it took."""
    started = time.perf_counter()
    value = noc(checkpoint, root, samples, clicks, should_stop=stop)
    return value, time.perf_counter() - started


def finetune_items(
    items: Sequence[LabelledImage],
    init: str | os.PathLike[str],
    output: str | os.PathLike[str],
    settings: FinetuneSettings = FinetuneSettings(),  # noqa: B008 - frozen
    *,
    on_step: StepCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_phase: PhaseCallback | None = None,
    keep_files: bool = False,
) -> FinetuneResult:
    """What the fine-tune widget runs: split ``items``, fine-tune, tidy up.

    The split is written to ``<output stem>_data/`` beside ``output`` (the trainer reads
    files) and removed at the end together with ``<output stem>_run/``, whatever the outcome,
    unless ``keep_files``.
    """
    output = Path(output)
    data_root = output.with_name(output.stem + "_data")
    if data_root.exists():
        raise FileExistsError(f"{data_root} exists; choose another file name")
    try:
        write_finetune_folder(items, data_root)
        return finetune_folder(
            data_root,
            init,
            output,
            settings,
            on_step=on_step,
            should_stop=should_stop,
            on_phase=on_phase,
            keep_run=keep_files,
        )
    finally:
        if not keep_files:
            shutil.rmtree(data_root, ignore_errors=True)


def describe(result: FinetuneResult) -> str:
    """One line for a status bar or a terminal; it names only folders that exist."""
    kept = [str(p) for p in (result.run_dir, result.data_dir) if p.exists()]
    files = f" Kept: {', '.join(kept)}." if kept else ""
    if result.cancelled:
        return f"Cancelled after {result.steps} steps; nothing was exported.{files}"
    parts = [f"{result.steps} steps in {result.seconds:.0f} s"]
    for key in sorted(result.before):
        after = result.after.get(key, float("nan"))
        parts.append(f"{key.upper()} {result.before[key]:.2f} -> {after:.2f}")
    if result.validation_samples:
        parts.append(
            f"on {result.validation_samples} held-out objects "
            f"(measured in {result.noc_seconds:.0f} s)"
        )
    return "; ".join(parts) + f". Saved {result.checkpoint}.{files}"


__all__ = [
    "FinetuneResult",
    "FinetuneSettings",
    "Verdict",
    "finetune_items",
    "LabelledImage",
    "describe",
    "finetune_config",
    "finetune_folder",
    "folder_items",
    "split_for_validation",
    "validation_noc",
    "write_finetune_folder",
]
