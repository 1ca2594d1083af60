"""``napari_fbrs.threads``: the thread policy set before torch starts, and the per-click count.

Each case runs in a fresh interpreter: OpenMP reads its environment only when torch loads, and
the function remembers its first call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

_REPORT = """
import json, os, sys
{before}
from napari_fbrs import threads
first = threads.configure_threads({role})
os.environ["NAPARI_FBRS_THREADS"] = "7"  # a later change must not matter: idempotent
second = threads.configure_threads()
import torch
default = torch.get_num_threads()
if threads._monitor is not None:
    threads._monitor.others = lambda: 99.0  # every core taken by others
click = threads.threads_for_click()
print(json.dumps({{
    "role": first.role, "wait_policy": first.wait_policy, "num_threads": first.num_threads,
    "adaptive": first.adaptive, "late": first.late, "same": first is second,
    "env_wait": os.environ.get("OMP_WAIT_POLICY"),
    "env_threads": os.environ.get("OMP_NUM_THREADS"),
    "env_spin": os.environ.get("GOMP_SPINCOUNT"), "torch_threads": default, "click": click,
    "after_click": torch.get_num_threads(),
}}))
"""
_USER_VARS = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT", "NAPARI_FBRS_THREADS")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _USER_VARS}
    env.update(extra)
    return env


def _run(code: str, env: dict[str, str]) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _report(env: dict[str, str], before: str = "", role: str = "") -> dict:
    return _run(_REPORT.format(before=before, role=role), env)


@pytest.fixture(scope="module")
def torch_default_threads() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
        capture_output=True, text=True, env=_clean_env(), timeout=120,
    )  # fmt: skip
    return int(done.stdout.strip())


def test_interactive_sets_no_wait_policy_and_adapts_each_click(torch_default_threads):
    got = _report(_clean_env())
    assert got == {
        "role": "interactive", "wait_policy": None, "num_threads": None, "adaptive": True,
        "late": False, "same": True, "env_wait": None, "env_threads": None, "env_spin": None,
        "torch_threads": torch_default_threads, "click": 1, "after_click": 1,
    }  # fmt: skip


def test_a_free_machine_gives_the_click_every_thread(torch_default_threads):
    code = _REPORT.format(before="", role="").replace("99.0", "0.0")
    got = _run(code, _clean_env())
    assert (got["click"], got["after_click"]) == (torch_default_threads,) * 2


def test_batch_runs_torchs_defaults_and_never_adapts(torch_default_threads):
    got = _report(_clean_env(), role="'batch'")
    assert (got["role"], got["wait_policy"], got["env_wait"]) == ("batch", None, None)
    assert (got["adaptive"], got["click"]) == (False, None)
    assert got["after_click"] == torch_default_threads


def test_without_proc_stat_interactive_falls_back_to_passive(torch_default_threads):
    before = "import napari_fbrs.cpuload as c; c.PROC_STAT = '/nonexistent/stat'"
    got = _report(_clean_env(), before=before)
    assert (got["adaptive"], got["wait_policy"], got["env_wait"]) == (False, "PASSIVE", "PASSIVE")
    assert (got["click"], got["after_click"]) == (None, torch_default_threads)


def test_the_users_settings_win():
    got = _report(_clean_env(OMP_WAIT_POLICY="ACTIVE", OMP_NUM_THREADS="1", GOMP_SPINCOUNT="7"))
    assert (got["wait_policy"], got["env_wait"], got["env_spin"]) == ("ACTIVE", "ACTIVE", "7")
    assert (got["num_threads"], got["torch_threads"], got["adaptive"]) == (None, 1, False)
    spin = _report(_clean_env(GOMP_SPINCOUNT="1000", OMP_WAIT_POLICY="ACTIVE"))
    assert (spin["env_spin"], spin["env_wait"], spin["adaptive"]) == ("1000", "ACTIVE", True)


def test_napari_fbrs_threads_fixes_the_count_before_and_after_torch():
    got = _report(_clean_env(NAPARI_FBRS_THREADS="1"))
    assert (got["num_threads"], got["env_threads"], got["torch_threads"]) == (1, "1", 1)
    assert (got["late"], got["adaptive"], got["click"]) == (False, False, None)
    assert got["env_wait"] == "PASSIVE"  # a fixed count cannot dodge a busy core: never spin
    late = _report(_clean_env(NAPARI_FBRS_THREADS="1"), before="import torch")
    assert (late["late"], late["num_threads"], late["torch_threads"]) == (True, 1, 1)
    assert late["wait_policy"] is None and late["env_wait"] is None


def test_late_changes_no_thread_count_and_does_not_adapt():
    got = _report(_clean_env(), before="import torch; torch.set_num_threads(1)")
    assert (got["late"], got["num_threads"], got["torch_threads"]) == (True, None, 1)
    assert (got["adaptive"], got["click"]) == (False, None)


@pytest.mark.parametrize("value", ["0", "two", "-3"])
def test_a_bad_thread_count_is_one_line_and_exit_2(value):
    result = subprocess.run(
        [sys.executable, "-m", "napari_fbrs.cli", "models"],
        capture_output=True, text=True, env=_clean_env(NAPARI_FBRS_THREADS=value), timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == (
        f"napari-fbrs: error: NAPARI_FBRS_THREADS={value!r}: expected a positive integer\n"
    )


@pytest.mark.parametrize(
    ("argv", "role", "adaptive"),
    [
        (["models"], "interactive", True),
        (["train", "--help"], "batch", False),
        (["evaluate", "--help"], "batch", False),
    ],
)
def test_the_cli_configures_before_torch_with_the_commands_role(argv, role, adaptive):
    code = (
        "import sys, os, json; import napari_fbrs.threads as t; "
        "assert not {'torch', 'numpy'} & set(sys.modules), 'heavy import'; "
        "from napari_fbrs.cli import main; code = main(ARGV); "
        "assert 'torch' not in sys.modules; "
        "print(json.dumps([t._settings.role, t._settings.adaptive, "
        "os.environ.get('OMP_WAIT_POLICY')]))"
    ).replace("ARGV", repr(argv))
    got = _run(code, _clean_env())
    assert got == [role, adaptive, None]


def test_a_click_chooses_its_threads(tiny_model, monkeypatch):
    """The core click path (Predictor.predict, used by the widget, predict and evaluate) asks
    for the thread count once per click and records it."""
    import numpy as np

    from napari_fbrs.inference.engine import predictor as predictor_module
    from napari_fbrs.inference.engine.clicks import Click
    from napari_fbrs.inference.engine.config import eval_preset

    calls: list[int] = []

    def choose() -> int:
        calls.append(1)
        return 3

    monkeypatch.setattr(predictor_module, "threads_for_click", choose)
    predictor = predictor_module.Predictor(tiny_model, eval_preset("NoBRS"))
    predictor.set_image(np.zeros((32, 32, 3), dtype=np.uint8))
    predictor.predict([Click(10, 10, True)])
    predictor.predict([Click(10, 10, True), Click(20, 20, False)])
    assert (len(calls), predictor.last.threads) == (2, 3)


def test_a_count_the_program_sets_between_clicks_wins():
    code = _REPORT.format(before="", role="").replace(
        "click = threads.threads_for_click()",
        "threads.threads_for_click(); torch.set_num_threads(2); "
        "click = [threads.threads_for_click(), threads.threads_for_click()]",
    )
    got = _run(code, _clean_env())
    assert (got["adaptive"], got["click"], got["after_click"]) == (True, [None, None], 2)


def test_a_pool_thread_with_an_older_count_still_adapts():
    """OpenMP keeps a count per thread: a pooled worker thread that last saw 2 threads is not
    a program's choice (the widget's clicks run on a thread pool)."""
    code = _REPORT.format(before="", role="").replace(
        "click = threads.threads_for_click()",
        "from concurrent.futures import ThreadPoolExecutor\n"
        "pool = ThreadPoolExecutor(1)\n"
        "pool.submit(torch.get_num_threads).result()  # the pool thread starts with the default\n"
        "threads.threads_for_click()  # this thread: one thread (every core is taken)\n"
        "click = [pool.submit(threads.threads_for_click).result(), threads._monitor is not None]",
    )
    got = _run(code, _clean_env())
    assert got["click"] == [1, True]
