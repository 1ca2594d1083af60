"""Safe checkpoint reading and writing.

Two layouts are accepted:

* the official f-BRS releases: a bare ``state_dict`` (an ``OrderedDict`` of tensors), float32 or
  float16, legacy or zip container, possibly saved from CUDA tensors, with or without
  ``num_batches_tracked`` counters; the architecture is detected from keys and shapes;
* ours: ``{"arch": str, "state_dict": {...}, "meta": {...}}``.

Files are read with ``torch.load(weights_only=True)``, which refuses any pickle that is not
plain tensors and containers, so no code from a file ever runs. Every failure becomes one
:class:`CheckpointError` that names the file and says what is wrong.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from napari_fbrs.atomic import atomic_path

from .is_model import InteractiveModel
from .registry import (
    ARCHITECTURES,
    IGNORED_SUFFIX,
    UnknownArchitectureError,
    build_model,
    compare_signature,
    detect_arch,
)

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file cannot be used; the message names the file and the reason."""


@dataclass
class LoadedModel:
    """A ready-to-use model (eval mode, frozen) and what is known about its file."""

    model: InteractiveModel
    arch: str
    path: Path | None
    meta: dict[str, Any] = field(default_factory=dict)
    source_dtype: str = "float32"
    official_layout: bool = True

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def sha256_of(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_checkpoint(
    path: str | os.PathLike[str],
) -> tuple[str, dict[str, torch.Tensor], dict[str, Any], bool]:
    """Read a file and return ``(arch, state_dict, meta, is_official_layout)`` without building."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated / foreign files
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint ({_load_failure(exc)})"
        ) from exc

    if isinstance(obj, Mapping) and "state_dict" in obj and "arch" in obj:
        state_dict, arch, meta, official = (
            obj["state_dict"],
            obj["arch"],
            dict(obj.get("meta") or {}),
            False,
        )
        if not isinstance(arch, str) or arch not in ARCHITECTURES:
            raise CheckpointError(f"{path}: names an unknown architecture {arch!r}")
    elif isinstance(obj, Mapping):
        state_dict, arch, meta, official = obj, None, {}, True
    else:
        raise CheckpointError(
            f"{path}: expected a state_dict (a mapping of tensors), found {type(obj).__name__}"
        )
    if not isinstance(state_dict, Mapping) or not state_dict:
        raise CheckpointError(f"{path}: the state_dict is empty or not a mapping")
    bad = [
        k
        for k, v in state_dict.items()
        if not isinstance(k, str) or not isinstance(v, torch.Tensor)
    ]
    if bad:
        raise CheckpointError(
            f"{path}: {len(bad)} entries are not tensors (first: {bad[0]!r}); "
            "not an f-BRS state_dict"
        )
    if arch is None:
        try:
            arch = detect_arch(state_dict)
        except UnknownArchitectureError as exc:
            raise CheckpointError(f"{path}: {exc}") from None
    return arch, dict(state_dict), meta, official


def _load_failure(exc: Exception) -> str:
    """A one-line reason for a failed ``torch.load(weights_only=True)``."""
    text = str(exc)
    match = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if match:
        return (
            f"it contains a Python object ({match.group(1)}) other than tensors; "
            "refused for safety, nothing from the file was run"
        )
    match = re.search(r"WeightsUnpickler error: \s*(.+)", text)
    if match:
        return f"unpickling failed: {match.group(1).strip().splitlines()[0]}"
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def load_into(
    model: InteractiveModel, state_dict: Mapping[str, torch.Tensor], arch: str, origin: str
) -> None:
    """Strictly load ``state_dict``: every key must match except absent BN counters."""
    diff = compare_signature(state_dict, arch)
    if not diff.matches:
        raise CheckpointError(f"{origin}: weights do not fit {arch}: {diff.describe()}")
    own = model.state_dict()
    full = dict(state_dict)
    for key, value in own.items():
        if key.endswith(IGNORED_SUFFIX) and key not in full:
            full[key] = value  # MXNet-converted files never had these counters
    for key, value in full.items():
        if value.is_floating_point() != own[key].is_floating_point():
            raise CheckpointError(
                f"{origin}: {key} has dtype {value.dtype}, expected {own[key].dtype}"
            )
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{origin}: {key} contains NaN or infinite values")
    model.load_state_dict(full, strict=True)


def _float_dtype(state_dict: Mapping[str, torch.Tensor]) -> str:
    dtypes = {
        str(v.dtype).replace("torch.", "") for v in state_dict.values() if v.is_floating_point()
    }
    return "/".join(sorted(dtypes)) or "none"


def load_checkpoint(
    path: str | os.PathLike[str], device: torch.device | str = "cpu", freeze: bool = True
) -> LoadedModel:
    """Build the detected architecture, load the weights strictly, and move to ``device``."""
    arch, state_dict, meta, official = read_checkpoint(path)
    model = build_model(arch)
    load_into(model, state_dict, arch, str(path))
    model.eval()
    if freeze:
        for p in model.parameters():
            p.requires_grad_(False)
    model.to(device)
    return LoadedModel(model, arch, Path(path), meta, _float_dtype(state_dict), official)


def save_checkpoint(
    path: str | os.PathLike[str],
    model: InteractiveModel,
    arch: str,
    meta: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``{"arch", "state_dict", "meta", ...extra}`` atomically (temp file + rename).

    ``meta`` must hold only plain data (str, numbers, lists, dicts) so that the file stays
    loadable with ``weights_only=True``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "arch": arch,
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        "meta": dict(meta or {}),
    }
    payload.update(extra or {})
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def export_checkpoint(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    half: bool = True,
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write a slim, inference-only copy of any checkpoint we can load.

    The weights are loaded strictly first (so a foreign file never gets exported), floating-point
    tensors are stored as float16 when ``half`` (as the official files are), and only the
    ``meta`` of a napari-fbrs checkpoint survives: optimiser and resume state are dropped.
    ``meta`` adds or replaces keys. The file is written atomically.
    """
    arch, state_dict, old_meta, _ = read_checkpoint(source)
    model = build_model(arch)
    load_into(model, state_dict, arch, str(source))
    if half:
        model.half()
    new_meta = {k: v for k, v in old_meta.items() if k != "training_state"}
    new_meta.update(meta or {})
    new_meta["exported_from"] = Path(source).name
    return save_checkpoint(target, model, arch, new_meta)
