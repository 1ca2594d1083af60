"""One image normalisation policy for the widget, the CLI, evaluation and training.

The f-BRS networks take an ``(H, W, 3)`` uint8 RGB image. Users have grey, 16-bit, float, RGBA
and multi-dimensional data, so every entry point goes through :func:`to_model_rgb` and a model
sees the same pixels whether the image came from a napari layer, a file on the command line or a
dataset folder.

Layout
    * 2-D ``(H, W)``: grey, replicated to 3 channels.
    * ``(H, W, 3)``: RGB. ``(H, W, 4)``: RGBA, the alpha channel is dropped.
    * ``rgb=True`` forces the last axis to be colour (it must have 3 or 4 entries);
      ``rgb=False`` forces grey, so the array must be 2-D. ``rgb=None`` guesses as above.
    * Anything else (``(H, W, 2)``, Z/T stacks, 1-D, empty arrays) is an :class:`ImageError`
      that gives the shape and asks for one 2-D slice or one channel: choosing a slice or a
      channel is the caller's decision, never a silent guess here.

Intensities (the result is always uint8)
    * uint8 without ``contrast_limits``: unchanged.
    * With ``contrast_limits=(lo, hi)`` (a napari layer's limits, so what the user sees is what
      the model gets), any dtype is mapped linearly, ``lo -> 0`` and ``hi -> 255``, clipped to
      0..255 and rounded to the nearest integer (ties to even, as ``numpy.rint``). When
      ``hi == lo``, pixels above ``lo`` become 255 and the others 0.
    * Without ``contrast_limits`` and not uint8: bool becomes {0, 255}; every other integer or
      float dtype uses ``(lo, hi) = (min, max)`` over all finite values and all channels
      together (one range for the three channels keeps the colour balance). A constant image
      becomes all zeros.
    * NaN and +/-inf pixels become 0 (the value of ``lo``) in every case.

Files
    :func:`read_image` returns the array as stored: tifffile for ``.tif``/``.tiff`` (any case),
    ``skimage.io.imread`` for everything else (palette PNGs come back as RGB). A missing,
    empty or unreadable file is an :class:`ImageError` that names the file.

Size limit
    A few hundred bytes of compressed file can declare gigapixels: a 456 KB zlib TIFF of
    20000 x 20000 made ``predict`` run 103 s and peak at 14.4 GB. Every reader therefore reads
    the size from the file's header first (:func:`image_shape`: tifffile's series shape,
    Pillow's size, mode and frames; nothing is decoded) and refuses a file of more than
    ``max_pixels`` pixels (every plane of a stack counted, a colour axis not) before decoding
    anything. The default, :data:`DEFAULT_MAX_PIXELS` = 100 million (10000 x 10000; 300 MB as
    RGB uint8), lies above any image the network needs (it sees at most a few megapixels) and
    below what exhausts a laptop; ``max_pixels=0`` (``--max-pixels 0``) lifts the limit, and
    then Pillow's own decompression-bomb guard is lifted too, since the size is known.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

TIFF_SUFFIXES = (".tif", ".tiff")

#: Largest image a reader decodes unless told otherwise (0 = no limit); see the docstring.
DEFAULT_MAX_PIXELS = 100_000_000

# Pillow's bomb guard is a module global; it is lifted only while this lock is held.
_PILLOW_LOCK = threading.RLock()

# Pixels converted per block when rescaling, so a 4000 x 4000 x 3 float64 image never needs a
# full-size float64 temporary.
_BLOCK_PIXELS = 1 << 20


class ImageError(ValueError):
    """An image cannot be read or normalised; the message says which file or shape and why."""


def read_image(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as stored (no dtype, channel or intensity change).

    The size is checked from the header before anything is decoded (see "Size limit" in the
    module docstring); ``max_pixels=0`` means no limit.
    """
    path = Path(path)
    image_shape(path, max_pixels)
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            import tifffile

            data = tifffile.imread(path)
        else:
            import skimage.io

            with pillow_guard_lifted():
                data = skimage.io.imread(path)
    except Exception as exc:  # decoders raise many types for truncated or foreign files
        raise ImageError(f"{path}: cannot read the image ({_reason(exc)})") from exc
    data = np.asarray(data)
    if data.size == 0:
        raise ImageError(f"{path}: the image holds no pixels (shape {data.shape})")
    return data


def load_rgb(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read a file and normalise it for the model (the CLI, datasets and training use this)."""
    data = read_image(path, max_pixels)
    try:
        return to_model_rgb(data)
    except ImageError as exc:
        raise ImageError(f"{path}: {exc}") from None


def image_shape(
    path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS, what: str = "image"
) -> tuple:
    """The array shape a file declares in its header, refused above ``max_pixels`` pixels.

    Reads the header only (tifffile for TIFF, Pillow for everything else), so a
    decompression bomb costs nothing. The shape is the stored one (a palette image counts as
    one channel); what matters here is the pixel count. A missing, empty or foreign file is
    an :class:`ImageError` naming it (as the ``what``: "image", "label image").
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such {what} file")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: the file is empty")
    try:
        shape = _tiff_shape(path) if path.suffix.lower() in TIFF_SUFFIXES else _pillow_shape(path)
    except Exception as exc:  # parsers raise many types for truncated or foreign files
        raise ImageError(f"{path}: cannot read the {what} ({_reason(exc)})") from exc
    check_pixel_count(path, shape, max_pixels)
    return shape


def check_pixel_count(path: str | os.PathLike[str], shape: Sequence[int], max_pixels: int) -> None:
    """Refuse ``shape`` when it holds more than ``max_pixels`` pixels (0 = no limit)."""
    pixels = pixel_count(shape)
    if max_pixels and pixels > max_pixels:
        dims = " x ".join(str(int(n)) for n in shape)
        raise ImageError(
            f"{path}: the image is {dims} = {pixels:,} pixels, more than the limit of "
            f"{max_pixels:,}; refused before decoding (raise the limit with --max-pixels N, "
            "or 0 for none, if the image is really meant to be this large)"
        )


def pixel_count(shape: Sequence[int]) -> int:
    """Pixels of an array shape: every element, a trailing colour axis (3 or 4) not counted."""
    dims = [int(n) for n in shape]
    if len(dims) >= 3 and dims[-1] in (3, 4):
        dims = dims[:-1]
    count = 1
    for n in dims:
        count *= n
    return count


def _tiff_shape(path: Path) -> tuple[int, ...]:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if not tif.series:
            raise ImageError("no image data in the TIFF file")
        return tuple(int(n) for n in tif.series[0].shape)


def _pillow_shape(path: Path) -> tuple[int, ...]:
    with pillow_guard_lifted():
        from PIL import Image

        with Image.open(path) as image:
            width, height = image.size
            bands = len(image.getbands())
            frames = int(getattr(image, "n_frames", 1))
    shape = (height, width) if bands == 1 else (height, width, bands)
    return (frames, *shape) if frames > 1 else shape


@contextmanager
def pillow_guard_lifted() -> Iterator[None]:
    """Pillow without its decompression-bomb check, for a file whose size was checked here.

    Pillow refuses images above ~179 megapixels on its own (a module-global limit); our limit
    comes first and is the one ``--max-pixels`` controls, so Pillow's must not refuse what the
    user allowed. The global is restored at once; the lock keeps concurrent readers from
    restoring it in the wrong order.
    """
    from PIL import Image

    with _PILLOW_LOCK:
        before = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                yield
        finally:
            Image.MAX_IMAGE_PIXELS = before


def to_model_rgb(
    data: np.ndarray,
    contrast_limits: Sequence[float] | None = None,
    rgb: bool | None = None,
) -> np.ndarray:
    """Return ``data`` as an ``(H, W, 3)`` uint8 C-contiguous array (rules: module docstring)."""
    data = np.asarray(data)
    _check_dtype(data)
    colour = _is_colour(data, rgb)
    if colour:
        data = data[..., :3]
    if contrast_limits is not None:
        lo, hi = _check_limits(contrast_limits)
        scaled = _rescale(data, lo, hi)
    elif data.dtype == np.uint8:
        scaled = np.array(data, copy=True)
    elif data.dtype == np.bool_:
        scaled = data.astype(np.uint8) * np.uint8(255)
    else:
        lo, hi = _finite_range(data)
        if hi == lo:
            scaled = np.zeros(data.shape, dtype=np.uint8)
        else:
            scaled = _rescale(data, lo, hi)
    if not colour:
        scaled = np.repeat(scaled[:, :, np.newaxis], 3, axis=2)
    return np.ascontiguousarray(scaled, dtype=np.uint8)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_dtype(data: np.ndarray) -> None:
    if data.dtype.kind not in "biuf":
        raise ImageError(
            f"image of dtype {data.dtype} is not supported: "
            "pass a boolean, integer or floating-point array"
        )


def _is_colour(data: np.ndarray, rgb: bool | None) -> bool:
    """Decide grey or colour from the shape; refuse every layout that needs a choice."""
    shape = data.shape
    rgb = None if rgb is None else bool(rgb)  # napari or numpy may hand over numpy booleans
    if data.size == 0:
        raise ImageError(f"image of shape {shape} holds no pixels")
    colour_shape = data.ndim == 3 and shape[-1] in (3, 4)
    if rgb is True:
        if not colour_shape:
            raise ImageError(
                f"rgb=True needs an (H, W, 3) or (H, W, 4) image, got shape {shape}: "
                "pass one 2-D slice of a colour stack"
            )
        return True
    if rgb is False:
        if data.ndim != 2:
            raise ImageError(
                f"rgb=False needs a 2-D grey image, got shape {shape}: "
                "pass one 2-D slice or one channel"
            )
        return False
    if data.ndim == 2:
        return False
    if colour_shape:
        return True
    raise ImageError(
        f"image of shape {shape} is neither 2-D grey nor (H, W, 3) RGB nor (H, W, 4) RGBA: "
        "pass one 2-D slice or one channel"
    )


def _check_limits(contrast_limits: Sequence[float]) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in contrast_limits)
    except (TypeError, ValueError):
        raise ImageError(
            f"contrast_limits must be two numbers (lo, hi), got {contrast_limits!r}"
        ) from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi < lo:
        raise ImageError(f"contrast_limits must be finite with lo <= hi, got ({lo}, {hi})")
    return lo, hi


def _finite_range(data: np.ndarray) -> tuple[float, float]:
    """(min, max) over the finite pixels of all channels; (0, 0) when there is none."""
    if data.dtype.kind == "f":
        finite = np.isfinite(data)
        if not finite.any():
            return 0.0, 0.0
        lo = np.min(data, where=finite, initial=np.inf)
        hi = np.max(data, where=finite, initial=-np.inf)
        return float(lo), float(hi)
    return float(data.min()), float(data.max())


def _rescale(data: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map lo -> 0 and hi -> 255 linearly, clip, round; non-finite pixels become 0."""
    out = np.empty(data.shape, dtype=np.uint8)
    row_pixels = max(1, int(np.prod(data.shape[1:], dtype=np.int64)))
    rows = max(1, _BLOCK_PIXELS // row_pixels)
    for start in range(0, data.shape[0], rows):
        block = data[start : start + rows].astype(np.float64)
        if hi > lo:
            values = (block - lo) * 255.0  # multiply first: exact for integer pixels
            values /= hi - lo
            np.clip(values, 0.0, 255.0, out=values)
            np.rint(values, out=values)
        else:
            values = np.where(block > lo, 255.0, 0.0)
        values[~np.isfinite(block)] = 0.0
        out[start : start + rows] = values
    return out
