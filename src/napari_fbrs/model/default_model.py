"""The built-in default model that ships inside the package, so that segmentation works offline.

Its entry lives in the one weights table (:data:`napari_fbrs.model.weights.BUILTIN`); this
module keeps the names scripts have imported from here. ``docs/model_card.md`` says how the
model was trained and how well it works; ``napari-fbrs predict`` / ``evaluate`` use it when no
``--checkpoint`` is given, the widget loads it when it opens, and the name ``default`` is
accepted wherever a checkpoint name is.
"""

from __future__ import annotations

from .weights import BUILTIN as DEFAULT_MODEL
from .weights import DEFAULT_MODEL_NAMES, default_checkpoint_path, is_default_name, packaged_path

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_MODEL_NAMES",
    "default_checkpoint_path",
    "is_default_name",
    "packaged_path",
]
