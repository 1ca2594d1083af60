"""Nothing heavy on napari's thread (issue 22, defect 13): torch and the model load in the
worker, napari's imports for its first labels and points layers (pandas, ...) in a thread. The
times themselves are measured by ``benchmarks/bench_widget.py --actions``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.gui

SCRIPT = textwrap.dedent(
    """
    import sys, threading, time
    import numpy as np

    seen = {}

    class Watch:
        def find_spec(self, name, path=None, target=None):
            if name in ("torch", "pandas") and name not in seen:
                seen[name] = threading.current_thread() is threading.main_thread()
            return None

    sys.meta_path.insert(0, Watch())
    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(show=False)
    viewer.add_image(np.zeros((64, 64), np.uint8))
    torch_at_insert = {}
    viewer.layers.events.inserted.connect(
        lambda event: torch_at_insert.setdefault(event.value.name, "torch" in sys.modules)
    )
    _, widget = viewer.window.add_plugin_dock_widget(
        "napari-fbrs", "f-BRS interactive segmentation"
    )
    print("AFTER_OPEN", "torch" in sys.modules and seen.get("torch"))
    print("CLICKS_AT_OPEN", "f-BRS clicks" in viewer.layers)
    viewer.add_image(np.zeros((2000, 2000), np.uint8), name="big")
    names = [layer.name for layer in viewer.layers]
    from qtpy.QtCore import QEventLoop, QTimer

    tick = QTimer()  # wakes the loop below at least every 50 ms
    tick.start(50)
    deadline = time.time() + 240
    while widget.model_label is None and time.time() < deadline:
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
    while "f-BRS current object" not in viewer.layers and time.time() < deadline:
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
    tick.stop()
    print("LAYERS_LATER", [layer.name for layer in viewer.layers][-2:])
    print("ACTIVE", viewer.layers.selection.active.name)
    print("PANDAS_ON_MAIN_THREAD", seen.get("pandas"))
    print("MODEL", widget.model_label)
    print("TORCH_ON_MAIN_THREAD", seen.get("torch"))
    print("LABELS_MADE", any(n.startswith("f-BRS labels") for n in names))
    print("TORCH_AT_LAYERS", torch_at_insert.get("f-BRS clicks"),
          torch_at_insert.get("f-BRS current object"))
    viewer.close()
    """
)


def test_torch_the_model_and_napari_layer_imports_load_off_napari_thread() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NAPARI_FBRS_THREADS"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600
    )
    out = run.stdout
    assert run.returncode == 0, run.stderr[-2000:]
    assert "AFTER_OPEN False" in out  # opening the dock imported no torch on napari's thread
    assert "MODEL built-in default" in out
    assert "TORCH_ON_MAIN_THREAD False" in out  # the worker imported it
    assert "LABELS_MADE False" in out  # a big image gets no full-size labels layer at once
    # napari's first labels and points layers: its imports in a thread, the layers after it
    assert "PANDAS_ON_MAIN_THREAD False" in out
    assert "CLICKS_AT_OPEN False" in out
    assert "LAYERS_LATER ['f-BRS current object', 'f-BRS clicks']" in out
    assert "ACTIVE f-BRS clicks" in out
    # the worker (torch's import, the model) waits until napari has added both layers
    assert "TORCH_AT_LAYERS False False" in out
