"""torch's libraries load without Python's lock before the worker imports torch (issue 22,
defect 13); the effect on napari's event loop is measured by
``benchmarks/bench_widget.py --actions``."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import sys
    from napari_fbrs.torch_preload import preload_torch_libraries, torch_library_paths

    paths = torch_library_paths()
    loaded = preload_torch_libraries()
    maps = open("/proc/self/maps").read()
    print("PATHS", len(paths), "LOADED", loaded)
    print("TORCH_IMPORTED", "torch" in sys.modules)
    print("IN_PROCESS", all(str(p) in maps for p in paths))
    import torch

    print("WORKS", float(torch.ones(3) @ torch.ones(3)))
    print("AGAIN", preload_torch_libraries())
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_torch_libraries_load_before_torch_and_torch_then_imports() -> None:
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in run.stdout.splitlines())
    paths, loaded = lines["PATHS"].split(" LOADED ")
    assert int(paths) >= 2 and int(loaded) == int(paths)  # libc10 and libtorch_cpu at least
    assert lines["TORCH_IMPORTED"] == "False"  # loading the libraries imports no Python
    assert lines["IN_PROCESS"] == "True"
    assert lines["WORKS"] == "3.0"
    assert lines["AGAIN"] == "0"  # once torch is imported it does nothing
