"""Typed values for recipes: check a TOML value, or parse ``--set`` text, against a field type.

Recipe fields use a handful of types only (``int``, ``float``, ``bool``, ``str``, tuples of
those, each optionally ``| None``), so a small explicit converter beats a schema library and
gives messages that name the key and the file. Floats must be finite: TOML and ``float()``
both accept ``inf`` and ``nan``, and no recipe value means anything with them (``train.lr =
inf`` would train and then die in the optimiser with a ``FloatingPointError``).

The range checks shared by the recipe sections (``check_*``) live here too.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from pathlib import Path
from typing import Any

from napari_fbrs.io.kinds import DATASET_KINDS


class RecipeError(ValueError):
    """A recipe or an override is invalid; the message names the file or option and the key."""


def check_kind(name: str, kind: str) -> None:
    if kind not in DATASET_KINDS:
        raise RecipeError(
            f"{name}: unknown dataset kind {kind!r}; choose one of {', '.join(DATASET_KINDS)}"
        )


def check_prob(name: str, value: float) -> None:
    if not 0 <= value <= 1:
        raise RecipeError(f"{name} must be between 0 and 1, got {value}")


def check_nonneg(name: str, value: float) -> None:
    if not value >= 0:  # "not >=" also refuses NaN
        raise RecipeError(f"{name} must be >= 0, got {value}")


def field_types(section: type) -> dict[str, Any]:
    return typing.get_type_hints(section)


def is_path_field(section: type, key: str) -> bool:
    return any(f.name == key and f.metadata.get("path") for f in dataclasses.fields(section))


def unwrap_optional(tp: Any) -> tuple[Any, bool]:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return tp, False


def type_name(tp: Any) -> str:
    base, optional = unwrap_optional(tp)
    if typing.get_origin(base) is tuple:
        name = f"list of {typing.get_args(base)[0].__name__}"
    else:
        name = base.__name__
    return name + (" (or absent)" if optional else "")


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check a TOML value against a field type; ints are accepted for floats."""
    base, optional = unwrap_optional(tp)
    if value is None and optional:
        return None
    if typing.get_origin(base) is tuple:
        (item,) = typing.get_args(base)[:1]
        if not isinstance(value, (list, tuple)):
            raise RecipeError(f"{where}: expected a {type_name(tp)}, got {value!r}")
        return tuple(coerce(v, item, where) for v in value)
    if base is bool:
        if isinstance(value, bool):
            return value
    elif base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif base is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise RecipeError(f"{where}: expected a finite number, got {value!r}")
            return float(value)
    elif base is str:
        if isinstance(value, str):
            return value
    raise RecipeError(f"{where}: expected {type_name(tp)}, got {value!r}")


def parse_text(text: str, tp: Any, where: str) -> Any:
    """Turn the text of a ``--set`` value into the field's type."""
    base, optional = unwrap_optional(tp)
    stripped = text.strip()
    if optional and stripped.lower() in ("", "none", "null"):
        return None
    try:
        if typing.get_origin(base) is tuple:
            (item,) = typing.get_args(base)[:1]
            inner = stripped.strip("[]()")
            parts = [p for p in (s.strip() for s in inner.split(",")) if p]
            return tuple(parse_text(p, item, where) for p in parts)
        if base is bool:
            lowered = stripped.lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError(stripped)
        if base is int:
            return int(stripped)
        if base is float:
            value = float(stripped)
            if not math.isfinite(value):
                raise RecipeError(f"{where}: {text!r} is not a finite number")
            return value
        return stripped
    except RecipeError:
        raise
    except ValueError:
        raise RecipeError(f"{where}: {text!r} is not a valid {type_name(tp)}") from None


def resolve_path(path: str, relative_to: Path) -> str:
    """``path`` made absolute against ``relative_to``; a packaged-weights name stays a name."""
    if path.startswith("imagenet:"):
        return path
    expanded = Path(os.path.expanduser(path))
    if not expanded.is_absolute():
        expanded = relative_to / expanded
    return str(Path(os.path.normpath(expanded)))
