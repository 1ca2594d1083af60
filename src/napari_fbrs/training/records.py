"""What a training run leaves behind besides weights: CSV logs, TensorBoard, RNG snapshots.

CSV files are always written (``train_log.csv`` per logged step, ``val_log.csv`` per
validation); TensorBoard only when the ``tensorboard`` package is installed. On resume the rows
logged after the checkpoint's step are dropped, so a log never shows a step twice.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_fbrs.atomic import atomic_path
from napari_fbrs.model.checkpoint import CheckpointError, read_checkpoint


class RunLog:
    """Append-only CSV tables (one per name) plus an optional TensorBoard writer."""

    def __init__(self, out_dir: Path, tensorboard: bool = True, enabled: bool = True) -> None:
        self.out_dir = out_dir
        self.enabled = enabled
        self._writer: Any = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional
                SummaryWriter = None  # noqa: N806
            if SummaryWriter is not None:
                self._writer = SummaryWriter(log_dir=str(out_dir / "tensorboard"))

    def path(self, table: str) -> Path:
        return self.out_dir / f"{table}_log.csv"

    def write(self, table: str, row: Mapping[str, Any], step: int) -> None:
        if not self.enabled:
            return
        path = self.path(table)
        new = not path.exists()
        with path.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow({k: _cell(v) for k, v in row.items()})
        if self._writer is not None:
            for key, value in row.items():
                if key not in ("step", "epoch") and isinstance(value, (int, float)):
                    self._writer.add_scalar(f"{table}/{key}", value, step)

    def reset(self) -> None:
        """Start the tables afresh (a new run in a folder left by a run that crashed early)."""
        if self.enabled:
            for table in ("train", "val"):
                self.path(table).unlink(missing_ok=True)

    def truncate_after(self, step: int) -> None:
        """Drop rows with ``step`` greater than ``step`` (rewritten atomically)."""
        if not self.enabled:
            return
        for table in ("train", "val"):
            path = self.path(table)
            if not path.exists():
                continue
            with path.open(newline="") as fh:
                reader = csv.DictReader(fh)
                fields = reader.fieldnames or []
                rows = [r for r in reader if int(float(r.get("step") or 0)) <= step]
            _atomic_write_csv(path, fields, rows)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def window_row(
    window: list[dict[str, float]],
    step: int,
    epoch: int,
    optimizer: Any,
    reduce: Callable[[float], float] = float,
) -> dict[str, Any]:
    """One ``train_log.csv`` row: step, epoch, learning rate and the window's mean losses
    (``reduce`` averages each over the DDP ranks)."""
    row: dict[str, Any] = {"step": step, "epoch": epoch + 1}
    row["lr"] = optimizer.param_groups[-1]["lr"]
    for key in window[0]:
        row[key] = reduce(float(np.mean([w[key] for w in window])))
    return row


def _cell(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


def _atomic_write_csv(path: Path, fields: list[str], rows: list[dict[str, str]]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """This process's torch RNG state (CPU, and the CUDA device in use) as plain tensors."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: Mapping[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def changed_keys(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested config dicts."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}")
    return out


def read_training_state(
    path: Path,
) -> tuple[str, dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """``(arch, state_dict, meta, training_state)`` of a trainer's ``last.pth``."""
    arch, state_dict, meta, _official = read_checkpoint(path)
    payload = torch.load(path, map_location="cpu", weights_only=True)
    state = payload.get("training_state") if isinstance(payload, Mapping) else None
    if not isinstance(state, dict):
        raise CheckpointError(
            f"{path}: holds no training state; only a trainer's last.pth can be resumed"
        )
    return arch, state_dict, meta, state
