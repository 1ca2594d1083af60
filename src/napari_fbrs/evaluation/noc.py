"""Simulated clicking over a dataset: the NoC evaluation loop.

Every sample is one object. The loop mirrors the f-BRS protocol: start from an empty
prediction, let :class:`SimulatedClicker` place a click, ask the predictor for probabilities
given all clicks so far, threshold them at ``pred_thresh`` and score the IoU; stop as soon as
the strictest IoU threshold is met (upstream's ``--target-iou``) unless the full curve is
wanted. All NoC thresholds are then read off the same per-click IoU lists
(:mod:`.results`); objects can be spread over processes (:mod:`.pool`).

Only ``predict`` calls are timed, so seconds per click compares methods and not data loading.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial
from typing import Protocol

import numpy as np
from tqdm import tqdm

from napari_fbrs.inference.engine.protocol import ClickPredictor

from .clicker import SimulatedClicker
from .metrics import iou
from .pool import parallel_results
from .results import (
    RESULT_FORMAT,
    RESULT_FORMAT_VERSION,
    EvalSettings,
    EvaluationResult,
    SampleResult,
)

__all__ = [
    "RESULT_FORMAT",
    "RESULT_FORMAT_VERSION",
    "ClickPredictor",
    "EvalSettings",
    "EvaluationResult",
    "SampleResult",
    "evaluate_dataset",
    "evaluate_sample",
]


class SampleLike(Protocol):
    """One object of a dataset (``napari_fbrs.io.datasets.Sample`` fits)."""

    @property
    def name(self) -> str: ...

    @property
    def image(self) -> np.ndarray: ...

    @property
    def mask(self) -> np.ndarray: ...


class DatasetLike(Protocol):
    """A sized, indexable set of samples (``napari_fbrs.io.datasets.InstanceDataset`` fits)."""

    @property
    def name(self) -> str: ...

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> SampleLike: ...


def evaluate_sample(
    sample: SampleLike, predictor: ClickPredictor, settings: EvalSettings
) -> SampleResult:
    """Click on one object until it is good enough or the click budget is spent."""
    gt = np.asarray(sample.mask)
    image = np.asarray(sample.image)
    if gt.ndim != 2:
        raise ValueError(f"sample {sample.name!r}: mask must be (H, W), got shape {gt.shape}")
    if image.shape[:2] != gt.shape:
        raise ValueError(
            f"sample {sample.name!r}: image {image.shape} and mask {gt.shape} differ in size"
        )
    if not np.any(gt == 1):
        raise ValueError(f"sample {sample.name!r}: the mask has no object pixel (value 1)")

    predictor.set_image(image)
    clicker = SimulatedClicker(gt)
    pred_mask = np.zeros(gt.shape, dtype=bool)
    ious: list[float] = []
    satisfied: list[bool] = []
    seconds = 0.0
    for _ in range(settings.max_clicks):
        clicker.make_next_click(pred_mask)
        start = time.perf_counter()
        probs = predictor.predict(tuple(clicker.clicks))
        seconds += time.perf_counter() - start
        probs = np.asarray(probs)
        if probs.shape != gt.shape:
            raise ValueError(
                f"sample {sample.name!r}: the predictor returned shape {probs.shape}, "
                f"expected {gt.shape}"
            )
        pred_mask = probs > settings.pred_thresh
        last = clicker.clicks[-1]
        satisfied.append(bool(pred_mask[int(last.row), int(last.col)]) == bool(last.positive))
        value = iou(gt, pred_mask)
        ious.append(value)
        if not settings.full_curve and value >= settings.stop_iou:
            break
    clicks = [(int(c.row), int(c.col), bool(c.positive)) for c in clicker.clicks]
    return SampleResult(sample.name, clicks, ious, seconds, satisfied)


def evaluate_index(
    dataset: DatasetLike, index: int, predictor: ClickPredictor, settings: EvalSettings
) -> SampleResult:
    sample = dataset[index]
    try:
        return evaluate_sample(sample, predictor, settings)
    except Exception as error:
        if hasattr(error, "add_note"):  # Python >= 3.11: say where it happened
            error.add_note(f"while evaluating sample {index} ({sample.name!r})")
        raise


def _serial_results(
    dataset: DatasetLike,
    predictor: ClickPredictor,
    settings: EvalSettings,
    count: int,
    should_stop: Callable[[], bool] | None,
) -> Iterator[SampleResult]:
    for index in range(count):
        yield evaluate_index(dataset, index, predictor, settings)
        if should_stop is not None and should_stop():
            return


def evaluate_dataset(
    dataset: DatasetLike,
    predictor: ClickPredictor,
    settings: EvalSettings,
    method: str = "model",
    progress: bool = True,
    should_stop: Callable[[], bool] | None = None,
    workers: int = 1,
) -> EvaluationResult:
    """Run the NoC protocol on the first ``settings.max_samples`` samples (all by default).

    ``should_stop`` is polled after every object: when it returns true the evaluation ends
    there, and the result is exactly that of ``max_samples`` = the objects done (samples are
    taken in order), which its settings then say, so a stopped run is still reproducible.

    ``workers`` > 1 evaluates that many objects at once, each in its own process with a share
    of the torch threads (the dataset and the predictor are pickled to every worker). Objects
    are independent (``set_image`` forgets the previous one), so the clicks and IoUs are those
    of a serial run with the same threads per object. A different thread count changes the
    floating-point summation order, and the BRS modes' L-BFGS can turn that into different
    clicks on some objects (measured: f-BRS-B, 6 DSB2018 nuclei, one thread against two: an
    IoU differs by up to 0.17 at some click), as a different CPU can.
    """
    if isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    count = len(dataset)
    if settings.max_samples is not None:
        count = min(count, settings.max_samples)
    if count == 0:
        raise ValueError(f"dataset {dataset.name!r} has no samples to evaluate")

    samples: list[SampleResult] = []
    start = time.perf_counter()
    workers = min(workers, count)
    if workers == 1:
        results = _serial_results(dataset, predictor, settings, count, should_stop)
    else:
        results = parallel_results(
            partial(evaluate_index, dataset), predictor, settings, count, should_stop, workers
        )
    with tqdm(
        total=count,
        desc=f"{dataset.name} [{method}]",
        unit="object",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    ) as bar:
        clicks = 0
        for result in results:
            samples.append(result)
            clicks += len(result.ious)
            bar.set_postfix(clicks_per_object=f"{clicks / len(samples):.2f}")
            bar.update(1)
    if len(samples) < count:  # stopped on request: the result is that of the first N
        settings = replace(settings, max_samples=len(samples))
    elapsed = time.perf_counter() - start
    return EvaluationResult(dataset.name, method, settings, samples, elapsed)
