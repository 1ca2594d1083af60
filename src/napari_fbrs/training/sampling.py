"""Simulated clicks for training: which object to segment and where the user clicked.

The network must learn from click sets like those a person produces, so for each training
sample we pick an object (sometimes the union of two or more objects, so that the model also
learns to follow clicks that span several instances), then draw:

* positive clicks inside the object, usually inside a slightly eroded object so that the
  clicks are not on the ambiguous boundary;
* negative clicks from one of three places, chosen at random: a band around the object (the
  most informative, where the boundary is decided), other objects (teaching "not that one"),
  or anywhere in the background.

The number of clicks follows a truncated geometric distribution (``prob_gamma``): one or two
clicks are common, ten are rare. This is the behaviour of f-BRS's multi-point sampler; every
random choice goes through the ``numpy.random.Generator`` passed in, so a sample is fully
determined by its seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .config import SamplerConfig

Point = tuple[float, float]

NEGATIVE_SOURCES = ("bg", "other", "border")
#: Eroded positive regions smaller than this fall back to the whole object.
_MIN_ERODED_AREA = 10


@dataclass(frozen=True)
class ClickSample:
    """One training target: the mask (1 object, 0 background, -1 ignore) and its clicks."""

    mask: np.ndarray
    positive: list[Point]
    negative: list[Point]
    object_ids: tuple[int, ...]


def count_probabilities(n: int, gamma: float) -> np.ndarray:
    """``p[k]`` proportional to ``gamma ** k`` for ``k`` in ``0..n-1``."""
    weights = gamma ** np.arange(n, dtype=np.float64)
    return weights / weights.sum()


def border_band(mask: np.ndarray, expand_ratio: float) -> np.ndarray:
    """Pixels within ``ceil(expand_ratio * sqrt(area))`` (chessboard) of ``mask``, outside it.

    The band grows with the object so that large objects get a proportionally wide margin;
    this is what repeated 3x3 dilation gives, computed in one distance-transform pass.
    """
    radius = int(np.ceil(expand_ratio * np.sqrt(mask.sum())))
    if radius <= 0 or not mask.any():
        return np.zeros_like(mask, dtype=bool)
    distance = ndimage.distance_transform_cdt(~mask, metric="chessboard")
    return (distance <= radius) & ~mask


def eroded(mask: np.ndarray, iterations: int) -> np.ndarray:
    """``mask`` eroded ``iterations`` times by a 3x3 square; the image border does not erode."""
    if iterations <= 0 or mask.all():
        return mask
    return ndimage.distance_transform_cdt(mask, metric="chessboard") > iterations


class ClickSampler:
    """Draws a :class:`ClickSample` from an instance label image."""

    def __init__(self, config: SamplerConfig) -> None:
        self.config = config
        n = config.num_max_points
        self._positive_probs = count_probabilities(n, config.prob_gamma)
        self._negative_probs = count_probabilities(n + 1, config.prob_gamma)
        self._source_probs = np.array(
            [config.negative_bg_prob, config.negative_other_prob, config.negative_border_prob]
        )
        self._source_probs = self._source_probs / self._source_probs.sum()

    @property
    def num_slots(self) -> int:
        return self.config.num_max_points

    def sample(
        self, labels: np.ndarray, object_ids: Sequence[int], rng: np.random.Generator
    ) -> ClickSample:
        """Choose an object among ``object_ids`` of ``labels`` and draw clicks for it.

        ``labels``: int ``H x W``, 0 background, ``k > 0`` instances, -1 ignore. Ignore pixels
        are -1 in the returned mask and never receive clicks. With no ``object_ids`` the
        target is empty and only negative clicks are drawn.
        """
        cfg = self.config
        ignore = labels < 0
        ids = [int(i) for i in object_ids]
        if not ids:
            mask = np.zeros(labels.shape, dtype=bool)
            background = np.argwhere(labels == 0)
            negative = self._draw(background, self._negative_count(rng), rng)
            return ClickSample(_target(mask, ignore), [], negative, ())

        if len(ids) > 1 and rng.random() < cfg.merge_objects_prob:
            most = min(len(ids), cfg.max_num_merged_objects)
            count = int(rng.integers(2, most + 1))
            chosen = [ids[i] for i in rng.choice(len(ids), size=count, replace=False)]
        else:
            chosen = [ids[int(rng.integers(len(ids)))]]
        masks = [labels == i for i in chosen]
        mask = np.logical_or.reduce(masks)

        regions = [np.argwhere(self._positive_region(m, rng)) for m in masks]
        positive = self._positive_points(regions, rng)

        outside = ~mask & ~ignore
        sources = {
            "bg": outside,
            "border": border_band(mask, cfg.expand_ratio) & ~ignore,
            "other": (labels > 0) & ~mask if len(ids) > len(chosen) else outside,
        }
        source = NEGATIVE_SOURCES[int(rng.choice(len(NEGATIVE_SOURCES), p=self._source_probs))]
        candidates = np.argwhere(sources[source])
        negative = self._draw(candidates, self._negative_count(rng), rng)
        return ClickSample(_target(mask, ignore), positive, negative, tuple(chosen))

    # -- pieces -------------------------------------------------------------------------------
    def _positive_count(self, rng: np.random.Generator) -> int:
        return 1 + int(rng.choice(self.num_slots, p=self._positive_probs))

    def _negative_count(self, rng: np.random.Generator) -> int:
        return int(rng.choice(self.num_slots + 1, p=self._negative_probs))

    def _positive_region(self, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() >= self.config.positive_erode_prob:
            return mask
        smaller = eroded(mask, self.config.positive_erode_iters)
        return smaller if smaller.sum() > _MIN_ERODED_AREA else mask

    @staticmethod
    def _draw(candidates: np.ndarray, count: int, rng: np.random.Generator) -> list[Point]:
        """``count`` pixels drawn uniformly with replacement (none if there are no candidates)."""
        if count == 0 or len(candidates) == 0:
            return []
        picks = candidates[rng.integers(len(candidates), size=count)]
        return [(float(r), float(c)) for r, c in picks]

    def _positive_points(self, regions: list[np.ndarray], rng: np.random.Generator) -> list[Point]:
        """One object: its clicks. Merged objects: one click on each, then extra clicks.

        Every merged object gets at least one click (otherwise the target would include an
        object nobody clicked); the remaining slots are filled from the other clicks drawn for
        the objects, and the order is shuffled so that slot position carries no meaning.
        """
        per_object = [self._draw(r, self._positive_count(rng), rng) for r in regions]
        if len(per_object) == 1:
            return per_object[0]
        points = [p[0] for p in per_object if p]
        extra = [q for p in per_object for q in p[1:]]
        room = min(len(extra), self.num_slots - len(points))
        if room > 0:
            points += [extra[i] for i in rng.choice(len(extra), size=room, replace=False)]
        order = rng.permutation(len(points))
        return [points[i] for i in order][: self.num_slots]


def _target(mask: np.ndarray, ignore: np.ndarray) -> np.ndarray:
    target = mask.astype(np.int8)
    target[ignore] = -1
    return target
