"""One click per object against click + Finish per object: user actions per nucleus.

A simulated user annotates every nucleus of the first ``--images`` DSB2018/val images (from
``../shared/datasets/DSB2018``) with ``napari_fbrs.Segmenter`` (the built-in model, the widget's
demo preset), nucleus after nucleus in reading order of their centroids, until each reaches IoU
``--target`` with its ground truth (at most ``--max-clicks`` clicks):

* **(a) click + Finish**: a positive click on the nucleus's deepest pixel (the maximum of its
  distance transform), the NoC protocol's corrective clicks while IoU < target, then Finish.
  Actions: clicks + 1.
* **(b) one click per object**: the same first click, which also finishes the previous nucleus.
  Negative corrections work in the mode; a positive correction lies outside the object, which
  the mode reads as "next object", so the user switches the mode off first (key O, 1 action)
  and on again before the next nucleus (1 action). When the next nucleus's centre is already
  inside the object in progress, the user presses Finish first (1 action). One Finish at the end
  of each image. Actions: all of these.

Counted over all nuclei: actions per object, the share of objects whose label in the final
label image reaches the target (the label can lose pixels to neighbours labelled before it:
existing labels are kept), the mean IoU of those labels, and the seconds per image. Prints a
Markdown table. Deterministic apart from the times.

Usage:
    python benchmarks/bench_one_click.py                     # 10 images, f-BRS-B
    python benchmarks/bench_one_click.py --images 3 --mode NoBRS
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

REPO = Path(__file__).resolve().parents[1]
DSB = REPO.parent / "shared" / "datasets" / "DSB2018"


@dataclass
class Tally:
    """Actions and outcomes of one protocol over some images."""

    objects: int = 0
    actions: int = 0
    reached: int = 0
    ious: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, other: Tally) -> None:
        self.objects += other.objects
        self.actions += other.actions
        self.reached += other.reached
        self.ious += other.ious
        self.seconds += other.seconds

    def row(self, name: str, images: int, target: float) -> str:
        per = self.actions / max(self.objects, 1)
        share = 100.0 * self.reached / max(self.objects, 1)
        mean = float(np.mean(self.ious)) if self.ious else 0.0
        return (
            f"| {name} | {self.objects} | {per:.2f} | {share:.0f} % | {mean:.3f} | "
            f"{self.seconds / max(images, 1):.1f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--mode", default="f-BRS-B")
    parser.add_argument("--target", type=float, default=0.85)
    parser.add_argument("--max-clicks", type=int, default=20)
    parser.add_argument("--root", type=Path, default=DSB)
    args = parser.parse_args()

    import napari_fbrs
    from napari_fbrs.io.datasets import open_dataset

    dataset = open_dataset("dsb2018", args.root, "val")
    seg = napari_fbrs.Segmenter(mode=args.mode)
    totals = {"a": Tally(), "b": Tally()}
    print("| image | nuclei | (a) actions/object | (b) actions/object | (a) / (b) >= target |")
    print("|---|---|---|---|---|")
    for index in range(min(args.images, dataset.num_images())):
        image, truth = dataset.load_instances(index)
        objects = _reading_order(truth)
        per = {
            "a": _click_and_finish(seg, image, truth, objects, args),
            "b": _one_click(seg, image, truth, objects, args),
        }
        for key, tally in per.items():
            totals[key].add(tally)
        a, b = (per[k].actions / max(len(objects), 1) for k in ("a", "b"))
        reached = " / ".join(str(per[k].reached) for k in ("a", "b"))
        name = dataset.image_name(index)[:8]
        print(f"| {name} | {len(objects)} | {a:.2f} | {b:.2f} | {reached} |", flush=True)
    images = min(args.images, dataset.num_images())
    print(f"\nDSB2018/val, first {images} images, {args.mode}, target IoU {args.target}:\n")
    print("| protocol | objects | actions/object | labels >= target | mean label IoU | s/image |")
    print("|---|---|---|---|---|---|")
    print(totals["a"].row("(a) click + Finish", images, args.target))
    print(totals["b"].row("(b) one click per object", images, args.target))


def _reading_order(truth: np.ndarray) -> list[int]:
    ids = [int(i) for i in np.unique(truth) if i > 0]
    centres = ndimage.center_of_mass(np.ones_like(truth), truth, ids)
    return [i for _, i in sorted(zip(centres, ids, strict=True))]


def _deepest(gt: np.ndarray) -> tuple[int, int]:
    depth = ndimage.distance_transform_edt(np.pad(gt, 1))[1:-1, 1:-1]
    row, col = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return int(row), int(col)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def _corrections(seg, gt: np.ndarray, mask: np.ndarray, first: tuple[int, int], args, before):  # noqa: ANN001, ANN201
    """The NoC protocol's clicks after the first one; ``before(click)`` returns the extra
    actions a click needs first. Returns (mask, actions)."""
    from napari_fbrs.evaluation.clicker import next_click

    not_clicked = np.ones(gt.shape, bool)
    not_clicked[first] = False
    actions, clicks = 0, 1
    while _iou(mask, gt) < args.target and clicks < args.max_clicks:
        click = next_click(gt.astype(np.int8), mask, not_clicked)
        not_clicked[int(click.row), int(click.col)] = False
        actions += before(click) + 1
        mask = seg.click(click.row, click.col, click.positive)
        clicks += 1
    return mask, actions


def _click_and_finish(seg, image, truth, objects, args) -> Tally:  # noqa: ANN001
    tally, start = Tally(), time.perf_counter()
    seg.one_click_per_object = False
    seg.set_image(image)
    labels = np.zeros(truth.shape, np.int32)
    for obj in objects:
        gt = truth == obj
        first = _deepest(gt)
        mask = seg.click(*first)
        _, actions = _corrections(seg, gt, mask, first, args, lambda _click: 0)
        seg.finish(labels)
        tally.actions += actions + 2  # the first click, corrections, Finish
    tally.seconds = time.perf_counter() - start
    _score(tally, labels, truth, objects, args.target)
    return tally


def _one_click(seg, image, truth, objects, args) -> Tally:  # noqa: ANN001
    tally, start = Tally(), time.perf_counter()
    seg.one_click_per_object = True
    seg.set_image(image)
    labels = np.zeros(truth.shape, np.int32)
    seg.set_labels(labels)

    def switch_off(click) -> int:  # noqa: ANN001
        if click.positive and seg.one_click_per_object:
            seg.one_click_per_object = False  # key O: a positive correction follows
            return 1
        return 0

    for obj in objects:
        gt = truth == obj
        first = _deepest(gt)
        current = seg.mask
        if not seg.one_click_per_object:
            seg.one_click_per_object = True  # key O again
            tally.actions += 1
        if current is not None and current[first]:
            seg.finish()  # the centre is inside the object in progress: Finish first
            tally.actions += 1
        mask = seg.click(*first)
        _, actions = _corrections(seg, gt, mask, first, args, switch_off)
        tally.actions += actions + 1
    seg.finish()
    tally.actions += 1
    tally.seconds = time.perf_counter() - start
    _score(tally, labels, truth, objects, args.target)
    return tally


def _score(tally: Tally, labels: np.ndarray, truth: np.ndarray, objects, target: float) -> None:  # noqa: ANN001
    """IoU of each nucleus with the label that overlaps it most."""
    for obj in objects:
        gt = truth == obj
        under = labels[gt]
        under = under[under > 0]
        best = int(np.bincount(under).argmax()) if under.size else 0
        iou = _iou(labels == best, gt) if best else 0.0
        tally.objects += 1
        tally.reached += iou >= target
        tally.ious.append(iou)


if __name__ == "__main__":
    main()
