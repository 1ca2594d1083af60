"""napari sample-data contributions: the offline images of :mod:`napari_fbrs.io.samples`."""

from __future__ import annotations

import numpy as np
from skimage import data as skdata

from napari_fbrs.io.samples import nuclei_image, nuclei_stack_image, synthetic_nuclei

__all__ = ["astronaut", "cell", "coffee", "nuclei", "nuclei_stack", "synthetic_nuclei"]

LayerDataTuple = tuple[np.ndarray, dict, str]


def astronaut() -> list[LayerDataTuple]:
    return [(skdata.astronaut(), {"name": "astronaut", "rgb": True}, "image")]


def coffee() -> list[LayerDataTuple]:
    return [(skdata.coffee(), {"name": "coffee", "rgb": True}, "image")]


def cell() -> list[LayerDataTuple]:
    return [(skdata.cell(), {"name": "cell", "colormap": "gray"}, "image")]


def nuclei() -> list[LayerDataTuple]:
    return [(nuclei_image(), {"name": "nuclei (synthetic, uint16)", "colormap": "gray"}, "image")]


def nuclei_stack() -> list[LayerDataTuple]:
    meta = {"name": "nuclei stack (synthetic, uint16)", "colormap": "gray", "scale": (3, 1, 1)}
    return [(nuclei_stack_image(), meta, "image")]
