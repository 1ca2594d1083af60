"""napari-fbrs: f-BRS click-based interactive segmentation for napari.

This module deliberately imports neither torch nor Qt so that napari can read the plugin
manifest and list its contributions without paying for heavy imports. The public Python API
is reached through lazy attributes (PEP 562): ``napari_fbrs.Segmenter`` and
``napari_fbrs.segment_all`` load their module, and torch, on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:
    from ._version import version as __version__
except ImportError:  # pragma: no cover - only in a source tree that was never installed
    __version__ = "0.0.0"

if TYPE_CHECKING:
    from .dense import segment_all
    from .segmenter import Segmenter

#: Public name -> the module that defines it (imported on first access).
_LAZY = {"Segmenter": "napari_fbrs.segmenter", "segment_all": "napari_fbrs.dense"}

__all__ = ["Segmenter", "__version__", "segment_all"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'napari_fbrs' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
