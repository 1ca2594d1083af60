"""Argument types, shared checks and loaders used by several subcommands."""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_fbrs.inference.engine.config import BRSMode

if TYPE_CHECKING:
    import torch

    from napari_fbrs.inference.engine.clicks import Click
    from napari_fbrs.model.checkpoint import LoadedModel

PROG = "napari-fbrs"
EXIT_BAD_INPUT = 2
#: A long job stopped by Ctrl+C / SIGTERM after its clean stop, as shells report SIGINT.
EXIT_INTERRUPTED = 130
# The suffixes napari_fbrs.io.masks.write_mask accepts, checked before any computation starts.
MASK_SUFFIXES = (".tif", ".tiff", ".png")
#: A clicks file larger than this is refused unread: 1 MiB holds ~50,000 clicks, far more
#: than anyone places, and ``--clicks-file /dev/zero`` must not read until memory runs out.
MAX_CLICKS_FILE_BYTES = 1 << 20
#: The string signs a clicks file may give (besides JSON true/false and 1/0).
_SIGNS = ("+", "-")


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


def load_model(
    spec: str, device: torch.device | str = "cpu", download: bool = True
) -> LoadedModel:
    """A checkpoint path, ``default``, or an official weights name (downloaded on first use
    unless ``download`` is false): the model layer's one resolver, errors as one line."""
    from napari_fbrs.model.checkpoint import CheckpointError, load_checkpoint
    from napari_fbrs.model.weights import WeightsError, resolve_checkpoint

    try:
        return load_checkpoint(resolve_checkpoint(spec, download=download), device=device)
    except (WeightsError, CheckpointError) as exc:
        raise CLIError(str(exc)) from None


def read_clicks(args: argparse.Namespace) -> tuple[Click, ...]:
    from napari_fbrs.inference.engine.clicks import clicks_from_triples, parse_clicks

    if args.clicks is not None:
        try:
            return parse_clicks(args.clicks)
        except ValueError as exc:
            raise CLIError(f"--clicks {args.clicks!r}: {exc}") from None
    path = Path(args.clicks_file)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CLICKS_FILE_BYTES + 1)  # bounded: the path may be /dev/zero
        if len(raw) > MAX_CLICKS_FILE_BYTES:
            raise CLIError(
                f"{path}: the clicks file is larger than {MAX_CLICKS_FILE_BYTES >> 20} MiB; "
                "a clicks file is a short JSON list of [row, col, is_positive]"
            )
        data = json.loads(raw.decode("utf-8"))
    except json.JSONDecodeError as exc:
        raise CLIError(f"{path}: the clicks file is not valid JSON ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"{path}: cannot read the clicks file ({error_reason(exc)})") from None
    if not isinstance(data, list):
        raise CLIError(f"{path}: expected a JSON list of [row, col, is_positive]")
    for index, entry in enumerate(data, start=1):
        _check_click_entry(path, index, entry)
    try:
        return clicks_from_triples(data)
    except ValueError as exc:
        raise CLIError(f"{path}: {exc}") from None


def _check_click_entry(path: Path, index: int, entry: object) -> None:
    """One ``[row, col, sign]`` of a clicks file: numbers, and a sign that is unambiguous.

    Only JSON true/false, 1/0 and "+"/"-" are signs; anything else (``{"x": 1}``, ``2``,
    ``"yes"``) would otherwise be read by its truth value, silently turning a typo into a
    positive click.
    """
    if not isinstance(entry, list) or len(entry) != 3:
        raise CLIError(f"{path}: click {index} must be [row, col, is_positive], got {entry!r}")
    row, col, sign = entry
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (row, col)):
        raise CLIError(f"{path}: click {index} {entry!r}: row and col must be numbers")
    if not all(math.isfinite(v) for v in (row, col)):
        raise CLIError(f"{path}: click {index} {entry!r}: row and col must be finite")
    valid = (
        isinstance(sign, bool)
        or (type(sign) is int and sign in (0, 1))
        or (isinstance(sign, str) and sign in _SIGNS)
    )
    if not valid:
        raise CLIError(
            f'{path}: click {index} {entry!r}: the sign must be true/false, 1/0 or "+"/"-", '
            f"got {sign!r}"
        )


def check_output(path: str | None, suffixes: Sequence[str] | None, option: str) -> Path | None:
    """Refuse an unusable output file before any computation is spent.

    The suffix must be one of ``suffixes`` (None: any), the path must not be a folder, and
    its folder must exist and take a new file (tried with a probe file, the only test that is
    right on every file system and for every user, root included). An existing file is fine:
    every subcommand replaces its outputs atomically (see :func:`refuse_inputs` for the
    exception).
    """
    if path is None:
        return None
    out = Path(path)
    if out.is_dir():
        raise CLIError(f"{option} {out}: is a folder; give a file name")
    if suffixes is not None and out.suffix.lower() not in suffixes:
        raise CLIError(
            f"{option} {out}: unsupported suffix {out.suffix!r}; use {'/'.join(suffixes)}"
        )
    folder = out.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise CLIError(f"{option} {out}: the folder {folder} {what}")
    check_writable(folder, f"{option} {out}")
    return out


def check_writable(folder: Path, what: str) -> None:
    """Create and remove a probe file in ``folder``; refuse with ``what`` when that fails."""
    try:
        fd, name = tempfile.mkstemp(prefix=".napari-fbrs-probe.", dir=folder)
    except OSError as exc:
        raise CLIError(
            f"{what}: cannot write into the folder {folder} ({error_reason(exc)})"
        ) from None
    os.close(fd)
    os.unlink(name)


def refuse_inputs(outputs: dict[str, Path | None], inputs: Sequence[Path | str | None]) -> None:
    """Refuse an output (``{option: path}``) that names one of the command's input files.

    The one overwrite rule of the command line: an existing output file is replaced
    atomically, but an input never is (``predict --image x.png --output x.png`` once replaced
    the image with its mask). Paths are compared as files (symbolic links and ``..``
    resolved, hard links found by ``samefile``).
    """
    present = {option: out for option, out in outputs.items() if out is not None and out.exists()}
    if not present:  # a file that does not exist yet cannot be an input
        return
    existing = [Path(p) for p in inputs if p is not None and Path(p).is_file()]
    for option, out in present.items():
        for source in existing:
            if os.path.samefile(out, source):
                raise CLIError(
                    f"{option} {out}: that is an input of this command ({source}); "
                    "refusing to write over it, choose another file name"
                )


def error_reason(exc: BaseException) -> str:
    """Why a file operation failed, without the file name: the caller names the file.

    ``str(OSError)`` includes the name the OS saw, which for a write is the atomic writer's
    temporary file (``.mask.png.k2j4.png``): meaningless to the user. Torch's checkpoint
    writer reports a full disk as a ``RuntimeError`` about an "unexpected pos".
    """
    if isinstance(exc, OSError):
        if exc.strerror:
            return exc.strerror
        if exc.errno:
            return os.strerror(exc.errno)
    text = str(exc).strip()
    if "unexpected pos" in text or "file write failed" in text:
        return "the write stopped short; is the disk full?"
    return text.splitlines()[0] if text else type(exc).__name__


def write_npz(path: Path, **arrays: Any) -> None:
    """np.savez_compressed into a temp file in the same folder, then an atomic rename."""
    import numpy as np

    from napari_fbrs.atomic import atomic_path

    try:
        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    except OSError as exc:
        raise CLIError(f"--save-probs {path}: cannot write ({error_reason(exc)})") from None
