"""Training augmentation with numpy and scikit-image: scale, flip, rotate, pad + crop, colour.

The image (``H x W x 3`` uint8) and its instance labels (``H x W`` int32: 0 background, ``k``
instances, -1 ignore) always move together; labels are only ever resampled with nearest
neighbour so that no new ids appear. The steps follow f-BRS's recipes: a random rescale, flips and
90-degree rotations, zero-padding to the crop size and a random crop, then brightness, contrast
and per-channel colour jitter. Rescale, pad and crop are done in one resampling of the crop
window only, which keeps a worker fast on large images. Upstream also applied a small
shift-scale-rotate (3 % shift, 3 degrees); it is omitted here.
"""

from __future__ import annotations

import numpy as np
from skimage.transform import AffineTransform, warp

from .config import AugmentConfig


def scaled_crop(
    image: np.ndarray,
    labels: np.ndarray,
    scale: float,
    crop_size: tuple[int, int],
    rng: np.random.Generator,
    centre: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A random ``crop_size`` window of the image rescaled by ``scale``, zero-padded if small.

    With ``centre`` (row, col in the unscaled image) the window is centred there instead.

    Equivalent to resizing the whole image, padding it (centred, value 0: a black image and
    background labels, as upstream) to at least the crop size and cutting a random window,
    but only the window's pixels are interpolated: bilinear for the image
    (``skimage.transform.warp``), nearest neighbour for the labels so that no new ids appear.
    """
    height, width = labels.shape
    scaled_h, scaled_w = max(1, round(height * scale)), max(1, round(width * scale))
    crop_h, crop_w = crop_size
    pad_h, pad_w = max(0, crop_h - scaled_h), max(0, crop_w - scaled_w)
    # Top-left corner of the window in scaled coordinates; negative inside the padding.
    if centre is None:
        top = int(rng.integers(scaled_h + pad_h - crop_h + 1)) - pad_h // 2
        left = int(rng.integers(scaled_w + pad_w - crop_w + 1)) - pad_w // 2
    else:
        top = round(centre[0] * scaled_h / height - crop_h / 2)
        left = round(centre[1] * scaled_w / width - crop_w / 2)
    rows, cols = np.arange(crop_h) + top, np.arange(crop_w) + left
    inside = ((rows >= 0) & (rows < scaled_h))[:, None] & ((cols >= 0) & (cols < scaled_w))
    step_r, step_c = height / scaled_h, width / scaled_w

    src_rows = np.clip(np.floor((rows + 0.5) * step_r).astype(np.int64), 0, height - 1)
    src_cols = np.clip(np.floor((cols + 0.5) * step_c).astype(np.int64), 0, width - 1)
    out_labels = np.where(inside, labels[np.ix_(src_rows, src_cols)], 0).astype(np.int32)

    if scaled_h == height and scaled_w == width:
        out_image = image[np.ix_(src_rows, src_cols)]
    else:
        out_image = _bilinear_window(image, (step_r, step_c), (top, left), (crop_h, crop_w))
    out_image = np.where(inside[..., None], out_image, 0).astype(np.uint8)
    return out_image, out_labels


def _bilinear_window(
    image: np.ndarray,
    step: tuple[float, float],
    corner: tuple[int, int],
    shape: tuple[int, int],
) -> np.ndarray:
    """The ``shape`` window at ``corner`` (scaled coordinates) of ``image`` scaled by 1/step.

    Output pixel (row, col) samples the source at ((row + top + 0.5) * step - 0.5, ...), pixel
    centres aligned; warp takes the map in (x, y) = (col, row) order.
    """
    (step_r, step_c), (top, left) = step, corner
    to_source = AffineTransform(
        matrix=np.array(
            [
                [step_c, 0.0, (left + 0.5) * step_c - 0.5],
                [0.0, step_r, (top + 0.5) * step_r - 0.5],
                [0.0, 0.0, 1.0],
            ]
        )
    )
    warped = warp(image, to_source, output_shape=shape, order=1, mode="edge", preserve_range=True)
    return np.clip(np.rint(warped), 0, 255).astype(np.uint8)


def flip(
    image: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Flip vertically, horizontally or both, each equally likely."""
    axes = [(0,), (1,), (0, 1)][int(rng.integers(3))]
    return np.flip(image, axes), np.flip(labels, axes)


def rotate90(
    image: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Rotate by a random multiple of 90 degrees (0 included)."""
    k = int(rng.integers(4))
    return np.rot90(image, k, axes=(0, 1)), np.rot90(labels, k, axes=(0, 1))


def jitter_colour(
    image: np.ndarray, config: AugmentConfig, rng: np.random.Generator
) -> np.ndarray:
    """Random brightness/contrast (``x * (1 + c) + 255 * b``) and per-channel shift."""
    out = image.astype(np.float32)
    if rng.random() < config.brightness_contrast_prob:
        contrast = rng.uniform(*config.contrast_range)
        brightness = rng.uniform(*config.brightness_range)
        out = out * (1.0 + contrast) + 255.0 * brightness
    if rng.random() < config.rgb_shift_prob:
        out = out + rng.uniform(-config.rgb_shift, config.rgb_shift, size=3).astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def augment(
    image: np.ndarray,
    labels: np.ndarray,
    config: AugmentConfig,
    crop_size: tuple[int, int],
    rng: np.random.Generator,
    min_object_area: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The whole training augmentation, retried until an object is left in the crop.

    The scale is drawn once; flip, rotation and window are redrawn up to ``config.max_tries``
    times while the crop shows no instance of at least ``min_object_area`` pixels (such a
    crop teaches nothing about objects). The last try is returned even if empty, so that tiny
    or empty images never stall training.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 image, got {image.dtype} {image.shape}")
    if labels.shape != image.shape[:2]:
        raise ValueError(f"labels {labels.shape} do not match the image {image.shape[:2]}")
    scale = float(rng.uniform(*config.scale_range))
    zoom = config.object_zoom_prob > 0 and rng.random() < config.object_zoom_prob
    for _ in range(config.max_tries):
        moved_image, moved_labels = image, labels
        if rng.random() < config.flip_prob:
            moved_image, moved_labels = flip(moved_image, moved_labels, rng)
        if rng.random() < config.rotate90_prob:
            moved_image, moved_labels = rotate90(moved_image, moved_labels, rng)
        window = (
            object_window(moved_labels, config, crop_size, rng, min_object_area) if zoom else None
        )
        crop_scale, centre = window if window is not None else (scale, None)
        crop_image, crop_labels = scaled_crop(
            moved_image, moved_labels, crop_scale, crop_size, rng, centre
        )
        if object_ids(crop_labels, min_object_area):
            break
    crop_image = jitter_colour(crop_image, config, rng)
    return np.ascontiguousarray(crop_image), np.ascontiguousarray(crop_labels)


def object_window(
    labels: np.ndarray,
    config: AugmentConfig,
    crop_size: tuple[int, int],
    rng: np.random.Generator,
    min_area: int = 0,
) -> tuple[float, tuple[float, float]] | None:
    """(scale, centre) of a crop around one random object, as ZoomIn would show it.

    The object's bounding box is enlarged by a factor from ``config.object_zoom_expand`` and
    scaled so that its longer side fills the crop's shorter side; the centre moves by up to a
    tenth of the box so that the object is not always in the middle. None without objects.
    """
    ids = object_ids(labels, min_area)
    if not ids:
        return None
    rows, cols = np.nonzero(labels == ids[int(rng.integers(len(ids)))])
    box_h, box_w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    side = max(box_h, box_w) * float(rng.uniform(*config.object_zoom_expand))
    scale = min(crop_size) / side
    shift = rng.uniform(-0.1, 0.1, size=2) * side
    centre = ((rows.min() + rows.max()) / 2 + shift[0], (cols.min() + cols.max()) / 2 + shift[1])
    return scale, (float(centre[0]), float(centre[1]))


def object_ids(labels: np.ndarray, min_area: int = 0) -> list[int]:
    """Instance ids of ``labels`` with at least ``max(1, min_area)`` pixels, ascending."""
    counts = np.bincount(labels[labels > 0].ravel())
    return [int(i) for i in np.flatnonzero(counts >= max(1, min_area)) if i > 0]
