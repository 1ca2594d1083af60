"""Classical instance baselines for segment-everything: Otsu + connected components, and
Otsu + a distance-transform watershed.

They set the scale of the benchmark's mSA (issue 24: 0.38 and 0.35 on DSB2018/val, first 50
images): a learned automatic segmentation that does not beat them is not worth a button. The
foreground is segment-everything's own estimate (``inference.dense.seeds.foreground``: the
Otsu class farther from black or white), so both see the same objects.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.feature import peak_local_max
from skimage.segmentation import watershed

from napari_fbrs.inference.dense.seeds import foreground, grey_levels


def otsu_components(rgb: np.ndarray, min_area: int = 10) -> np.ndarray:
    """int32 labels: connected components of the Otsu foreground of at least ``min_area``."""
    labels, _ = ndimage.label(foreground(grey_levels(rgb)))
    return _drop_small(labels, min_area)


def otsu_watershed(rgb: np.ndarray, min_area: int = 10, min_distance: int = 5) -> np.ndarray:
    """int32 labels: the Otsu foreground split by a watershed on its distance transform."""
    fg = foreground(grey_levels(rgb))
    dist = ndimage.distance_transform_edt(fg)
    peaks = peak_local_max(dist, min_distance=min_distance, labels=ndimage.label(fg)[0])
    markers = np.zeros(fg.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    labels = watershed(-dist, markers, mask=fg).astype(np.int32)
    return _drop_small(labels, min_area)


def _drop_small(labels: np.ndarray, min_area: int) -> np.ndarray:
    """Objects of at least ``min_area`` pixels, renumbered 1..N."""
    areas = np.bincount(labels.ravel())
    keep = areas >= min_area
    keep[0] = False
    new_ids = np.zeros(len(areas), dtype=np.int32)
    new_ids[keep] = np.arange(1, int(keep.sum()) + 1)
    return new_ids[labels]
