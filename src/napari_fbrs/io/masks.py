"""Writing masks and label images, and reading label images back.

The files are the ones napari itself reads and writes for a labels layer: TIFF (tifffile, zlib
compressed, any integer dtype, any number of dimensions, always grey pages so that a stack whose
last axis has 3 or 4 entries is never stored as colour) and PNG (2-D, uint8 or uint16 only,
which is all that PNG and Pillow can store as a single channel). Every write goes to a temporary
file in the target folder and is then moved into place with :func:`os.replace`, so a crash or a
refused array never leaves a half-written or truncated file under the requested name.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from napari_fbrs.atomic import atomic_path
from napari_fbrs.io.images import (
    DEFAULT_MAX_PIXELS,
    TIFF_SUFFIXES,
    ImageError,
    image_shape,
    pillow_guard_lifted,
)

PNG_SUFFIXES = (".png",)
LABEL_SUFFIXES = TIFF_SUFFIXES + PNG_SUFFIXES
_PNG_MAX = int(np.iinfo(np.uint16).max)


def write_mask(path: str | os.PathLike[str], mask: np.ndarray) -> Path:
    """Write a binary mask (bool, or numbers that are all 0 or 1) as uint8 0/1."""
    path = Path(path)
    is_png = _check_suffix(path)
    mask = np.asarray(mask)
    if mask.dtype.kind not in "biuf":
        raise ValueError(f"{path}: a mask must be boolean or numeric, got dtype {mask.dtype}")
    if mask.dtype != np.bool_ and not np.isin(mask, (0, 1)).all():
        values = np.unique(mask[~np.isin(mask, (0, 1))])[:5].tolist()
        raise ValueError(f"{path}: a mask may hold only 0 and 1, found also {values}")
    _check_ndim(path, mask, is_png)
    _write_atomic(path, mask.astype(np.uint8), is_png)
    return path


def write_labels(path: str | os.PathLike[str], labels: np.ndarray) -> Path:
    """Write an integer label image exactly, or refuse with the reason.

    TIFF keeps the dtype (bool becomes uint8). PNG keeps uint8 as uint8 and stores every other
    integer dtype as uint16, so ids must lie in 0..65535 there; larger or negative ids need TIFF.
    """
    path = Path(path)
    is_png = _check_suffix(path)
    labels = np.asarray(labels)
    if labels.dtype.kind not in "biu":
        raise ValueError(f"{path}: labels must be integers, got dtype {labels.dtype}")
    _check_ndim(path, labels, is_png)
    if labels.dtype == np.bool_:
        labels = labels.astype(np.uint8)
    if is_png and labels.dtype != np.uint8:
        lo, hi = (int(labels.min()), int(labels.max())) if labels.size else (0, 0)
        if lo < 0 or hi > _PNG_MAX:
            raise ValueError(
                f"{path}: PNG stores label ids 0..{_PNG_MAX} only, these labels span "
                f"{lo}..{hi}: save as .tif instead"
            )
        labels = labels.astype(np.uint16)
    _write_atomic(path, labels, is_png)
    return path


def read_labels(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read a TIFF or PNG label image as stored (palette PNGs give their indices).

    Like every reader, refuses a file of more than ``max_pixels`` pixels from its header,
    before decoding (0 = no limit; see :mod:`napari_fbrs.io.images`).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in LABEL_SUFFIXES:
        raise ImageError(
            f"{path}: label images must be {' or '.join(LABEL_SUFFIXES)}, not {suffix!r}"
        )
    if not path.is_file():
        raise ImageError(f"{path}: no such label file")
    image_shape(path, max_pixels, what="label image")
    try:
        if suffix in TIFF_SUFFIXES:
            import tifffile

            labels = np.asarray(tifffile.imread(path))
        else:
            from PIL import Image

            with pillow_guard_lifted(), Image.open(path) as image:
                labels = np.array(image)
    except Exception as exc:  # decoders raise many types for truncated or foreign files
        text = str(exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        raise ImageError(f"{path}: cannot read the label image ({reason})") from exc
    if labels.dtype.kind not in "biu":
        raise ImageError(f"{path}: a label image must hold integers, got dtype {labels.dtype}")
    if labels.size == 0:
        raise ImageError(f"{path}: the label image holds no pixels (shape {labels.shape})")
    return labels


def _check_suffix(path: Path) -> bool:
    """True for PNG, False for TIFF; anything else is refused before a file is touched."""
    suffix = path.suffix.lower()
    if suffix not in LABEL_SUFFIXES:
        raise ValueError(f"{path}: unsupported suffix {path.suffix!r}; use .tif, .tiff or .png")
    return suffix in PNG_SUFFIXES


def _check_ndim(path: Path, array: np.ndarray, is_png: bool) -> None:
    if array.ndim < 2 or array.size == 0:
        raise ValueError(
            f"{path}: need a non-empty array of 2 or more dimensions, got {array.shape}"
        )
    if is_png and array.ndim != 2:
        raise ValueError(f"{path}: PNG holds one 2-D plane, got shape {array.shape}: use .tif")


def write_rgb_tiff(path: str | os.PathLike[str], image: np.ndarray) -> Path:
    """Write an ``(H, W, 3)`` uint8 image as RGB TIFF, atomically (fine-tuning data)."""
    path = Path(path)
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"{path}: expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}"
        )
    _write_atomic(path, image, is_png=False, photometric="rgb")
    return path


def _write_atomic(
    path: Path, array: np.ndarray, is_png: bool, photometric: str = "minisblack"
) -> None:
    with atomic_path(path) as tmp:
        if is_png:
            from PIL import Image

            Image.fromarray(np.ascontiguousarray(array)).save(tmp, format="PNG")
        else:
            import tifffile

            tifffile.imwrite(tmp, array, photometric=photometric, compression="zlib")
