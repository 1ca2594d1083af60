"""``napari_fbrs.cpuload``: the arithmetic of "cores other processes keep busy", on synthetic
``/proc/stat`` readings (no real load, nothing timed), and the sampling thread's life."""

from __future__ import annotations

import pytest

from napari_fbrs import cpuload
from napari_fbrs.cpuload import (
    CpuTicks,
    LoadMonitor,
    Sample,
    busy_by_others,
    free_threads,
    parse_proc_stat,
)
from tests.waiting import wait_until

STAT = """cpu  8307 4794 2869 34427 411 0 71 4 0 0
cpu0 1157 2855 684 20520 212 0 6 2 0 0
cpu1 7150 1939 2184 13907 198 0 65 1 0 0
intr 1234 0 0
ctxt 99
procs_running 3
"""


def test_parse_proc_stat_sums_busy_and_idle_fields_and_counts_cpus() -> None:
    ticks = parse_proc_stat(STAT)
    busy = 8307 + 4794 + 2869 + 0 + 71 + 4  # user nice system irq softirq steal
    assert ticks == CpuTicks(busy=busy, total=busy + 34427 + 411, cpus=2)


def test_parse_proc_stat_old_kernels_short_line_and_garbage() -> None:
    assert parse_proc_stat("cpu  10 0 5 85\ncpu0 10 0 5 85\n") == CpuTicks(15, 100, 1)
    with pytest.raises(ValueError, match="no 'cpu' line"):
        parse_proc_stat("intr 1 2 3\n")


def _sample(busy: int, total: int, own: float, cpus: int = 2) -> Sample:
    return Sample(CpuTicks(busy, total, cpus), own, 0.0)


def test_one_busy_core_of_two_is_counted_and_our_own_work_is_not() -> None:
    # 1 s on 2 CPUs at 100 ticks/s = 200 ticks; 150 busy, 50 of them ours (0.5 s CPU)
    others = busy_by_others(_sample(0, 0, 10.0), _sample(150, 200, 10.5), 100.0)
    assert others == pytest.approx(1.0)
    # our click used both cores the whole time: nobody else is busy
    assert busy_by_others(_sample(0, 0, 0.0), _sample(200, 200, 2.0), 100.0) == 0.0


def test_busy_by_others_is_clipped_and_zero_without_ticks() -> None:
    # rounding of our own CPU time can exceed the machine's busy ticks: never negative
    assert busy_by_others(_sample(0, 0, 0.0), _sample(10, 200, 0.5), 100.0) == 0.0
    assert busy_by_others(_sample(0, 0, 0.0), _sample(500, 200, 0.0), 100.0) == 2.0
    assert busy_by_others(_sample(5, 7, 0.0), _sample(5, 7, 0.0), 100.0) == 0.0


@pytest.mark.parametrize(
    ("full", "others", "expected"),
    [(2, 0.0, 2), (2, 0.5, 2), (2, 0.51, 1), (2, 1.0, 1), (2, 2.0, 1), (8, 2.6, 5), (1, 0.0, 1)],
)
def test_free_threads(full: int, others: float, expected: int) -> None:
    assert free_threads(full, others) == expected


def _fake_readings(monkeypatch, readings: list[tuple[CpuTicks, float, float]]) -> None:
    """Each reading of the monitor returns the next (ticks, own CPU s, monotonic s)."""
    pending = iter(readings)
    current: list = []

    def fake_read(path: str | None = None) -> CpuTicks:
        current[:] = next(pending)
        return current[0]

    class FakeTime:
        process_time = staticmethod(lambda: current[1])
        monotonic = staticmethod(lambda: current[2])

    monkeypatch.setattr(cpuload, "read_proc_stat", fake_read)
    monkeypatch.setattr(cpuload, "time", FakeTime)


def test_monitor_uses_the_oldest_sample_of_its_window(monkeypatch) -> None:
    _fake_readings(
        monkeypatch,
        [
            (CpuTicks(0, 0, 2), 0.0, 0.0),  # too old: outside the 1 s window at t = 1.6
            (CpuTicks(100, 200, 2), 0.0, 0.6),  # the window starts here
            (CpuTicks(250, 400, 2), 0.5, 1.6),  # +150 busy ticks, 50 of them ours
        ],
    )
    monitor = LoadMonitor(interval_s=0.2, window_s=1.0)
    monitor.sample()
    monitor.sample()
    assert monitor.others() == pytest.approx(1.0)


def test_monitor_without_a_recent_sample_uses_the_newest_old_one(monkeypatch) -> None:
    _fake_readings(
        monkeypatch, [(CpuTicks(0, 0, 2), 0.0, 0.0), (CpuTicks(100, 200, 2), 0.0, 10.0)]
    )
    monitor = LoadMonitor(interval_s=0.2, window_s=1.0)
    monitor.sample()  # then no sampling thread (as in a forked child): 10 s pass
    assert monitor.others() == pytest.approx(1.0)


def test_proc_stat_readable_answers_for_a_missing_file(tmp_path) -> None:
    assert cpuload.proc_stat_readable(str(tmp_path / "nope")) is False
    (tmp_path / "stat").write_text(STAT)
    assert cpuload.proc_stat_readable(str(tmp_path / "stat")) is True


@pytest.mark.skipif(not cpuload.proc_stat_readable(), reason="needs Linux /proc/stat")
def test_the_sampling_thread_runs_and_stops() -> None:
    monitor = LoadMonitor(interval_s=0.01, window_s=1.0)
    monitor.start()
    wait_until(lambda: len(monitor._samples) >= 3, 10, "the sampler took no 3 samples")
    assert 0.0 <= monitor.others() <= monitor._samples[-1].ticks.cpus
    monitor.stop()
    assert monitor._thread is not None
    monitor._thread.join(timeout=5)
    assert not monitor._thread.is_alive()
