"""Objects of an evaluation spread over worker processes, results in dataset order.

Each worker is a spawned process that receives the dataset, the predictor and the settings once
(as arguments of its loop, so nothing lives in module globals), then evaluates the object
indices it is sent, one at a time, on its share of the torch threads. The parent keeps a bounded
number of objects in flight and yields results strictly in dataset order, so the result equals
a serial run's. Ctrl+C reaches the whole process group, so workers ignore it and only the
parent decides when to stop: a stop request sends no new objects, lets those in progress
finish and keeps the first-N prefix; an error or an abort terminates the workers at once.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
from collections.abc import Callable, Iterator
from typing import Any

_STOP = None  # sentinel: a worker leaves its loop


def _worker_loop(
    evaluate: Callable[[int, Any, Any], Any],
    predictor: Any,
    settings: Any,
    threads: int,
    tasks: Any,
    results: Any,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(threads)
    for index in iter(tasks.get, _STOP):
        try:
            results.put((index, evaluate(index, predictor, settings), None))
        except Exception as error:  # the parent re-raises it (with its note naming the sample)
            results.put((index, None, error))


def parallel_results(
    evaluate: Callable[[int, Any, Any], Any],
    predictor: Any,
    settings: Any,
    count: int,
    should_stop: Callable[[], bool] | None,
    workers: int,
) -> Iterator[Any]:
    """``evaluate(index, predictor, settings)`` for ``index`` in ``0..count-1`` on ``workers``
    processes, yielded in index order (see the module docstring for stopping)."""
    import torch

    threads = max(1, torch.get_num_threads() // workers)
    context = multiprocessing.get_context("spawn")
    tasks, results = context.Queue(), context.Queue()
    processes = [
        context.Process(
            target=_worker_loop,
            args=(evaluate, predictor, settings, threads, tasks, results),
            daemon=True,
        )
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    done: dict[int, Any] = {}
    sent, wanted, finished = 0, 0, False
    try:
        while True:
            while sent < count and sent - wanted < 2 * workers:
                tasks.put(sent)
                sent += 1
            if wanted >= sent:
                finished = True
                return
            while wanted not in done:
                index, value, error = _next_result(results, processes)
                if error is not None:
                    raise error
                done[index] = value
            yield done.pop(wanted)
            wanted += 1
            if sent < count and should_stop is not None and should_stop():
                count = sent  # nothing new; the objects in progress finish and are kept
    finally:
        for _ in processes:
            tasks.put(_STOP)
        for process in processes:
            if not finished:  # an error or an abort: do not wait for objects in progress
                process.terminate()
            process.join()


def _next_result(results: Any, processes: list[Any]) -> tuple[int, Any, BaseException | None]:
    """The next finished object; a clear error if a worker died without answering."""
    while True:
        try:
            return results.get(timeout=1.0)
        except queue.Empty:
            dead = [p for p in processes if not p.is_alive() and p.exitcode not in (0, None)]
            if dead:
                raise RuntimeError(
                    f"an evaluation worker died (exit code {dead[0].exitcode}); "
                    "rerun with fewer --workers or without them"
                ) from None
