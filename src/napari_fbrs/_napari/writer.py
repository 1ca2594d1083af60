"""Labels layer -> PNG, the one format napari's own writers do not offer for labels.

napari saves a labels layer as .tif on its own (checked by a test), but has no PNG writer for
labels; PNG is what the upstream demo and many annotation tools exchange. The file is written
by ``napari_fbrs.io.masks.write_labels``: ids are kept exactly (uint8 as uint8, other integer
types as uint16), and ids that PNG cannot hold, or a stack, are refused with the reason instead
of being truncated. Writes are atomic.
"""

from __future__ import annotations

import numpy as np

from napari_fbrs.io.masks import write_labels


def write_labels_png(path: str, data: np.ndarray, meta: dict) -> list[str]:
    """npe2 single-layer writer for ``.png`` labels; returns the written path."""
    return [str(write_labels(path, np.asarray(data)))]
