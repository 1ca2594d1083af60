"""How much an object on one slice stands out from its surroundings: the "faded" stop rule.

Propagation through a stack (:mod:`napari_fbrs.inference.stacks.propagation`) seeds each slice with
a positive click inside the previous slice's mask, and a model that takes the previous mask as an
input keeps predicting a plausible blob there even on slices where the object no longer exists.
The blob's area and overlap change little, so the area and IoU rules never fire. What does
change is the image under it: where the object has gone, inside and around the blob are the
same background. :func:`contrast` measures that, for any image and without a model: per
channel, ``|median inside the mask - median of a ring around it|`` divided by a robust spread
(5th to 95th percentile) of the mask and ring together, the largest over the channels (so a
colour that only one channel shows counts). Medians keep a neighbour that reaches into the
ring, or a few bright pixels inside, from deciding it. Dividing by the local spread makes the
value independent of the slice's brightness and gain: a distinct object scores near 1 (the
two medians lie at the ends of the spread), an object that has faded into noise or texture
scores near 0 (the medians agree within a fraction of the spread). The rule compares it with
the start slice's value, so what counts as distinct is the object's own contrast.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from napari_fbrs.inference.stacks.seeding import SliceMask
from napari_fbrs.inference.windows.sources import WindowSource

__all__ = ["contrast", "faded", "ring_width"]

#: Below this start-slice contrast there is nothing to compare with (a flat image): no rule.
MIN_REFERENCE = 0.05


def ring_width(area: int, ratio: float = 0.5, least: float = 3.0) -> float:
    """The ring's width: ``ratio`` of the mask's equivalent radius, at least ``least`` px,
    so the ring holds about as many pixels as a small mask and does not reach far past a
    large one into other objects."""
    return max(least, ratio * float(np.sqrt(area / np.pi)))


def contrast(plane: WindowSource, mask: SliceMask, gap: float = 1.0) -> float:
    """The mask's contrast with a ring around it on ``plane`` (module docstring), in 0..1.

    The ring starts ``gap`` px outside the mask, so a blurred edge or a prediction that is
    a pixel too small does not count as background. The ring is cut at the image's border.
    """
    if mask.area == 0:
        return 0.0
    width = ring_width(mask.area)
    margin = int(np.ceil(gap + width)) + 1
    window = mask.box.expand(margin).clamp(plane.shape)
    pixels = np.asarray(plane.read(*window.slices), dtype=np.float32)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    inside = mask.crop(window)
    distance = ndimage.distance_transform_edt(~inside)
    ring = (distance > gap) & (distance <= gap + width)
    if not ring.any():
        return 0.0
    region = inside | ring
    best = 0.0
    for channel in range(pixels.shape[2]):
        values = pixels[..., channel]
        low, high = np.percentile(values[region], (5.0, 95.0))
        spread = max(float(high - low), 1.0)  # 1 grey level: a flat window scores 0, not nan
        difference = abs(float(np.median(values[inside]) - np.median(values[ring])))
        best = max(best, min(1.0, difference / spread))
    return best


def faded(value: float, reference: float, min_ratio: float) -> bool:
    """True when ``value`` fell below ``min_ratio`` of the start slice's ``reference``
    (never when the rule is off, ``min_ratio`` 0, or the start had no contrast to lose)."""
    if min_ratio <= 0.0 or reference < MIN_REFERENCE:
        return False
    return value < min_ratio * reference
