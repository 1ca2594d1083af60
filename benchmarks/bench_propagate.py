"""Propagation through Z: 3-D IoU and clicks per 3-D object against clicking every slice.

Two labelled stacks (see ``napari_fbrs.evaluation.propagation`` for the protocol):

* the synthetic nuclei stack (``io.stacks.synthetic_nuclei_stack``: 3-D ellipsoids that drift
  and shrink from slice to slice, 3-D ground truth);
* ISBI 2012 EM slices 0-19 from ``../shared/datasets/ISBI_EM`` (per-slice cell instances,
  linked into 3-D objects across consecutive slices by mutual best overlap, IoU >= 0.3); the
  first ``--isbi-objects`` objects present on at least 3 slices. Skipped with a message when
  ``../shared`` is absent.

For every object: the simulated user clicks on its largest slice until IoU >= ``--target`` (or
``--max-clicks``), the mask is propagated (default stop rules), then ``--corrections`` rounds
re-segment the worst slice and propagate again from it; the baseline clicks every slice
separately. ``--min-contrast 0`` turns the faded rule off (the stop rules before it). Uses the
built-in model with the eval preset. Prints a Markdown table.

Usage:
    python benchmarks/bench_propagate.py                  # f-BRS-B, 1 correction round
    python benchmarks/bench_propagate.py --mode NoBRS --isbi-objects 20 --output prop.json
    python benchmarks/bench_propagate.py --stacks isbi --output isbi.json   # one stack
    python benchmarks/bench_propagate.py --stacks synthetic --min-contrast 0  # rule off
    python benchmarks/bench_propagate.py --table-from synthetic.json isbi.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ISBI = REPO.parent / "shared" / "datasets" / "ISBI_EM"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="f-BRS-B")
    parser.add_argument("--target", type=float, default=0.85)
    parser.add_argument("--max-clicks", type=int, default=20)
    parser.add_argument("--corrections", type=int, default=1)
    parser.add_argument("--synthetic-objects", type=int, default=8)
    parser.add_argument("--isbi-objects", type=int, default=10)
    parser.add_argument("--stacks", default="synthetic,isbi", help="comma-separated subset")
    parser.add_argument(
        "--min-contrast",
        type=float,
        help="the faded stop rule's min_contrast_ratio (0 = off: the rules before it) [default]",
    )
    parser.add_argument(
        "--output", type=Path, help="every object's numbers as JSON, rewritten after each object"
    )
    parser.add_argument("--table-from", type=Path, nargs="+", help="print the table of JSONs")
    args = parser.parse_args()
    if args.table_from:
        table_from_json(args.table_from)
        return

    from napari_fbrs.atomic import atomic_write_text
    from napari_fbrs.evaluation.propagation import PropagationEvalSettings, evaluate_propagation
    from napari_fbrs.inference.engine.config import eval_preset
    from napari_fbrs.inference.engine.predictor import Predictor
    from napari_fbrs.inference.stacks.propagation import PropagationConfig
    from napari_fbrs.io.planes import stack_source
    from napari_fbrs.model.checkpoint import load_checkpoint
    from napari_fbrs.model.default_model import default_checkpoint_path
    from napari_fbrs.synthetic import link_slices, read_slice_folder, synthetic_nuclei_stack

    model = load_checkpoint(default_checkpoint_path()).model
    predictor = Predictor(model, eval_preset(args.mode))
    settings = PropagationEvalSettings(
        target_iou=args.target, max_clicks=args.max_clicks, corrections=args.corrections
    )
    config = PropagationConfig()
    if args.min_contrast is not None:
        config = replace(config, min_contrast_ratio=args.min_contrast)
    wanted = {name.strip() for name in args.stacks.split(",")}
    stacks = []
    if "synthetic" in wanted:
        image, labels = synthetic_nuclei_stack(
            (16, 192, 192), count=args.synthetic_objects, seed=0
        )
        stacks.append(("synthetic nuclei 16x192x192", image, labels, settings))
    if "isbi" in wanted and ISBI.is_dir():
        images, per_slice = read_slice_folder(ISBI)
        isbi = replace(settings, min_slices=3, max_objects=args.isbi_objects)
        stacks.append(("ISBI_EM 20x512x512", images, link_slices(per_slice, 0.3), isbi))
    elif "isbi" in wanted:
        print(f"{ISBI} is absent: the ISBI_EM stack is skipped", file=sys.stderr)

    rows, dumps = [], []
    for name, image, labels, chosen in stacks:
        start = time.perf_counter()

        done: list = []

        def report(item, name=name, done=done) -> None:  # noqa: ANN001
            print(
                f"{name}: object {item.label} ({item.slices} slices) 3-D IoU {item.iou_3d:.3f} "
                f"with {item.start_clicks} clicks, {item.corrected_iou_3d} with "
                f"{item.corrected_clicks}; per slice {item.per_slice_iou_3d} with "
                f"{item.per_slice_clicks} clicks; {item.seconds:.0f} s",
                file=sys.stderr,
            )
            done.append(asdict(item))
            if args.output:  # so that an interrupted run keeps what it has measured
                partial = [*dumps, {"name": name, "partial": True, "objects": done}]
                atomic_write_text(args.output, json.dumps(partial, indent=1))

        result = evaluate_propagation(
            predictor, stack_source(image), labels, chosen, config, name=name, on_object=report
        )
        rows.append((name, result.summary(), time.perf_counter() - start))
        dumps.append(result.to_dict())
    print(
        f"\nbuilt-in model, {args.mode}, eval preset; target IoU {args.target}, at most "
        f"{args.max_clicks} clicks per slice, {args.corrections} correction round(s), "
        f"min_contrast_ratio {config.min_contrast_ratio}\n"
    )
    print_table(rows)
    if args.output:
        atomic_write_text(args.output, json.dumps(dumps, indent=1))


def print_table(rows: list[tuple[str, dict, float]]) -> None:
    """One Markdown row per stack: (name, ``PropagationEvaluation.summary()``, seconds)."""
    print(
        "| stack | objects | slices/object | propagate: clicks/object | 3-D IoU | "
        "+ corrections: clicks/object | 3-D IoU | every slice: clicks/object | 3-D IoU | "
        "s/object |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, s, seconds in rows:
        cells = [
            s["slices_per_object"],
            s["clicks"],
            s["iou_3d"],
            s["corrected_clicks"],
            s["corrected_iou_3d"],
            s["per_slice_clicks"],
            s["per_slice_iou_3d"],
            seconds / max(1, s["objects"]),
        ]
        text = " | ".join("-" if v is None else f"{v:.2f}" for v in cells)
        print(f"| {name} | {s['objects']} | {text} |")


def table_from_json(paths: list[Path]) -> None:
    """The table again from ``--output`` files (an interrupted run's too: its objects so far)."""
    from napari_fbrs.evaluation.propagation import (
        ObjectPropagation,
        PropagationEvalSettings,
        PropagationEvaluation,
    )

    rows = []
    for path in paths:
        for stack in json.loads(path.read_text()):
            objects = [ObjectPropagation(**o) for o in stack["objects"]]
            summary = PropagationEvaluation("", PropagationEvalSettings(), objects).summary()
            name = stack["name"] + (" (interrupted)" if stack.get("partial") else "")
            rows.append((name, summary, sum(o.seconds for o in objects)))
    print_table(rows)


if __name__ == "__main__":
    main()
