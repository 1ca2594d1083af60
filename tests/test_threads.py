"""``napari_fbrs.threads.configure_threads``: what it sets before torch starts, and when not.

Each case runs in a fresh interpreter: the wait policy only counts before ``import torch``, and
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
from napari_fbrs.threads import configure_threads
first = configure_threads()
os.environ["NAPARI_FBRS_THREADS"] = "7"  # a later change must not matter: idempotent
second = configure_threads()
import torch
print(json.dumps({{
    "wait_policy": first.wait_policy, "num_threads": first.num_threads, "late": first.late,
    "same": first is second, "env_wait": os.environ.get("OMP_WAIT_POLICY"),
    "env_threads": os.environ.get("OMP_NUM_THREADS"), "torch_threads": torch.get_num_threads(),
}}))
"""


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "NAPARI_FBRS_THREADS")
    }
    env.update(extra)
    return env


def _report(env: dict[str, str], before: str = "") -> dict:
    code = _REPORT.format(before=before)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_passive_wait_policy_before_torch_and_torchs_own_thread_count():
    default = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
        capture_output=True, text=True, env=_clean_env(), timeout=120,
    )  # fmt: skip
    got = _report(_clean_env())
    assert got == {
        "wait_policy": "PASSIVE", "num_threads": None, "late": False, "same": True,
        "env_wait": "PASSIVE", "env_threads": None,
        "torch_threads": int(default.stdout.strip()),
    }  # fmt: skip


def test_the_users_settings_win():
    got = _report(_clean_env(OMP_WAIT_POLICY="ACTIVE", OMP_NUM_THREADS="1"))
    assert (got["wait_policy"], got["env_wait"]) == ("ACTIVE", "ACTIVE")
    assert (got["num_threads"], got["torch_threads"]) == (None, 1)


def test_napari_fbrs_threads_chooses_the_count_before_and_after_torch():
    got = _report(_clean_env(NAPARI_FBRS_THREADS="1"))
    assert (got["num_threads"], got["env_threads"], got["torch_threads"]) == (1, "1", 1)
    assert got["late"] is False
    late = _report(_clean_env(NAPARI_FBRS_THREADS="1"), before="import torch")
    assert (late["late"], late["num_threads"], late["torch_threads"]) == (True, 1, 1)
    # too late for the wait policy of this process: reported as unset (spinning)
    assert late["wait_policy"] is None and late["env_wait"] == "PASSIVE"


def test_late_without_a_request_changes_no_thread_count():
    got = _report(_clean_env(), before="import torch; torch.set_num_threads(1)")
    assert (got["late"], got["num_threads"], got["torch_threads"]) == (True, None, 1)


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


def test_the_cli_configures_before_torch_and_the_module_needs_only_the_stdlib():
    code = (
        "import sys, os; import napari_fbrs.threads; "
        "assert not {'torch', 'numpy'} & set(sys.modules), 'heavy import'; "
        "from napari_fbrs.cli import main; main(['models']); "
        "assert 'torch' not in sys.modules; print(os.environ['OMP_WAIT_POLICY'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_clean_env(),
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "PASSIVE"
