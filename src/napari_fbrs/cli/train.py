"""``train``: train or fine-tune from a TOML recipe (one process, or one of many via torchrun)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from napari_fbrs.cli.common import EXIT_INTERRUPTED, CLIError, check_writable, error_reason
from napari_fbrs.cli.stopping import StopRequest, stop_on_signals


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train or fine-tune from a recipe (training/*.toml)",
        description="Train from a TOML recipe. Override any recipe value with --set "
        "section.key=value. Many GPUs or nodes: torchrun --nproc_per_node N -m "
        "napari_fbrs.cli train RECIPE.toml ...",
        epilog="example: napari-fbrs train training/finetune_folder.toml --set "
        "data.root=my_labels --init hrnet18_ocr64_sbd --out runs/my_cells",
    )
    parser.add_argument("recipe", metavar="RECIPE.toml")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one recipe value (repeatable)",
    )
    parser.add_argument("--out", metavar="DIR", help="run folder [runs/<recipe name>]")
    parser.add_argument("--resume", action="store_true", help="continue DIR/last.pth exactly")
    parser.add_argument(
        "--init", metavar="PATH_OR_NAME", help="start from an official or own checkpoint"
    )
    parser.add_argument("--device", help="override train.device (auto, cpu, cuda[:N], mps)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from napari_fbrs.model.weights import WeightsError, resolve_checkpoint
    from napari_fbrs.training.config import load_recipe
    from napari_fbrs.training.trainer import train

    out = Path(args.out) if args.out else Path("runs") / Path(args.recipe).stem
    try:
        config = load_recipe(args.recipe, args.set)
        check_run_folder(out)
        init = resolve_checkpoint(args.init) if args.init else None
        stop = StopRequest()
        with stop_on_signals(
            stop,
            "stopping after this step and writing last.pth (continue "
            "with --resume; interrupt again to abort now)",
        ):
            summary = train(
                config,
                out,
                resume=args.resume,
                init=init,
                progress=not args.quiet,
                device=args.device,
                on_step=stop.on_step,
            )
    except (ValueError, WeightsError, FileExistsError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from None
    except OSError as exc:  # e.g. a full disk while writing a checkpoint
        named = exc.filename and not _is_temporary(exc.filename)
        where = str(exc.filename) if named else f"--out {out}"
        raise CLIError(f"{where}: {error_reason(exc)}") from None
    if os.environ.get("RANK", "0") == "0":
        print(
            f"{summary.arch}: {summary.steps} steps, {summary.epochs_completed} epochs in "
            f"{summary.seconds:.0f} s ({summary.images_per_second:.2f} images/s)"
        )
        if summary.mean_loss is not None:
            print(f"mean loss of the last epoch: {summary.mean_loss:.4f}")
        for name, value in summary.metrics.items():
            print(f"{name}: {value:.3f}")
        print(f"last checkpoint: {summary.last_checkpoint}")
        if summary.cancelled:
            print(f"interrupted at step {summary.steps}: continue with --resume")
        if summary.best_checkpoint is not None:
            print(f"best checkpoint: {summary.best_checkpoint} ({summary.best_metric:.3f})")
        sys.stdout.flush()
    return EXIT_INTERRUPTED if summary.cancelled else 0


def check_run_folder(out: Path) -> None:
    """Refuse an ``--out`` that cannot take a run, before any data or model is loaded.

    It must be a folder or not exist yet, and its nearest existing folder must take new
    files (a probe file is made and removed there).
    """
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out}: is a file, not a folder")
    existing = out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise CLIError(f"--out {out}: {existing} is a file, not a folder")
    check_writable(existing, f"--out {out}")


def _is_temporary(name: str | bytes) -> bool:
    """The atomic writer's temporary files start with a dot (``.last.pth.x1y2.pth``)."""
    return Path(str(name)).name.startswith(".")
