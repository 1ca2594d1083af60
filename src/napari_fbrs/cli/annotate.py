"""``annotate-folder``: open napari on a folder of images, to annotate them one after another.

The widget's image series (``napari_fbrs.series``): the first image not yet annotated is
shown with the dock widget; Next / Previous save its labels and move on, so closing napari and
running the command again resumes where the work stopped. Labels go to ``--out`` (default
``<IN_DIR>_annotations``) in the ``images/`` + ``labels/`` layout that ``evaluate --dataset
folder`` and the fine-tune widget read, or ``--beside`` the images.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from napari_fbrs.cli.common import CLIError


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "annotate-folder",
        help="annotate a folder of images one after another in napari (resumable)",
        description="Open napari with the f-BRS widget on the first image of IN_DIR not yet "
        "annotated; Next / Previous save the labels and move on.",
        epilog="example: napari-fbrs annotate-folder cells/ --out cells_labels/",
    )
    parser.add_argument("in_dir", metavar="IN_DIR", help="a folder of images, or a glob")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--out", metavar="OUT_DIR", help="labels folder (images/ + labels/) [IN_DIR_annotations]"
    )
    where.add_argument(
        "--beside", action="store_true", help="save <name>_labels.tif next to each image"
    )
    parser.add_argument(
        "--all", action="store_true", help="also show images already annotated (no skipping)"
    )
    parser.add_argument("--checkpoint", metavar="PATH", help="load this checkpoint file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from napari_fbrs.series import ImageSeries

    try:  # check the folder before opening a window
        series = ImageSeries.open(args.in_dir, args.out, args.beside, not args.all)
    except (OSError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    if args.checkpoint is not None and not Path(args.checkpoint).is_file():
        raise CLIError(f"{args.checkpoint}: no such file")
    from napari_fbrs.cli.view import check_gui_available

    check_gui_available()
    from napari_fbrs._napari.launch import open_series

    done = sum(series.annotated())
    print(f"{len(series)} images, {done} annotated; starting at {series.describe()}")
    open_series(args.in_dir, args.out, args.beside, not args.all, args.checkpoint)
    return 0
