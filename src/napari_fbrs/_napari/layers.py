"""The plugin's layers and the geometry between them and the image.

Conventions the rest of ``_napari`` relies on:

* The clicks layer and the current-object layer copy the image's scale and translate, so their
  data coordinates are the image's pixel coordinates (``layer.add([row, col])`` in a script is a
  click on pixel ``(row, col)``). Mouse positions are still mapped through world coordinates
  (``world_to_data``), so physical units and offsets are respected whatever the layers hold.
* A click selects the pixel whose centre is nearest (napari draws pixel ``i`` over
  ``[i - 0.5, i + 0.5)``); anything outside the image's full spatial shape is rejected.
* The leading (non-displayed) pixel indices of a click name the 2-D slice the object lives on.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from napari.layers import Image, Labels, Points
from napari.utils.colormaps import DirectLabelColormap

from napari_fbrs.inference.session import PaintPlan, next_label_id, plan_paint

CLICKS_LAYER = "f-BRS clicks"
PREVIEW_LAYER = "f-BRS current object"
LABELS_LAYER = "f-BRS labels"
POSITIVE_COLOUR = "#00e05a"  # green: "this is the object"
NEGATIVE_COLOUR = "#ff2a6d"  # red-magenta: "this is background"; both differ in lightness too
PREVIEW_COLOUR = "#ffd400"


def spatial_shape(image: Image) -> tuple[int, ...]:
    """The image's shape without the colour axis."""
    shape = tuple(int(s) for s in _level0(image).shape)
    return shape[:-1] if image.rgb else shape


def _level0(image: Image) -> np.ndarray:
    return image.data[0] if image.multiscale else image.data


def image_plane(image: Image, slice_index: tuple[int, ...]) -> np.ndarray:
    """The 2-D plane (with its colour axis for RGB) that an object on ``slice_index`` uses."""
    return _level0(image)[slice_index]


def model_input_options(image: Image) -> tuple[tuple[float, float] | None, bool]:
    """``(contrast_limits, rgb)`` for ``to_model_rgb``: uint8 as is, anything else as shown."""
    data = _level0(image)
    if data.dtype == np.uint8:
        return None, bool(image.rgb)
    low, high = image.contrast_limits
    return (float(low), float(high)), bool(image.rgb)


def pixel_of(image: Image, world: np.ndarray) -> tuple[int, ...] | None:
    """Pixel indices (all spatial axes) under a world position, or ``None`` if outside."""
    coords = np.asarray(image.world_to_data(world), dtype=float)
    shape = spatial_shape(image)
    coords = coords[-len(shape) :]
    index = np.floor(coords + 0.5).astype(int)
    if np.any(index < 0) or np.any(index >= np.asarray(shape)):
        return None
    return tuple(int(i) for i in index)


def _spatial_transform(image: Image) -> dict[str, np.ndarray]:
    ndim = len(spatial_shape(image))
    return {
        "scale": np.asarray(image.scale)[-ndim:],
        "translate": np.asarray(image.translate)[-ndim:],
    }


def make_clicks_layer(image: Image, size: float) -> Points:
    """Points with a bool feature ``positive``, drawn in two colours, in napari's add mode."""
    ndim = len(spatial_shape(image))
    layer = Points(
        np.empty((0, ndim)),
        ndim=ndim,
        name=CLICKS_LAYER,
        features={"positive": np.zeros(0, dtype=bool)},
        feature_defaults={"positive": True},
        face_color="positive",
        face_color_cycle={True: POSITIVE_COLOUR, False: NEGATIVE_COLOUR},
        border_color="white",
        border_width=0.1,
        size=size,
        out_of_slice_display=False,
        **_spatial_transform(image),
    )
    layer.mouse_drag_callbacks.insert(0, set_sign_from_button)
    layer.mode = "add"
    return layer


def set_sign_from_button(layer: Points, event) -> None:  # noqa: ANN001 - napari mouse event
    """Left click adds a positive click; right click or Ctrl+left click a negative one.

    Runs before napari's own add-mode callback, which places the point on release with the
    layer's ``feature_defaults``.
    """
    control = any(m == "Control" for m in (getattr(event, "modifiers", None) or ()))
    negative = event.button == 2 or (event.button == 1 and control)
    layer.feature_defaults = {"positive": not negative}


def clicks_in_layer(layer: Points) -> list[tuple[tuple[float, ...], bool]]:
    """The layer's points as ``(data coordinates, positive)`` in order."""
    positive = np.asarray(layer.features["positive"], dtype=bool)
    return [
        (tuple(float(v) for v in row), bool(sign))
        for row, sign in zip(layer.data, positive, strict=True)
    ]


def make_preview_layer(image: Image, opacity: float) -> Labels:
    """The object being built, one colour; it holds only the mask's bounding box."""
    ndim = len(spatial_shape(image))
    colormap = DirectLabelColormap(
        color_dict={None: np.zeros(4), 0: np.zeros(4), 1: PREVIEW_COLOUR}
    )
    return Labels(
        np.zeros((1,) * ndim, dtype=np.uint8),
        name=PREVIEW_LAYER,
        opacity=opacity,
        colormap=colormap,
        **_spatial_transform(image),
    )


def show_preview(
    layer: Labels, image: Image, mask: np.ndarray | None, slice_index: tuple[int, ...]
) -> None:
    """Show ``mask`` (2-D, on ``slice_index``) by cropping it to its bounding box.

    A crop keeps each update proportional to the object, not to a 4000 x 4000 image.
    """
    transform = _spatial_transform(image)
    ndim = len(transform["scale"])
    if len(slice_index) != ndim - 2:  # no object: any slice will do for an empty mask
        slice_index = (0,) * (ndim - 2)
    if mask is None or not mask.any():
        crop, offset = np.zeros((1, 1), dtype=np.uint8), (0, 0)
    else:
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        crop = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.uint8)
        offset = (int(rows[0]), int(cols[0]))
    origin = np.asarray((*slice_index, *offset), dtype=float)[-ndim:]
    translate = transform["translate"] + origin * transform["scale"]
    # each assignment redraws the canvas: skip the ones that change nothing
    if not np.array_equal(layer.scale, transform["scale"]):
        layer.scale = transform["scale"]
    if not np.array_equal(layer.translate, translate):
        layer.translate = translate
    layer.data = crop.reshape((1,) * (ndim - 2) + crop.shape)


def make_labels_layer(image: Image) -> Labels:
    """``f-BRS labels``: int32 zeros with the image's full spatial shape and transform."""
    return Labels(
        np.zeros(spatial_shape(image), dtype=np.int32),
        name=LABELS_LAYER,
        **_spatial_transform(image),
    )


def check_target(labels: Labels, image: Image) -> None:
    """The target labels must cover the image pixel for pixel."""
    shape = tuple(int(s) for s in labels.data.shape)
    if shape != spatial_shape(image):
        raise ValueError(
            f"labels layer {labels.name!r} has shape {shape} but image {image.name!r} has "
            f"spatial shape {spatial_shape(image)}: choose another labels layer or "
            f"'new layer'"
        )


def paint_object(
    labels: Labels, mask: np.ndarray, slice_index: tuple[int, ...], overwrite: bool
) -> PaintPlan:
    """Write ``mask`` into ``labels`` on ``slice_index`` as ONE undoable napari edit.

    The id is the next free one over the whole layer (not just this slice), so ids stay unique
    in a stack. Pixels that already carry a label are kept unless ``overwrite``.
    """
    data = labels.data
    plane = np.asarray(data[slice_index])
    plan = plan_paint(plane, mask, overwrite)
    label_id = next_label_id(np.asarray(data))
    if np.issubdtype(data.dtype, np.integer) and label_id > np.iinfo(data.dtype).max:
        raise OverflowError(
            f"label id {label_id} does not fit the {data.dtype} labels layer {labels.name!r}"
        )
    plan = dataclasses.replace(plan, label_id=label_id)
    if plan.num_pixels:
        count = plan.indices[0].size
        leading = tuple(np.full(count, i, dtype=np.intp) for i in slice_index)
        labels.data_setitem((*leading, *plan.indices), label_id)
    return plan


def describe_paint(plan: PaintPlan, target: str) -> tuple[str, str | None]:
    """Status text for a finished object, and a warning when existing labels were kept."""
    warning = None
    if plan.kept_pixels:
        warning = (
            f"Object {plan.label_id}: {plan.kept_pixels} of its pixels already had a label and "
            "were kept (tick 'Paint over existing labels' to replace them)."
        )
    if not plan.num_pixels:
        return "Nothing painted: every pixel of the object already had a label.", warning
    return f"Object {plan.label_id}: {plan.num_pixels} pixels -> {target!r}.", warning
