"""Training recipes: TOML files parsed into frozen dataclasses, one per concern.

A recipe is data, never code. Every key maps onto a typed field below, so a misspelt key is an
error that names the key and the file instead of a silently ignored setting. A recipe may name
one ``base = "other.toml"`` (relative to itself) whose sections it extends key by key; the base
may not name a base of its own. ``--set section.key=value`` overrides are typed by the field they
target. Paths in a recipe are relative to the file that holds them; paths given with ``--set``
are relative to the current directory. All paths are stored resolved, so the config dict saved
into a checkpoint says exactly which files were used.
"""

from __future__ import annotations

import dataclasses
import math
import os
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from .toml_values import (
    RecipeError,
    coerce,
    field_types,
    is_path_field,
    parse_text,
    resolve_path,
)

DATASET_KINDS = ("sbd", "grabcut", "berkeley", "davis", "coco_mval", "dsb2018", "folder")
OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("multistep", "cosine", "constant")


def _path_field(default: str | None = None) -> Any:
    return field(default=default, metadata={"path": True})


@dataclass(frozen=True)
class ModelConfig:
    """Which network to train and where its starting weights come from.

    ``arch = "auto"`` takes the architecture from the init checkpoint (fine-tuning).
    ``backbone_weights`` is an optional ImageNet state_dict for the backbone only; upstream
    always started from one, here training works without it too.
    """

    arch: str = "hrnet18_ocr64"
    backbone_weights: str | None = _path_field()
    init_checkpoint: str | None = _path_field()
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


def _resolve_sources(specs: tuple[str, ...], relative_to: Path) -> tuple[str, ...]:
    out = []
    for spec in specs:
        kind, root, split = parse_source(spec)
        resolved = f"{kind}:{resolve_path(root, relative_to)}"
        out.append(resolved + (f":{split}" if split else ""))
    return tuple(out)


def _is_sources_field(section: type, key: str) -> bool:
    return any(f.name == key and f.metadata.get("sources") for f in dataclasses.fields(section))


@dataclass(frozen=True)
class DataConfig:
    """The training set and what one training sample looks like.

    ``extra_sources`` adds datasets (``"kind:root[:split]"``, roots relative to the recipe) to
    the primary ``kind``/``root``/``split``; the built-in model trains on natural images and
    nuclei at once this way.
    """

    kind: str = "sbd"
    root: str = _path_field(".")
    split: str | None = None
    crop_size: tuple[int, ...] = (320, 480)
    min_object_area: int = 80
    epoch_len: int = 0
    num_workers: int = 0
    sample_scores: str | None = _path_field()
    sample_weight_gamma: float = 1.25
    extra_sources: tuple[str, ...] = field(default=(), metadata={"sources": True})
    #: Probability of drawing from each dataset (primary first, then ``extra_sources``);
    #: empty = every image equally likely whichever dataset holds it.
    source_weights: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        _check_kind("data.kind", self.kind)
        for spec in self.extra_sources:
            _check_kind("data.extra_sources", parse_source(spec)[0])
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
        if len(self.crop_size) != 2 or min(self.crop_size) < 8:
            raise RecipeError(
                f"data.crop_size must be [height, width] of at least 8 pixels, "
                f"got {list(self.crop_size)}"
            )
        _check_nonneg("data.min_object_area", self.min_object_area)
        _check_nonneg("data.epoch_len", self.epoch_len)
        _check_nonneg("data.num_workers", self.num_workers)


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
        _check_nonneg("sampler.next_clicks_max", self.next_clicks_max)
        _check_prob("sampler.prev_mask_drop_prob", self.prev_mask_drop_prob)
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
            _check_prob(f"sampler.{name}", getattr(self, name))
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
            _check_prob(f"augment.{name}", getattr(self, name))
        low, high = (tuple(self.object_zoom_expand) + (0.0, 0.0))[:2]
        if len(self.object_zoom_expand) != 2 or not 1.0 <= low <= high:
            raise RecipeError(
                "augment.object_zoom_expand must be [low, high] with 1 <= low <= high, "
                f"got {list(self.object_zoom_expand)}"
            )
        if self.max_tries < 1:
            raise RecipeError(f"augment.max_tries must be >= 1, got {self.max_tries}")


@dataclass(frozen=True)
class LossConfig:
    """Normalised focal loss on the main output, sigmoid BCE on HRNet's auxiliary output."""

    instance_weight: float = 1.0
    focal_alpha: float = 0.5
    focal_gamma: float = 2.0
    aux_weight: float = 0.4

    def __post_init__(self) -> None:
        _check_nonneg("loss.instance_weight", self.instance_weight)
        _check_nonneg("loss.aux_weight", self.aux_weight)
        _check_prob("loss.focal_alpha", self.focal_alpha)


@dataclass(frozen=True)
class TrainParams:
    """Optimiser and loop settings. ``batch_size`` is global: split over DDP processes."""

    batch_size: int = 32
    epochs: int = 120
    max_steps: int = 0
    optimizer: str = "adam"
    lr: float = 5e-4
    betas: tuple[float, ...] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    backbone_lr_mult: float = 0.1
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    #: NHWC activations and weights: 1.3-1.6x faster training of depthwise-convolution
    #: networks (EfficientNet-Lite) on a CPU; the weights saved are the same tensors.
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.epochs < 1:
            raise RecipeError(
                f"train.batch_size and train.epochs must be >= 1, "
                f"got {self.batch_size} and {self.epochs}"
            )
        _check_nonneg("train.max_steps", self.max_steps)
        if self.optimizer not in OPTIMIZERS:
            raise RecipeError(
                f"train.optimizer: unknown optimiser {self.optimizer!r}; "
                f"choose one of {', '.join(OPTIMIZERS)}"
            )
        if len(self.betas) != 2:
            raise RecipeError(f"train.betas must be [beta1, beta2], got {list(self.betas)}")
        if self.lr <= 0:
            raise RecipeError(f"train.lr must be positive, got {self.lr}")
        _check_nonneg("train.backbone_lr_mult", self.backbone_lr_mult)


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning-rate factor per epoch: ``multistep`` (milestones, gamma), cosine or constant."""

    kind: str = "multistep"
    milestones: tuple[int, ...] = (100,)
    gamma: float = 0.1
    min_factor: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise RecipeError(
                f"schedule.kind: unknown schedule {self.kind!r}; "
                f"choose one of {', '.join(SCHEDULES)}"
            )
        if list(self.milestones) != sorted(self.milestones):
            raise RecipeError(
                f"schedule.milestones must be increasing, got {list(self.milestones)}"
            )

    def factor(self, epoch: int, epochs: int) -> float:
        """Multiplier of the base learning rate during ``epoch`` (0-based)."""
        if self.kind == "multistep":
            return self.gamma ** sum(1 for m in self.milestones if epoch >= m)
        if self.kind == "cosine":
            progress = epoch / max(1, epochs)
            return self.min_factor + (1 - self.min_factor) * 0.5 * (
                1 + math.cos(math.pi * progress)
            )
        return 1.0


@dataclass(frozen=True)
class ValidationConfig:
    """NoC on the first validation samples with the NoBRS predictor (``eval`` preset, ZoomIn
    optional); ``every_epochs = 0`` turns validation and ``best.pth`` off."""

    kind: str = "sbd"
    root: str = _path_field(".")
    split: str | None = None
    num_samples: int = 20
    max_clicks: int = 20
    iou_thresholds: tuple[float, ...] = (0.8, 0.85, 0.9)
    best_iou: float = 0.9
    every_epochs: int = 1
    zoom_in: bool = True

    def __post_init__(self) -> None:
        _check_kind("validation.kind", self.kind)
        if self.num_samples < 1 or self.max_clicks < 1:
            raise RecipeError("validation.num_samples and validation.max_clicks must be >= 1")
        if self.best_iou not in self.iou_thresholds:
            raise RecipeError(
                f"validation.best_iou {self.best_iou} must be one of validation.iou_thresholds "
                f"{list(self.iou_thresholds)}"
            )
        _check_nonneg("validation.every_epochs", self.every_epochs)

    @property
    def enabled(self) -> bool:
        return self.every_epochs > 0


@dataclass(frozen=True)
class CheckpointConfig:
    """``last.pth`` after every epoch, ``best.pth`` on a better NoC, ``epoch_NNN.pth`` every N."""

    every_epochs: int = 5

    def __post_init__(self) -> None:
        _check_nonneg("checkpoint.every_epochs", self.every_epochs)


@dataclass(frozen=True)
class LoggingConfig:
    """CSV always; TensorBoard when installed and wanted."""

    every_steps: int = 10
    tensorboard: bool = True

    def __post_init__(self) -> None:
        if self.every_steps < 1:
            raise RecipeError(f"logging.every_steps must be >= 1, got {self.every_steps}")


@dataclass(frozen=True)
class TrainConfig:
    """A whole recipe. ``source`` is the recipe file it was read from."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainParams = field(default_factory=TrainParams)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (lists for tuples), safe for ``torch.load(weights_only=True)``."""
        return _plain(dataclasses.asdict(self))

    def with_changes(self, section: str, **changes: Any) -> TrainConfig:
        """A copy with some fields of one section replaced (used by tests and the CLI)."""
        return dataclasses.replace(
            self, **{section: dataclasses.replace(getattr(self, section), **changes)}
        )


#: Recipe section name -> the dataclass it is parsed into.
SECTIONS: dict[str, type] = {
    name: tp for name, tp in typing.get_type_hints(TrainConfig).items() if name != "source"
}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _check_kind(name: str, kind: str) -> None:
    if kind not in DATASET_KINDS:
        raise RecipeError(
            f"{name}: unknown dataset kind {kind!r}; choose one of {', '.join(DATASET_KINDS)}"
        )


def _check_prob(name: str, value: float) -> None:
    if not 0 <= value <= 1:
        raise RecipeError(f"{name} must be between 0 and 1, got {value}")


def _check_nonneg(name: str, value: float) -> None:
    if value < 0:
        raise RecipeError(f"{name} must be >= 0, got {value}")


# -- loading -----------------------------------------------------------------------------------
def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise RecipeError(f"{path}: no such recipe file")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{path}: not valid TOML ({exc})") from None


def _typed_sections(raw: Mapping[str, Any], path: Path) -> dict[str, dict[str, Any]]:
    """Check sections and keys of one file, type its values and resolve its paths."""
    out: dict[str, dict[str, Any]] = {}
    for name, table in raw.items():
        if name == "base":
            continue
        if name not in SECTIONS:
            raise RecipeError(
                f"{path}: unknown key {name!r}; sections are base, {', '.join(SECTIONS)}"
            )
        if not isinstance(table, Mapping):
            raise RecipeError(f"{path}: {name} must be a [{name}] table, got {table!r}")
        section = SECTIONS[name]
        types_ = field_types(section)
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key not in types_:
                raise RecipeError(
                    f"{path}: unknown key {name}.{key}; known keys of [{name}]: "
                    f"{', '.join(types_)}"
                )
            value = coerce(value, types_[key], f"{path}: {name}.{key}")
            if is_path_field(section, key) and value is not None:
                value = resolve_path(value, path.parent)
            if _is_sources_field(section, key):
                value = _resolve_sources(value, path.parent)
            values[key] = value
        out[name] = values
    return out


def _apply_override(sections: dict[str, dict[str, Any]], override: str, cwd: Path) -> None:
    where = f"--set {override}"
    if "=" not in override:
        raise RecipeError(f"{where}: expected section.key=value")
    dotted, text = override.split("=", 1)
    dotted = dotted.strip()
    if dotted.count(".") != 1:
        raise RecipeError(f"{where}: expected section.key=value, e.g. train.lr=1e-4")
    name, key = dotted.split(".")
    if name not in SECTIONS:
        raise RecipeError(f"{where}: unknown section {name!r}; sections are {', '.join(SECTIONS)}")
    section = SECTIONS[name]
    types_ = field_types(section)
    if key not in types_:
        raise RecipeError(
            f"{where}: unknown key {name}.{key}; known keys of [{name}]: {', '.join(types_)}"
        )
    value = parse_text(text, types_[key], where)
    if is_path_field(section, key) and value is not None:
        value = resolve_path(value, cwd)
    if _is_sources_field(section, key):
        value = _resolve_sources(value, cwd)
    sections.setdefault(name, {})[key] = value


def load_recipe(path: str | os.PathLike[str], overrides: Iterable[str] = ()) -> TrainConfig:
    """Read a recipe (and its optional base), apply ``section.key=value`` overrides."""
    path = Path(path).resolve()
    raw = _read_toml(path)
    sections: dict[str, dict[str, Any]] = {}
    base = raw.get("base")
    if base is not None:
        if not isinstance(base, str):
            raise RecipeError(f"{path}: base must be a file name, got {base!r}")
        base_path = Path(resolve_path(base, path.parent))
        base_raw = _read_toml(base_path)
        if "base" in base_raw:
            raise RecipeError(
                f"{path}: its base {base_path} names a base of its own; "
                "only one level of composition is allowed"
            )
        sections = _typed_sections(base_raw, base_path)
    for name, values in _typed_sections(raw, path).items():
        sections.setdefault(name, {}).update(values)
    cwd = Path.cwd()
    for override in overrides:
        _apply_override(sections, override, cwd)
    built: dict[str, Any] = {}
    for name, section in SECTIONS.items():
        try:
            built[name] = section(**sections.get(name, {}))
        except RecipeError as exc:
            raise RecipeError(f"{path}: {exc}") from None
    return TrainConfig(**built, source=str(path))
