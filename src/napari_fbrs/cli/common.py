"""Argument types, shared checks and loaders used by several subcommands."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_fbrs.inference.config import BRSMode

if TYPE_CHECKING:
    import torch

    from napari_fbrs.inference.clicks import Click
    from napari_fbrs.model.checkpoint import LoadedModel

PROG = "napari-fbrs"
EXIT_BAD_INPUT = 2
# The suffixes napari_fbrs.io.masks.write_mask accepts, checked before any computation starts.
MASK_SUFFIXES = (".tif", ".tiff", ".png")


class CLIError(Exception):
    """Bad input: ``main`` prints the message on one line and returns exit code 2."""


# -- argument types ----------------------------------------------------------------------------
def int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def float_in(low: float, high: float, open_low: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        too_low = value <= low if open_low else value < low
        if not math.isfinite(value) or too_low or value > high:
            interval = f"{'(' if open_low else '['}{low:g}, {high:g}]"
            raise argparse.ArgumentTypeError(f"must lie in {interval}, got {text}")
        return value

    return parse


def brs_mode(text: str) -> str:
    try:
        return BRSMode.parse(text).value
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# -- helpers shared by handlers ----------------------------------------------------------------
def select_device(spec: str) -> torch.device:
    from napari_fbrs.model.device import select_device

    try:
        return select_device(spec)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def load_model(spec: str, device: torch.device | str = "cpu") -> LoadedModel:
    """A checkpoint path, or an official weights name (downloaded on first use)."""
    from napari_fbrs.model.checkpoint import CheckpointError, load_checkpoint
    from napari_fbrs.model.weights import WeightsError, resolve_checkpoint

    try:
        return load_checkpoint(resolve_checkpoint(spec), device=device)
    except (WeightsError, CheckpointError) as exc:
        raise CLIError(str(exc)) from None


def read_clicks(args: argparse.Namespace) -> tuple[Click, ...]:
    from napari_fbrs.inference.clicks import clicks_from_triples, parse_clicks

    if args.clicks is not None:
        try:
            return parse_clicks(args.clicks)
        except ValueError as exc:
            raise CLIError(f"--clicks {args.clicks!r}: {exc}") from None
    path = Path(args.clicks_file)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CLIError(f"{path}: the clicks file is not valid JSON ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CLIError(f"{path}: cannot read the clicks file ({reason})") from None
    if not isinstance(data, list):
        raise CLIError(f"{path}: expected a JSON list of [row, col, is_positive]")
    try:
        return clicks_from_triples(data)
    except ValueError as exc:
        raise CLIError(f"{path}: {exc}") from None


def check_output(path: str | None, suffixes: Sequence[str], option: str) -> Path | None:
    """Refuse an unusable output path before any computation is spent."""
    if path is None:
        return None
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise CLIError(
            f"{option} {out}: unsupported suffix {out.suffix!r}; use {'/'.join(suffixes)}"
        )
    if not out.parent.is_dir():
        raise CLIError(f"{option} {out}: the folder {out.parent} does not exist")
    return out


def write_npz(path: Path, **arrays: Any) -> None:
    """np.savez_compressed into a temp file in the same folder, then an atomic rename."""
    import numpy as np

    from napari_fbrs.atomic import atomic_path

    try:
        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CLIError(f"--save-probs {path}: cannot write ({reason})") from None
