"""The ``napari-fbrs`` command line: parse, check the input, dispatch to the core.

Each subcommand lives in its own module with two functions, ``add_parser(subparsers)`` and
``run(args) -> int``, listed once in :data:`SUBCOMMANDS`. Handlers import torch and the engine
lazily, so ``--help`` and ``models`` answer at once.

Exit codes: 0 success; 2 bad input (a missing or unreadable file, a corrupt or foreign
checkpoint, malformed clicks, an unknown weights name, an unusable device, no network for a
download, an empty dataset, an output that cannot be written or would replace an input),
reported as one line on stderr, never as a traceback; 130 interrupted (also after the clean
stop of ``train`` and ``evaluate``, which still print and save what they finished). A
traceback therefore always means a bug.

``main`` first calls :func:`napari_fbrs.threads.configure_threads`, before any subcommand
imports torch: ``train`` and ``evaluate`` as batch jobs (every core, OpenMP's default, the
same thread count on every run), every other command as interactive (each click takes the
cores that are idle at that moment).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from napari_fbrs.cli import annotate, evaluate, models, predict, segment_all, train, view
from napari_fbrs.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    MASK_SUFFIXES,
    PROG,
    CLIError,
)
from napari_fbrs.cli.options import add_predictor_options, predictor_config_from_args

if TYPE_CHECKING:
    from napari_fbrs.threads import Role

__all__ = [
    "MASK_SUFFIXES",
    "CLIError",
    "add_predictor_options",
    "build_parser",
    "main",
    "predictor_config_from_args",
]

SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (
    models.add_info_parser,
    models.add_models_parser,
    models.add_download_parser,
    models.add_export_parser,
    predict.add_parser,
    evaluate.add_parser,
    train.add_parser,
    view.add_parser,
    annotate.add_parser,
    segment_all.add_parser,
)


def build_parser() -> argparse.ArgumentParser:
    from napari_fbrs import __version__

    parser = argparse.ArgumentParser(
        prog=PROG, description="f-BRS click-based interactive segmentation from the command line."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_parser in SUBCOMMANDS:
        add_parser(subparsers)
    return parser


#: Long jobs the user started, whose results must not depend on the machine's load: torch's
#: default threads (BRS results depend on the thread count through summation order).
BATCH_COMMANDS = ("train", "evaluate")


def _role(argv: list[str] | None) -> Role:
    """``batch`` for :data:`BATCH_COMMANDS` (every thread, OpenMP's default waiting), else
    ``interactive`` (each click takes the idle cores). Read before parsing, because the thread
    policy must be set before any subcommand imports torch."""
    words = [w for w in (sys.argv[1:] if argv is None else argv) if not w.startswith("-")]
    return "batch" if words[:1] and words[0] in BATCH_COMMANDS else "interactive"


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand and return its exit code (argparse's own usage errors give 2)."""
    from napari_fbrs.threads import configure_threads

    try:
        configure_threads(_role(argv))  # before torch is imported by any subcommand
    except ValueError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help/--version (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what the user typed, for records
    try:
        return args.handler(args)
    except CLIError as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
