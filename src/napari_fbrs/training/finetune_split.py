"""The user's labelled images for fine-tuning: checked pairs, a hold-out split, files.

* :class:`LabelledImage` is one (image, labels) pair as the widget collects it from napari
  layers or a folder (:func:`folder_items`).
* :func:`write_finetune_folder` turns pairs into the ``folder`` dataset layout (``train/`` and
  ``val/``, each with ``images/`` and ``labels/``). Some images are held out for validation;
  with a single image, its last rows are held out, so that "before / after" is always
  measured on pixels the model was not tuned on.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Fraction of the images (or of the rows of a single image) held out for validation.
HOLD_OUT = 0.25
MIN_HELD_OUT_ROWS = 32


@dataclass(frozen=True)
class LabelledImage:
    """One training image: ``image`` ``(H, W, 3)`` uint8, ``labels`` ``(H, W)`` ids (0 = none)."""

    name: str
    image: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValueError(
                f"{self.name}: the image must be (H, W, 3) uint8, got {self.image.shape} "
                f"{self.image.dtype}"
            )
        if self.labels.shape != self.image.shape[:2]:
            raise ValueError(
                f"{self.name}: labels {self.labels.shape} do not match the image "
                f"{self.image.shape[:2]}"
            )
        if not np.issubdtype(self.labels.dtype, np.integer) or self.labels.min() < 0:
            raise ValueError(f"{self.name}: labels must be non-negative integer ids")


def split_for_validation(
    items: Sequence[LabelledImage], hold_out: float = HOLD_OUT
) -> tuple[list[LabelledImage], list[LabelledImage]]:
    """Training and held-out parts: whole images when there are several, else a row band."""
    labelled = [item for item in items if item.labels.any()]
    if not labelled:
        raise ValueError("no labelled objects: paint some objects in the labels layer first")
    if len(labelled) >= 2:
        n_val = max(1, math.floor(len(labelled) * hold_out))
        return labelled[:-n_val], labelled[-n_val:]
    item = labelled[0]
    height = item.image.shape[0]
    cut = height - max(MIN_HELD_OUT_ROWS, round(height * hold_out))
    if cut < MIN_HELD_OUT_ROWS:
        raise ValueError(
            f"{item.name}: {height} rows are too few to hold some out for validation; "
            "add another labelled image"
        )
    top = LabelledImage(f"{item.name}_top", item.image[:cut], item.labels[:cut])
    bottom = LabelledImage(f"{item.name}_bottom", item.image[cut:], item.labels[cut:])
    if not bottom.labels.any() or not top.labels.any():
        raise ValueError(
            f"{item.name}: hold-out needs labelled objects both above and below row {cut}; "
            "label objects over the whole image or add another labelled image"
        )
    return [top], [bottom]


def write_finetune_folder(
    items: Sequence[LabelledImage], folder: str | os.PathLike[str], hold_out: float = HOLD_OUT
) -> tuple[int, int]:
    """Write ``folder/{train,val}/{images,labels}``; returns (train, val) image counts.

    Images are RGB TIFF, labels uint32 TIFF (any number of ids); every file is written
    atomically.
    """
    from napari_fbrs.io.masks import write_labels, write_rgb_tiff

    train_items, val_items = split_for_validation(items, hold_out)
    root = Path(folder)
    for split, part in (("train", train_items), ("val", val_items)):
        for index, item in enumerate(part):
            stem = f"{index:03d}_{_safe(item.name)}"
            for sub in ("images", "labels"):
                (root / split / sub).mkdir(parents=True, exist_ok=True)
            write_rgb_tiff(root / split / "images" / f"{stem}.tif", item.image)
            write_labels(root / split / "labels" / f"{stem}.tif", item.labels.astype(np.uint32))
    return len(train_items), len(val_items)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:60] or "image"


def folder_items(folder: str | os.PathLike[str]) -> list[LabelledImage]:
    """Every image of a ``folder`` dataset (``images/`` + ``labels/``) with its labels."""
    from napari_fbrs.io.datasets import open_dataset

    dataset = open_dataset("folder", folder)
    items = []
    for i in range(dataset.num_images()):
        image, ids = dataset.load_instances(i)
        items.append(LabelledImage(dataset.image_name(i), image, np.maximum(ids, 0)))
    return items


__all__ = [
    "HOLD_OUT",
    "LabelledImage",
    "folder_items",
    "split_for_validation",
    "write_finetune_folder",
]
