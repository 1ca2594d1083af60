"""The job queue on its own: FIFO order, one result per job, failures contained."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_fbrs._napari.worker import (
    AddClick,
    Failure,
    Finished,
    FinishObject,
    ObjectContext,
    Prediction,
    SegmentationQueue,
    Skipped,
    StartObject,
    UndoClick,
)
from napari_fbrs.inference.clicks import Click
from napari_fbrs.inference.config import demo_preset

pytestmark = pytest.mark.gui  # needs a Qt application for the worker's signals

RGB = np.random.default_rng(9).integers(0, 256, (32, 40, 3), dtype=np.uint8)


def _context(model, plane=RGB) -> ObjectContext:
    config = demo_preset("NoBRS").with_changes(zoom_in=None)
    return ObjectContext(("img", 0), plane, None, True, model, config, torch.device("cpu"))


def test_jobs_run_in_order_with_one_result_each(qtbot, tiny_model) -> None:
    torch.set_num_threads(1)
    results = []
    queue = SegmentationQueue(results.append)
    clicks = [Click(5, 5, True), Click(20, 30, False), Click(10, 35, True)]
    jobs = [StartObject(1, context=_context(tiny_model))]
    jobs += [AddClick(1, click=c) for c in clicks]
    jobs += [UndoClick(1), FinishObject(1, ticket="where")]
    for job in jobs:
        queue.submit(job)
    assert queue.busy
    qtbot.waitUntil(lambda: not queue.busy, timeout=60_000)
    assert [r.job for r in results] == jobs
    assert [len(r.clicks) for r in results[:5]] == [0, 1, 2, 3, 2]
    assert results[2].clicks == tuple(clicks[:2])
    np.testing.assert_array_equal(results[4].probs, results[2].probs)  # undo restores
    assert isinstance(results[5], Finished) and results[5].job.ticket == "where"
    np.testing.assert_array_equal(results[5].probs, results[2].probs)
    assert queue.session.clicks == ()  # finishing resets the object

    session = queue.session
    queue.submit(StartObject(2, context=_context(tiny_model)))
    qtbot.waitUntil(lambda: not queue.busy, timeout=60_000)
    assert queue.session is session  # same image and settings: nothing rebuilt


def test_a_failed_start_skips_its_clicks_and_the_next_object_works(qtbot, tiny_model) -> None:
    results = []
    queue = SegmentationQueue(results.append)
    bad = _context(tiny_model, plane=np.zeros((4, 32, 40), dtype=np.uint8))  # not a 2-D plane
    queue.submit(StartObject(1, context=bad))
    queue.submit(AddClick(1, click=Click(5, 5, True)))
    queue.submit(StartObject(2, context=_context(tiny_model)))
    queue.submit(AddClick(2, click=Click(5, 5, True)))
    qtbot.waitUntil(lambda: not queue.busy, timeout=60_000)
    kinds = [type(r) for r in results]
    assert kinds == [Failure, Skipped, Prediction, Prediction]
    assert "(4, 32, 40)" in results[0].message  # the io error names the shape
    assert results[3].probs is not None and results[3].probs.shape == RGB.shape[:2]
