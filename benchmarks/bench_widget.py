"""Click-to-mask latency and Qt event-loop stalls of the napari widget.

For each click this places a point on the ``f-BRS clicks`` layer (exactly what napari's add
mode does on a mouse click), then runs the Qt event loop until the new mask is shown. A 10 ms
``QTimer`` runs all the time; the longest gap between two of its ticks is the longest time the
viewer could not repaint or react to input. Goal: no stall over 100 ms.

A stall also contains the canvas repaint that follows every layer change, which is slow with
software OpenGL (Xvfb + llvmpipe). Two extra figures separate the causes:

* "plugin Qt time": the longest time spent in the widget's own Qt-thread handlers (placing the
  click, showing the result);
* "worker only" (``--worker-only``): the same clicks through the widget's job queue and
  ``thread_worker`` with no viewer at all, so the stall is what inference alone costs the Qt
  thread (GIL hand-offs, L-BFGS in Python).

Needs a display for the viewer run (``xvfb-run -a`` on a headless machine)::

    xvfb-run -a python benchmarks/bench_widget.py --mode f-BRS-B --clicks 5
    python benchmarks/bench_widget.py --worker-only --mode f-BRS-B   # QT_QPA_PLATFORM=offscreen

``--busy N`` runs the same clicks twice, idle and then with N competing busy processes
(``benchmarks/_busy.py``), and prints both latencies: on a shared CPU a click should stay within
2x of its idle time (issues 16, 21; the threads are set as the widget sets them,
``napari_fbrs.threads.configure_threads``: per click from the idle cores, unless ``--threads``
fixes a count). The "idle" run states the background load (cores other processes kept busy
during it, from ``/proc/stat``), so a figure taken on a busy machine shows it.

``--actions`` (issue 22) measures instead the longest event-loop block of three user actions,
in a fresh process so the first one pays every import: opening the dock the first time,
adding a 4000 x 4000 image with the dock open (and, for comparison, before the dock is open:
napari's own cost), and closing the dock (each action runs inside the event loop, which then
runs 2 s more, so work it posts to later events counts too; two rows give the plugin's own
parts of opening: importing its widget module and the dock's constructor, and a third the
display settings it makes one event-loop turn later), then, for
comparison, napari's
own cost of adding a points layer and a labels layer (the two layers the dock adds; under
Xvfb's software OpenGL each costs hundreds of milliseconds by itself)::

    xvfb-run -a python benchmarks/bench_widget.py --actions

The model is the built-in one unless ``--checkpoint`` names another (``random`` for a seeded
random hrnet18s_ocr64: timings only). Prints Markdown tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _busy import BackgroundLoad, busy_processes, describe_load, idle_load  # noqa: E402

PLUGIN, WIDGET = "napari-fbrs", "f-BRS interactive segmentation"

# Clicks on the 512 x 512 astronaut (row, col, positive), as a user would place them.
CLICKS = [
    (150, 240, True),
    (40, 250, False),
    (330, 250, True),
    (250, 120, False),
    (420, 300, True),
    (90, 380, False),
    (200, 300, True),
    (470, 80, False),
]


class StallMeter:
    """The longest gap between ticks of a 10 ms timer since the last ``reset``."""

    def __init__(self, interval_ms: int = 10) -> None:
        from qtpy.QtCore import QTimer

        self._timer = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self.reset()
        self._timer.start()

    def reset(self) -> None:
        self._last = time.perf_counter()
        self.longest = 0.0
        self.over_100ms = 0

    def _tick(self) -> None:
        now = time.perf_counter()
        gap = now - self._last
        self._last = now
        self.longest = max(self.longest, gap)
        self.over_100ms += gap > 0.1


class HandlerClock:
    """Longest call of the plugin's Qt-thread handlers (wrapped before the widget exists):
    reading a click off the clicks layer and showing a result."""

    def __init__(self) -> None:
        from napari_fbrs._napari.click_input import ClickInput
        from napari_fbrs._napari.controller import Controller

        self.longest = 0.0
        for owner, name in ((ClickInput, "_on_points_changed"), (Controller, "show_state")):
            setattr(owner, name, self._timed(getattr(owner, name)))

    def _timed(self, method):  # noqa: ANN001, ANN202
        def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.longest = max(self.longest, time.perf_counter() - start)

        return wrapper


def run_until(condition, timeout: float) -> None:  # noqa: ANN001
    """Run the real Qt event loop until ``condition()`` is true (or ``timeout`` seconds)."""
    from qtpy.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    poll = QTimer()
    poll.setInterval(2)
    poll.timeout.connect(lambda: loop.quit() if condition() else None)
    QTimer.singleShot(int(timeout * 1000), loop.quit)
    poll.start()
    loop.exec()
    poll.stop()


def load_model(checkpoint: str):  # noqa: ANN201
    """``(model, label)``: a checkpoint (``default`` = the built-in model), or ``random``."""
    if checkpoint != "random":
        from napari_fbrs.model.checkpoint import load_checkpoint
        from napari_fbrs.model.weights import resolve_checkpoint

        loaded = load_checkpoint(resolve_checkpoint(checkpoint))
        return loaded.model, f"{loaded.arch} ({loaded.path.name})"
    import torch

    from napari_fbrs.model.registry import build_model

    torch.manual_seed(0)
    return build_model("hrnet18s_ocr64").eval(), "random hrnet18s_ocr64"


def click_threads(session) -> str:  # noqa: ANN001
    """The torch threads the session's last click ran with ("-" when not chosen per click)."""
    predictor = getattr(session, "predictor", None)
    predictor = getattr(predictor, "predictor", predictor)  # a local-window wrapper's engine
    last = getattr(predictor, "last", None)
    return str(last.threads) if last is not None and last.threads is not None else "-"


def bench_viewer(args: argparse.Namespace) -> list[tuple]:
    import napari
    from skimage import data

    handlers = HandlerClock()
    viewer = napari.Viewer(show=True)
    image = viewer.add_image(data.astronaut(), rgb=True, name="astronaut")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget.compute.mode.value = args.mode
    widget.compute.zoom_in.value = args.zoom_in
    model, label = load_model(args.checkpoint)
    widget.set_model(model, label)
    controller = widget.controller
    layer = controller.clicks_layer
    meter = StallMeter()
    run_until(lambda: False, 0.5)  # let the window settle
    repaints = []
    for opacity in (0.99, 1.0, 0.99):  # what one canvas repaint costs here, no plugin work
        meter.reset()
        image.opacity = opacity
        run_until(lambda: False, 0.3)
        repaints.append(meter.longest * 1000)
    print(f"one repaint with no plugin work (image opacity change): {max(repaints):.0f} ms")

    rows = []
    for index, (row, col, positive) in enumerate(CLICKS[: args.clicks], start=1):
        meter.reset()
        handlers.longest = 0.0
        layer.feature_defaults = {"positive": positive}
        layer.add(np.array([row, col], dtype=float))
        run_until(lambda: not controller.busy, timeout=600)
        rows.append(
            (
                index,
                "+" if positive else "-",
                controller.last_latency or float("nan"),
                controller.last_network or float("nan"),
                meter.longest * 1000,
                meter.over_100ms,
                f"{handlers.longest * 1000:.0f}",
                click_threads(controller._session),
            )
        )
    viewer.close()
    return rows


def bench_worker_only(args: argparse.Namespace) -> list[tuple]:
    from qtpy.QtWidgets import QApplication
    from skimage import data

    from napari_fbrs._napari.model_choice import make_predictor
    from napari_fbrs._napari.settings import ComputeSettings
    from napari_fbrs._napari.worker import SessionWorker
    from napari_fbrs.inference.engine.clicks import Click
    from napari_fbrs.inference.session.interactive import ImageContext, InteractiveSession
    from napari_fbrs.io.images import to_model_rgb
    from napari_fbrs.model.device import select_device

    app = QApplication.instance() or QApplication([])  # noqa: F841 - keeps Qt alive
    settings = ComputeSettings()
    settings.mode.value = args.mode
    settings.zoom_in.value = args.zoom_in
    model, _ = load_model(args.checkpoint)
    session = InteractiveSession(predictor_factory=make_predictor)
    session.use_model(model)
    session.use_settings(settings.to_config(), select_device())
    worker = SessionWorker()
    rgb = to_model_rgb(data.astronaut(), (0, 255), True)
    worker.submit(lambda: session.start_object(ImageContext(("astronaut",), lambda: rgb)))
    meter = StallMeter()
    run_until(lambda: not worker.busy, timeout=600)
    rows = []
    for index, (row, col, positive) in enumerate(CLICKS[: args.clicks], start=1):
        meter.reset()
        shown: list = []
        queued = time.perf_counter()
        click = Click(row, col, positive)
        worker.submit(lambda click=click: session.add_click(click), shown.append)
        run_until(lambda: not worker.busy, timeout=600)
        rows.append(
            (
                index,
                "+" if positive else "-",
                time.perf_counter() - queued,
                shown[-1].network_seconds,
                meter.longest * 1000,
                meter.over_100ms,
                "-",
                click_threads(session),
            )
        )
    return rows


def bench_actions() -> list[tuple[str, float, int | str]]:
    """(action, longest block in ms, blocks over 100 ms) for the dock's heavy moments."""
    import napari
    import numpy as np
    from qtpy.QtCore import QTimer

    viewer = napari.Viewer()
    viewer.add_image(np.zeros((512, 512), np.uint8), name="start")
    run_until(lambda: False, 1.0)
    meter = StallMeter()
    state: dict = {}

    def measure(name: str, action) -> tuple[str, float, int]:  # noqa: ANN001
        run_until(lambda: False, 0.5)
        meter.reset()
        QTimer.singleShot(0, action)
        run_until(lambda: False, 2.0)
        return name, meter.longest * 1000, meter.over_100ms

    def open_dock() -> None:
        # the same block as napari's own import of the widget module and construction of the
        # dock, with the plugin's two parts timed on their own
        started = time.perf_counter()
        from napari_fbrs._napari import widget as widget_module

        state["import"] = time.perf_counter() - started
        constructor = widget_module.FBRSWidget.__init__

        @functools.wraps(constructor)  # napari reads its signature to pass the viewer
        def timed_init(self, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
            begun = time.perf_counter()
            constructor(self, *args, **kwargs)
            state["construct"] = time.perf_counter() - begun

        make_display = widget_module.FBRSWidget._make_display

        def timed_display(self) -> None:  # noqa: ANN001
            begun = time.perf_counter()
            make_display(self)
            state["display"] = time.perf_counter() - begun

        widget_module.FBRSWidget.__init__ = timed_init
        widget_module.FBRSWidget._make_display = timed_display  # the next turn's panel
        try:
            _, state["widget"] = viewer.window.add_plugin_dock_widget(
                "napari-fbrs", "f-BRS interactive segmentation"
            )
        finally:
            widget_module.FBRSWidget.__init__ = constructor

    big = np.random.default_rng(0).integers(0, 256, (4000, 4000), dtype=np.uint8)
    rows = [
        # napari's own cost of the same action, for comparison (no dock yet)
        measure("add a 4000 x 4000 image, no dock (napari alone)", lambda: viewer.add_image(big)),
        measure("open the dock (first time)", open_dock),
        ("  of it: importing the widget module (plugin)", state["import"] * 1000, "-"),
        ("  of it: the dock's constructor (plugin)", state["construct"] * 1000, "-"),
        ("  then: its display settings, a turn later (plugin)", state["display"] * 1000, "-"),
        measure("add a 4000 x 4000 image", lambda: viewer.add_image(big, name="big")),
        measure("close the dock", lambda: viewer.window.remove_dock_widget(state["widget"])),
        # napari's own cost of adding the two kinds of layer the dock adds (imports done)
        measure("add a points layer (napari alone)", lambda: viewer.add_points(name="p")),
        measure(
            "add a labels layer (napari alone)",
            lambda: viewer.add_labels(np.zeros((1, 1), np.uint8), name="l"),
        ),
        measure("remove that labels layer (napari alone)", lambda: viewer.layers.remove("l")),
    ]
    viewer.close()
    return rows


def _print(rows: list[tuple], title: str) -> None:
    print(title)
    print(
        "| click | sign | click -> mask shown (s) | network (s) | longest stall (ms) | "
        "stalls > 100 ms | plugin Qt time, longest (ms) | threads |"
    )
    print("|---:|:---:|---:|---:|---:|---:|---:|---:|")
    for index, sign, latency, network, stall, over, plugin, threads in rows:
        print(
            f"| {index} | {sign} | {latency:.3f} | {network:.3f} | {stall:.0f} | {over} | "
            f"{plugin} | {threads} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="f-BRS-B", help="BRS mode (default f-BRS-B)")
    parser.add_argument("--zoom-in", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--clicks", type=int, default=5, help=f"1..{len(CLICKS)}")
    parser.add_argument(
        "--checkpoint", default="default", help="checkpoint, name, or 'random' [default]"
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads [as the widget sets them]")
    parser.add_argument("--busy", type=int, default=0, metavar="N", help="also with N busy cores")
    parser.add_argument(
        "--worker-only", action="store_true", help="no viewer: job queue + thread_worker only"
    )
    parser.add_argument(
        "--actions", action="store_true", help="event-loop blocks of dock open/close, big image"
    )
    args = parser.parse_args(argv)
    if args.actions:
        print("| action | longest event-loop block (ms) | blocks > 100 ms |")
        print("|---|---:|---:|")
        for name, longest, over in bench_actions():
            print(f"| {name} | {longest:.0f} | {over} |")
        return 0

    import os

    from napari_fbrs.threads import configure_threads

    if args.threads:  # a fixed count, as a user would fix it (no per-click adaptation)
        os.environ["NAPARI_FBRS_THREADS"] = str(args.threads)
    configured = configure_threads()  # before torch starts its thread pool, as the widget
    threads = (
        "per click from the idle cores"
        if configured.adaptive
        else f"{configured.num_threads or 'torch default'}"
    )
    print(f"before starting: {describe_load(idle_load())}")
    bench = bench_worker_only if args.worker_only else bench_viewer
    where = "worker only, no viewer" if args.worker_only else "napari viewer"
    medians = {}
    for cores in [0] + ([args.busy] if args.busy else []):
        with busy_processes(cores), BackgroundLoad() as background:
            rows = bench(args)
        load = (
            f"idle (background: {describe_load(background.cores)})"
            if cores == 0
            else f"{cores} busy process(es)"
        )
        _print(
            rows,
            f"\n{where} | {load} | mode: {args.mode} | ZoomIn: {args.zoom_in} | torch threads: "
            f"{threads} (OMP_WAIT_POLICY={configured.wait_policy}) | astronaut 512 x 512 RGB",
        )
        medians[load] = statistics.median(r[2] for r in rows)
    if len(medians) == 2:
        quiet, loaded = medians.values()
        print(
            f"\nmedian click -> mask: idle {quiet:.3f} s, loaded {loaded:.3f} s "
            f"({loaded / quiet:.2f}x); after the run: {describe_load(idle_load())}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
