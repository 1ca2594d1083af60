"""Which network the widget runs: official weights by name, a checkpoint file, or a built-in.

The functions that read or download files run inside a worker thread (see ``widget.py``); the
list of choices never touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from napari_fbrs.model.checkpoint import load_checkpoint
from napari_fbrs.model.weights import OFFICIAL_WEIGHTS, cached_path, download_weights


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from: ``official`` (a weights name) or ``file`` (a path)."""

    kind: Literal["official", "file", "builtin"]
    name: str


@dataclass(frozen=True)
class ReadyModel:
    """A built, frozen model and the words the status line uses for it."""

    model: torch.nn.Module
    label: str
    arch: str


def model_choices() -> list[tuple[str, ModelSource]]:
    """``(label, source)`` pairs for the model chooser, the default first.

    BUILT-IN DEFAULT: when the package ships its own default weights, insert their source here
    as the first entry (``ModelSource("builtin", ...)``), load it in :func:`load_model` and
    return it from :func:`default_source`.
    """
    choices = []
    for name, info in OFFICIAL_WEIGHTS.items():
        where = "cached" if cached_path(name) is not None else f"download {info.size_mb:g} MB"
        choices.append((f"{name} ({info.trained_on}, {where})", ModelSource("official", name)))
    return choices


def default_source() -> ModelSource | None:
    """The model loaded when the widget opens: none until a built-in default exists."""
    return None


def load_model(source: ModelSource) -> ReadyModel:
    """Download if needed, load strictly, freeze. Slow: call it from a worker thread."""
    if source.kind == "official":
        path = download_weights(source.name, progress=False)
        label = source.name
    elif source.kind == "file":
        path = Path(source.name)
        label = path.name
    else:
        raise ValueError(f"no built-in model is available yet ({source.name!r})")
    loaded = load_checkpoint(path, device="cpu")
    return ReadyModel(loaded.model, label, loaded.arch)
