"""``predict --init-mask`` / ``--init-label`` / ``--box``: start the object before the clicks.

An existing mask (a binary mask file, or one label of a label image) or a box starts the
object; the clicks, if any, then correct it (``napari_fbrs.inference.session.init_mask`` and
``.boxes``). Every bad input is one line and exit 2: a mask of another size than the image,
an empty one, one that is not binary without ``--init-label``, an absent label id, a box
outside the image, of zero area or not four numbers.
"""

from __future__ import annotations

import argparse
from typing import Any

from napari_fbrs.cli.common import CLIError


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--init-mask",
        metavar="FILE",
        help="start from an existing mask (.tif/.tiff/.png, 0/1 or 0/255) or, with "
        "--init-label, one label of a label image; the clicks then correct it",
    )
    parser.add_argument(
        "--init-label",
        type=int,
        metavar="ID",
        help="the label of --init-mask to start from",
    )
    parser.add_argument(
        "--box",
        metavar="ROW0,COL0,ROW1,COL1",
        help="start from a box around the object (ends exclusive); the clicks then correct it",
    )


def given(args: argparse.Namespace) -> bool:
    """Whether the object starts from a mask or a box."""
    return args.init_mask is not None or args.box is not None


def check_args(args: argparse.Namespace) -> None:
    """Combinations refused before any file is read."""
    if args.init_label is not None and args.init_mask is None:
        raise CLIError("--init-label needs --init-mask (the label image)")
    if args.init_mask is not None and args.box is not None:
        raise CLIError("give --init-mask or --box, not both")
    if given(args) and getattr(args, "propagate", False):
        raise CLIError("--init-mask and --box start an object on a 2-D image, not --propagate")
    if args.box is not None:
        parse_box(args.box)


def parse_box(text: str) -> tuple[float, float, float, float]:
    fields = [f.strip() for f in text.split(",")]
    if len(fields) != 4:
        raise CLIError(f"--box {text!r}: expected ROW0,COL0,ROW1,COL1 (four numbers)")
    try:
        values = tuple(float(f) for f in fields)
    except ValueError:
        raise CLIError(f"--box {text!r}: ROW0,COL0,ROW1,COL1 must be numbers") from None
    return values  # type: ignore[return-value]


def start(session: Any, args: argparse.Namespace, shape: tuple[int, int]) -> str | None:
    """Start the session's object from ``--init-mask`` or ``--box``; returns what was done
    (one line for the user), None when neither was given."""
    if args.box is not None:
        return _start_box(session, args.box, shape)
    if args.init_mask is not None:
        return _start_mask(session, args, shape)
    return None


def _start_box(session: Any, text: str, shape: tuple[int, int]) -> str:
    from napari_fbrs.inference.session.boxes import box_start, check_box

    try:
        box = check_box(parse_box(text), shape)
    except ValueError as exc:
        raise CLIError(f"--box {text!r}: {exc}") from None
    state = session.start_from(box_start(session.predictor, box))
    area = int(state.map.full_mask(state.threshold).sum())
    return (
        f"box rows {box.row0}..{box.row1 - 1}, cols {box.col0}..{box.col1 - 1}: "
        f"{area} object pixels"
    )


def _start_mask(session: Any, args: argparse.Namespace, shape: tuple[int, int]) -> str:
    from napari_fbrs.inference.session.init_mask import check_mask, mask_of_label, start_from_mask
    from napari_fbrs.io.masks import read_labels

    path = args.init_mask
    try:
        array = read_labels(path, args.max_pixels)
    except (ValueError, OSError) as exc:
        text = str(exc)
        raise CLIError(text if str(path) in text else f"--init-mask {path}: {text}") from None
    if array.shape != tuple(shape):
        raise CLIError(
            f"--init-mask {path}: the mask is {' x '.join(map(str, array.shape))}, "
            f"the image {shape[0]} x {shape[1]}"
        )
    try:
        if args.init_label is not None:
            mask = mask_of_label(array, args.init_label)
        else:
            mask = check_mask(array, shape)
    except ValueError as exc:
        raise CLIError(f"--init-mask {path}: {exc}") from None
    uses_prev = bool(session.predictor.uses_prev_mask)
    session.start_from(start_from_mask(mask, uses_prev, args.init_label))
    what = f"label {args.init_label} of {path}" if args.init_label is not None else str(path)
    how = "previous-mask input" if uses_prev else "a seed click at its innermost pixel"
    return f"started from {what} ({int(mask.sum())} pixels; the model gets it as {how})"
