"""The FIFO worker on its own: order, one outcome per call, failures contained, shutdown."""

from __future__ import annotations

import threading

import pytest

from napari_fbrs._napari.worker import SessionWorker

pytestmark = pytest.mark.gui  # needs a Qt application for the worker's signals


def test_calls_run_in_order_off_the_qt_thread_with_one_outcome_each(qtbot) -> None:
    worker = SessionWorker()
    main = threading.get_ident()
    ran: list[tuple[int, int]] = []
    done: list[int] = []

    queued = threading.Event()

    def job(i: int):  # noqa: ANN202
        def run() -> int:
            if i == 0:  # the first call holds the worker until every call is queued behind it
                assert queued.wait(10)
            ran.append((i, threading.get_ident()))
            return i * 10

        return run

    for i in range(6):
        worker.submit(job(i), done.append)
    assert worker.busy
    queued.set()
    qtbot.waitUntil(lambda: not worker.busy, timeout=10_000)
    assert [i for i, _ in ran] == list(range(6))
    assert all(thread != main for _, thread in ran)
    assert done == [0, 10, 20, 30, 40, 50]


def test_a_failure_reaches_its_error_callback_and_the_queue_goes_on(qtbot) -> None:
    worker = SessionWorker()
    errors: list[Exception] = []
    done: list[str] = []

    def boom() -> None:
        raise ValueError("bad plane (4, 32, 40)")

    worker.submit(boom, done.append, errors.append)
    worker.submit(lambda: "next", done.append, errors.append)
    qtbot.waitUntil(lambda: not worker.busy, timeout=10_000)
    assert [str(e) for e in errors] == ["bad plane (4, 32, 40)"]
    assert done == ["next"]


def test_shutdown_drops_queued_calls_and_their_outcomes(qtbot) -> None:
    worker = SessionWorker()
    gate = threading.Event()
    ran: list[int] = []
    done: list[int] = []
    worker.submit(lambda: (gate.wait(5), ran.append(0))[1], done.append)
    worker.submit(lambda: ran.append(1), done.append)
    qtbot.waitUntil(lambda: worker.running, timeout=5_000)
    worker.shutdown()
    gate.set()
    qtbot.waitUntil(lambda: not worker.running, timeout=5_000)
    assert ran == [0] and done == [] and not worker.busy
    worker.submit(lambda: ran.append(2))  # a closed worker takes nothing more
    assert not worker.busy


def test_a_held_worker_queues_calls_and_runs_them_in_order_once_released(qtbot) -> None:
    """Issue 22, defect 13: the dock holds its worker (torch's import, the model) until napari
    has added its layers; nothing runs before ``release``, nothing is lost or reordered."""
    worker = SessionWorker(held=True)
    ran: list[int] = []
    done: list[int] = []
    for i in range(3):
        worker.submit(lambda i=i: ran.append(i) or i, done.append)
    qtbot.wait(200)  # the event loop runs: a started worker would have run them by now
    assert ran == [] and not worker.running and worker.busy and worker.pending == 3
    worker.release()
    worker.submit(lambda: ran.append(3) or 3, done.append)
    qtbot.waitUntil(lambda: not worker.busy, timeout=10_000)
    assert ran == [0, 1, 2, 3] and done == [0, 1, 2, 3]
    worker.release()  # idempotent; later calls run at once
    worker.submit(lambda: ran.append(4) or 4, done.append)
    qtbot.waitUntil(lambda: not worker.busy, timeout=10_000)
    assert done == [0, 1, 2, 3, 4]


def test_a_held_worker_shut_down_before_release_runs_nothing(qtbot) -> None:
    worker = SessionWorker(held=True)
    ran: list[int] = []
    worker.submit(lambda: ran.append(1))
    worker.shutdown()
    worker.release()
    qtbot.wait(100)
    assert ran == [] and not worker.running
