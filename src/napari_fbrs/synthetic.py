"""Labelled stacks for testing and measuring propagation through Z or T.

* :func:`synthetic_nuclei_stack`: fluorescence-like nuclei as 3-D ellipsoids whose in-plane
  centre drifts a little from slice to slice (so each slice's nucleus moves and, towards the
  poles, shrinks), with 3-D instance labels that are the same id on every slice. Rendered like
  ``io.samples``' 2-D nuclei (16-bit, blurred in-plane, Poisson noise).
* :func:`read_slice_folder`: consecutive slices stored one file per slice (``images/<n>.png``
  + ``labels/<n>.png``, e.g. ``../shared/datasets/ISBI_EM``), in numeric order.
* :func:`link_slices`: per-slice instance labels (ids that mean nothing across slices) into
  3-D objects, by linking each object to the one it overlaps most on the next slice.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from scipy import ndimage

from napari_fbrs.io.images import ImageError, read_image
from napari_fbrs.io.masks import read_labels


def synthetic_nuclei_stack(
    shape: tuple[int, int, int] = (16, 128, 128),
    count: int = 6,
    seed: int = 0,
    drift: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(image uint16 (Z, H, W), labels int32 (Z, H, W))``; nucleus ``k`` has id ``k + 1``.

    Nuclei span about half the stack in Z (so each has slices where it is absent), their
    centre moves by up to ``drift`` px per slice in Y and X, and they are placed so that no
    two overlap by much; where they do touch, the brighter owns the pixel, as in
    ``io.samples.synthetic_nuclei_with_labels``.
    """
    depth, height, width = shape
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.indices(shape, dtype=np.float32)
    signal = np.zeros(shape, dtype=np.float32)
    labels = np.zeros(shape, dtype=np.int32)
    centres: list[np.ndarray] = []
    size = min(height, width)
    for index in range(count):
        radii = np.array(
            [
                rng.uniform(0.2, 0.3) * depth,
                rng.uniform(0.07, 0.11) * size,
                rng.uniform(0.07, 0.11) * size,
            ]
        )
        centre = _place(rng, shape, radii, centres)
        centres.append(np.concatenate([centre, radii]))
        dy, dx = rng.uniform(-drift, drift, size=2)
        cy = centre[1] + dy * (zz - centre[0])
        cx = centre[2] + dx * (zz - centre[0])
        distance = (
            ((zz - centre[0]) / radii[0]) ** 2
            + ((yy - cy) / radii[1]) ** 2
            + ((xx - cx) / radii[2]) ** 2
        )
        nucleus = rng.uniform(1500.0, 4000.0) * (distance <= 1.0)
        labels[nucleus > signal] = index + 1
        signal = np.maximum(signal, nucleus)
    signal = ndimage.gaussian_filter(signal, sigma=(0, 1.5, 1.5)) + 200.0
    image = np.clip(rng.poisson(signal), 0, np.iinfo(np.uint16).max).astype(np.uint16)
    return image, labels


def _place(
    rng: np.random.Generator,
    shape: tuple[int, int, int],
    radii: np.ndarray,
    placed: list[np.ndarray],
) -> np.ndarray:
    """A centre inside the stack that keeps clear of the nuclei placed so far (best of 50)."""
    best, best_gap = None, -np.inf
    for _ in range(50):
        centre = np.array(
            [rng.uniform(0.3, 0.7) * shape[0]] + [rng.uniform(0.15, 0.85) * s for s in shape[1:]]
        )
        gaps = [np.linalg.norm((centre - other[:3]) / (radii + other[3:])) for other in placed]
        gap = min(gaps, default=np.inf)
        if gap > 1.0:
            return centre
        if gap > best_gap:
            best, best_gap = centre, gap
    assert best is not None
    return best


def _numeric_key(path: Path) -> tuple[int, str]:
    match = re.search(r"\d+", path.stem)
    return (int(match.group()) if match else -1, path.name)


def read_slice_folder(
    root: str | os.PathLike[str], count: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(images (Z, H, W[, C]), labels (Z, H, W) int32)`` from ``root/images/<n>.<ext>`` and
    ``root/labels/<n>.png|.tif`` in numeric order of ``n`` (the first ``count``).

    The label ids are per slice as stored; :func:`link_slices` turns them into 3-D objects.
    """
    root = Path(root)
    images = sorted(
        (p for p in (root / "images").glob("*") if p.is_file() and not p.name.startswith(".")),
        key=_numeric_key,
    )
    if not images:
        raise ImageError(f"{root / 'images'}: no slice images")
    images = images[:count] if count is not None else images
    planes, label_planes = [], []
    for path in images:
        candidates = [
            p for p in (root / "labels").glob(f"{path.stem}.*") if p.suffix.lower() != ""
        ]
        if len(candidates) != 1:
            raise ImageError(f"{path}: expected one label file {path.stem}.* in {root / 'labels'}")
        planes.append(read_image(path))
        label_planes.append(read_labels(candidates[0]).astype(np.int32))
    return np.stack(planes), np.stack(label_planes)


def link_slices(labels: np.ndarray, min_iou: float = 0.5) -> np.ndarray:
    """3-D object ids (int32, same shape) from per-slice instance labels ``(Z, H, W)``.

    An object on slice ``z + 1`` continues the object on slice ``z`` that it overlaps most
    when the two are each other's best match and their IoU is at least ``min_iou``; otherwise
    it starts a new 3-D object. Ids are numbered 1.. in order of first appearance.
    """
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"labels must be (Z, H, W), got shape {labels.shape}")
    out = np.zeros(labels.shape, dtype=np.int32)
    next_id = 1
    previous: dict[int, int] = {}  # per-slice id on the slice before -> 3-D id
    for z in range(labels.shape[0]):
        current: dict[int, int] = {}
        links = _mutual_best(labels[z - 1], labels[z], min_iou) if z else {}
        for local in np.unique(labels[z]):
            if local <= 0:
                continue
            before = links.get(int(local))
            if before is not None and before in previous:
                current[int(local)] = previous[before]
            else:
                current[int(local)], next_id = next_id, next_id + 1
        lookup = np.zeros(int(labels[z].max()) + 1, dtype=np.int32)
        for local, global_id in current.items():
            lookup[local] = global_id
        out[z] = lookup[np.clip(labels[z], 0, None)]
        previous = current
    return out


def _mutual_best(a: np.ndarray, b: np.ndarray, min_iou: float) -> dict[int, int]:
    """For ids of ``b``: the id of ``a`` it is linked to (mutual best IoU >= ``min_iou``)."""
    both = (a > 0) & (b > 0)
    if not both.any():
        return {}
    pairs, inter = np.unique(
        np.stack([a[both], b[both]]).astype(np.int64), axis=1, return_counts=True
    )
    area_a = np.bincount(a[a > 0].ravel())
    area_b = np.bincount(b[b > 0].ravel())
    ious = inter / (area_a[pairs[0]] + area_b[pairs[1]] - inter)
    best_for_a: dict[int, tuple[float, int]] = {}
    best_for_b: dict[int, tuple[float, int]] = {}
    for (ia, ib), value in zip(pairs.T.tolist(), ious.tolist(), strict=True):
        if value > best_for_a.get(ia, (-1.0, 0))[0]:
            best_for_a[ia] = (value, ib)
        if value > best_for_b.get(ib, (-1.0, 0))[0]:
            best_for_b[ib] = (value, ia)
    return {
        ib: ia
        for ib, (value, ia) in best_for_b.items()
        if value >= min_iou and best_for_a[ia][1] == ib
    }
