"""Sample images that work offline, for the napari sample menu and ``predict --sample``.

The natural images and the grey cell image are files inside scikit-image's wheel (no pooch
download). scikit-image's fluorescence images (``cells3d``, ``human_mitosis``) are downloaded on
first use, so the fluorescence-like samples are synthesised instead: seeded, 16-bit, blurred
nuclei on a dim background with shot noise, in 2-D and as a small anisotropic Z stack.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage
from skimage import data as skdata


def synthetic_nuclei(shape: tuple[int, ...], count: int, seed: int) -> np.ndarray:
    """Bright ellipsoidal nuclei with soft edges, dim background and Poisson noise (uint16)."""
    return synthetic_nuclei_with_labels(shape, count, seed)[0]


def synthetic_nuclei_with_labels(
    shape: tuple[int, ...], count: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The synthetic nuclei image and its ground truth (int32, nucleus ``k`` = ``k + 1``).

    Where nuclei overlap, the brighter one is visible and owns the pixel, so the labels are
    what a careful annotator would draw on this image (and what tests of the built-in model
    compare its masks with).
    """
    rng = np.random.default_rng(seed)
    grid = np.indices(shape, dtype=np.float32)
    signal = np.zeros(shape, dtype=np.float32)
    labels = np.zeros(shape, dtype=np.int32)
    for index in range(count):
        centre = [rng.uniform(0.15, 0.85) * s for s in shape]
        radii = [rng.uniform(0.06, 0.1) * max(shape[-2:]) for _ in shape]
        if len(shape) == 3:
            radii[0] = rng.uniform(0.2, 0.35) * shape[0]
        distance = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii, strict=True))
        brightness = rng.uniform(1500.0, 4000.0)
        nucleus = brightness * (distance <= 1.0)
        labels[nucleus > signal] = index + 1
        signal = np.maximum(signal, nucleus)
    signal = ndimage.gaussian_filter(signal, sigma=1.5) + 200.0
    noisy = rng.poisson(signal).astype(np.float64)
    image = np.clip(noisy, 0, np.iinfo(np.uint16).max).astype(np.uint16)
    return image, labels


def nuclei_image() -> np.ndarray:
    """The 2-D synthetic nuclei sample (256 x 256, uint16)."""
    return synthetic_nuclei((256, 256), count=18, seed=1)


def nuclei_stack_image() -> np.ndarray:
    """The synthetic nuclei Z stack (12 x 192 x 192, uint16, anisotropic)."""
    return synthetic_nuclei((12, 192, 192), count=10, seed=2)


#: 2-D samples by name: what ``napari-fbrs predict --sample`` and ``view --sample`` accept.
SAMPLES: dict[str, Callable[[], np.ndarray]] = {
    "nuclei": nuclei_image,
    "astronaut": skdata.astronaut,
    "coffee": skdata.coffee,
    "cell": skdata.cell,
}


def load_sample(name: str) -> np.ndarray:
    """A 2-D sample image by name (RGB uint8, grey uint8 or grey uint16)."""
    try:
        return SAMPLES[name]()
    except KeyError:
        raise ValueError(f"unknown sample {name!r}; choose one of {', '.join(SAMPLES)}") from None
