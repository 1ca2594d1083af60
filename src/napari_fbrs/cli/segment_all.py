"""``segment-all``: label every object of an image with the click model (no clicks needed)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from napari_fbrs.cli.common import (
    PROG,
    CLIError,
    check_output,
    error_reason,
    float_in,
    int_at_least,
    load_model,
    refuse_inputs,
    select_device,
)

#: Suffixes ``write_labels`` accepts.
LABEL_SUFFIXES = (".tif", ".tiff", ".png")


def add_parser(subparsers: Any) -> None:
    from napari_fbrs.cli.predict import add_max_pixels_option

    parser = subparsers.add_parser(
        "segment-all",
        help="label every object of an image automatically",
        description="Seed points from the image, one positive click each through the model "
        "(batched crops), confident and stable masks kept, overlaps resolved; writes a label "
        "image (0 background, objects 1..N).",
        epilog=f"example: {PROG} segment-all --image nuclei.tif --output nuclei_labels.tif",
    )
    parser.add_argument("--image", required=True, metavar="PATH", help="the image file (2-D)")
    parser.add_argument(
        "--output", required=True, metavar="LABELS", help="label image (.tif/.tiff/.png)"
    )
    parser.add_argument(
        "--checkpoint",
        default="default",
        metavar="PATH_OR_NAME",
        help="a file, an official name, or default (the built-in model) [default]",
    )
    parser.add_argument(
        "--min-area",
        type=int_at_least(0),
        default=10,
        metavar="PX",
        help="drop objects smaller than this many pixels [10]",
    )
    parser.add_argument(
        "--min-score",
        type=float_in(0.0, 1.0),
        default=None,
        metavar="S",
        help="drop masks whose score (mean probability x stability) is below S; higher keeps "
        "fewer, surer objects [0.3]",
    )
    parser.add_argument(
        "--prob-thresh",
        type=float_in(0.0, 1.0, open_low=True),
        default=None,
        metavar="P",
        help="probability threshold of a mask [0.5]",
    )
    add_max_pixels_option(parser)
    parser.add_argument("--device", default="auto", help="auto (cuda>mps>cpu), cpu, cuda[:N], mps")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    output = check_output(args.output, LABEL_SUFFIXES, "--output")
    assert output is not None
    refuse_inputs({"--output": output}, [args.image, args.checkpoint])
    _check_settings(args)
    image = _read_image(args)
    device = select_device(args.device)
    loaded = load_model(args.checkpoint, device)

    from napari_fbrs.dense import segment_all
    from napari_fbrs.io.masks import write_labels

    start = time.perf_counter()
    labels = segment_all(
        image,
        loaded.model,
        min_area=args.min_area,
        min_score=args.min_score,
        prob_thresh=args.prob_thresh,
        device=str(device),
    )
    seconds = time.perf_counter() - start
    try:
        write_labels(output, labels)
    except OSError as exc:
        raise CLIError(f"--output {output}: cannot write ({error_reason(exc)})") from None
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    height, width = labels.shape
    count = int(labels.max(initial=0))
    print(f"{loaded.arch} on {device}, image {args.image} ({height} x {width})")
    print(f"{count} objects in {seconds:.2f} s")
    print(f"wrote {output} ({height} x {width}, {count} objects)")
    return 0


def _check_settings(args: argparse.Namespace) -> None:
    """The thresholds as segment-all takes them (one line, before anything is read)."""
    from napari_fbrs.inference.dense.automatic import SegmentAllConfig

    changes = {"min_score": args.min_score, "prob_thresh": args.prob_thresh}
    try:
        SegmentAllConfig(
            min_area=args.min_area, **{k: v for k, v in changes.items() if v is not None}
        )
    except ValueError as exc:
        raise CLIError(
            str(exc).replace("min_score", "--min-score").replace("prob_thresh", "--prob-thresh")
        ) from None


def _read_image(args: argparse.Namespace) -> Any:
    """The 2-D image (grey, RGB or RGBA) as read, or one line saying why not."""
    from napari_fbrs.io.images import read_image

    try:
        image = read_image(args.image, args.max_pixels)
    except (ValueError, OSError) as exc:
        text = str(exc) or error_reason(exc)
        raise CLIError(text if str(args.image) in text else f"{args.image}: {text}") from None
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (3, 4)):
        raise CLIError(
            f"{args.image}: segment-all takes a 2-D image (grey, RGB or RGBA), got shape "
            f"{image.shape}; save one plane of a stack"
        )
    if min(image.shape[:2]) < 2:
        raise CLIError(
            f"{args.image}: the image is too small ({image.shape[0]} x {image.shape[1]})"
        )
    return image
