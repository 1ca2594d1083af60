"""Load torch's shared libraries in a background thread without holding Python's lock.

The widget imports torch in its worker thread so that napari's window never waits for it. But
``import torch`` loads ``libtorch_cpu.so`` (hundreds of MB, with its static initialisers)
while it holds the GIL, and that one call blocked napari's event loop for about 200 ms
(issue 22, defect 13: ``benchmarks/bench_widget.py --actions``). Calling the C library's
``dlopen`` through ctypes releases the GIL for the duration of the call; once the libraries are
in the process, torch's own import finds them loaded and only links to them.

Nothing here is required for correctness: on a platform without ``dlopen`` or with another
library layout, or if any step fails, torch's import simply loads the libraries itself.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from pathlib import Path

#: torch's big libraries, in dependency order (those missing from a build are skipped).
TORCH_LIBRARIES: tuple[str, ...] = ("libc10.so", "libtorch_cpu.so", "libtorch.so")


def torch_library_paths() -> list[Path]:
    """The libraries of the installed torch that :func:`preload_torch_libraries` loads (found
    without importing torch)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return []
    lib = Path(spec.origin).parent / "lib"
    return [lib / name for name in TORCH_LIBRARIES if (lib / name).is_file()]


def preload_torch_libraries() -> int:
    """``dlopen`` torch's libraries with the GIL released; returns how many were loaded.

    Call it in a background thread before the first ``import torch`` there. It does nothing
    (returns 0) once torch is imported, on non-POSIX platforms, or when ``dlopen`` fails.
    """
    if "torch" in sys.modules or os.name != "posix":
        return 0
    try:
        libc = ctypes.CDLL(None)  # a CDLL's functions run with the GIL released
        dlopen = libc.dlopen
    except (OSError, AttributeError):
        return 0
    dlopen.restype = ctypes.c_void_p
    dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    loaded = 0
    for path in torch_library_paths():
        # RTLD_LOCAL, as torch loads them: their symbols stay out of the global namespace
        if not dlopen(os.fsencode(path), os.RTLD_NOW | os.RTLD_LOCAL):
            break
        loaded += 1
    return loaded
