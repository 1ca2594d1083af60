"""Wall time of ``napari-fbrs evaluate`` with one process against ``--workers N``.

Why: an f-BRS click on a ZoomIn crop is a string of small operations, on which several torch
threads of one object partly wait for each other; whole objects in separate single-thread
processes do not (how much that gains depends on the mode and the machine, hence this script).
This runs the same evaluation (the same model, mode, dataset and first N objects) twice in
fresh processes:

  serial:   --workers 1 with every core as torch threads (OMP_NUM_THREADS = cores)
  parallel: --workers <cores>, one thread per worker

and prints a Markdown table: wall seconds (process start and model loading included), objects
per minute, the speed-up, and whether the two JSONs hold the same clicks and IoUs (in the BRS
modes they need not: one thread and several sum in different orders, and L-BFGS can turn that
into a different click on some objects).

Usage:
    python benchmarks/bench_eval_workers.py                       # DSB2018/val, 8 nuclei
    python benchmarks/bench_eval_workers.py --mode NoBRS --samples 20
    python benchmarks/bench_eval_workers.py --dataset grabcut --root ../shared/datasets/GrabCut

DSB2018 is read from ../shared/datasets when --root is not given.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def run_evaluate(args: argparse.Namespace, workers: int, threads: int, out: Path) -> float:
    """Wall seconds of one ``evaluate`` run in a fresh process."""
    command = [
        sys.executable, "-m", "napari_fbrs.cli", "evaluate",
        "--checkpoint", args.checkpoint, "--dataset", args.dataset, "--root", str(args.root),
        "--mode", args.mode, "--max-samples", str(args.samples), "--device", "cpu",
        "--workers", str(workers), "--output", str(out), "--quiet",
    ]  # fmt: skip
    if args.split:
        command += ["--split", args.split]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def same_results(a: Path, b: Path) -> tuple[bool, float]:
    """Whether the clicks agree everywhere, and the largest IoU difference."""
    from napari_fbrs.evaluation.report import read_json

    first, second = read_json(a).samples, read_json(b).samples
    if [s.name for s in first] != [s.name for s in second]:
        return False, float("nan")
    clicks = all(x.clicks == y.clicks for x, y in zip(first, second, strict=True))
    diff = max(
        (abs(u - v) for x, y in zip(first, second, strict=True)
         for u, v in zip(x.ious, y.ious, strict=False)),
        default=0.0,
    )  # fmt: skip
    return clicks, diff


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="dsb2018")
    parser.add_argument("--root", type=Path, help="[../shared/datasets/DSB2018]")
    parser.add_argument("--split", help="[val for dsb2018]")
    parser.add_argument("--checkpoint", default="default")
    parser.add_argument("--mode", default="f-BRS-B")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if args.root is None:
        args.root = SHARED / "datasets" / ("DSB2018" if args.dataset == "dsb2018" else "GrabCut")
    if args.split is None and args.dataset == "dsb2018":
        args.split = "val"
    if not args.root.exists():
        parser.error(f"{args.root} does not exist: give --root")

    cores = max(1, args.cores)
    with tempfile.TemporaryDirectory() as tmp:
        serial_json, parallel_json = Path(tmp) / "serial.json", Path(tmp) / "parallel.json"
        serial = run_evaluate(args, 1, cores, serial_json)
        parallel = run_evaluate(args, cores, 1, parallel_json)
        clicks_equal, iou_diff = same_results(serial_json, parallel_json)
    print(
        f"evaluate {args.dataset} ({args.split or '-'}), first {args.samples} objects, "
        f"{args.mode}, checkpoint {args.checkpoint}, {cores} cores"
    )
    print("| run | wall s | objects/min | speed-up |")
    print("| --- | -----: | ----------: | -------: |")
    runs = ((f"1 process, {cores} threads", serial), (f"{cores} workers, 1 thread each", parallel))
    for name, seconds in runs:
        rate = 60.0 * args.samples / seconds
        print(f"| {name} | {seconds:.1f} | {rate:.2f} | {serial / seconds:.2f} |")
    print(f"same clicks: {clicks_equal}; largest IoU difference: {iou_diff:.2e}")
    print(
        "(the two runs differ in threads per object, so the BRS modes may click differently on "
        "some objects: L-BFGS amplifies floating-point summation-order changes)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
