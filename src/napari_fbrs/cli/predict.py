"""``predict``: segment one object from a list of clicks."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from napari_fbrs.cli.common import (
    MASK_SUFFIXES,
    PROG,
    CLIError,
    check_output,
    load_model,
    read_clicks,
    select_device,
    write_npz,
)
from napari_fbrs.cli.options import add_predictor_options, predictor_config_from_args

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
    clicks = parser.add_mutually_exclusive_group(required=True)
    clicks.add_argument(
        "--clicks", metavar='"ROW,COL,+;ROW,COL,-"', help="pixel coordinates, row 0 at the top"
    )
    clicks.add_argument("--clicks-file", metavar="JSON", help="[[row, col, is_positive], ...]")
    parser.add_argument("--output", metavar="MASK", help="uint8 0/1 mask (.tif/.tiff/.png)")
    parser.add_argument(
        "--save-probs", metavar="NPZ", help="probs float32 [n_clicks, H, W] and clicks [n, 3]"
    )
    parser.add_argument("--device", default="auto", help="auto (cuda>mps>cpu), cpu, cuda[:N], mps")
    add_predictor_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.output is None and args.save_probs is None:
        raise CLIError("nothing to write: give --output and/or --save-probs")
    try:
        config = predictor_config_from_args(args)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    output = check_output(args.output, MASK_SUFFIXES, "--output")
    probs_path = check_output(args.save_probs, (".npz",), "--save-probs")
    clicks = read_clicks(args)

    from napari_fbrs.io.images import load_rgb, to_model_rgb
    from napari_fbrs.io.samples import load_sample

    try:
        if args.sample is not None:
            image = to_model_rgb(load_sample(args.sample))
        else:
            image = load_rgb(args.image)
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None
    image_name = args.image if args.sample is None else f"sample {args.sample}"
    height, width = image.shape[:2]
    for index, click in enumerate(clicks, start=1):
        if not click.inside(height, width):
            raise CLIError(
                f"click {index} at ({click.row:g}, {click.col:g}) lies outside the image "
                f"{image_name} ({height} x {width}: rows 0..{height - 1}, cols 0..{width - 1})"
            )
    device = select_device(args.device)
    loaded = load_model(args.checkpoint, device)

    import numpy as np
    from tqdm import tqdm

    from napari_fbrs.inference.predictor import Predictor

    predictor = Predictor(loaded.model, config, device)
    predictor.set_image(image)
    maps, stats = [], []
    for count in tqdm(range(1, len(clicks) + 1), desc="clicks", unit="click", file=sys.stderr):
        maps.append(predictor.predict(clicks[:count]))
        stats.append((predictor.last.seconds, predictor.last.lbfgs_evals))
    probs = np.stack(maps).astype(np.float32, copy=False)
    mask = (probs[-1] > config.prob_thresh).astype(np.uint8)

    if probs_path is not None:
        triples = np.array([[c.row, c.col, float(c.positive)] for c in clicks], np.float64)
        write_npz(probs_path, probs=probs, clicks=triples)
    if output is not None:
        from napari_fbrs.io.masks import write_mask

        try:
            write_mask(output, mask)
        except (ValueError, OSError) as exc:
            raise CLIError(str(exc)) from None

    print(f"{loaded.arch} on {device}, {config.mode.value}, preset {args.preset}")
    print("click     row     col  sign  seconds  L-BFGS evals")
    for index, (click, (seconds, evals)) in enumerate(zip(clicks, stats, strict=True), 1):
        sign = "+" if click.positive else "-"
        print(
            f"{index:>5}  {click.row:>6g}  {click.col:>6g}  {sign:^4}  {seconds:7.3f}  {evals:>12}"
        )
    print(f"total {sum(s for s, _ in stats):.3f} s for {len(clicks)} clicks")
    print(f"weights {loaded.path.name}, image {image_name} ({height} x {width})")
    area = int(mask.sum())
    print(f"mask: {area} object pixels ({100.0 * area / mask.size:.1f} % of the image)")
    if output is not None:
        print(f"wrote {output} ({height} x {width}, {area} object pixels)")
    if probs_path is not None:
        print(f"wrote {probs_path} (probs {len(clicks)} x {height} x {width} float32)")
    return 0
