"""Every N-th object of a dataset: a small evaluation set that spans all of a large one.

The first N objects of DSB2018/train come from two or three images; a run's own choosing set
(for example the weights of an average, see ``training/average_checkpoints.py``) should see many
images at the cost of a few hundred objects. The view keeps the dataset's order, so the same
``every`` always gives the same objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from .noc import DatasetLike, SampleLike


class _Dataset(DatasetLike, Protocol):
    """What the CLI's datasets also offer: their files and an up-front check."""

    def files(self) -> list[Path]: ...

    def validate(self, max_samples: int | None = None) -> int: ...


class EveryNth:
    """Objects 0, N, 2N, ... of ``dataset``; ``len`` and indexing are the view's own."""

    def __init__(self, dataset: _Dataset, every: int) -> None:
        if isinstance(every, bool) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        self.dataset = dataset
        self.every = every

    @property
    def name(self) -> str:
        return self.dataset.name

    def __len__(self) -> int:
        return (len(self.dataset) + self.every - 1) // self.every

    def __getitem__(self, index: int) -> SampleLike:
        if not 0 <= index < len(self):
            raise IndexError(f"object {index} of {len(self)}")
        return self.dataset[index * self.every]

    def files(self) -> list[Path]:
        return self.dataset.files()

    def validate(self, max_samples: int | None = None) -> int:
        """Decode every file of the dataset before the first object (the view's objects are
        spread over all its images); return the number of images checked."""
        return self.dataset.validate(None)
