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
        refusal = _code_refusal(exc)
        if refusal is not None:  # "from None": torch's own advice must not travel along
            raise CheckpointError(f"{path}: {refusal}") from None
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint ({_load_failure(exc)})"
        ) from exc

    if isinstance(obj, Mapping) and "state_dict" in obj and "arch" in obj:
        state_dict, arch, meta, official = (
            obj["state_dict"],
            obj["arch"],
            _checked_meta(obj.get("meta"), path),
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


# What torch's weights-only unpickler says when a pickle asks for more than tensors and plain
# containers: an importable name (GLOBAL), a call (REDUCE), a class to instantiate or build.
_CODE_PATTERN = re.compile(r"GLOBAL|call reduce|Can only (?:create|build)|allowlisted")
# Pickle opcodes that import or instantiate (INST, OBJ, EXT1/2/4, NEWOBJ_EX); the unpickler
# reports them as "Unsupported operand N".
_OBJECT_OPCODES = frozenset({ord("i"), ord("o"), 0x82, 0x83, 0x84, 0x92})


def _checked_meta(meta: object, path: Path) -> dict[str, Any]:
    """A checkpoint's ``meta``: absent/None (no metadata) or a mapping with string keys."""
    if meta is None:
        return {}
    if not isinstance(meta, Mapping):
        raise CheckpointError(
            f"{path}: its 'meta' entry is of type {type(meta).__name__}, not a mapping of "
            "names to values, so this is not a napari-fbrs checkpoint"
        )
    bad = [key for key in meta if not isinstance(key, str)]
    if bad:
        raise CheckpointError(f"{path}: its 'meta' has a key that is not a string: {bad[0]!r}")
    return dict(meta)


def _code_refusal(exc: Exception) -> str | None:
    """Our message when torch's weights-only unpickler refused the file, else None.

    That unpickler accepts tensors and plain containers only; anything else in the pickle (a
    class, a function call such as ``os.system``, an instruction that instantiates) is refused
    before it runs. Torch's own text then advises re-running with ``weights_only=False``,
    which for a file that tried to run code is the one thing not to do, so none of it is
    passed on.
    """
    inner = _unpickler_error(exc)
    if inner is None:
        return None
    operand = re.search(r"Unsupported operand (\d+)", inner)
    if operand is not None and int(operand.group(1)) in _OBJECT_OPCODES:
        what = f" (pickle instruction {_opcode_name(int(operand.group(1)))})"
    elif _CODE_PATTERN.search(inner):
        match = re.search(r"GLOBAL (\S+)", inner) or re.search(
            r"(?:got|function) (<[^>]+>|\S+)", inner
        )
        what = f" ({match.group(1)})" if match else ""
    else:
        return None  # e.g. an unknown opcode in a damaged file: not readable, not code
    return (
        f"refused for safety: the file contains code or Python objects{what}, not just "
        "tensors, and loading it could run that code; nothing from it was run. Use a "
        "checkpoint that holds plain tensors (official f-BRS files and napari-fbrs "
        "checkpoints do)"
    )


def _unpickler_error(exc: Exception) -> str | None:
    """The weights-only unpickler's own reason inside torch's message, if it raised."""
    text = str(exc)
    if "Weights only load failed" not in text:
        return None
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    for line in (line.strip() for line in text.splitlines()):
        advice = "weights_only" in line or line.startswith(("Weights only", "Check the doc"))
        if line and not advice:
            return line
    return ""


def _opcode_name(code: int) -> str:
    import pickletools

    op = pickletools.code2op.get(chr(code))
    return op.name if op is not None else str(code)


def _load_failure(exc: Exception) -> str:
    """A one-line reason for a failed ``torch.load(weights_only=True)``."""
    inner = _unpickler_error(exc)
    if inner is not None:  # not code, but not a pickle of tensors either (a damaged file)
        return f"unpickling failed: {inner}" if inner else "unpickling failed"
    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else ""
    if "weights_only" in first:  # never pass on advice about switching the check off
        first = ""
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
    # through a file object: torch then names the archive's folder "archive", not after the
    # random temporary file, so the same weights always give the same bytes (and sha256)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(payload, fh)
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
    new_meta = {k: v for k, v in old_meta.items() if k != "training_state"}
    new_meta.update(meta or {})
    new_meta["exported_from"] = Path(source).name
    return save_weights(target, arch, state_dict, new_meta, half, str(source))


def save_weights(
    target: str | os.PathLike[str],
    arch: str,
    state_dict: Mapping[str, torch.Tensor],
    meta: Mapping[str, Any],
    half: bool = True,
    origin: str = "weights",
) -> Path:
    """Load ``state_dict`` strictly into a fresh ``arch`` model (a foreign or broken set of
    weights is refused before anything is written), store it as float16 when ``half``, and
    write it atomically as an inference checkpoint with ``meta``."""
    model = build_model(arch)
    load_into(model, state_dict, arch, origin)
    if half:
        model.half()
    return save_checkpoint(target, model, arch, meta)
