"""``predict`` on large images and stacks: ``--local-window`` and ``--propagate``.

``--local-window PX`` runs clicks on an image larger than the size limit (800 px) on a window of
about PX around the object at full resolution (growing with it) instead of the whole image
shrunk to the size limit (:mod:`napari_fbrs.inference.windows.local`). By default: 512 with the
``demo`` preset, off for ``eval`` so that the evaluation protocol stays the original one.
``--propagate`` segments the clicked object on slice Z of a stack (clicks ``"Z,ROW,COL,+"``)
and then on the neighbouring slices, one after another
(:mod:`napari_fbrs.inference.stacks.propagation`), and writes one 3-D label.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from napari_fbrs.cli.common import CLIError, float_in, int_at_least


def add_stack_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("large images and stacks")
    group.add_argument(
        "--local-window",
        type=int_at_least(0),
        metavar="PX",
        help="images larger than the size limit (--max-size, 800): clicks run on a window of "
        "about PX around the object, at full resolution, growing with it; 0 = off (the whole "
        "image shrunk to the size limit) [demo preset: 512; eval preset: 0]",
    )
    group.add_argument(
        "--propagate",
        action="store_true",
        help='segment the object clicked on slice Z of a stack (clicks "Z,ROW,COL,+") and '
        "follow it through the neighbouring slices; --output gets one 3-D label (.tif)",
    )
    group.add_argument(
        "--propagate-max-slices",
        type=int_at_least(1),
        metavar="N",
        help="at most N slices each way [to the end of the stack]",
    )
    group.add_argument(
        "--propagate-min-iou",
        type=float_in(0.0, 1.0),
        metavar="F",
        help="stop where the mask overlaps the previous slice's less than this [0.3]",
    )
    group.add_argument(
        "--propagate-min-area-ratio",
        type=float_in(0.0, 1.0),
        metavar="F",
        help="stop where the object shrinks below this fraction of the previous slice's [0.4]",
    )
    group.add_argument(
        "--propagate-min-contrast",
        type=float_in(0.0, 1.0),
        metavar="F",
        help="stop where the object stands out from its surroundings less than this fraction "
        "of its contrast on the clicked slice (it has faded into the background); 0 = off "
        "[0.2]",
    )


def local_window(args: argparse.Namespace) -> int:
    """The window size ``--local-window`` (or the preset) asks for; 0 = off."""
    if args.local_window is not None:
        return int(args.local_window)
    from napari_fbrs.inference.engine.factory import default_local_window

    return default_local_window(args.preset)


def propagation_config(args: argparse.Namespace) -> Any:
    """The flags given, over PropagationConfig's defaults."""
    from napari_fbrs.inference.stacks.propagation import PropagationConfig

    given = {
        "min_iou": args.propagate_min_iou,
        "min_area_ratio": args.propagate_min_area_ratio,
        "min_contrast_ratio": args.propagate_min_contrast,
    }
    overrides = {name: value for name, value in given.items() if value is not None}
    return PropagationConfig(max_slices=args.propagate_max_slices, **overrides)


def open_stack(data: Any, name: str) -> Any:
    from napari_fbrs.io.images import ImageError
    from napari_fbrs.io.planes import stack_source

    try:
        return stack_source(data)
    except ImageError as exc:
        raise CLIError(f"{name}: {exc}") from None


def propagate_object(
    model: Any, config: Any, stack: Any, start: int, mask: Any, args: argparse.Namespace
) -> tuple[Any, Any]:
    """The object of ``mask`` on slice ``start`` followed through the stack: the labels
    ``(N, H, W)`` uint8 (1 = the object) and the propagation result."""
    import numpy as np
    from tqdm import tqdm

    from napari_fbrs.inference.engine.predictor import Predictor
    from napari_fbrs.inference.stacks.propagation import paint_indices, propagate

    settings = propagation_config(args)
    bar = tqdm(desc="propagate", unit="slice", file=sys.stderr)

    def on_slice(index: int, done: int, total: int) -> bool:
        bar.total = total
        bar.n = done
        bar.set_postfix(slice=index)
        bar.refresh()
        return True

    try:
        result = propagate(Predictor(model, config), stack, start, mask, settings, 0, on_slice)
    finally:
        bar.close()
    height, width = mask.shape
    labels = np.zeros((len(stack), height, width), dtype=np.uint8)
    labels[paint_indices(labels, result)] = 1
    return labels, result


def describe(result: Any) -> list[str]:
    """Lines for the terminal: the slices reached and why each direction stopped."""
    lines = [
        f"propagated over slices {min(result.indices)}..{max(result.indices)} "
        f"({len(result.indices)} slices, {result.predictions} network calls)"
    ]
    for step, stop in sorted(result.stops.items()):
        where = f" at slice {stop.index}" if stop.index is not None else ""
        lines.append(f"  towards {'+' if step > 0 else '-'}Z: {stop.reason.value}{where}")
    return lines
