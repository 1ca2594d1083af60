"""Per-click time and peak memory of local clicks on large images (issue 15, part 1).

The same small object sits in images of 512, 4000 and 16000 px: the README's nucleus (about
20 px across) of the synthetic nuclei sample, which is tiled over the whole image as a function
of the offset from the object, so every window around it holds exactly the same pixels (a
slide full of nuclei). The 16000 x 16000 uint8 RGB image (768 MB if it were materialised) is a
dask array whose chunks are generated on demand, so only the windows that are read exist.

Each case runs in a fresh process (so its peak RSS, from ``resource.getrusage``, is its own):
load the model, warm up on a small image, build the image, then click as the NoC protocol's
simulated user does on a 512-px neighbourhood of the nucleus (the first click at its most
interior point), ``--repeat`` times (the object reset in between; the best time per click is
reported, as ``timeit`` does, because the machine may be busy). The cases run in ``--rounds``
interleaved rounds of fresh processes, so that a change of load hits all of them; the fastest
round is reported, with the largest peak RSS of all rounds. Rows with window "off" are the
plain predictor on the whole image (the original behaviour: the demo preset shrinks it to
800 px), for reference. The Markdown table gives seconds per click (click 1, the mean of the
later ones, the mean of all), inner predictions per click (1 + window growth steps), the last
window, IoU after each click, seconds spent reading windows (for dask: generating their
chunks), and peak RSS after loading and warming up the model (before the image exists) and at
the end.

Usage:
    python benchmarks/bench_large.py                        # window 512, 3 clicks, built-in
    python benchmarks/bench_large.py --window 800 --clicks 5 --mode NoBRS
    python benchmarks/bench_large.py --random-weights       # no built-in model needed
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
NUCLEUS = (203, 45)  # the README's nucleus in the 256-px nuclei sample
TILE = 256
NEIGHBOURHOOD = 512
CHUNK = 1024


@functools.cache
def _tile() -> tuple[np.ndarray, np.ndarray]:
    """The synthetic nuclei sample as model RGB (256 x 256) and the mask of its README nucleus."""
    from napari_fbrs.io.images import to_model_rgb
    from napari_fbrs.io.samples import synthetic_nuclei_with_labels

    image, labels = synthetic_nuclei_with_labels((256, 256), count=18, seed=1)
    return to_model_rgb(image), labels == labels[NUCLEUS]


def texture(rows: np.ndarray, cols: np.ndarray, centre: tuple[int, int]) -> np.ndarray:
    """uint8 RGB at image pixels ``rows, cols``: the nuclei sample tiled so that its README
    nucleus (``NUCLEUS`` in the tile) lies at ``centre``: a function of the offset only."""
    tile, _ = _tile()
    r = (rows - centre[0] + NUCLEUS[0]) % TILE
    c = (cols - centre[1] + NUCLEUS[1]) % TILE
    return tile[r, c]


def object_mask(rows: np.ndarray, cols: np.ndarray, centre: tuple[int, int]) -> np.ndarray:
    """The clicked nucleus (only its copy in the tile around ``centre``)."""
    _, mask = _tile()
    r, c = rows - centre[0] + NUCLEUS[0], cols - centre[1] + NUCLEUS[1]
    inside = (r >= 0) & (r < TILE) & (c >= 0) & (c < TILE)
    return inside & mask[np.clip(r, 0, TILE - 1), np.clip(c, 0, TILE - 1)]


def make_image(size: int, storage: str):  # noqa: ANN201
    centre = (size // 2, size // 2)
    if storage == "numpy":
        rows, cols = np.indices((size, size))
        return texture(rows, cols, centre), centre
    import dask.array as da

    def block(block_info=None):  # noqa: ANN001, ANN202
        (r0, r1), (c0, c1), _ = block_info[None]["array-location"]
        rows, cols = np.mgrid[r0:r1, c0:c1]
        return texture(rows, cols, centre)

    chunks = (_chunks(size), _chunks(size), (3,))
    meta = np.empty((0, 0, 0), np.uint8)
    return da.map_blocks(block, chunks=chunks, dtype=np.uint8, meta=meta), centre


def _chunks(size: int) -> tuple[int, ...]:
    full, rest = divmod(size, CHUNK)
    return (CHUNK,) * full + ((rest,) if rest else ())


def run_case(
    size: int, storage: str, window: int, clicks: int, mode: str, random: bool, repeat: int
) -> dict:
    import torch

    from napari_fbrs.evaluation.clicker import SimulatedClicker
    from napari_fbrs.evaluation.metrics import iou
    from napari_fbrs.inference.engine.clicks import Click
    from napari_fbrs.inference.engine.config import demo_preset
    from napari_fbrs.inference.engine.predictor import Predictor
    from napari_fbrs.inference.windows.local import LocalWindowConfig, LocalWindowPredictor
    from napari_fbrs.io.planes import plane_source

    if random:
        from napari_fbrs.model.registry import build_model

        torch.manual_seed(0)
        model = build_model("hrnet18s_ocr64").eval()
    else:
        from napari_fbrs.model.checkpoint import load_checkpoint
        from napari_fbrs.model.default_model import default_checkpoint_path

        model = load_checkpoint(default_checkpoint_path()).model
    config = demo_preset(mode)
    warm = Predictor(model, config)
    warm.set_image(np.zeros((256, 256, 3), np.uint8))
    warm.predict([Click(128, 128, True)])
    rss_model = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    data, centre = make_image(size, storage)
    predictor = LocalWindowPredictor(Predictor(model, config), LocalWindowConfig(size=window))
    start = time.perf_counter()
    predictor.set_image(plane_source(data))
    set_image_s = time.perf_counter() - start

    half = NEIGHBOURHOOD // 2
    r0, c0 = max(0, centre[0] - half), max(0, centre[1] - half)
    rows, cols = np.mgrid[r0 : r0 + NEIGHBOURHOOD, c0 : c0 + NEIGHBOURHOOD]
    gt = object_mask(rows, cols, centre).astype(np.int8)
    runs = []
    for _ in range(repeat):  # the same clicks each time; the object starts afresh (reset)
        predictor.reset()
        clicker = SimulatedClicker(gt)
        pred = np.zeros(gt.shape, bool)
        seconds, predictions, ious, reads = [], [], [], []
        for _ in range(clicks):
            clicker.make_next_click(pred)
            placed = [Click(c.row + r0, c.col + c0, c.positive) for c in clicker.clicks]
            start = time.perf_counter()
            result = predictor.predict_map(placed)
            seconds.append(time.perf_counter() - start)
            predictions.append(getattr(predictor.last, "predictions", 1))
            reads.append(getattr(predictor.last, "read_seconds", 0.0))
            pred = _crop(result, (r0, c0), gt.shape) > config.prob_thresh
            ious.append(iou(gt, pred))
        runs.append(seconds)
    seconds = [min(times) for times in zip(*runs, strict=True)]  # best of the repeats
    window_box = predictor.window
    return {
        "size": size,
        "storage": storage,
        "window": window,
        "seconds": seconds,
        "predictions": predictions,
        "ious": ious,
        "set_image_s": set_image_s,
        "read_s": sum(reads),
        "final_window": None if window_box is None else [window_box.height, window_box.width],
        "rss_model_mib": rss_model,
        "rss_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _crop(result, origin: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:  # noqa: ANN001
    """The map on the neighbourhood box (zeros where the map does not reach)."""
    out = np.zeros(shape, np.float32)
    (mr, mc), (h, w) = result.origin, result.probs.shape
    r0, c0 = max(mr, origin[0]), max(mc, origin[1])
    r1, c1 = min(mr + h, origin[0] + shape[0]), min(mc + w, origin[1] + shape[1])
    if r1 > r0 and c1 > c0:
        out[r0 - origin[0] : r1 - origin[0], c0 - origin[1] : c1 - origin[1]] = result.probs[
            r0 - mr : r1 - mr, c0 - mc : c1 - mc
        ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=512)
    parser.add_argument("--clicks", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=2, help="best of N runs per click")
    parser.add_argument("--rounds", type=int, default=2, help="fresh processes per case")
    parser.add_argument("--mode", default="f-BRS-B")
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--no-baseline", action="store_true", help="skip the window-0 rows")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        size, storage, window = args.case.split(":")
        result = run_case(
            int(size),
            storage,
            int(window),
            args.clicks,
            args.mode,
            args.random_weights,
            args.repeat,
        )
        print("RESULT " + json.dumps(result))
        return
    try:
        import dask.array  # noqa: F401

        big = (16000, "dask")
    except ImportError:
        print("dask is not importable: the 16000 px case is skipped", file=sys.stderr)
        big = None
    cases = [(512, "numpy", args.window), (4000, "numpy", args.window)]
    if big is not None:
        cases.append((*big, args.window))
    if not args.no_baseline:
        cases += [(512, "numpy", 0), (4000, "numpy", 0)]
    runs: dict[tuple[int, str, int], list[dict]] = {case: [] for case in cases}
    for round_ in range(args.rounds):  # rounds interleave the cases, so a load change hits all
        for size, storage, window in cases:
            command = [sys.executable, __file__, "--case", f"{size}:{storage}:{window}"]
            command += ["--clicks", str(args.clicks), "--mode", args.mode]
            command += ["--repeat", str(args.repeat)]
            command += ["--random-weights"] if args.random_weights else []
            done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
            line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
            if done.returncode or not line:
                print(done.stdout + done.stderr, file=sys.stderr)
                raise SystemExit(f"case {size}:{storage}:{window} failed")
            runs[(size, storage, window)].append(json.loads(line[0][len("RESULT ") :]))
            print(f"round {round_ + 1}: {size} {storage} window {window}", file=sys.stderr)
    rows = []
    for results in runs.values():  # the fastest round's times, the largest peak RSS of any
        best = min(results, key=lambda r: sum(r["seconds"]))
        best["rss_peak_mib"] = max(r["rss_peak_mib"] for r in results)
        rows.append(best)
    _print_table(rows, args)


def _print_table(rows: list[dict], args: argparse.Namespace) -> None:
    model = "random hrnet18s_ocr64" if args.random_weights else "built-in model"
    print(
        f"\n{model}, {args.mode}, demo preset, {args.clicks} clicks per image, seconds: best "
        f"of {args.repeat} runs x {args.rounds} rounds\n"
    )
    print(
        "| image | storage | window | click 1 s | later clicks s | mean s/click | predictions "
        "| final window | IoU per click | read s | model RSS MiB | peak RSS MiB |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | --- | --- | --- | ---: | ---: | ---: |")
    for r in rows:
        later = r["seconds"][1:]
        window = "off" if r["window"] == 0 else str(r["window"])
        final = "whole" if r["window"] == 0 else "x".join(map(str, r["final_window"] or []))
        print(
            f"| {r['size']} | {r['storage']} | {window} | {r['seconds'][0]:.2f} | "
            f"{(sum(later) / len(later) if later else float('nan')):.2f} | "
            f"{sum(r['seconds']) / len(r['seconds']):.2f} | "
            f"{','.join(map(str, r['predictions']))} | {final} | "
            f"{','.join(f'{v:.2f}' for v in r['ious'])} | {r['read_s']:.2f} | "
            f"{r['rss_model_mib']:.0f} | "
            f"{r['rss_peak_mib']:.0f} |"
        )
    by = {(r["size"], r["storage"], r["window"]): r for r in rows}
    small, large = by.get((512, "numpy", args.window)), by.get((16000, "dask", args.window))
    if small and large:
        mean = lambda r: sum(r["seconds"]) / len(r["seconds"])  # noqa: E731
        print(
            f"\nmean s/click 16000 px (dask) / 512 px: {mean(large) / mean(small):.2f}x "
            f"(target <= 1.5x); peak RSS 16000 px dask: {large['rss_peak_mib']:.0f} MiB "
            "(target < 2048)"
        )


if __name__ == "__main__":
    main()
