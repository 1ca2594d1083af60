"""The built-in default model that ships inside the package, so that segmentation works offline.

The weights file lives at ``napari_fbrs/model/default/<file>`` (float16 napari-fbrs checkpoint,
see ``docs/model_card.md`` for how it was trained and how well it works). Its sha256 is recorded
here and checked the first time the file is used in a process: a damaged installation fails
with a clear message instead of segmenting with corrupt weights.

``napari-fbrs predict`` / ``evaluate`` use it when no ``--checkpoint`` is given, the widget
loads it when it opens, and the name ``default`` is accepted wherever a checkpoint name is.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .weights import WeightsError


@dataclass(frozen=True)
class BuiltinWeights:
    """The shipped default: file name inside the package, architecture, checksum."""

    name: str
    filename: str
    arch: str
    sha256: str
    trained_on: str


DEFAULT_MODEL = BuiltinWeights(
    name="default",
    filename="napari_fbrs_default_hrnet18s_ocr64.pth",
    arch="hrnet18s_ocr64",
    sha256="b233f85df658c0d664f76c863d3acd2b1cd3a6f7735c9f78b4887c8c508a7ad9",
    trained_on="COCO_MVal_train + DSB2018/train",
)

#: Names that mean the built-in model on the command line and in the Python API.
DEFAULT_MODEL_NAMES = ("default", "builtin")


def is_default_name(spec: str) -> bool:
    return spec.strip().lower() in DEFAULT_MODEL_NAMES


def _packaged_file(filename: str) -> Path:
    return Path(str(resources.files("napari_fbrs.model") / "default" / filename))


@functools.cache
def _verified(path: Path, expected: str) -> Path:
    """``path`` once its sha256 matched ``expected`` (memoised: hashing once per process)."""
    from .checkpoint import sha256_of

    if not path.is_file():
        raise WeightsError(
            f"the built-in model file {path} is missing from this installation; "
            "reinstall napari-fbrs or pass a checkpoint"
        )
    actual = sha256_of(path)
    if actual != expected:
        raise WeightsError(
            f"the built-in model file {path} is damaged (sha256 {actual[:12]}..., expected "
            f"{expected[:12]}...); reinstall napari-fbrs or pass a checkpoint"
        )
    return path


def default_checkpoint_path() -> Path:
    """The verified path of the shipped default weights."""
    return _verified(_packaged_file(DEFAULT_MODEL.filename), DEFAULT_MODEL.sha256)
