"""Dense annotation on DSB2018: segment everything's quality and a simulated user's actions.

Two tables (issue 24, item 5), on the first ``--images`` images of DSB2018/val (every object
of each image):

1. **Segment everything without corrections**, per image type (fluorescence, brightfield,
   histology, from ``meta/dsb2018_train_val.csv``) and overall: mean segmentation accuracy
   (mSA, micro-sam's definition: :mod:`napari_fbrs.evaluation.instances`), the share of objects
   found at IoU 0.5, seconds per image; beside it the Otsu + connected components and Otsu +
   distance-watershed baselines (:mod:`napari_fbrs.evaluation.instance_baseline`).
2. **User actions per object** to bring every object to IoU >= 0.85 (``--target``) with
   (a) click + Finish, (b) one click per object, (c) segment everything then corrections
   (:mod:`napari_fbrs.evaluation.dense` says exactly what each action is), at most
   ``--max-clicks`` clicks per object; failures are objects that never got there; seconds are
   the computer's (model calls), per object.

Targets (2 CPU cores): mSA >= 0.6 over the first 50 val images, at most 3 s for a 512 x 512
image; (c) <= 1.2 actions per object, (b) <= 2.

Usage:
    python benchmarks/bench_dense.py                       # both tables, 50 images
    python benchmarks/bench_dense.py --quality-only        # table 1 only (minutes)
    python benchmarks/bench_dense.py --images 5 --mode NoBRS   # a quick look at table 2
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from napari_fbrs.evaluation.dense import (  # noqa: E402
    DenseSummary,
    ObjectResult,
    annotate_by_clicks,
    correct_segmentation,
    one_click_results,
)
from napari_fbrs.evaluation.instance_baseline import otsu_components, otsu_watershed  # noqa: E402
from napari_fbrs.evaluation.instances import score_instances  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "DSB2018"
KINDS = {"fluorescence": "fluorescence", "brightfield": "brightfield", "histology": "histology"}


def image_kinds(data: Path) -> dict[str, str]:
    """Image id -> fluorescence / brightfield / histology (``unknown`` without the table)."""
    table = data.parent / "meta" / "dsb2018_train_val.csv"
    if not table.is_file():
        return {}
    with open(table, newline="") as fh:
        return {row["id"]: row["modality"].split("_")[0] for row in csv.DictReader(fh)}


class SegmenterTool:
    """The simulated user's tool: a :class:`napari_fbrs.Segmenter` on one image."""

    def __init__(self, segmenter) -> None:  # noqa: ANN001
        self.seg = segmenter

    def reset(self) -> None:
        self.seg.reset()

    def start_from(self, mask: np.ndarray) -> None:
        # what the widget's Edit label (Alt+click) does: the label is the object, clicks
        # correct it (Segmenter.set_mask; napari_fbrs.inference.session.init_mask)
        self.seg.set_mask(mask)

    def click(self, row: int, col: int, positive: bool) -> np.ndarray:
        return self.seg.click(row, col, positive)


def quality_table(rows: list[dict]) -> None:
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[row["kind"]].append(row)
    groups["all"] = rows
    print("\nSegment everything without corrections (DSB2018/val)")
    head = (
        f"{'image type':<13} {'images':>6} {'objects':>7} {'mSA':>6} {'found@.5':>8} "
        f"{'s/image':>7} {'s max':>6} | {'Otsu CC mSA':>11} {'found':>6} | {'Otsu WS mSA':>11}"
    )
    print(head)
    print("-" * len(head))
    for kind in [*sorted(k for k in groups if k != "all"), "all"]:
        g = groups[kind]

        def mean(key: str, g: list[dict] = g) -> float:
            return float(np.mean([r[key] for r in g]))

        print(
            f"{kind:<13} {len(g):>6} {sum(r['objects'] for r in g):>7} {mean('msa'):>6.3f} "
            f"{mean('found'):>8.3f} {mean('seconds'):>7.2f} "
            f"{max(r['seconds'] for r in g):>6.2f} | {mean('otsu_msa'):>11.3f} "
            f"{mean('otsu_found'):>6.3f} | {mean('ws_msa'):>11.3f}"
        )


def actions_table(results: dict[str, list[ObjectResult]], extra: dict, seconds: dict) -> None:
    print("\nUser actions per object to reach the target IoU (DSB2018/val)")
    head = (
        f"{'way of working':<36} {'objects':>7} {'actions/object':>14} {'failures':>8} "
        f"{'outside +':>9} {'s/object':>8}"
    )
    print(head)
    print("-" * len(head))
    names = {
        "a": "(a) click + Finish per object",
        "b": "(b) one click per object",
        "c": "(c) segment everything + corrections",
    }
    for key, name in names.items():
        s = DenseSummary.of(results[key], extra.get(key, 0))
        per = seconds[key] / s.objects if s.objects else 0.0
        print(
            f"{name:<36} {s.objects:>7} {s.per_object:>14.2f} {s.failures:>8} "
            f"{s.outside_clicks:>9} {per:>8.2f}"
        )
    print("outside +: corrective positive clicks outside the current mask (see evaluation.dense)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the DSB2018 folder")
    parser.add_argument("--split", default="val")
    parser.add_argument("--images", type=int, default=50, help="first N images [50]")
    parser.add_argument("--max-clicks", type=int, default=10)
    parser.add_argument("--target", type=float, default=0.85)
    parser.add_argument("--mode", default="f-BRS-B", help="BRS mode of the simulated user")
    parser.add_argument("--quality-only", action="store_true", help="table 1 only")
    args = parser.parse_args()

    import napari_fbrs
    from napari_fbrs.io.datasets import open_dataset
    from napari_fbrs.io.images import to_model_rgb
    from napari_fbrs.threads import configure_threads

    configure_threads()
    dataset = open_dataset("dsb2018", args.data, args.split)
    kinds = image_kinds(args.data)
    seg = napari_fbrs.Segmenter(mode=args.mode)
    tool = SegmenterTool(seg)
    rows: list[dict] = []
    results: dict[str, list[ObjectResult]] = {"a": [], "b": [], "c": []}
    extra = {"c": 0}
    seconds = {"a": 0.0, "b": 0.0, "c": 0.0}
    count = min(args.images, dataset.num_images())
    for index in range(count):
        image, gt = dataset.load_instances(index)
        gt = np.where(gt > 0, gt, 0).astype(np.int32)
        rgb = to_model_rgb(image)
        start = time.perf_counter()
        found = napari_fbrs.segment_all(rgb, seg.model)
        took = time.perf_counter() - start
        ours, otsu = score_instances(gt, found), score_instances(gt, otsu_components(rgb))
        name = Path(dataset.image_name(index)).stem
        rows.append(
            {
                "kind": kinds.get(name, "unknown"),
                "objects": ours.n_gt,
                "msa": ours.msa,
                "found": ours.found,
                "seconds": took,
                "otsu_msa": otsu.msa,
                "otsu_found": otsu.found,
                "ws_msa": score_instances(gt, otsu_watershed(rgb)).msa,
            }
        )
        line = f"{index:3d} {rows[-1]['kind']:<12} {rgb.shape[0]}x{rgb.shape[1]}"
        line += f" objects {ours.n_gt:3d}"
        line += f" found {ours.n_pred:3d} mSA {ours.msa:.3f} ({took:.2f} s)"
        if not args.quality_only:
            seg.set_image(rgb)
            start = time.perf_counter()
            clicked = annotate_by_clicks(tool, gt, args.max_clicks, args.target)
            seconds["a"] += time.perf_counter() - start
            seconds["b"] += time.perf_counter() - start
            results["a"] += clicked
            results["b"] += one_click_results(clicked)
            start = time.perf_counter()
            corrected = correct_segmentation(tool, gt, found, args.max_clicks, args.target)
            seconds["c"] += time.perf_counter() - start + took
            results["c"] += corrected.objects
            extra["c"] += corrected.deletions
            per = corrected.actions / max(len(corrected.objects), 1)
            line += f"; actions/object a {DenseSummary.of(clicked).per_object:.2f} c {per:.2f}"
        print(line, flush=True)
    print(f"\n{count} images of {args.data / args.split}; built-in model; user mode {args.mode}")
    quality_table(rows)
    if not args.quality_only:
        actions_table(results, extra, seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
