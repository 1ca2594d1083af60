"""Simulated clicking over a dataset: the NoC evaluation loop and its result.

Every sample is one object. The loop mirrors the f-BRS protocol: start from an empty
prediction, let :class:`SimulatedClicker` place a click, ask the predictor for probabilities
given all clicks so far, threshold them at ``pred_thresh`` and score the IoU; stop as soon as
the strictest IoU threshold is met (upstream's ``--target-iou``) unless the full curve is
wanted. All NoC thresholds are then read off the same per-click IoU lists.

Only ``predict`` calls are timed, so seconds per click compares methods and not data loading.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from napari_fbrs.inference.clicks import Click

from .clicker import SimulatedClicker
from .metrics import iou, miou_curve, noc_summary

RESULT_FORMAT = "napari-fbrs-evaluation"
RESULT_FORMAT_VERSION = 1


class ClickPredictor(Protocol):
    """What the evaluation loop needs from a segmentation method."""

    def set_image(self, image: np.ndarray) -> None:
        """Take an (H, W, 3) uint8 image and forget any per-object state."""

    def predict(self, clicks: Sequence[Click]) -> np.ndarray:
        """Float (H, W) object probabilities given every click of the object so far."""


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


@dataclass(frozen=True)
class EvalSettings:
    """The protocol knobs; the defaults are those of the f-BRS paper."""

    max_clicks: int = 20
    iou_thresholds: tuple[float, ...] = (0.8, 0.85, 0.9)
    pred_thresh: float = 0.49
    full_curve: bool = False
    max_samples: int | None = None  # the first N samples, in the dataset's (sorted) order

    def __post_init__(self) -> None:
        if isinstance(self.max_clicks, bool) or self.max_clicks < 1:
            raise ValueError(f"max_clicks must be a positive integer, got {self.max_clicks!r}")
        thresholds = tuple(float(t) for t in self.iou_thresholds)
        if not thresholds:
            raise ValueError("iou_thresholds must hold at least one threshold")
        for t in thresholds:
            if not 0.0 < t <= 1.0:
                raise ValueError(f"IoU threshold {t!r} must lie in (0, 1]")
        object.__setattr__(self, "iou_thresholds", thresholds)
        if not 0.0 <= self.pred_thresh < 1.0:
            raise ValueError(f"pred_thresh {self.pred_thresh!r} must lie in [0, 1)")
        if self.max_samples is not None and self.max_samples < 1:
            raise ValueError(f"max_samples must be None or at least 1, got {self.max_samples!r}")

    @property
    def stop_iou(self) -> float:
        """A sample stops once its IoU reaches this (unless ``full_curve``)."""
        return max(self.iou_thresholds)


@dataclass
class SampleResult:
    """The clicks made on one object and the IoU after each of them."""

    name: str
    clicks: list[tuple[int, int, bool]]
    ious: list[float]
    seconds: float  # time spent in predict() for this sample


@dataclass
class EvaluationResult:
    """Per-sample click records of one method on one dataset, with the derived metrics."""

    dataset: str
    method: str
    settings: EvalSettings
    samples: list[SampleResult]
    elapsed: float  # wall-clock seconds of the whole run

    @property
    def _all_ious(self) -> list[list[float]]:
        return [s.ious for s in self.samples]

    def has_threshold(self, threshold: float) -> bool:
        """Whether this run can score ``threshold``: samples must not have stopped below it."""
        return self.settings.full_curve or threshold <= self.settings.stop_iou + 1e-9

    def _check_threshold(self, threshold: float) -> None:
        if not self.has_threshold(threshold):
            raise ValueError(
                f"NoC@{threshold:g} cannot be read from this run: samples stopped at IoU "
                f">= {self.settings.stop_iou:g}; rerun with that threshold or with full_curve"
            )

    def noc(self, threshold: float) -> float:
        """Mean number of clicks to reach ``threshold``."""
        self._check_threshold(threshold)
        means, _ = noc_summary(self._all_ious, [threshold], self.settings.max_clicks)
        return means[0]

    def failures(self, threshold: float) -> int:
        """Samples whose NoC at ``threshold`` equals max_clicks (upstream's ">=N@t")."""
        self._check_threshold(threshold)
        _, failures = noc_summary(self._all_ious, [threshold], self.settings.max_clicks)
        return failures[0]

    def miou_curve(self) -> np.ndarray:
        """mIoU after 1..max_clicks clicks, stopped samples carried forward."""
        return miou_curve(self._all_ious, self.settings.max_clicks)

    @property
    def num_clicks(self) -> int:
        return sum(len(s.ious) for s in self.samples)

    @property
    def seconds_per_click(self) -> float:
        clicks = self.num_clicks
        return sum(s.seconds for s in self.samples) / clicks if clicks else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: settings, summary numbers and every sample's clicks and IoUs."""
        settings = asdict(self.settings)
        settings["iou_thresholds"] = list(self.settings.iou_thresholds)
        thresholds = [t for t in self.settings.iou_thresholds if self.has_threshold(t)]
        return {
            "format": RESULT_FORMAT,
            "format_version": RESULT_FORMAT_VERSION,
            "dataset": self.dataset,
            "method": self.method,
            "settings": settings,
            "summary": {
                "num_samples": len(self.samples),
                "num_clicks": self.num_clicks,
                "seconds_per_click": self.seconds_per_click,
                "elapsed_seconds": self.elapsed,
                "noc": {f"{t:g}": self.noc(t) for t in thresholds},
                "failures": {f"{t:g}": self.failures(t) for t in thresholds},
                "miou": [float(v) for v in self.miou_curve()],
            },
            "samples": [
                {
                    "name": s.name,
                    "clicks": [[int(r), int(c), bool(p)] for r, c, p in s.clicks],
                    "ious": [float(v) for v in s.ious],
                    "seconds": s.seconds,
                }
                for s in self.samples
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationResult:
        """Rebuild a result from :meth:`to_dict` output (the summary is recomputed)."""
        if data.get("format") != RESULT_FORMAT:
            raise ValueError(f"not a {RESULT_FORMAT} result (format={data.get('format')!r})")
        if data.get("format_version") != RESULT_FORMAT_VERSION:
            raise ValueError(
                f"unsupported result format_version {data.get('format_version')!r}; "
                f"this version reads {RESULT_FORMAT_VERSION}"
            )
        try:
            settings = dict(data["settings"])
            settings["iou_thresholds"] = tuple(settings["iou_thresholds"])
            samples = [
                SampleResult(
                    name=str(s["name"]),
                    clicks=[(int(r), int(c), bool(p)) for r, c, p in s["clicks"]],
                    ious=[float(v) for v in s["ious"]],
                    seconds=float(s["seconds"]),
                )
                for s in data["samples"]
            ]
            return cls(
                dataset=str(data["dataset"]),
                method=str(data["method"]),
                settings=EvalSettings(**settings),
                samples=samples,
                elapsed=float(data["summary"]["elapsed_seconds"]),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"malformed evaluation result: {error!r}") from error


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
        value = iou(gt, pred_mask)
        ious.append(value)
        if not settings.full_curve and value >= settings.stop_iou:
            break
    clicks = [(int(c.row), int(c.col), bool(c.positive)) for c in clicker.clicks]
    return SampleResult(sample.name, clicks, ious, seconds)


def _evaluate_index(
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
        yield _evaluate_index(dataset, index, predictor, settings)
        if should_stop is not None and should_stop():
            return


# Each worker process keeps its own copy of the dataset, the predictor and the settings.
_WORKER: dict[str, Any] = {}


def _init_worker(
    dataset: DatasetLike, predictor: ClickPredictor, settings: EvalSettings, threads: int
) -> None:
    # Ctrl+C reaches the whole process group; only the parent decides when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(threads)
    _WORKER.update(dataset=dataset, predictor=predictor, settings=settings)


def _worker_evaluate(index: int) -> SampleResult:
    return _evaluate_index(_WORKER["dataset"], index, _WORKER["predictor"], _WORKER["settings"])


def _parallel_results(
    dataset: DatasetLike,
    predictor: ClickPredictor,
    settings: EvalSettings,
    count: int,
    should_stop: Callable[[], bool] | None,
    workers: int,
) -> Iterator[SampleResult]:
    """Objects evaluated ``workers`` at a time in spawned processes, yielded in dataset order.

    A stop request cancels the objects not yet started; those already running finish and are
    kept as long as no earlier object is missing, so the result is still a first-N prefix.
    """
    import torch

    threads = max(1, torch.get_num_threads() // workers)
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(dataset, predictor, settings, threads),
    )
    pending: deque[Future[SampleResult]] = deque()
    next_index, stopping, finished = 0, False, False
    try:
        while True:
            while not stopping and next_index < count and len(pending) < 2 * workers:
                pending.append(pool.submit(_worker_evaluate, next_index))
                next_index += 1
            if not pending or pending[0].cancelled():
                finished = True
                return
            yield pending.popleft().result()
            if not stopping and should_stop is not None and should_stop():
                stopping = True
                for queued in pending:
                    queued.cancel()
    finally:
        if not finished:  # an error or an abort: do not wait for the objects in progress
            _terminate_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


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
        results = _parallel_results(dataset, predictor, settings, count, should_stop, workers)
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
