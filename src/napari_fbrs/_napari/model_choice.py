"""Which network the widget runs: official weights by name, a checkpoint file, or a built-in.

The functions that read or download files run inside a worker thread (see ``widget.py``); the
list of choices never touches the network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from napari_fbrs.inference.engine.config import PredictorConfig
from napari_fbrs.model.weights import BUILTIN as DEFAULT_MODEL
from napari_fbrs.model.weights import OFFICIAL_WEIGHTS, cached_path, resolve_checkpoint

if TYPE_CHECKING:
    import torch

# torch, the predictor and the checkpoint loader are imported by the functions that run in the
# worker thread: importing torch on napari's thread blocked the viewer for seconds.


@dataclass(frozen=True)
class ModelSource:
    """A chooser entry: ``official`` (a weights name), ``file`` (a path) or ``builtin``.

    ``name`` is what :func:`napari_fbrs.model.weights.resolve_checkpoint` takes.
    """

    kind: Literal["official", "file", "builtin"]
    name: str

    @property
    def label(self) -> str:
        if self.kind == "file":
            return Path(self.name).name
        if self.kind == "builtin":
            return f"built-in default ({DEFAULT_MODEL.arch})"
        return self.name


#: The shipped default weights (``napari_fbrs.model.default_model``).
BUILTIN_SOURCE = ModelSource("builtin", DEFAULT_MODEL.name)


@dataclass(frozen=True)
class ReadyModel:
    """A built, frozen model and the words the status line uses for it."""

    model: torch.nn.Module
    label: str
    arch: str


#: Checkpoints made in this session (fine-tuning), offered in every model chooser.
_registered: list[Path] = []
_listeners: list[Callable[[], None]] = []


def register_checkpoint(path: str | Path) -> ModelSource:
    """Offer ``path`` in the model choosers from now on and tell open choosers to refresh."""
    path = Path(path).resolve()
    if path not in _registered:
        _registered.append(path)
    for listener in list(_listeners):
        try:
            listener()
        except RuntimeError:  # its Qt widget was deleted without closing: forget it
            remove_choices_listener(listener)
    return ModelSource("file", str(path))


def add_choices_listener(listener: Callable[[], None]) -> None:
    _listeners.append(listener)


def remove_choices_listener(listener: Callable[[], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def model_choices() -> list[tuple[str, ModelSource]]:
    """``(label, source)`` pairs for the model chooser: the built-in default first, then
    checkpoints fine-tuned in this session, then the official weights."""
    builtin_label = f"built-in default ({DEFAULT_MODEL.arch}, offline)"
    choices = [(builtin_label, BUILTIN_SOURCE)]
    for path in _registered:
        if path.is_file():
            choices.append((f"fine-tuned: {path.name}", ModelSource("file", str(path))))
    for name, info in OFFICIAL_WEIGHTS.items():
        where = "cached" if cached_path(name) is not None else f"download {info.size_mb:g} MB"
        choices.append((f"{name} ({info.trained_on}, {where})", ModelSource("official", name)))
    return choices


def default_source() -> ModelSource | None:
    """The model loaded when the widget opens: the built-in default (no download)."""
    return BUILTIN_SOURCE


def checkpoint_path(source: ModelSource, progress: bool = False) -> Path:
    """The file behind a source (downloads official weights). Slow: call it from a worker."""
    return resolve_checkpoint(source.name, progress=progress)


@dataclass(frozen=True)
class Engine:
    """What the widget's predictors are made with: predictor settings and the local window
    for large images (0 = off)."""

    config: PredictorConfig
    local_window: int = 0


def make_predictor(model: torch.nn.Module, engine: Engine | PredictorConfig, device: Any) -> Any:
    """The session's predictor factory: the core's one predictor builder
    (:func:`napari_fbrs.inference.engine.factory.make_predictor`) with the engine's settings. Runs
    in the worker: torch is imported there, not when the widget opens."""
    from napari_fbrs.inference.engine.factory import make_predictor as core_make_predictor

    if isinstance(engine, PredictorConfig):
        engine = Engine(engine)
    return core_make_predictor(model, engine.config, device, engine.local_window)


def load_model(source: ModelSource) -> ReadyModel:
    """Download if needed, load strictly, freeze. Slow: call it from a worker thread."""
    from napari_fbrs.model.checkpoint import load_checkpoint

    loaded = load_checkpoint(checkpoint_path(source), device="cpu")
    return ReadyModel(loaded.model, source.label, loaded.arch)
