"""One background worker that runs the core session, job after job, in the order they came.

Everything that touches the network (building the predictor for a new object, each click, undo,
finish) is a job in one FIFO queue. A napari ``thread_worker`` drains the queue and yields one
result per job back to the Qt thread, so the viewer never waits for torch, and clicks made while
a prediction runs are neither lost nor reordered: a click placed during a prediction simply
waits its turn. The session (core ``InteractiveSession``) lives only on the worker side; the Qt
side sees immutable jobs and results.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from napari.qt.threading import GeneratorWorker, create_worker

from napari_fbrs.inference.clicks import Click
from napari_fbrs.inference.config import PredictorConfig
from napari_fbrs.inference.predictor import Predictor
from napari_fbrs.inference.session import InteractiveSession
from napari_fbrs.io.images import to_model_rgb

_job_ids = itertools.count(1)


@dataclass(frozen=True)
class ObjectContext:
    """What a new object is computed on: the image plane, the model and the settings."""

    image_key: tuple[Any, ...]  # identifies layer, data and slice: same key -> same pixels
    plane: np.ndarray  # 2-D (or 2-D + colour) view of the layer data; converted in the worker
    contrast_limits: tuple[float, float] | None
    rgb: bool
    model: torch.nn.Module
    config: PredictorConfig
    device: torch.device

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.image_key, self.contrast_limits, id(self.model), self.config, self.device)


@dataclass(frozen=True)
class Job:
    generation: int  # the object this job belongs to
    id: int = field(default_factory=lambda: next(_job_ids), compare=False)
    queued_at: float = field(default_factory=time.perf_counter, compare=False)


@dataclass(frozen=True)
class StartObject(Job):
    context: ObjectContext | None = None


@dataclass(frozen=True)
class AddClick(Job):
    click: Click | None = None


@dataclass(frozen=True)
class UndoClick(Job):
    pass


@dataclass(frozen=True)
class ResetObject(Job):
    pass


@dataclass(frozen=True)
class FinishObject(Job):
    ticket: Any = None  # where the Qt side will paint the object (opaque here)


@dataclass(frozen=True)
class Result:
    job: Job


@dataclass(frozen=True)
class Prediction(Result):
    """The object's probability map after a click or an undo (``None``: no clicks left)."""

    probs: np.ndarray | None
    clicks: tuple[Click, ...]
    network_seconds: float = 0.0


@dataclass(frozen=True)
class Finished(Result):
    probs: np.ndarray | None


@dataclass(frozen=True)
class Skipped(Result):
    """A job of an object whose start failed."""


@dataclass(frozen=True)
class Failure(Result):
    message: str


class SegmentationQueue:
    """A FIFO of jobs drained by at most one napari ``thread_worker`` at a time."""

    def __init__(self, on_result: Callable[[Result], None]) -> None:
        self._on_result = on_result
        self._jobs: deque[Job] = deque()
        self._lock = threading.Lock()
        self._running = False
        self._outstanding = 0  # submitted jobs whose result the Qt side has not handled yet
        self._worker: GeneratorWorker | None = None
        self._failed_generation: int | None = None
        self._context_key: tuple[Any, ...] | None = None
        self.session: InteractiveSession | None = None
        self.prob_thresh = 0.5

    # -- Qt side ----------------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        """Queue a job; start a worker if none is draining the queue."""
        self._outstanding += 1
        with self._lock:
            self._jobs.append(job)
            if self._running:
                return
            self._running = True
        self._worker = create_worker(self._drain, _start_thread=False)
        self._worker.yielded.connect(self._deliver)
        self._worker.start()

    def _deliver(self, result: Result) -> None:
        self._outstanding -= 1
        self._on_result(result)

    @property
    def busy(self) -> bool:
        """True until the result of every submitted job has been handled on the Qt side."""
        return self._outstanding > 0

    @property
    def running(self) -> bool:
        """True while a worker thread runs (also after ``shutdown`` until its job ends)."""
        return self._worker is not None and self._worker.is_running

    @property
    def pending(self) -> int:
        """Jobs waiting for the worker (not counting the one it runs)."""
        with self._lock:
            return len(self._jobs)

    def set_threshold(self, value: float) -> None:
        self.prob_thresh = value
        if self.session is not None:
            self.session.prob_thresh = value  # a float assignment: safe across threads

    def shutdown(self) -> None:
        """Drop queued jobs and stop the worker after its current job (the queue is done)."""
        with self._lock:
            self._outstanding -= len(self._jobs)
            self._jobs.clear()
        if self._worker is not None:
            self._worker.quit()

    # -- worker side --------------------------------------------------------------------------
    def _drain(self):  # noqa: ANN202 - a generator run by thread_worker
        while True:
            with self._lock:  # "empty" and "not running" change together: no job is stranded
                if not self._jobs:
                    self._running = False
                    return
                job = self._jobs.popleft()
            yield self._run_safely(job)

    def _run_safely(self, job: Job) -> Result:
        if job.generation == self._failed_generation and not isinstance(job, StartObject):
            return Skipped(job)  # the object never started: its clicks have nothing to run on
        try:
            return self._run(job)
        except Exception as exc:  # shown as a notification; the worker keeps going
            if isinstance(job, StartObject):
                self._failed_generation = job.generation
            return Failure(job, _describe(exc))

    def _run(self, job: Job) -> Result:
        if isinstance(job, StartObject):
            assert job.context is not None
            self._start(job.context)
            return Prediction(job, None, ())
        session = self.session
        if session is None:
            raise RuntimeError("no image is prepared: place the first click again")
        if isinstance(job, AddClick):
            assert job.click is not None
            probs = session.add_click(job.click)
            return Prediction(job, probs, session.clicks, session.predictor.last.seconds)
        if isinstance(job, UndoClick):
            session.undo_click()
            return Prediction(job, session.probs, session.clicks)
        if isinstance(job, ResetObject):
            session.reset_object()
            return Prediction(job, None, ())
        if isinstance(job, FinishObject):
            probs = session.probs
            session.reset_object()
            return Finished(job, probs)
        raise TypeError(f"unknown job {job!r}")

    def _start(self, context: ObjectContext) -> None:
        """A new object: reuse the prepared image when nothing changed, else rebuild."""
        if self.session is not None and self._context_key == context.key:
            self.session.reset_object()
            return
        self.session, self._context_key = None, None
        model = context.model
        if next(model.parameters()).device != context.device:
            model.to(context.device)
        rgb = to_model_rgb(context.plane, context.contrast_limits, context.rgb)
        session = InteractiveSession(
            Predictor(model, context.config, context.device), self.prob_thresh
        )
        session.set_image(rgb)
        self.session, self._context_key = session, context.key


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return text if text else type(exc).__name__
