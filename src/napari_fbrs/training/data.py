"""The training dataset: an image, its simulated clicks and the target mask per item.

Items are addressed by ``(epoch, position)`` rather than by image index: every random choice
for an item (which image when sampling with weights, augmentation, which object, which clicks)
comes from a ``numpy`` generator seeded with ``(seed, epoch, position)``. An item is therefore
the same whichever worker process or DDP rank builds it, and resuming in the middle of an epoch
only needs the step counter. The image stays uint8; the model's ``normalize`` runs in the
training step, on the device.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler

from napari_fbrs.model.dist_maps import encode_points

from .augment import augment, object_ids
from .config import AugmentConfig, DataConfig, SamplerConfig
from .sampling import ClickSampler


class InstanceSource(Protocol):
    """What training needs from ``napari_fbrs.io.datasets.InstanceDataset``."""

    def num_images(self) -> int: ...

    def image_name(self, i: int) -> str: ...

    def load_instances(self, i: int) -> tuple[np.ndarray, np.ndarray]: ...


def open_instances(kind: str, root: str, split: str | None) -> InstanceSource:
    """Open a dataset through ``io.datasets`` (imported here so that config stays light)."""
    from napari_fbrs.io.datasets import open_dataset

    return open_dataset(kind, root, split=split)


class ConcatSource:
    """Several instance datasets seen as one: image ``i`` of the whole is image ``i - offset``
    of the dataset it falls in. Names are prefixed with the dataset's index so that they stay
    unique (sample-score files name images the same way)."""

    def __init__(self, sources: Sequence[InstanceSource]) -> None:
        if not sources:
            raise ValueError("ConcatSource needs at least one dataset")
        self.sources = list(sources)
        self.offsets = np.cumsum([0] + [int(s.num_images()) for s in self.sources])

    def num_images(self) -> int:
        return int(self.offsets[-1])

    def _locate(self, i: int) -> tuple[int, int]:
        if not 0 <= i < self.num_images():
            raise IndexError(f"image {i} out of range 0..{self.num_images() - 1}")
        which = int(np.searchsorted(self.offsets, i, side="right") - 1)
        return which, i - int(self.offsets[which])

    def image_name(self, i: int) -> str:
        which, local = self._locate(i)
        return f"{which}/{self.sources[which].image_name(local)}"

    def load_instances(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        which, local = self._locate(i)
        return self.sources[which].load_instances(local)


def open_training_source(data: DataConfig) -> InstanceSource:
    """The recipe's primary dataset, joined with ``data.extra_sources`` when there are any."""
    from .config import parse_source

    primary = open_instances(data.kind, data.root, data.split)
    if not data.extra_sources:
        return primary
    extras = [open_instances(*parse_source(spec)) for spec in data.extra_sources]
    return ConcatSource([primary, *extras])


def load_sample_scores(path: str | os.PathLike[str], names: list[str]) -> np.ndarray:
    """Per-image scores from a CSV with columns ``name,score`` (score in 0..1, e.g. an IoU).

    Every image of the dataset must be listed; the message names the file and the first
    missing image so that a stale file is noticed.
    """
    path = Path(path)
    try:
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read sample scores ({exc.strerror})") from None
    if not rows or not {"name", "score"} <= set(rows[0]):
        raise ValueError(f"{path}: expected a CSV with the columns name,score")
    scores: dict[str, float] = {}
    for line, row in enumerate(rows, start=2):
        try:
            score = float(row["score"])
        except (TypeError, ValueError):
            raise ValueError(f"{path}:{line}: score {row['score']!r} is not a number") from None
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"{path}:{line}: score {score} is outside 0..1")
        scores[row["name"]] = score
    missing = [n for n in names if n not in scores]
    if missing:
        raise ValueError(
            f"{path}: no score for {len(missing)} of {len(names)} images (first: {missing[0]!r})"
        )
    return np.array([scores[n] for n in names], dtype=np.float64)


def sample_weights(scores: np.ndarray, gamma: float) -> np.ndarray:
    """Probabilities ``(1 - score) ** gamma``: images a model already handles are drawn less."""
    weights = np.clip(1.0 - scores, 0.0, 1.0) ** gamma
    if weights.sum() <= 0:
        raise ValueError("every sample score is 1: no image would ever be drawn")
    return weights / weights.sum()


@dataclass(frozen=True)
class ItemInfo:
    """Where an item came from (for logs and tests)."""

    image_index: int
    object_ids: tuple[int, ...]


class ClickDataset(Dataset):
    """``dataset[(epoch, position)]`` -> ``{"image", "points", "mask"}`` tensors.

    * ``image``: uint8 ``[3, H, W]`` (``H x W`` = the crop size);
    * ``points``: float64 ``[2 K, 2]`` in :func:`encode_points` layout (``K`` positive slots
      then ``K`` negative slots, ``(row, col)``, padding ``(-1, -1)``);
    * ``mask``: float32 ``[1, H, W]`` with 1 object, 0 background, -1 ignore.
    """

    def __init__(
        self,
        source: InstanceSource,
        data: DataConfig,
        sampler: SamplerConfig,
        augment_config: AugmentConfig,
        seed: int = 0,
        weights: np.ndarray | None = None,
    ) -> None:
        self.source = source
        self.data = data
        self.augment_config = augment_config
        self.click_sampler = ClickSampler(sampler)
        self.seed = int(seed)
        self.num_images = int(source.num_images())
        if self.num_images < 1:
            raise ValueError(f"{data.root}: the {data.kind} dataset has no images")
        self.epoch_len = data.epoch_len or self.num_images
        self.weights = weights
        if weights is not None and len(weights) != self.num_images:
            raise ValueError(f"{len(weights)} sample weights for {self.num_images} images")

    def __len__(self) -> int:
        return self.epoch_len

    def rng(self, epoch: int, position: int) -> np.random.Generator:
        return np.random.default_rng((self.seed, int(epoch), int(position)))

    def image_index(self, epoch: int, position: int, rng: np.random.Generator) -> int:
        """The image behind an item: weighted draw, plain index, or uniform draw."""
        if self.weights is not None:
            return int(rng.choice(self.num_images, p=self.weights))
        if self.epoch_len == self.num_images:
            return int(position)
        return int(rng.integers(self.num_images))

    def build(self, epoch: int, position: int) -> tuple[dict[str, torch.Tensor], ItemInfo]:
        rng = self.rng(epoch, position)
        index = self.image_index(epoch, position, rng)
        image, labels = self.source.load_instances(index)
        crop_size = (self.data.crop_size[0], self.data.crop_size[1])
        try:
            image, labels = augment(
                image, labels, self.augment_config, crop_size, rng, self.data.min_object_area
            )
        except ValueError as exc:
            name = self.source.image_name(index)
            raise ValueError(f"{name} (image {index} of {self.data.root}): {exc}") from None
        ids = object_ids(labels, self.data.min_object_area)
        clicks = self.click_sampler.sample(labels, ids, rng)
        points = encode_points([clicks.positive], [clicks.negative], self.click_sampler.num_slots)
        item = {
            "image": torch.from_numpy(image).permute(2, 0, 1).contiguous(),
            "points": points[0],
            "mask": torch.from_numpy(clicks.mask.astype(np.float32))[None],
        }
        return item, ItemInfo(index, clicks.object_ids)

    def __getitem__(self, key: Any) -> dict[str, torch.Tensor]:
        epoch, position = key if isinstance(key, tuple) else (0, key)
        return self.build(epoch, position)[0]


def build_click_dataset(
    data: DataConfig,
    sampler: SamplerConfig,
    augment_config: AugmentConfig,
    seed: int,
    source: InstanceSource | None = None,
) -> ClickDataset:
    """Open the recipe's dataset and wrap it, with sample weights when a scores file is set."""
    if source is None:
        source = open_training_source(data)
    weights = None
    if data.sample_scores is not None:
        names = [source.image_name(i) for i in range(source.num_images())]
        scores = load_sample_scores(data.sample_scores, names)
        weights = sample_weights(scores, data.sample_weight_gamma)
    if data.source_weights:
        per_image = per_source_weights(source, data.source_weights)
        weights = per_image if weights is None else weights * per_image
        weights = weights / weights.sum()
    return ClickDataset(source, data, sampler, augment_config, seed=seed, weights=weights)


def per_source_weights(source: InstanceSource, source_weights: Sequence[float]) -> np.ndarray:
    """Per-image probabilities that give dataset ``k`` the share ``source_weights[k]``."""
    sizes = (
        np.diff(source.offsets)
        if isinstance(source, ConcatSource)
        else np.array([source.num_images()])
    )
    if len(sizes) != len(source_weights):
        raise ValueError(f"{len(source_weights)} source weights for {len(sizes)} datasets")
    shares = np.asarray(source_weights, dtype=np.float64) / float(np.sum(source_weights))
    weights = np.repeat(shares / np.maximum(sizes, 1), sizes)
    return weights / weights.sum()


def epoch_keys(
    dataset: ClickDataset,
    epoch: int,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
    skip: int = 0,
) -> list[tuple[int, int]]:
    """This rank's item keys for ``epoch`` in order, without the first ``skip`` items.

    The shuffle and the split over ranks are ``DistributedSampler``'s (seeded, reshuffled
    every epoch, equal share per rank), so one process and several agree on what an epoch is.
    """
    sampler = DistributedSampler(
        dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True
    )
    sampler.set_epoch(epoch)
    return [(epoch, int(p)) for p in sampler][skip:]
