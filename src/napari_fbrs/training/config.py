"""Training recipes: TOML files parsed into frozen dataclasses, one per concern.

A recipe is data, never code. Every key maps onto a typed field below, so a misspelt key is an
error that names the key and the file instead of a silently ignored setting. A recipe may name
one ``base = "other.toml"`` (relative to itself) whose sections it extends key by key; the base
may not name a base of its own. ``--set section.key=value`` overrides are typed by the field they
target. Paths in a recipe are relative to the file that holds them; paths given with ``--set``
are relative to the current directory. All paths are stored resolved, so the config dict saved
into a checkpoint says exactly which files were used.

The sections are defined in :mod:`.data_config` (model, data, sampler, augment) and
:mod:`.loop_config` (loss, train, schedule, validation, checkpoint, logging); this module
holds the whole recipe, :func:`load_recipe`, and re-exports every section, so
``from napari_fbrs.training.config import DataConfig`` keeps working.
"""

from __future__ import annotations

import dataclasses
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

from .data_config import (
    MAX_CROP_SIDE,
    AugmentConfig,
    DataConfig,
    ModelConfig,
    SamplerConfig,
    is_sources_field,
    parse_source,
    resolve_sources,
)
from .loop_config import (
    OPTIMIZERS,
    SCHEDULES,
    CheckpointConfig,
    LoggingConfig,
    LossConfig,
    ScheduleConfig,
    TrainParams,
    ValidationConfig,
)
from .toml_values import (
    DATASET_KINDS,
    RecipeError,
    coerce,
    field_types,
    is_path_field,
    parse_text,
    resolve_path,
)

__all__ = [
    "DATASET_KINDS",
    "MAX_CROP_SIDE",
    "OPTIMIZERS",
    "SCHEDULES",
    "SECTIONS",
    "AugmentConfig",
    "CheckpointConfig",
    "DataConfig",
    "LoggingConfig",
    "LossConfig",
    "ModelConfig",
    "RecipeError",
    "SamplerConfig",
    "ScheduleConfig",
    "TrainConfig",
    "TrainParams",
    "ValidationConfig",
    "load_recipe",
    "parse_source",
]


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
            if is_sources_field(section, key):
                value = resolve_sources(value, path.parent)
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
    if is_sources_field(section, key):
        value = resolve_sources(value, cwd)
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
