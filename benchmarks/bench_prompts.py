"""Issue 24's prompt targets: correcting an existing label, and box prompts.

For each object of GrabCut (50) and/or DSB2018/val (the first ``--max-objects`` nuclei), with
the built-in model, the eval preset (the NoC protocol's settings) and the NoC protocol's
simulated user (``napari_fbrs.evaluation.prompts``):

* ``edit``: the object's label eroded (even objects) or dilated (odd ones) to IoU 0.8 with it,
  then clicks to IoU 0.9: median and mean clicks, share done in <= 2 clicks, against the
  clicks from nothing (NoC@90). ``--edit-policies`` adds the policy of models without a
  previous-mask input (a seed click at the mask's innermost pixel, the mask fed as zeros).
* ``box``: the object's bounding box alone (mean IoU) for each variant of
  ``inference.session.boxes.BOX_VARIANTS``, and NoC@90 from the box + clicks against from
  clicks alone (the default variant, box clicks kept / dropped).

Usage (2 CPU cores; each line prints a Markdown table):
    python benchmarks/bench_prompts.py --what edit --datasets grabcut,dsb2018 --max-objects 50
    python benchmarks/bench_prompts.py --what box --datasets grabcut --modes f-BRS-B
    python benchmarks/bench_prompts.py --what box-variants --datasets grabcut --modes NoBRS
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"


def _session(mode: str, model):  # noqa: ANN001, ANN202
    from napari_fbrs.inference.engine.config import eval_preset
    from napari_fbrs.inference.engine.factory import make_predictor
    from napari_fbrs.inference.session.interactive import InteractiveSession

    config = eval_preset(mode)
    predictor = make_predictor(model, config, "cpu", 0)
    return InteractiveSession(predictor, prob_thresh=config.prob_thresh, history_bytes=0)


class _NoPrevMask:
    """The built-in model as a model without a previous-mask input would be driven: the
    start mask is never given to it (its previous-mask input stays zeros until it predicts)."""

    def __init__(self, predictor) -> None:  # noqa: ANN001
        self._inner = predictor

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._inner, name)

    def set_previous_mask(self, probs) -> None:  # noqa: ANN001
        self._inner.set_previous_mask(None)


def _objects(name: str, max_objects: int | None):  # noqa: ANN202
    from napari_fbrs.io.datasets import open_dataset

    if name == "grabcut":
        dataset = open_dataset("grabcut", DATASETS / "GrabCut")
    else:
        dataset = open_dataset("dsb2018", DATASETS / "DSB2018", split="val")
    count = len(dataset) if max_objects is None else min(len(dataset), max_objects)
    for index in range(count):
        yield index, dataset[index]


def _summary(values: list[int]) -> str:
    within = sum(v <= 2 for v in values) / len(values)
    return (
        f"{statistics.median(values):.1f} | {statistics.mean(values):.2f} | {100 * within:.0f} %"
    )


def bench_edit(args: argparse.Namespace, model) -> None:  # noqa: ANN001
    from napari_fbrs.evaluation.prompts import click_from, degraded_mask, edit_run

    policies = [("prev-mask input + seed click", False, None)]
    if args.edit_policies:
        policies += [("prev-mask input alone", False, False), ("no prev input: seed", True, True)]
    print(
        "| dataset | mode | start | objects | start IoU | clicks to 0.9: median | mean | "
        "<= 2 clicks | from nothing: median | mean | s |"
    )
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for dataset in args.datasets.split(","):
        for mode in args.modes.split(","):
            session = _session(mode, model)
            runs: dict[str, list[int]] = {name: [] for name, _, _ in policies}
            starts: list[float] = []
            scratch: list[int] = []
            skipped = 0
            start = time.perf_counter()
            for index, sample in _objects(dataset, args.max_objects):
                gt = np.asarray(sample.mask)
                if degraded_mask(gt, bool(index % 2)) is None:
                    skipped += 1
                    print(
                        f"{dataset} object {index}: skipped (no start at IoU 0.75-0.85)",
                        file=sys.stderr,
                    )
                    continue
                session.set_image(sample.image)
                for name, hide_prev, seed in policies:
                    inner = session.predictor
                    if hide_prev:
                        session.predictor = _NoPrevMask(inner)
                    run = edit_run(
                        session, gt, bool(index % 2), args.target, args.max_clicks, seed
                    )
                    session.predictor = inner
                    assert run is not None
                    runs[name].append(run.clicks_to(args.target, args.max_clicks))
                    if name == policies[0][0]:
                        starts.append(run.start_iou)
                if not args.no_scratch:
                    fresh = click_from(session, gt, None, args.target, args.max_clicks)
                    scratch.append(fresh.clicks_to(args.target, args.max_clicks))
                print(
                    f"{dataset} {mode} object {index}: "
                    + ", ".join(f"{n} {v[-1]}" for n, v in runs.items())
                    + (f", scratch {scratch[-1]}" if scratch else ""),
                    file=sys.stderr,
                )
            seconds = time.perf_counter() - start
            for name, values in runs.items():
                base = (
                    f"{statistics.median(scratch):.1f} | {statistics.mean(scratch):.2f}"
                    if scratch
                    else "- | -"
                )
                print(
                    f"| {dataset} | {mode} | {name} | {len(values)} (+{skipped} skipped) | "
                    f"{statistics.mean(starts):.3f} | {_summary(values)} | {base} | "
                    f"{seconds:.0f} |"
                )


def bench_box(args: argparse.Namespace, model, variants: tuple[str, ...]) -> None:  # noqa: ANN001
    from napari_fbrs.evaluation.prompts import box_run, click_from

    with_clicks = args.what == "box"
    print(
        "| dataset | mode | variant | objects | box alone: mean IoU | median IoU | "
        "NoC@90 box + clicks | box + clicks (box clicks dropped) | clicks alone | s |"
    )
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for dataset in args.datasets.split(","):
        for mode in args.modes.split(","):
            session = _session(mode, model)
            for variant in variants:
                alone: list[float] = []
                kept: list[int] = []
                dropped: list[int] = []
                scratch: list[int] = []
                start = time.perf_counter()
                for index, sample in _objects(dataset, args.max_objects):
                    gt = np.asarray(sample.mask)
                    session.set_image(sample.image)
                    run = box_run(
                        session, gt, variant, args.target, args.max_clicks if with_clicks else 0
                    )
                    alone.append(run.start_iou)
                    if with_clicks:
                        kept.append(run.clicks_to(args.target, args.max_clicks))
                        other = box_run(
                            session, gt, variant, args.target, args.max_clicks, keep_seeds=False
                        )
                        dropped.append(other.clicks_to(args.target, args.max_clicks))
                        fresh = click_from(session, gt, None, args.target, args.max_clicks)
                        scratch.append(fresh.clicks_to(args.target, args.max_clicks))
                    print(
                        f"{dataset} {mode} {variant} object {index}: box IoU {alone[-1]:.3f}"
                        + (
                            f", NoC box {kept[-1]} / {dropped[-1]}, scratch {scratch[-1]}"
                            if with_clicks
                            else ""
                        ),
                        file=sys.stderr,
                    )
                seconds = time.perf_counter() - start
                cells = [
                    f"{statistics.mean(v):.2f}" if v else "-" for v in (kept, dropped, scratch)
                ]
                print(
                    f"| {dataset} | {mode} | {variant} | {len(alone)} | "
                    f"{statistics.mean(alone):.3f} | {statistics.median(alone):.3f} | "
                    f"{' | '.join(cells)} | {seconds:.0f} |"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--what", choices=("edit", "box", "box-variants"), default="edit")
    parser.add_argument("--datasets", default="grabcut,dsb2018")
    parser.add_argument("--modes", default="NoBRS,f-BRS-B")
    parser.add_argument("--max-objects", type=int, default=None)
    parser.add_argument("--max-clicks", type=int, default=20)
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--edit-policies", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all)")
    parser.add_argument("--variants", help="box variants to compare (default: all)")
    parser.add_argument("--no-scratch", action="store_true", help="skip clicks from nothing")
    args = parser.parse_args()

    from napari_fbrs.inference.session.boxes import BOX_VARIANTS, DEFAULT_BOX_VARIANT
    from napari_fbrs.model.checkpoint import load_checkpoint
    from napari_fbrs.model.weights import resolve_checkpoint
    from napari_fbrs.threads import configure_threads

    configure_threads("batch")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    model = load_checkpoint(resolve_checkpoint("default")).model
    print(
        f"built-in model, eval preset, target IoU {args.target}, at most {args.max_clicks} "
        "clicks\n"
    )
    if args.what == "edit":
        bench_edit(args, model)
    else:
        variants = BOX_VARIANTS if args.what == "box-variants" else (DEFAULT_BOX_VARIANT,)
        if args.variants:
            variants = tuple(args.variants.split(","))
        bench_box(args, model, variants)


if __name__ == "__main__":
    main()
