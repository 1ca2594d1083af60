"""Does fine-tuning help? NoC before and after on held-out images of the fine-tuned set.

What the *f-BRS fine-tune* widget does, from a folder of labelled images, with its defaults
(:class:`napari_fbrs.training.finetune_policy.FinetuneSettings`), through its entry point
(:func:`napari_fbrs.training.finetune.finetune_items`: hold-out split, NoC before, training,
NoC after, the keep decision): the built-in model is fine-tuned on the first ``--train-images``
images of a set; then the built-in model and the fine-tuned one are both measured on
``--eval-objects`` objects spread over the last ``--eval-images`` images of that set (images
the fine-tuning never saw), NoBRS, up to ``--max-clicks`` clicks. Nothing is asserted; one
table row per set is printed (and appended as JSON to ``--json`` when given).

    python benchmarks/bench_finetune.py --sets ISBI_EM WBC --threads 2
    python benchmarks/bench_finetune.py --sets CCP_person --steps 100 --lr 1e-4

Sets (under ``--datasets``, default ``../shared/datasets`` beside the repository): ISBI_EM,
WBC (both in the built-in model's training data), DSB2018_val, CCP_person, DUTS_TR (never
in it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
#: name -> (dataset kind, folder under --datasets, split)
SETS = {
    "ISBI_EM": ("folder", "ISBI_EM", None),
    "WBC": ("folder", "WBC", None),
    "DSB2018_val": ("dsb2018", "DSB2018", "val"),
    "CCP_person": ("folder", "CCP_person", None),
    "DUTS_TR": ("folder", "DUTS_TR", None),
}


def _items(dataset, indices):  # noqa: ANN001, ANN202
    from napari_fbrs.training.finetune import LabelledImage

    items = []
    for i in indices:
        image, ids = dataset.load_instances(i)
        items.append(LabelledImage(dataset.image_name(i), image, np.maximum(ids, 0)))
    return items


def _write_eval(items, root: Path) -> None:  # noqa: ANN001
    from napari_fbrs.io.masks import write_labels, write_rgb_tiff

    for sub in ("images", "labels"):
        (root / "val" / sub).mkdir(parents=True, exist_ok=True)
    for k, item in enumerate(items):
        write_rgb_tiff(root / "val" / "images" / f"{k:03d}.tif", item.image)
        write_labels(root / "val" / "labels" / f"{k:03d}.tif", item.labels.astype(np.uint32))


def _log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def run_set(name: str, args: argparse.Namespace, work: Path) -> dict[str, object]:
    from napari_fbrs.io.datasets import open_dataset
    from napari_fbrs.model.weights import resolve_checkpoint
    from napari_fbrs.training.finetune import finetune_items, validation_noc
    from napari_fbrs.training.finetune_policy import FinetuneSettings

    kind, folder, split = SETS[name]
    dataset = open_dataset(kind, args.datasets / folder, split=split)
    n = dataset.num_images()
    train_items = _items(dataset, range(args.train_images))
    eval_items = _items(dataset, range(n - args.eval_images, n))
    _write_eval(eval_items, work / name / "eval")
    overrides = {
        key: getattr(args, key)
        for key in (
            "steps",
            "lr",
            "freeze_backbone",
            "object_zoom_prob",
            "batch_size",
            "validation_samples",
        )
        if getattr(args, key) is not None
    }
    settings = dataclasses.replace(FinetuneSettings(), **overrides)
    init = resolve_checkpoint("default")
    started, cpu_started = time.perf_counter(), time.process_time()
    result = finetune_items(
        train_items,
        init,
        work / name / "tuned.pth",
        settings,
        on_phase=lambda phase, n: _log(f"{name}: {phase} ({n})"),
        on_step=lambda step, total, loss: (
            _log(f"{name}: step {step}/{total} loss {loss:.4f}") if step % 25 == 0 else None
        ),
    )
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    row: dict[str, object] = {
        "set": name,
        "train_images": args.train_images,
        "train_objects": int(sum(len(np.unique(i.labels)) - 1 for i in train_items)),
        "settings": dataclasses.asdict(settings),
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "train_s": round(result.seconds, 1),
        "panel_noc_s": round(result.noc_seconds, 1),
        "panel_before": result.before,
        "panel_after": result.after,
        "verdict": result.verdict.value,
    }
    for label, checkpoint in (("before", init), ("after", result.checkpoint)):
        key = f"{name}-{args.eval_images}-{args.eval_objects}-{args.max_clicks}"
        cached = args.cache / f"{key}.json" if args.cache and label == "before" else None
        if cached is not None and cached.is_file():  # the built-in model's figure is fixed
            row.update(json.loads(cached.read_text()))
            continue
        t0 = time.perf_counter()
        noc, count = validation_noc(
            checkpoint, work / name / "eval", args.eval_objects, args.max_clicks
        )
        part = {
            label: {k: round(v, 2) for k, v in noc.items()},
            f"{label}_eval_s": round(time.perf_counter() - t0, 1),
            "eval_objects": count,
        }
        row.update(part)
        if cached is not None:
            cached.write_text(json.dumps(part))
    b, a = row["before"]["noc@85"], row["after"]["noc@85"]  # type: ignore[index]
    row["noc85_change_pct"] = round(100 * (a - b) / b, 1)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["ISBI_EM", "WBC"], choices=sorted(SETS))
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--train-images", type=int, default=4)
    parser.add_argument("--eval-images", type=int, default=8)
    parser.add_argument("--eval-objects", type=int, default=40)
    parser.add_argument("--max-clicks", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--validation-samples", type=int, help="the panel's held-out objects")
    parser.add_argument("--object-zoom-prob", type=float)
    parser.add_argument("--freeze-backbone", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--json", type=Path, help="append each row as a JSON line")
    parser.add_argument("--cache", type=Path, help="folder to reuse the built-in model's NoC")
    args = parser.parse_args()
    if not args.datasets.is_dir():
        parser.error(f"{args.datasets}: no such folder (--datasets)")

    os.environ.setdefault("NAPARI_FBRS_THREADS", str(args.threads))
    from napari_fbrs.threads import configure_threads

    configure_threads()  # before torch: OpenMP waits passively, as in the CLI and the widget
    print(
        "| set | train imgs/objs | held-out objs | NoC@85 before -> after | "
        "NoC@90 before -> after | change @85 | wall s (train s, panel NoC s) | CPU s | "
        "panel verdict |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets:
            row = run_set(name, args, Path(tmp))
            b, a = row["before"], row["after"]
            print(
                f"| {name} | {row['train_images']}/{row['train_objects']} | "
                f"{row['eval_objects']} | {b['noc@85']:.2f} -> {a['noc@85']:.2f} | "
                f"{b['noc@90']:.2f} -> {a['noc@90']:.2f} | {row['noc85_change_pct']:+.1f} % | "
                f"{row['wall_s']:.0f} ({row['train_s']:.0f}, {row['panel_noc_s']:.0f}) | "
                f"{row['cpu_s']:.0f} | "
                f"{row['verdict']} |",
                flush=True,
            )
            if args.json is not None:
                with args.json.open("a") as out:
                    out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
