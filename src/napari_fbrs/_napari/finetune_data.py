"""The fine-tune widget's data: napari layers or a folder as (image, labels) pairs.

Every labelled 2-D plane of an image layer becomes one training image, converted exactly as the
segmentation widget converts it (the layer's contrast limits, grey to RGB), so that the model is
tuned on what it will see.
"""

from __future__ import annotations

import numpy as np
from napari.layers import Image, Labels

from napari_fbrs.io.images import to_model_rgb
from napari_fbrs.training.finetune import LabelledImage


def layer_pairs(image: Image, labels: Labels) -> list[LabelledImage]:
    """(image, labels) for every 2-D plane of ``image`` that has labelled pixels.

    The image is converted as the segmentation widget converts it (the layer's contrast
    limits, grey to RGB); nD stacks give one item per labelled plane.
    """
    data = np.asarray(image.data[0] if image.multiscale else image.data)
    spatial = data.shape[:-1] if image.rgb else data.shape
    ids = np.asarray(labels.data[0] if labels.multiscale else labels.data)
    if ids.shape != spatial:
        raise ValueError(
            f"labels {labels.name!r} {ids.shape} do not cover image {image.name!r} {spatial}"
        )
    items = []
    for index in np.ndindex(*spatial[:-2]):
        plane_ids = ids[index]
        if not plane_ids.any():
            continue
        rgb = to_model_rgb(data[index], contrast_limits=image.contrast_limits, rgb=image.rgb)
        suffix = "_".join(str(i) for i in index)
        name = f"{image.name}_{suffix}" if suffix else image.name
        items.append(LabelledImage(name, rgb, plane_ids.astype(np.int64)))
    if not items:
        raise ValueError(f"labels {labels.name!r} hold no objects: paint some first")
    return items
