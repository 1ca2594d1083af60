"""``napari_fbrs.segment_all``: every object of an image from the click model, in one call.

    import napari_fbrs
    labels = napari_fbrs.segment_all(image)          # int32, 0 background, objects 1..N
    labels = napari_fbrs.segment_all(image, labels=existing)   # adds objects, keeps existing

The model resolves as for :class:`~napari_fbrs.Segmenter` (``"default"``, an official name, a
path or a loaded module) and the image becomes 8-bit RGB by the package's one rule. How objects
are found: :mod:`napari_fbrs.inference.dense`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .threads import configure_threads


def segment_all(
    image: Any,
    model: str | os.PathLike[str] | Any = "default",
    *,
    min_area: int = 10,
    min_score: float | None = None,
    prob_thresh: float | None = None,
    labels: np.ndarray | None = None,
    overwrite: bool = False,
    device: str = "auto",
    contrast_limits: Sequence[float] | None = None,
    rgb: bool | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Label every object the model finds in ``image`` (2-D grey, ``H x W x 3`` or ``x 4``).

    ``min_area``: smallest object kept (pixels). ``min_score``: smallest mask score kept
    (confidence x stability, 0..1, default 0.3; higher keeps fewer, surer objects).
    ``prob_thresh``: the probability threshold of a mask (default 0.5). ``labels``: existing
    labels of the image's shape; the result then holds them plus the new objects (ids after
    ``labels.max()``), which are painted only on unlabelled pixels unless ``overwrite``;
    ``labels`` itself is not changed.
    ``progress(done, total)`` and ``cancelled()`` (raise
    :class:`~napari_fbrs.inference.dense.automatic.Cancelled`) are for callers with a UI.
    Returns an int32 label image (the dtype of ``labels`` when given).
    """
    configure_threads()
    from .inference.dense.automatic import SegmentAllConfig, segment_rgb
    from .inference.dense.select import add_objects
    from .io.images import to_model_rgb
    from .model.device import select_device
    from .segmenter import _load

    data = np.asarray(image)
    if data.ndim not in (2, 3) or (data.ndim == 3 and data.shape[-1] not in (3, 4)):
        raise ValueError(
            f"expected a 2-D grey, H x W x 3 or H x W x 4 image, got shape {data.shape}; "
            "for a stack pass one plane, e.g. stack[z]"
        )
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != data.shape[:2] or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"labels must be an integer array of shape {data.shape[:2]}, got "
                f"{labels.dtype} {labels.shape}"
            )
    config = SegmentAllConfig(min_area=int(min_area))
    changes = {"min_score": min_score, "prob_thresh": prob_thresh}
    config = replace(config, **{k: v for k, v in changes.items() if v is not None})
    torch_device = select_device(device)
    net, _ = _load(model, torch_device)
    pixels = to_model_rgb(data, contrast_limits, rgb)
    found = segment_rgb(net, pixels, config, progress, cancelled, torch_device)
    if labels is None:
        return found
    result = labels.copy()
    indices, values = add_objects(labels, found, config.min_area, overwrite)
    result[indices] = values
    return result
