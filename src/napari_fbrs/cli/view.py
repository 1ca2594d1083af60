"""``view``: open napari with the plugin's widget, an image or a sample, and optional clicks.

The one command that shows the whole product: the dock widget loads the built-in model (no
download), the clicks are placed on the clicks layer as a user would place them, and the mask
appears live. ``--screenshot`` saves the window once every click has been answered and exits,
which is how the command is tested under a virtual display.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from napari_fbrs.cli.common import CLIError, check_output, refuse_inputs
from napari_fbrs.cli.predict import SAMPLE_NAMES


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "view",
        help="open napari with the widget on an image or a sample (needs a display)",
        description="Open napari with the f-BRS dock widget and an image; the widget loads "
        "the built-in model. With --clicks the object is segmented at once.",
        epilog='example: napari-fbrs view --sample nuclei --clicks "60,118,+"',
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--image", metavar="PATH", help="an image file napari can open")
    source.add_argument("--sample", choices=SAMPLE_NAMES, help="a built-in sample [nuclei]")
    parser.add_argument(
        "--clicks", metavar='"ROW,COL,+;ROW,COL,-"', help="clicks to place once the model is ready"
    )
    parser.add_argument(
        "--checkpoint", metavar="PATH", help="load this checkpoint file instead of the default"
    )
    parser.add_argument(
        "--screenshot",
        metavar="PNG",
        help="save a screenshot of the window after the clicks are answered, then exit",
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for --screenshot [300]"
    )
    parser.set_defaults(handler=run)


QT_BINDINGS = ("PyQt6", "PySide6", "PyQt5", "PySide2")
INSTALL_QT = "pip install 'napari-fbrs[all]'  (or: pip install 'napari[pyqt6]')"


def check_gui_available() -> None:
    """One clear line instead of a traceback (or Qt aborting) when napari cannot open a window.

    ``pip install napari-fbrs`` brings no Qt binding (a napari plugin must not force one), and
    a machine without a display cannot show a window at all.
    """
    import importlib.util
    import os
    import sys

    if not any(importlib.util.find_spec(name) for name in QT_BINDINGS):
        raise CLIError(f"napari needs a Qt binding to open a window; install one: {INSTALL_QT}")
    headless = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if sys.platform.startswith("linux") and headless and not os.environ.get("QT_QPA_PLATFORM"):
        raise CLIError(
            "no display to open napari on (DISPLAY is not set): run it on a desktop, or "
            "under a virtual one with xvfb-run; without a window, use napari-fbrs predict"
        )


def run(args: argparse.Namespace) -> int:
    from napari_fbrs.inference.engine.clicks import parse_clicks

    try:
        clicks = parse_clicks(args.clicks) if args.clicks else ()
    except ValueError as exc:
        raise CLIError(f"--clicks {args.clicks!r}: {exc}") from None
    screenshot = check_output(args.screenshot, (".png",), "--screenshot")
    if args.image is not None and not Path(args.image).is_file():
        raise CLIError(f"{args.image}: no such file")
    if args.checkpoint is not None and not Path(args.checkpoint).is_file():
        raise CLIError(f"{args.checkpoint}: no such file")
    refuse_inputs({"--screenshot": screenshot}, [args.image, args.checkpoint])
    check_gui_available()

    from napari_fbrs._napari.launch import LaunchError, open_viewer

    try:
        summary = open_viewer(
            image=args.image,
            sample=args.sample,
            clicks=[(c.row, c.col, c.positive) for c in clicks],
            checkpoint=args.checkpoint,
            screenshot=screenshot,
            timeout=args.timeout,
        )
    except LaunchError as exc:
        raise CLIError(str(exc)) from None
    if summary:
        print(summary)
    return 0
