"""Helpers shared by the training tests: a synthetic folder dataset and a tiny recipe."""

from __future__ import annotations

from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
RECIPES_DIR = REPO_ROOT / "training"

#: Small enough for CI: hrnet18s_ocr64 on 64 x 96 crops, two images per step.
TINY_RECIPE = """
[model]
arch = "hrnet18s_ocr64"

[data]
kind = "folder"
root = "{root}"
crop_size = [64, 96]
min_object_area = 10
epoch_len = 8

[sampler]
num_max_points = 4

[augment]
scale_range = [0.9, 1.1]

[train]
batch_size = 2
epochs = 1
lr = 1e-3
device = "cpu"
amp = false
seed = 0

[schedule]
kind = "constant"

[validation]
kind = "folder"
root = "{root}"
num_samples = 2
max_clicks = 2
every_epochs = 1

[checkpoint]
every_epochs = 1

[logging]
every_steps = 1
tensorboard = false
"""


def write_folder_dataset(root: Path, num_images: int = 4, seed: int = 0) -> Path:
    """``root/images/*.tif`` + ``root/labels/*.tif``: coloured ellipses on a noisy background.

    Each 64 x 96 image holds two or three objects with distinct colours, so that a model can
    learn to separate the clicked one within a few steps.
    """
    import tifffile

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    rows, cols = np.mgrid[:64, :96]
    for i in range(num_images):
        image = rng.integers(0, 60, size=(64, 96, 3)).astype(np.float64)
        labels = np.zeros((64, 96), dtype=np.int32)
        for k in range(1, 2 + int(rng.integers(2)) + 1):
            cr, cc = rng.uniform(14, 50), rng.uniform(14, 82)
            rr, rc = rng.uniform(6, 12), rng.uniform(8, 16)
            inside = ((rows - cr) / rr) ** 2 + ((cols - cc) / rc) ** 2 <= 1
            labels[inside] = k
            image[inside] = rng.integers(120, 256, size=3)
        image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
        tifffile.imwrite(root / "images" / f"img{i:02d}.tif", image)
        tifffile.imwrite(root / "labels" / f"img{i:02d}.tif", labels)
    return root


def write_tiny_recipe(folder: Path, data_root: Path, extra: str = "") -> Path:
    """A recipe file in ``folder`` reading ``data_root``; ``extra`` TOML is appended."""
    path = folder / "tiny.toml"
    path.write_text(TINY_RECIPE.format(root=data_root.as_posix()) + extra)
    return path
