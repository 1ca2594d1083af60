"""``predict``: segment one object from a list of clicks."""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_fbrs.cli import one_click, prompts
from napari_fbrs.cli.common import (
    MASK_SUFFIXES,
    PROG,
    CLIError,
    check_output,
    error_reason,
    int_at_least,
    load_model,
    read_clicks,
    refuse_inputs,
    select_device,
)
from napari_fbrs.cli.options import add_predictor_options, predictor_config_from_args
from napari_fbrs.cli.stack import add_stack_options

if TYPE_CHECKING:
    import numpy as np

    from napari_fbrs.inference.engine.clicks import Click
    from napari_fbrs.inference.session.interactive import InteractiveSession

#: ``napari_fbrs.io.samples.SAMPLES`` names, spelt out so that ``--help`` imports no imaging code.
SAMPLE_NAMES = ("astronaut", "cell", "coffee", "nuclei")


# -- predict -----------------------------------------------------------------------------------
def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="segment one object from clicks",
        description="Apply the clicks one at a time, in order, on one predictor; write the mask "
        "after the last click and/or the probability map after every click.",
        epilog=f"example: {PROG} predict --checkpoint hrnet18_ocr64_sbd --image cat.png "
        '--clicks "120,200,+;40,60,-" --output cat_mask.png',
    )
    parser.add_argument(
        "--checkpoint",
        default="default",
        metavar="PATH_OR_NAME",
        help="a file, an official name, or default (the built-in model) [default]",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", metavar="PATH", help="the image file")
    source.add_argument(
        "--sample",
        choices=SAMPLE_NAMES,
        help="a built-in sample image instead of a file (works offline)",
    )
    clicks = parser.add_mutually_exclusive_group()  # or --box / --init-mask alone
    clicks.add_argument(
        "--clicks", metavar='"ROW,COL,+;ROW,COL,-"', help="pixel coordinates, row 0 at the top"
    )
    clicks.add_argument("--clicks-file", metavar="JSON", help="[[row, col, is_positive], ...]")
    prompts.add_options(parser)  # --init-mask, --init-label, --box (issue 24)
    parser.add_argument("--output", metavar="MASK", help="uint8 0/1 mask (.tif/.tiff/.png)")
    parser.add_argument(
        "--save-probs", metavar="NPZ", help="probs float32 [n_clicks, H, W] and clicks [n, 3]"
    )
    add_max_pixels_option(parser)
    add_stack_options(parser)
    one_click.add_option(parser)
    parser.add_argument("--device", default="auto", help="auto (cuda>mps>cpu), cpu, cuda[:N], mps")
    add_predictor_options(parser)
    parser.set_defaults(handler=run)


def add_max_pixels_option(parser: argparse.ArgumentParser) -> None:
    """``--max-pixels``, shared with ``evaluate``: the decoder's size limit."""
    from napari_fbrs.io.images import DEFAULT_MAX_PIXELS

    parser.add_argument(
        "--max-pixels",
        type=int_at_least(0),
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help="refuse image files of more than N pixels, from their header, before decoding; "
        f"0 = no limit [{DEFAULT_MAX_PIXELS:_}]",
    )


def run(args: argparse.Namespace) -> int:
    one_click.check_args(args)
    if args.output is None and args.save_probs is None:
        raise CLIError("nothing to write: give --output and/or --save-probs")
    try:
        config = predictor_config_from_args(args)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    prompts.check_args(args)
    output = check_output(args.output, MASK_SUFFIXES, "--output")
    probs_path = check_output(args.save_probs, (".npz",), "--save-probs")
    refuse_inputs(
        {"--output": output, "--save-probs": probs_path},
        [args.image, args.clicks_file, args.checkpoint, args.init_mask],
    )
    plane_index, clicks = _clicks_and_plane(args)
    image, stack, image_name = _read_input(args, plane_index)
    if args.propagate and output is not None and output.suffix.lower() not in (".tif", ".tiff"):
        raise CLIError(f"--output {output}: a 3-D label needs .tif or .tiff")
    height, width = image.shape[:2]
    _check_inside(clicks, height, width, image_name)
    device = select_device(args.device)
    loaded = load_model(args.checkpoint, device)

    from napari_fbrs.cli.stack import local_window
    from napari_fbrs.inference.engine.factory import make_predictor
    from napari_fbrs.inference.session.interactive import InteractiveSession

    # The widget's and the Python API's path: one session on the one predictor factory.
    predictor = make_predictor(loaded.model, config, device, local_window(args))
    # The command line never undoes: no snapshots kept, so only the latest map stays alive.
    session = InteractiveSession(predictor, prob_thresh=config.prob_thresh, history_bytes=0)
    session.set_image(image)
    if args.one_click_per_object:
        assert output is not None
        result = one_click.segment(session, clicks)
        print(f"{loaded.arch} on {device}, {config.mode.value}, preset {args.preset}")
        _print_clicks(clicks, result.stats)
        print(f"weights {loaded.path.name}, image {image_name} ({height} x {width})")
        one_click.write(output, result)
        return 0
    started = prompts.start(session, args, (height, width))
    try:
        last, stats = _apply_clicks(session, clicks, probs_path, height, width)
    except OSError as exc:
        if probs_path is None:
            raise
        raise CLIError(f"--save-probs {probs_path}: cannot write ({error_reason(exc)})") from None
    mask = (last > config.prob_thresh).astype("uint8")
    if args.propagate:
        assert stack is not None and plane_index is not None
        _propagate(args, loaded.model, config, stack, plane_index, mask, output)
        output = None  # the 3-D label replaces the 2-D mask
    if output is not None:
        _write_mask(output, mask)
    print(f"{loaded.arch} on {device}, {config.mode.value}, preset {args.preset}")
    if started is not None:
        print(started)
    if clicks:
        _print_clicks(clicks, stats)
    print(f"weights {loaded.path.name}, image {image_name} ({height} x {width})")
    window = getattr(predictor.last, "window", None)
    if window is not None:
        r0, r1, c0, c1 = window
        print(f"local window: rows {r0}..{r1 - 1}, cols {c0}..{c1 - 1} at full resolution")
    area = int(mask.sum())
    print(f"mask: {area} object pixels ({100.0 * area / mask.size:.1f} % of the image)")
    if output is not None:
        print(f"wrote {output} ({height} x {width}, {area} object pixels)")
    if probs_path is not None:
        print(f"wrote {probs_path} (probs {len(clicks)} x {height} x {width} float32)")
    return 0


def _read_input(args: argparse.Namespace, plane_index: int | None) -> tuple[Any, Any, str]:
    """The RGB image the clicks are on, the stack it is a slice of (or None), and its name."""
    from napari_fbrs.io.images import read_image, to_model_rgb
    from napari_fbrs.io.samples import load_sample

    stack = None
    try:
        if args.sample is not None:
            if plane_index is not None:
                raise CLIError("the samples are single images: give clicks as ROW,COL,+")
            image = to_model_rgb(load_sample(args.sample))
        elif plane_index is not None:
            from napari_fbrs.cli import stack as stack_cli

            stack = stack_cli.open_stack(read_image(args.image, args.max_pixels), args.image)
            if plane_index >= len(stack):
                raise CLIError(
                    f"the clicks are on slice {plane_index}, but {args.image} has "
                    f"{len(stack)} slices (0..{len(stack) - 1})"
                )
            image = stack.plane(plane_index).read(slice(None), slice(None))
        else:
            image = to_model_rgb(read_image(args.image, args.max_pixels))
    except CLIError:
        raise
    except (ValueError, OSError) as exc:  # a reader's message; name the file once
        text = str(exc)
        named = args.image is None or str(args.image) in text
        raise CLIError(text if named else f"{args.image}: {text}") from None
    name = args.image if args.sample is None else f"sample {args.sample}"
    if plane_index is not None:
        name = f"{name}, slice {plane_index}"
    return image, stack, name


def _check_inside(clicks: tuple[Click, ...], height: int, width: int, image_name: str) -> None:
    for index, click in enumerate(clicks, start=1):
        if not click.inside(height, width):
            raise CLIError(
                f"click {index} {click.outside_text(height, width)} "
                f"(image {image_name}: rows 0..{height - 1}, cols 0..{width - 1})"
            )


def _propagate(
    args: argparse.Namespace,
    model: Any,
    config: Any,
    stack: Any,
    plane_index: int,
    mask: np.ndarray,
    output: Path | None,
) -> None:
    """Carry the mask through the stack and write the 3-D label (``--propagate``)."""
    from napari_fbrs.cli import stack as stack_cli

    volume, result = stack_cli.propagate_object(
        model, config, stack, plane_index, mask.astype(bool), args
    )
    if output is not None:
        from napari_fbrs.io.masks import write_labels

        try:
            write_labels(output, volume)
        except OSError as exc:
            raise CLIError(f"--output {output}: cannot write ({error_reason(exc)})") from None
    for line in stack_cli.describe(result):
        print(line)
    if output is not None:
        shape = " x ".join(map(str, volume.shape))
        print(f"wrote {output} ({shape}, {int(volume.sum())} object voxels)")


def _write_mask(output: Path, mask: np.ndarray) -> None:
    from napari_fbrs.io.masks import write_mask

    try:
        write_mask(output, mask)
    except OSError as exc:
        raise CLIError(f"--output {output}: cannot write ({error_reason(exc)})") from None
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _print_clicks(clicks: tuple[Click, ...], stats: list[tuple[float, int]]) -> None:
    print("click     row     col  sign  seconds  L-BFGS evals")
    for index, (click, (seconds, evals)) in enumerate(zip(clicks, stats, strict=True), 1):
        sign = "+" if click.positive else "-"
        print(
            f"{index:>5}  {click.row:>6g}  {click.col:>6g}  {sign:^4}  {seconds:7.3f}  {evals:>12}"
        )
    print(f"total {sum(s for s, _ in stats):.3f} s for {len(clicks)} clicks")


def _clicks_and_plane(args: argparse.Namespace) -> tuple[int | None, tuple[Click, ...]]:
    """The clicks, and the stack slice they are on (``"Z,ROW,COL,+"``; None for a plane)."""
    from napari_fbrs.inference.engine.clicks import parse_plane_clicks

    if args.clicks is None and args.clicks_file is None:
        if not prompts.given(args):
            raise CLIError("give the clicks (--clicks or --clicks-file), --box or --init-mask")
        if args.save_probs is not None:
            raise CLIError("--save-probs holds one map per click: give clicks too")
        return None, ()
    if args.clicks is None:
        if args.propagate:
            raise CLIError('--propagate needs --clicks on one slice: "Z,ROW,COL,+;Z,ROW,COL,-"')
        return None, read_clicks(args)
    try:
        plane, clicks = parse_plane_clicks(args.clicks)
    except ValueError as exc:
        raise CLIError(f"--clicks {args.clicks!r}: {exc}") from None
    if plane is not None and prompts.given(args):
        raise CLIError("--box and --init-mask work on 2-D images: give clicks as ROW,COL,+")
    if args.propagate and plane is None:
        raise CLIError('--propagate needs the slice in every click: "Z,ROW,COL,+"')
    return plane, clicks


def _apply_clicks(
    session: InteractiveSession,
    clicks: tuple[Click, ...],
    probs_path: Path | None,
    height: int,
    width: int,
) -> tuple[np.ndarray, list[tuple[float, int]]]:
    """Apply the clicks one at a time; return the last map and (seconds, evals) per click.

    Only the latest full-resolution map is kept; with ``probs_path`` every map is streamed
    into the ``.npz`` as soon as it exists (:mod:`napari_fbrs.cli.probs`).
    """
    import numpy as np
    from tqdm import tqdm

    from napari_fbrs.cli.probs import probs_writer

    stats: list[tuple[float, int]] = []
    last = None
    triples = np.array([[c.row, c.col, float(c.positive)] for c in clicks], np.float64)
    with ExitStack() as stack:
        add = None
        if probs_path is not None:
            add = stack.enter_context(probs_writer(probs_path, triples, height, width))
        for click in tqdm(clicks, desc="clicks", unit="click", file=sys.stderr):
            state = session.add_click(click)
            last = state.probs
            stats.append((state.network_seconds, state.lbfgs_evals))
            if add is not None:
                add(last)
    if last is None:  # no clicks: the object is its start (--box or --init-mask)
        last = session.state.probs
    assert last is not None
    return last, stats
