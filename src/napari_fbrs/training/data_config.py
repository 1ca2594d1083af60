"""Recipe sections about what is trained on: the model, the data, simulated clicks, augmentation.

Part of the recipe schema of :mod:`napari_fbrs.training.config` (which re-exports every name);
split from it only to keep modules small. Each section is a frozen dataclass whose
``__post_init__`` refuses values that cannot work, with a message naming ``section.key``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .toml_values import (
    RecipeError,
    check_kind,
    check_nonneg,
    check_prob,
    resolve_path,
)

#: The largest crop side. A batch of crops and the network's activations on them must fit in
#: memory; 2048 x 2048 is already 27 times the area of upstream's 320 x 480 crops, and a
#: mistyped size (``[1000000, 1000000]``) must be refused here, not fail in numpy allocating
#: terabytes.
MAX_CROP_SIDE = 2048


def path_field(default: str | None = None) -> Any:
    return field(default=default, metadata={"path": True})


@dataclass(frozen=True)
class ModelConfig:
    """Which network to train and where its starting weights come from.

    ``arch = "auto"`` takes the architecture from the init checkpoint (fine-tuning).
    ``backbone_weights`` is an optional ImageNet state_dict for the backbone only; upstream
    always started from one, here training works without it too.
    """

    arch: str = "hrnet18_ocr64"
    backbone_weights: str | None = path_field()
    init_checkpoint: str | None = path_field()
    freeze_backbone: bool = False

    def __post_init__(self) -> None:
        from napari_fbrs.model.registry import ARCHITECTURES

        if self.arch != "auto" and self.arch not in ARCHITECTURES:
            raise RecipeError(
                f"model.arch: unknown architecture {self.arch!r}; "
                f"choose one of auto, {', '.join(ARCHITECTURES)}"
            )


def parse_source(spec: str) -> tuple[str, str, str | None]:
    """``"kind:root"`` or ``"kind:root:split"`` -> ``(kind, root, split)``.

    Used by ``data.extra_sources``: more datasets whose images join the primary one's, each
    image drawn with the same probability whichever dataset it comes from.
    """
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise RecipeError(f"data.extra_sources: {spec!r} is not 'kind:root' or 'kind:root:split'")
    kind, root, split = parts[0], parts[1], (parts[2] if len(parts) == 3 else None)
    return kind, root, split


def resolve_sources(specs: tuple[str, ...], relative_to: Path) -> tuple[str, ...]:
    out = []
    for spec in specs:
        kind, root, split = parse_source(spec)
        resolved = f"{kind}:{resolve_path(root, relative_to)}"
        out.append(resolved + (f":{split}" if split else ""))
    return tuple(out)


def is_sources_field(section: type, key: str) -> bool:
    return any(f.name == key and f.metadata.get("sources") for f in dataclasses.fields(section))


@dataclass(frozen=True)
class DataConfig:
    """The training set and what one training sample looks like.

    ``extra_sources`` adds datasets (``"kind:root[:split]"``, roots relative to the recipe) to
    the primary ``kind``/``root``/``split``; the built-in model trains on natural images and
    nuclei at once this way.
    """

    kind: str = "sbd"
    root: str = path_field(".")
    split: str | None = None
    crop_size: tuple[int, ...] = (320, 480)
    min_object_area: int = 80
    epoch_len: int = 0
    num_workers: int = 0
    sample_scores: str | None = path_field()
    sample_weight_gamma: float = 1.25
    extra_sources: tuple[str, ...] = field(default=(), metadata={"sources": True})
    #: Probability of drawing from each dataset (primary first, then ``extra_sources``);
    #: empty = every image equally likely whichever dataset holds it.
    source_weights: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        check_kind("data.kind", self.kind)
        for spec in self.extra_sources:
            check_kind("data.extra_sources", parse_source(spec)[0])
        if self.source_weights:
            if len(self.source_weights) != 1 + len(self.extra_sources):
                raise RecipeError(
                    f"data.source_weights needs {1 + len(self.extra_sources)} values (the "
                    f"primary dataset and each extra source), got {len(self.source_weights)}"
                )
            if min(self.source_weights) < 0 or sum(self.source_weights) <= 0:
                raise RecipeError(
                    "data.source_weights must be >= 0 with a positive sum, "
                    f"got {list(self.source_weights)}"
                )
        if (
            len(self.crop_size) != 2
            or min(self.crop_size) < 8
            or max(self.crop_size) > MAX_CROP_SIDE
        ):
            raise RecipeError(
                f"data.crop_size must be [height, width] of 8 to {MAX_CROP_SIDE} pixels each, "
                f"got {list(self.crop_size)}"
            )
        check_nonneg("data.min_object_area", self.min_object_area)
        check_nonneg("data.epoch_len", self.epoch_len)
        check_nonneg("data.num_workers", self.num_workers)


@dataclass(frozen=True)
class SamplerConfig:
    """Simulated clicks for training (see :mod:`.sampling`)."""

    num_max_points: int = 10
    prob_gamma: float = 0.7
    merge_objects_prob: float = 0.15
    max_num_merged_objects: int = 2
    expand_ratio: float = 0.1
    positive_erode_prob: float = 0.9
    positive_erode_iters: int = 3
    negative_bg_prob: float = 0.1
    negative_other_prob: float = 0.4
    negative_border_prob: float = 0.5
    #: Up to this many corrective clicks (uniformly 0..N) simulated from the model's own
    #: errors before each training step (see :mod:`.iterative`); 0 = off, as upstream f-BRS.
    next_clicks_max: int = 0
    #: How often a model that takes the previous mask gets an empty one instead.
    prev_mask_drop_prob: float = 0.0

    def __post_init__(self) -> None:
        check_nonneg("sampler.next_clicks_max", self.next_clicks_max)
        check_prob("sampler.prev_mask_drop_prob", self.prev_mask_drop_prob)
        if self.num_max_points < 1:
            raise RecipeError(f"sampler.num_max_points must be >= 1, got {self.num_max_points}")
        if not 0 < self.prob_gamma <= 1:
            raise RecipeError(f"sampler.prob_gamma must be in (0, 1], got {self.prob_gamma}")
        total = self.negative_bg_prob + self.negative_other_prob + self.negative_border_prob
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise RecipeError(
                "sampler.negative_bg_prob + negative_other_prob + negative_border_prob must "
                f"sum to 1, got {total:g}"
            )
        for name in ("merge_objects_prob", "positive_erode_prob"):
            check_prob(f"sampler.{name}", getattr(self, name))
        if self.max_num_merged_objects < 2 and self.merge_objects_prob > 0:
            raise RecipeError("sampler.max_num_merged_objects must be >= 2 to merge objects")


@dataclass(frozen=True)
class AugmentConfig:
    """Geometric and colour augmentation (see :mod:`.augment`).

    ``object_zoom_prob``: how often the crop is instead a window around one object, its
    bounding box enlarged by a factor drawn from ``object_zoom_expand`` and resized to the
    crop: the view ZoomIn gives the network after the first click. Off in upstream's recipes;
    it matters for small objects such as nuclei, which ZoomIn enlarges many times.
    """

    scale_range: tuple[float, ...] = (0.75, 1.25)
    flip_prob: float = 0.5
    rotate90_prob: float = 0.5
    brightness_range: tuple[float, ...] = (-0.25, 0.25)
    contrast_range: tuple[float, ...] = (-0.15, 0.4)
    brightness_contrast_prob: float = 0.75
    rgb_shift: float = 10.0
    rgb_shift_prob: float = 0.75
    max_tries: int = 10
    object_zoom_prob: float = 0.0
    object_zoom_expand: tuple[float, ...] = (1.4, 3.0)

    def __post_init__(self) -> None:
        for name in ("scale_range", "brightness_range", "contrast_range"):
            value = getattr(self, name)
            if len(value) != 2 or value[0] > value[1]:
                raise RecipeError(f"augment.{name} must be [low, high], got {list(value)}")
        if self.scale_range[0] <= 0:
            raise RecipeError(f"augment.scale_range must be positive, got {self.scale_range}")
        for name in (
            "flip_prob",
            "rotate90_prob",
            "brightness_contrast_prob",
            "rgb_shift_prob",
            "object_zoom_prob",
        ):
            check_prob(f"augment.{name}", getattr(self, name))
        low, high = (tuple(self.object_zoom_expand) + (0.0, 0.0))[:2]
        if len(self.object_zoom_expand) != 2 or not 1.0 <= low <= high:
            raise RecipeError(
                "augment.object_zoom_expand must be [low, high] with 1 <= low <= high, "
                f"got {list(self.object_zoom_expand)}"
            )
        if self.max_tries < 1:
            raise RecipeError(f"augment.max_tries must be >= 1, got {self.max_tries}")
