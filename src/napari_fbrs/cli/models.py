"""``info``, ``models``, ``download`` and ``export``: the checkpoint-facing subcommands."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from napari_fbrs.cli.common import PROG, CLIError, check_output, error_reason, load_model


# -- info --------------------------------------------------------------------------------------
def add_info_parser(subparsers: Any) -> None:
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

    loaded = load_model(args.checkpoint, download=False)  # info never downloads
    assert loaded.path is not None
    path = loaded.path
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
def add_models_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the built-in and official weights and which are cached",
        description="List the built-in model and the released f-BRS checkpoints with the cached "
        "copy of each. "
        "NAPARI_FBRS_CACHE changes the cache folder.",
    )
    parser.set_defaults(handler=_run_models)


def _run_models(args: argparse.Namespace) -> int:
    from napari_fbrs.model.weights import CACHE_ENV, WEIGHTS, cache_dir, cached_path, packaged_path

    rows = [("name", "architecture", "trained on", "size", "licence", "cached")]
    for info in WEIGHTS.values():  # the built-in model first, then the official releases
        if info.builtin:
            file = packaged_path(info)
            size = f"{file.stat().st_size / 1e6:.1f} MB" if file.is_file() else "missing"
            where = f"built in: {file}"
        else:
            size, where = f"{info.size_mb:g} MB", str(cached_path(info.name) or "-")
        rows.append((info.name, info.arch, info.trained_on, size, info.licence, where))
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        print("  ".join([*cells, row[-1]]))
    print(f"\ncache folder: {cache_dir()} (set {CACHE_ENV} to change it)")
    return 0


# -- download ----------------------------------------------------------------------------------
def add_download_parser(subparsers: Any) -> None:
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


# -- export ------------------------------------------------------------------------------------
def add_export_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write a slim inference-only (float16) copy of a checkpoint",
        description="Load a checkpoint strictly (official, trained or fine-tuned) and write its "
        "weights alone, float16 by default, without optimiser or resume state: the way the "
        "built-in model was made from the trainer's last.pth. The output is written atomically.",
    )
    parser.add_argument("checkpoint", help="a .pth file or a weights name")
    parser.add_argument("output", help="the .pth file to write")
    parser.add_argument("--float32", action="store_true", help="keep float32 weights")
    parser.add_argument(
        "--force",
        action="store_true",
        help="accepted for compatibility: an existing output is always replaced (atomically)",
    )
    parser.set_defaults(handler=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    import shutil

    from napari_fbrs.model.checkpoint import CheckpointError, export_checkpoint, sha256_of
    from napari_fbrs.model.weights import WeightsError, resolve_checkpoint

    output = check_output(args.output, None, "output")
    assert output is not None
    try:
        source = resolve_checkpoint(args.checkpoint)
    except WeightsError as exc:
        raise CLIError(str(exc)) from None
    if output.exists() and os.path.samefile(source, output):
        raise CLIError(f"output {output}: that is the checkpoint being exported; choose another")
    try:
        export_checkpoint(source, output, half=not args.float32)
    except CheckpointError as exc:
        raise CLIError(str(exc)) from None
    except (OSError, RuntimeError) as exc:  # torch reports a full disk as a RuntimeError
        free_mb = shutil.disk_usage(output.parent).free / 1e6
        raise CLIError(
            f"output {output}: cannot write ({error_reason(exc)}; {free_mb:.0f} MB free there)"
        ) from None
    print(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB)\nsha256 {sha256_of(output)}")
    return 0
