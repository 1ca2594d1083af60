"""Sample images that work offline.

The natural images and the grey cell image are files inside scikit-image's wheel (no pooch
download; a test runs them with the network blocked). scikit-image's fluorescence images
(``cells3d``, ``human_mitosis``) are downloaded on first use, so the fluorescence-like samples
are synthesised here instead: seeded, 16-bit, blurred nuclei on a dim background with shot
noise, in 2-D and as a small anisotropic Z stack (which also exercises scale and contrast
limits).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage import data as skdata

LayerDataTuple = tuple[np.ndarray, dict, str]


def astronaut() -> list[LayerDataTuple]:
    return [(skdata.astronaut(), {"name": "astronaut", "rgb": True}, "image")]


def coffee() -> list[LayerDataTuple]:
    return [(skdata.coffee(), {"name": "coffee", "rgb": True}, "image")]


def cell() -> list[LayerDataTuple]:
    return [(skdata.cell(), {"name": "cell", "colormap": "gray"}, "image")]


def nuclei() -> list[LayerDataTuple]:
    image = synthetic_nuclei((256, 256), count=18, seed=1)
    return [(image, {"name": "nuclei (synthetic, uint16)", "colormap": "gray"}, "image")]


def nuclei_stack() -> list[LayerDataTuple]:
    image = synthetic_nuclei((12, 192, 192), count=10, seed=2)
    meta = {"name": "nuclei stack (synthetic, uint16)", "colormap": "gray", "scale": (3, 1, 1)}
    return [(image, meta, "image")]


def synthetic_nuclei(shape: tuple[int, ...], count: int, seed: int) -> np.ndarray:
    """Bright ellipsoidal nuclei with soft edges, dim background and Poisson noise (uint16)."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape, dtype=np.float32)
    signal = np.zeros(shape, dtype=np.float32)
    for _ in range(count):
        centre = [rng.uniform(0.15, 0.85) * s for s in shape]
        radii = [rng.uniform(0.06, 0.1) * max(shape[-2:]) for _ in shape]
        if len(shape) == 3:
            radii[0] = rng.uniform(0.2, 0.35) * shape[0]
        distance = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii, strict=True))
        brightness = rng.uniform(1500.0, 4000.0)
        signal = np.maximum(signal, brightness * (distance <= 1.0))
    signal = ndimage.gaussian_filter(signal, sigma=1.5) + 200.0
    noisy = rng.poisson(signal).astype(np.float64)
    return np.clip(noisy, 0, np.iinfo(np.uint16).max).astype(np.uint16)
