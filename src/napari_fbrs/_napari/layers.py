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

from functools import partial

import numpy as np
from napari.layers import Image, Labels, Points
from napari.utils.colormaps import DirectLabelColormap

from napari_fbrs.inference.session.interactive import ImageContext, PaintPlan
from napari_fbrs.io.images import to_model_rgb
from napari_fbrs.io.planes import StackSource, plane_source, stack_source

CLICKS_LAYER = "f-BRS clicks"
PREVIEW_LAYER = "f-BRS current object"
LABELS_LAYER = "f-BRS labels"
POSITIVE_COLOUR = "#00e05a"  # green: "this is the object"
#: Display defaults, used by the layers and shown by the settings panel.
DEFAULT_OPACITY = 0.5
DEFAULT_CLICK_SIZE = 10
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


#: The one normalisation rule of the widget, shown in the panel.
CONTRAST_RULE = "The model sees the image as displayed: through the layer's contrast limits."


def model_input_options(image: Image) -> tuple[tuple[float, float], bool]:
    """``(contrast_limits, rgb)`` for ``to_model_rgb``: every dtype through the layer's
    contrast limits, so what the user sees is what the model gets (uint8 with its default
    limits 0..255 is unchanged; the same pixels saved as uint16 x 257 give the same input)."""
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
    """Points with a bool feature ``positive``, drawn in two colours (set the mode to "add"
    after adding it to the viewer: napari's layer controls follow only a change of mode)."""
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
    return layer  # put in add mode once in the viewer, so its layer controls show it


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
    layer: Labels,
    image: Image,
    mask: np.ndarray | None,
    slice_index: tuple[int, ...],
    origin: tuple[int, int] = (0, 0),
) -> None:
    """Show ``mask`` (2-D, placed at ``origin`` of the plane ``slice_index``) as a crop.

    Only the mask's bounding box is held, so each update is proportional to the object, not to
    a 4000 x 4000 image, and a windowed map of a huge image never becomes full size.
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
        offset = (int(rows[0]) + origin[0], int(cols[0]) + origin[1])
    where = np.asarray((*slice_index, *offset), dtype=float)[-ndim:]
    translate = transform["translate"] + where * transform["scale"]
    # each assignment redraws the canvas: skip the ones that change nothing
    if not np.array_equal(layer.scale, transform["scale"]):
        layer.scale = transform["scale"]
    if not np.array_equal(layer.translate, translate):
        layer.translate = translate
    layer.data = crop.reshape((1,) * (ndim - 2) + crop.shape)


def set_clicks(layer: Points, coords: np.ndarray, positive: np.ndarray) -> None:
    """Make the clicks layer hold exactly these points (data coordinates) and signs."""
    layer.selected_data = set()
    layer.data = np.asarray(coords, dtype=float).reshape(-1, layer.ndim)
    layer.features = {"positive": np.asarray(positive, dtype=bool)}
    layer.refresh_colors()


#: The labels chooser's entry for "every image gets its own f-BRS labels layer".
OWN_LABELS_CHOICE = "f-BRS labels (one per image)"
_MARK = "napari-fbrs"


def make_labels_layer(image: Image) -> Labels:
    """``f-BRS labels [<image name>]`` of ``image``: int32 zeros with its spatial shape and
    transform, marked (in the layer's metadata) as the plugin's labels of that image, so that
    a dock opened later finds them again."""
    return Labels(
        np.zeros(spatial_shape(image), dtype=np.int32),
        name=labels_name(image.name),
        metadata={_MARK: {"labels_for": str(image.unique_id)}},
        **_spatial_transform(image),
    )


def is_labels_of(layer: object, image: Image) -> bool:
    """Whether ``layer`` is the plugin's labels layer made for ``image``."""
    if not isinstance(layer, Labels):
        return False
    mark = layer.metadata.get(_MARK) if isinstance(layer.metadata, dict) else None
    return isinstance(mark, dict) and mark.get("labels_for") == str(image.unique_id)


def check_target(labels: Labels, image: Image) -> None:
    """The target labels must cover the image pixel for pixel."""
    shape = tuple(int(s) for s in labels.data.shape)
    if shape != spatial_shape(image):
        raise ValueError(
            f"labels layer {labels.name!r} has shape {shape} but image {image.name!r} has "
            f"spatial shape {spatial_shape(image)}: choose {OWN_LABELS_CHOICE!r} or a labels "
            f"layer of that shape under Labels"
        )


def image_context(
    image: Image, slice_index: tuple[int, ...], windowed: bool = False
) -> ImageContext:
    """What the session computes an object of ``image`` on: the plane and its normalisation
    (converted in the worker, so a large plane never blocks the viewer). ``windowed``: a
    window source that reads only the windows asked for (lazy dask/zarr data stays lazy),
    for the local-window predictor."""
    limits, rgb = model_input_options(image)
    plane = image_plane(image, slice_index)
    # The layer's unique_id, never reused (an id() can be, once the layer is gone); the data's
    # id tells a replaced array apart while the layer holds it.
    owner = str(image.unique_id)
    key = (owner, id(image.data), slice_index, limits, rgb, windowed)
    if windowed:
        return ImageContext(key, partial(plane_source, plane, limits, rgb), owner)
    return ImageContext(key, partial(to_model_rgb, plane, limits, rgb), owner)


def stack_of(image: Image, slice_index: tuple[int, ...]) -> StackSource:
    """The slices along the axis of ``slice_index[-1]`` (the others fixed), read lazily and
    normalised through the layer's contrast limits, for propagation."""
    if not slice_index:
        raise ValueError(f"image {image.name!r} is a single plane: propagation needs a stack")
    limits, rgb = model_input_options(image)
    data = _level0(image)[tuple(slice_index[:-1])]
    return stack_source(data, limits, rgb)


def apply_plan(labels: Labels, plan: PaintPlan) -> tuple[str, str | None]:
    """Paint a finished object as ONE step of napari's labels undo (a replaced label's old
    pixels are cleared in the same step); the status text."""
    labels.data_setitem(plan.all_indices, plan.values)
    return describe_paint(plan, labels.name)


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
    text = f"Object {plan.label_id}: {plan.num_pixels} pixels -> {target!r}."
    if plan.replaced is not None:
        text = (
            f"Object {plan.label_id} replaced: the new object covers most of label "
            f"{plan.replaced}, which keeps its id ({plan.num_pixels} pixels painted, "
            f"{plan.num_cleared} old pixels cleared) in {target!r}; Ctrl+Z on that layer "
            "restores the old one."
        )
    return text, warning


class GreyPlane:
    """A plane of an image as the model sees it, in grey (0..255 floats), read lazily: only
    the part indexed is read and normalised (for the finish-time checks)."""

    def __init__(self, image: Image, slice_index: tuple[int, ...]) -> None:
        self.plane = image_plane(image, slice_index)
        self.limits, self.rgb = model_input_options(image)
        self.shape = tuple(int(s) for s in self.plane.shape[:2])

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        rgb = to_model_rgb(np.asarray(self.plane[key]), self.limits, self.rgb)
        return rgb.mean(axis=-1)


def labels_name(image_name: str) -> str:
    """The name of the plugin's labels layer of an image: ``f-BRS labels [<image name>]``."""
    return f"{LABELS_LAYER} [{image_name}]"
