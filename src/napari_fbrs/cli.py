"""The ``napari-fbrs`` command line: parse, check the input, dispatch to the core.

Each subcommand is two functions, ``_add_<name>_parser(subparsers)`` and
``_run_<name>(args) -> int``, listed once in :data:`_SUBCOMMANDS`. Handlers import torch and the
engine lazily, so ``--help`` and ``models`` answer at once.

Exit codes: 0 success; 2 bad input (a missing or unreadable file, a corrupt or foreign
checkpoint, malformed clicks, an unknown weights name, an unusable device, no network for a
download), reported as one line on stderr, never as a traceback; 130 interrupted. A traceback
therefore always means a bug.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_fbrs.inference.config import PRESETS, BRSMode, ZoomInConfig, preset

if TYPE_CHECKING:
    import torch

    from napari_fbrs.inference.clicks import Click
    from napari_fbrs.inference.config import PredictorConfig
    from napari_fbrs.model.checkpoint import LoadedModel

PROG = "napari-fbrs"
EXIT_BAD_INPUT = 2
# The suffixes napari_fbrs.io.masks.write_mask accepts, checked before any computation starts.
MASK_SUFFIXES = (".tif", ".tiff", ".png")


class CLIError(Exception):
    """Bad input: :func:`main` prints the message on one line and returns exit code 2."""


# -- argument types ----------------------------------------------------------------------------
def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _float_in(low: float, high: float, open_low: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        too_low = value <= low if open_low else value < low
        if not math.isfinite(value) or too_low or value > high:
            interval = f"{'(' if open_low else '['}{low:g}, {high:g}]"
            raise argparse.ArgumentTypeError(f"must lie in {interval}, got {text}")
        return value

    return parse


def _mode(text: str) -> str:
    try:
        return BRSMode.parse(text).value
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# -- predictor options, shared by predict (and evaluate) ---------------------------------------
_PRESET_HELP = (
    "demo (default): upstream's interactive demo, ZoomIn to 480, max size 800, threshold 0.5; "
    "eval: upstream's NoC evaluation, ZoomIn to 400, no size limit, threshold 0.49"
)
# flag, parser, metavar, help; [x/y] are the demo/eval preset values
_TUNING_OPTIONS = (
    ("--zoom-in-target", _int_at_least(16), "N", "longest side of the resized crop [480/400]"),
    ("--zoom-in-skip-clicks", _int_at_least(0), "N", "clicks before ZoomIn starts [1]"),
    ("--zoom-in-expand", _float_in(1.0, 100.0), "F", "ZoomIn box expansion factor [1.4]"),
    ("--max-size", _int_at_least(0), "N", "longest side in px, 0 = no limit [800/0]"),
    ("--net-clicks", _int_at_least(0), "N", "network input clicks, 0 = all [8, input BRS 5]"),
    ("--lbfgs-max-iters", _int_at_least(1), "N", "L-BFGS-B evaluations per click (maxfun) [20]"),
    (
        "--min-iou-diff",
        _float_in(0.0, 1.0),
        "F",
        "L-BFGS-B stops below this IoU change [1e-3/0.01]",
    ),
    ("--prob-thresh", _float_in(0.0, 1.0, open_low=True), "F", "object threshold [0.5/0.49]"),
)


def add_predictor_options(parser: argparse.ArgumentParser) -> None:
    """The options :func:`predictor_config_from_args` reads; each overrides one preset value."""
    group = parser.add_argument_group(
        "predictor", "The preset gives every default; each option below overrides one value."
    )
    modes = "{" + ",".join(m.value for m in BRSMode) + "}"
    group.add_argument("--mode", type=_mode, default="f-BRS-B", metavar=modes, help="[f-BRS-B]")
    group.add_argument("--preset", choices=PRESETS, default="demo", help=_PRESET_HELP)
    group.add_argument(
        "--zoom-in", action=argparse.BooleanOptionalAction, help="crop around the object [on]"
    )
    for flag, parse, metavar, text in _TUNING_OPTIONS:
        group.add_argument(flag, type=parse, metavar=metavar, help=text)


def predictor_config_from_args(
    args: argparse.Namespace, dataset: str | None = None
) -> PredictorConfig:
    """The preset named by ``args.preset`` with every option the user gave applied on top.

    Options that are absent from ``args`` or None keep the preset's value, so a parser with only
    some of the options works too. Raises ValueError for ZoomIn settings with --no-zoom-in.
    """

    def given(name: str) -> Any:
        return getattr(args, name, None)

    config = preset(given("preset") or "demo", given("mode") or BRSMode.fBRS_B, dataset)
    zoom_changes = {
        field: given(option)
        for field, option in (
            ("target_size", "zoom_in_target"),
            ("skip_clicks", "zoom_in_skip_clicks"),
            ("expansion_ratio", "zoom_in_expand"),
        )
        if given(option) is not None
    }
    if given("zoom_in") is False:
        if zoom_changes:
            raise ValueError("--zoom-in-target/-skip-clicks/-expand contradict --no-zoom-in")
        config = config.with_changes(zoom_in=None)
    elif zoom_changes or given("zoom_in"):
        zoom = replace(config.zoom_in or ZoomInConfig(), **zoom_changes)
        config = config.with_changes(zoom_in=zoom)
    if given("max_size") is not None:
        config = config.with_changes(max_size=given("max_size") or None)
    if given("net_clicks") is not None:
        config = config.with_changes(net_clicks_limit=given("net_clicks") or None)
    if given("lbfgs_max_iters") is not None:
        config = config.with_changes(lbfgs=replace(config.lbfgs, maxfun=given("lbfgs_max_iters")))
    if given("min_iou_diff") is not None:
        config = config.with_changes(brs=replace(config.brs, min_iou_diff=given("min_iou_diff")))
    if given("prob_thresh") is not None:
        config = config.with_changes(prob_thresh=given("prob_thresh"))
    return config


# -- helpers shared by handlers ----------------------------------------------------------------
def _select_device(spec: str) -> torch.device:
    from napari_fbrs.model.device import select_device

    try:
        return select_device(spec)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _load_model(spec: str, device: torch.device | str = "cpu") -> LoadedModel:
    """A checkpoint path, or an official weights name (downloaded on first use)."""
    from napari_fbrs.model.checkpoint import CheckpointError, load_checkpoint
    from napari_fbrs.model.weights import WeightsError, resolve_checkpoint

    try:
        return load_checkpoint(resolve_checkpoint(spec), device=device)
    except (WeightsError, CheckpointError) as exc:
        raise CLIError(str(exc)) from None


def _read_clicks(args: argparse.Namespace) -> tuple[Click, ...]:
    from napari_fbrs.inference.clicks import clicks_from_triples, parse_clicks

    if args.clicks is not None:
        try:
            return parse_clicks(args.clicks)
        except ValueError as exc:
            raise CLIError(f"--clicks {args.clicks!r}: {exc}") from None
    path = Path(args.clicks_file)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CLIError(f"{path}: the clicks file is not valid JSON ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CLIError(f"{path}: cannot read the clicks file ({reason})") from None
    if not isinstance(data, list):
        raise CLIError(f"{path}: expected a JSON list of [row, col, is_positive]")
    try:
        return clicks_from_triples(data)
    except ValueError as exc:
        raise CLIError(f"{path}: {exc}") from None


def _check_output(path: str | None, suffixes: Sequence[str], option: str) -> Path | None:
    """Refuse an unusable output path before any computation is spent."""
    if path is None:
        return None
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise CLIError(
            f"{option} {out}: unsupported suffix {out.suffix!r}; use {'/'.join(suffixes)}"
        )
    if not out.parent.is_dir():
        raise CLIError(f"{option} {out}: the folder {out.parent} does not exist")
    return out


# -- info --------------------------------------------------------------------------------------
def _add_info_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "info",
        help="describe a checkpoint: architecture, parameters, dtype, layout, sha256",
        description="Detect and strictly load a checkpoint (an official bare state_dict or a "
        "napari-fbrs checkpoint) and describe it.",
    )
    parser.add_argument("checkpoint", help="a .pth file, or the name of a cached official file")
    parser.set_defaults(handler=_run_info)


def _run_info(args: argparse.Namespace) -> int:
    from napari_fbrs.model.checkpoint import sha256_of
    from napari_fbrs.model.registry import ARCHITECTURES
    from napari_fbrs.model.weights import OFFICIAL_WEIGHTS, cached_path

    path, name = Path(args.checkpoint), args.checkpoint.removesuffix(".pth")
    if not path.is_file() and name in OFFICIAL_WEIGHTS:
        cached = cached_path(name)
        if cached is None:
            raise CLIError(f"{name} is not downloaded yet; run: {PROG} download {name}")
        path = cached
    loaded = _load_model(str(path))
    official = loaded.official_layout
    rows = [
        ("file", str(path)),
        ("architecture", f"{loaded.arch} ({ARCHITECTURES[loaded.arch].description})"),
        ("parameters", f"{loaded.num_parameters:,}"),
        ("stored dtype", loaded.source_dtype),
        ("layout", "official bare state_dict" if official else "napari-fbrs checkpoint"),
        ("size", f"{path.stat().st_size / 1e6:.1f} MB"),
        ("sha256", sha256_of(path)),
    ]
    rows += [(f"meta.{key}", json.dumps(value, default=str)) for key, value in loaded.meta.items()]
    for key, value in rows:
        print(f"{key + ':':<14}{value}")
    return 0


# -- models ------------------------------------------------------------------------------------
def _add_models_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the official weights and which are cached",
        description="List the released f-BRS checkpoints and the cached copy of each. "
        "NAPARI_FBRS_CACHE changes the cache folder.",
    )
    parser.set_defaults(handler=_run_models)


def _run_models(args: argparse.Namespace) -> int:
    from napari_fbrs.model.weights import CACHE_ENV, OFFICIAL_WEIGHTS, cache_dir, cached_path

    rows = [("name", "architecture", "trained on", "size", "licence", "cached")]
    for info in OFFICIAL_WEIGHTS.values():
        cached = str(cached_path(info.name) or "-")
        rows.append(
            (info.name, info.arch, info.trained_on, f"{info.size_mb:g} MB", info.licence, cached)
        )
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))
    print(f"\ncache folder: {cache_dir()} (set {CACHE_ENV} to change it)")
    return 0


# -- download ----------------------------------------------------------------------------------
def _add_download_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "download",
        help="download one official checkpoint into the cache",
        description="Download a released checkpoint, check that it holds the architecture the "
        f"table names and record its sha256. Names: `{PROG} models`.",
    )
    parser.add_argument("name", help="an official weights name, e.g. hrnet18_ocr64_sbd")
    parser.set_defaults(handler=_run_download)


def _run_download(args: argparse.Namespace) -> int:
    from napari_fbrs.model import weights

    try:
        info = weights.weights_info(args.name)
        cached = weights.cached_path(info.name)
        if cached is not None:
            print(f"{info.name} is already cached: {cached}")
            return 0
        print(f"downloading {info.name} ({info.size_mb:g} MB) from {weights.download_url(info)}")
        path = weights.download_weights(info.name, progress=True)
    except weights.WeightsError as exc:
        raise CLIError(str(exc)) from None
    print(f"saved {path}\nsha256 {weights.recorded_sha256(info.name)}")
    return 0


# -- predict -----------------------------------------------------------------------------------
def _add_predict_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="segment one object from clicks",
        description="Apply the clicks one at a time, in order, on one predictor; write the mask "
        "after the last click and/or the probability map after every click.",
        epilog=f"example: {PROG} predict --checkpoint hrnet18_ocr64_sbd --image cat.png "
        '--clicks "120,200,+;40,60,-" --output cat_mask.png',
    )
    parser.add_argument(
        "--checkpoint", required=True, metavar="PATH_OR_NAME", help="a file or an official name"
    )
    parser.add_argument("--image", required=True, metavar="PATH", help="the image file")
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
    parser.set_defaults(handler=_run_predict)


def _run_predict(args: argparse.Namespace) -> int:
    if args.output is None and args.save_probs is None:
        raise CLIError("nothing to write: give --output and/or --save-probs")
    try:
        config = predictor_config_from_args(args)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    output = _check_output(args.output, MASK_SUFFIXES, "--output")
    probs_path = _check_output(args.save_probs, (".npz",), "--save-probs")
    clicks = _read_clicks(args)

    from napari_fbrs.io.images import load_rgb

    try:
        image = load_rgb(args.image)
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None
    height, width = image.shape[:2]
    for index, click in enumerate(clicks, start=1):
        if not click.inside(height, width):
            raise CLIError(
                f"click {index} at ({click.row:g}, {click.col:g}) lies outside the image "
                f"{args.image} ({height} x {width}: rows 0..{height - 1}, cols 0..{width - 1})"
            )
    device = _select_device(args.device)
    loaded = _load_model(args.checkpoint, device)

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
        _write_npz(probs_path, probs=probs, clicks=triples)
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
    if output is not None:
        print(f"wrote {output} ({height} x {width}, {int(mask.sum())} object pixels)")
    if probs_path is not None:
        print(f"wrote {probs_path} (probs {len(clicks)} x {height} x {width} float32)")
    return 0


def _write_npz(path: Path, **arrays: Any) -> None:
    """np.savez_compressed into a temp file in the same folder, then an atomic rename."""
    import numpy as np

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, path)
    except OSError as exc:
        raise CLIError(f"--save-probs {path}: cannot write ({exc})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# -- entry point -------------------------------------------------------------------------------
_SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (
    _add_info_parser,
    _add_models_parser,
    _add_download_parser,
    _add_predict_parser,
)


def build_parser() -> argparse.ArgumentParser:
    from napari_fbrs import __version__

    parser = argparse.ArgumentParser(
        prog=PROG, description="f-BRS click-based interactive segmentation from the command line."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_parser in _SUBCOMMANDS:
        add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand and return its exit code (argparse's own usage errors give 2)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help/--version (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    try:
        return args.handler(args)
    except CLIError as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
