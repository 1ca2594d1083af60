"""``evaluate``: NoC evaluation of a checkpoint (or the random-walker baseline) on a dataset."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from napari_fbrs.cli.common import (
    EXIT_INTERRUPTED,
    CLIError,
    check_output,
    error_reason,
    float_in,
    int_at_least,
    load_model,
    refuse_inputs,
)
from napari_fbrs.cli.common import select_device as pick_device
from napari_fbrs.cli.options import add_predictor_options, predictor_config_from_args
from napari_fbrs.cli.predict import add_max_pixels_option
from napari_fbrs.io.kinds import DATASET_KINDS

METHODS = ("model", "random-walker")


def _thresholds(text: str) -> tuple[float, ...]:
    parse = float_in(0.0, 1.0, open_low=True)
    try:
        values = tuple(sorted({parse(part.strip()) for part in text.split(",") if part.strip()}))
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"--iou-thresholds {text!r}: {exc}") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one IoU threshold, e.g. 0.85,0.9")
    return values


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="NoC@80/85/90 with simulated clicks on a dataset",
        description="Run the standard NoC protocol (f-BRS/RITM clicker, IoU ignoring the "
        "uncertain band) with a checkpoint or the random-walker baseline. Prints a table; "
        "--output writes every sample's clicks and per-click IoU as JSON.",
        epilog="example: napari-fbrs evaluate --checkpoint hrnet18_ocr64_sbd --dataset grabcut "
        "--root datasets/GrabCut --mode f-BRS-B --output grabcut.json --plot grabcut.png",
    )
    parser.add_argument(
        "--checkpoint",
        default="default",
        metavar="PATH_OR_NAME",
        help="a file, an official name, or default (the built-in model) [default]",
    )
    parser.add_argument("--dataset", required=True, choices=DATASET_KINDS)
    parser.add_argument("--root", required=True, metavar="PATH", help="the dataset folder")
    parser.add_argument("--split", help="sbd: train/val; dsb2018: train/val [val]")
    parser.add_argument("--method", choices=METHODS, default="model", help="[model]")
    parser.add_argument("--max-clicks", type=int_at_least(1), default=20, help="[20]")
    parser.add_argument(
        "--iou-thresholds", type=_thresholds, default=(0.8, 0.85, 0.9), help="[0.8,0.85,0.9]"
    )
    parser.add_argument(
        "--max-samples", type=int_at_least(1), help="only the first N samples (sorted file order)"
    )
    parser.add_argument(
        "--every",
        type=int_at_least(1),
        default=1,
        metavar="N",
        help="only samples 0, N, 2N, ... (a small set spread over a large dataset's images; "
        "--max-samples then counts these) [1]",
    )
    parser.add_argument(
        "--full-curve", action="store_true", help="always click --max-clicks times (mIoU curve)"
    )
    parser.add_argument("--device", default="auto", help="auto (cuda>mps>cpu), cpu, cuda[:N], mps")
    parser.add_argument("--output", metavar="JSON", help="per-sample results")
    parser.add_argument("--plot", metavar="PNG", help="mIoU vs clicks (needs matplotlib)")
    parser.add_argument(
        "--rw-solver",
        default="bf",
        choices=("bf", "cg_j", "cg", "cg_mg"),
        help="random walker solver [bf]; cg_mg (multigrid, needs pyamg: the 'baseline' extra) "
        "is 2-3x faster on 0.15-0.3 MP images with masks equal to bf's",
    )
    parser.add_argument(
        "--workers",
        type=int_at_least(1),
        default=1,
        metavar="N",
        help="evaluate N objects at once, each in its own process with 1/N of the threads "
        "(CPU only; the clicks and IoUs of one process with as many threads per object) [1]",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_max_pixels_option(parser)
    add_predictor_options(parser, default_preset="eval")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = predictor_config_from_args(args, dataset=args.dataset)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    json_path = check_output(args.output, (".json",), "--output")
    plot_path = check_output(args.plot, (".png",), "--plot")
    if plot_path is not None:
        _require_matplotlib()

    from napari_fbrs.evaluation.noc import EvalSettings
    from napari_fbrs.evaluation.report import format_table

    dataset = _open_dataset(args)
    refuse_inputs(
        {"--output": json_path, "--plot": plot_path}, [args.checkpoint, *dataset.files()]
    )
    predictor, method, provenance = _method(args, config)
    if args.every > 1:
        provenance["every"] = args.every
    settings = EvalSettings(
        max_clicks=args.max_clicks,
        iou_thresholds=args.iou_thresholds,
        pred_thresh=config.prob_thresh,
        full_curve=args.full_curve,
        max_samples=args.max_samples,
    )
    result, stopped = _evaluate(args, dataset, predictor, settings, method)
    done = len(result.samples)
    interrupted = stopped and done < min(len(dataset), args.max_samples or len(dataset))
    if interrupted:
        note = f"interrupted after {done} objects: these results are those of --max-samples {done}"
        provenance["interrupted"] = note
        print(note, file=sys.stderr)
    print(format_table(result))
    _write_results(args, result, provenance, json_path, plot_path)
    return EXIT_INTERRUPTED if interrupted else 0


def _open_dataset(args: argparse.Namespace) -> Any:
    """The dataset, every file the run will read decoded once before the first object."""
    from napari_fbrs.io.datasets import DatasetError, open_dataset

    try:
        dataset = open_dataset(args.dataset, args.root, args.split, args.max_pixels)
        if len(dataset) == 0:
            raise CLIError(f"{args.root}: the {args.dataset} dataset holds no samples")
        if args.every > 1:
            from napari_fbrs.evaluation.subset import EveryNth

            dataset = EveryNth(dataset, args.every)
        dataset.validate(args.max_samples)
    except (DatasetError, ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None
    return dataset


def _method(args: argparse.Namespace, config: Any) -> tuple[Any, str, dict[str, Any]]:
    """The predictor, the method's name in the table and the provenance of the JSON."""
    if args.method != "model":
        from napari_fbrs.evaluation.baseline import RandomWalkerPredictor

        try:  # checks the solver (pyamg for cg_mg) before the first click
            predictor = RandomWalkerPredictor(mode=args.rw_solver)
        except ValueError as exc:
            raise CLIError(str(exc)) from None
        return predictor, "random-walker", {"method": "random-walker", "solver": args.rw_solver}

    from napari_fbrs.inference.engine.predictor import Predictor
    from napari_fbrs.model.checkpoint import sha256_of

    device = pick_device(args.device)
    if args.workers > 1 and device.type != "cpu":
        raise CLIError(
            f"--workers {args.workers} runs on the CPU only; this run would use {device}: "
            "add --device cpu, or use one worker on the GPU"
        )
    loaded = load_model(args.checkpoint, device)
    provenance = {
        "checkpoint": loaded.path.name,
        "sha256": sha256_of(loaded.path),
        "arch": loaded.arch,
        "mode": config.mode.value,
    }
    method = f"{loaded.arch} {config.mode.value}"
    return Predictor(loaded.model, config, device), method, provenance


def _evaluate(
    args: argparse.Namespace, dataset: Any, predictor: Any, settings: Any, method: str
) -> tuple[Any, bool]:
    """Run the protocol; Ctrl+C stops after the object(s) in progress. Returns the result and
    whether a stop was requested."""
    from napari_fbrs.cli.stopping import StopRequest, stop_on_signals
    from napari_fbrs.evaluation.noc import evaluate_dataset
    from napari_fbrs.io.datasets import DatasetError

    stop = StopRequest()
    current = "this object" if args.workers == 1 else "the objects in progress"
    message = f"stopping after {current}; the results so far are kept (interrupt again to abort)"
    try:
        with stop_on_signals(stop, message):
            result = evaluate_dataset(
                dataset,
                predictor,
                settings,
                method,
                not args.quiet,
                should_stop=stop,
                workers=args.workers,
            )
    except (DatasetError, OSError) as exc:
        raise CLIError(str(exc)) from None
    return result, stop.requested


def _write_results(
    args: argparse.Namespace,
    result: Any,
    provenance: dict[str, Any],
    json_path: Path | None,
    plot_path: Path | None,
) -> None:
    from napari_fbrs.evaluation.report import plot_curve, write_json

    if json_path is not None:
        provenance.update(preset=args.preset, argv=list(args.argv))
        try:
            write_json(result, json_path, provenance)
        except OSError as exc:
            raise CLIError(f"--output {json_path}: cannot write ({error_reason(exc)})") from None
        print(f"wrote {json_path}", file=sys.stderr)
    if plot_path is not None:
        try:
            plot_curve(result, plot_path)
        except OSError as exc:
            raise CLIError(f"--plot {plot_path}: cannot write ({error_reason(exc)})") from None
        print(f"wrote {plot_path}", file=sys.stderr)


def _require_matplotlib() -> None:
    """``--plot`` needs matplotlib: find out before the evaluation, not after it."""
    try:
        import matplotlib.figure  # noqa: F401
    except ImportError:
        raise CLIError(
            "--plot needs matplotlib, which is not installed: pip install matplotlib "
            "(or pip install 'napari-fbrs[plot]'), or leave out --plot"
        ) from None
