"""Seconds per click, L-BFGS evaluations, FLOPs and peak memory of the predictor.

For every architecture x BRS mode at network size 400 (and NoBRS / f-BRS-B at 800) this runs a
fixed, model-free click sequence on the GrabCut "sheep" image (from ../shared/reference when
present, a synthetic image otherwise) with the evaluation settings of the reference fixtures
(eval preset, ZoomIn target = max size = S). Each configuration runs in a fresh process so
that peak RSS is its own. It prints one table:

  first / median / max seconds per click, L-BFGS evaluations per click, GFLOP per click
  (counted with torch's FlopCounterMode in a separate, untimed pass), the compute limit
  (GFLOP over this CPU's sustained fp32 matmul rate), peak RSS, and ratios to upstream:
  to the times stored in ../shared/reference/fixtures.json (measured on another machine) and,
  with --upstream-src, to the original code run here on the same clicks.

Usage:
    python benchmarks/bench_predict.py            # everything (about an hour on 2 cores)
    python benchmarks/bench_predict.py --busy     # click latency quiet vs. one busy core
    python benchmarks/bench_predict.py --quick    # hrnet18 / resnet34, four modes, 400 px
    python benchmarks/bench_predict.py --upstream-src /path/to/patched/upstream \
        --upstream-python /path/to/venv/bin/python   # adds same-machine upstream ratios

``--widget-defaults`` measures what a user of the widget gets (issue 13's speed targets): the
widget's default settings (``demo`` preset: ZoomIn to 480 px from the second click, images
limited to 800 px, flip), the sheep image scaled to 800 px, a fixed sequence of 8 clicks, one
fresh process per model and mode, with the threads the CLI and the widget set. Click 1 is timed
as ``predict`` reports it in a fresh process (so it includes the first-run warm-up); later
clicks as a median. It prints the GFLOP per click and the three torch operators that take most
of the time of the later clicks, for the built-in model next to the original hrnet18_ocr64
architecture and the previous built-in hrnet18s_ocr64 (random weights: same compute).

``--busy`` measures something else: the latency of a NoBRS click of the built-in model on a
128 x 128 and an 800 px image (the whole image through the network), on an idle CPU and while
a competing process spins on one core (``benchmarks/_busy.py``), for ``OMP_WAIT_POLICY=ACTIVE``
(the idle reference), torch's default threads and wait policy, one thread,
``OMP_WAIT_POLICY=PASSIVE`` and what ``napari_fbrs.threads.configure_threads()`` does (the CLI
and the widget use it: threads per click from the idle cores). It states the background load
(from ``/proc/stat``) before, during each idle run and after. Goals (issues 16, 21): idle
within 1.1x of ACTIVE, loaded at most 2x idle. ``--checkpoint`` takes any checkpoint (e.g.
``../shared/reference/checkpoints/hrnet18_ocr64_random_fp16.pth``), ``--busy-settings`` a
subset of the rows.

The clicks: the original NoC clicker on the sheep ground truth, fed with "painted disk"
predictions (radius 0.2 x longest side) instead of network output, exactly how the reference
fixtures' clicks were made; the first five equal the fixture clicks (the default sequence).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
ARCHS = (
    "efficientnet_lite0_fpn96",
    "hrnet18_ocr64",
    "resnet34_dh128",
    "hrnet18s_ocr64",
    "hrnet32_ocr128",
    "resnet50_dh128",
    "resnet101_dh256",
)
MODES = ("NoBRS", "RGB-BRS", "DistMap-BRS", "f-BRS-A", "f-BRS-B", "f-BRS-C")


# -- inputs ------------------------------------------------------------------------------------
def load_inputs(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The sheep image and mask (or a synthetic stand-in), scaled so the longest side is
    ``max(size, 600)`` for size 800 and left at 600 x 450 otherwise."""
    ref = SHARED / "reference" / "sheep_inputs.npz"
    if ref.exists():
        with np.load(ref) as data:
            image, gt = data["image_rgb"], data["gt_mask"].astype(np.int8)
    else:
        rows, cols = np.mgrid[0:600, 0:450]
        gt = (((rows - 250) / 90.0) ** 2 + ((cols - 240) / 120.0) ** 2 <= 1).astype(np.int8)
        rng = np.random.default_rng(0)
        image = rng.integers(0, 80, (600, 450, 3), dtype=np.uint8)
        image[gt == 1] += 120
    if size > max(image.shape[:2]):
        from skimage.transform import resize

        scale = size / max(image.shape[:2])
        shape = (round(image.shape[0] * scale), round(image.shape[1] * scale))
        image = (resize(image, shape, order=1, preserve_range=True) + 0.5).astype(np.uint8)
        gt = resize(gt, shape, order=0, preserve_range=True, anti_aliasing=False).astype(np.int8)
    return image, gt


def click_sequence(gt: np.ndarray, count: int) -> list[tuple[int, int, bool]]:
    """Model-free NoC clicks: the clicker sees painted disks around the clicks so far."""
    from napari_fbrs.evaluation.clicker import SimulatedClicker

    clicker = SimulatedClicker(gt)
    radius = 0.2 * max(gt.shape)
    rows, cols = np.mgrid[0 : gt.shape[0], 0 : gt.shape[1]]
    pred = np.zeros(gt.shape, bool)
    for _ in range(count):
        click = clicker.make_next_click(pred)
        disk = (rows - click.row) ** 2 + (cols - click.col) ** 2 <= radius**2
        pred[disk] = click.positive
    return [(int(c.row), int(c.col), bool(c.positive)) for c in clicker.clicks]


# -- one configuration, in a child process -------------------------------------------------------
def write_inputs(size: int, num_clicks: int, folder: Path) -> Path:
    """Image and click sequence for one size, shared by our child and upstream's."""
    image, gt = load_inputs(size)
    path = folder / f"inputs_{size}.npz"
    np.savez(path, image=image, clicks=np.array(click_sequence(gt, num_clicks), dtype=np.int64))
    return path


def read_inputs(path: str | Path) -> tuple[np.ndarray, list[tuple[int, int, bool]]]:
    with np.load(path) as data:
        clicks = [(int(r), int(c), bool(p)) for r, c, p in data["clicks"]]
        return data["image"], clicks


def checkpoint_for(arch: str, folder: Path) -> Path:
    """The reference checkpoint when there is one, else seeded random weights saved bare."""
    ref = SHARED / "reference" / "checkpoints" / f"{arch}_random_fp16.pth"
    if ref.exists():
        return ref
    import torch

    from napari_fbrs.model.registry import build_model

    torch.manual_seed(0)
    path = folder / f"{arch}_random.pth"
    torch.save(build_model(arch).state_dict(), path)
    return path


def run_single(
    arch: str, mode: str, size: int, inputs: str, ckpt: str, threads: int, fast: bool, out: str
) -> dict:
    import torch

    from napari_fbrs.inference.engine.clicks import Click
    from napari_fbrs.inference.engine.config import ZoomInConfig, eval_preset
    from napari_fbrs.inference.engine.predictor import Predictor
    from napari_fbrs.model.checkpoint import load_checkpoint

    torch.set_num_threads(threads)
    model = load_checkpoint(ckpt).model
    image, triples = read_inputs(inputs)
    clicks = [Click(r, c, p) for r, c, p in triples]
    config = eval_preset(mode).with_changes(
        max_size=size, zoom_in=ZoomInConfig(target_size=size), fast=fast
    )
    predictor = Predictor(model, config)
    predictor.set_image(image)
    seconds, evals, maps = [], [], []
    for k in range(1, len(clicks) + 1):
        maps.append(predictor.predict(clicks[:k]))
        seconds.append(predictor.last.seconds)
        evals.append(predictor.last.lbfgs_evals)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.save(out, np.stack(maps).astype(np.float16))
    gflops = [] if fast else count_gflops(predictor, image, clicks)  # counted once, untimed
    return {
        "arch": arch,
        "mode": mode,
        "size": size,
        "fast": fast,
        "seconds": seconds,
        "evals": evals,
        "gflops": gflops,
        "peak_rss_mib": rss_mib,
    }


def count_gflops(predictor, image: np.ndarray, clicks: list) -> list[float]:  # noqa: ANN001
    """FLOPs per click (forward and backward), counted in an untimed replay."""
    from torch.utils.flop_counter import FlopCounterMode

    predictor.set_image(image)
    out = []
    for k in range(1, len(clicks) + 1):
        with FlopCounterMode(display=False) as counter:
            predictor.predict(clicks[:k])
        out.append(counter.get_total_flops() / 1e9)
    return out


def matmul_gflops(threads: int, seconds: float = 3.0) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        done += 1
    return done * 2 * 2048**3 / (time.perf_counter() - start) / 1e9


def run_child(
    args: list[str], python: str = sys.executable, env: dict[str, str] | None = None
) -> dict:
    out = subprocess.run([python, *args], capture_output=True, text=True, check=False, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the table ----------------------------------------------------------------------------------
def _iou(a: np.ndarray, b: np.ndarray, thresh: float = 0.49) -> float:
    ma, mb = a > thresh, b > thresh
    union = np.logical_or(ma, mb).sum()
    return 1.0 if union == 0 else float(np.logical_and(ma, mb).sum() / union)


def stored_upstream_times(arch: str, mode: str) -> list[float] | None:
    path = SHARED / "reference" / "fixtures.json"
    if not path.exists():
        return None
    runs = json.loads(path.read_text())["runs"]
    run = runs.get(f"{arch}__{mode}")
    return run["times"] if run else None


# -- --widget-defaults: what a widget user gets ------------------------------------------------
DEFAULTS_MODELS = ("default", "random:hrnet18_ocr64", "random:hrnet18s_ocr64")


def _model_for(spec: str):  # noqa: ANN202
    """``default`` / a checkpoint, or ``random:ARCH`` (seeded random weights: timings only)."""
    import torch

    if spec.startswith("random:"):
        from napari_fbrs.model.registry import build_model

        torch.manual_seed(0)
        return build_model(spec.split(":", 1)[1]).eval(), spec.split(":", 1)[1] + " (random)"
    from napari_fbrs.model.checkpoint import load_checkpoint
    from napari_fbrs.model.weights import resolve_checkpoint

    loaded = load_checkpoint(resolve_checkpoint(spec))
    return loaded.model, f"{loaded.arch} ({spec})"


def run_defaults_child(spec: str, mode: str, num_clicks: int) -> dict:
    """The widget's default settings on the 800 px sheep, in this fresh process."""
    from napari_fbrs.threads import configure_threads

    configure_threads()
    import torch
    from torch.profiler import ProfilerActivity, profile

    from napari_fbrs.inference.engine.clicks import Click
    from napari_fbrs.inference.engine.config import UserSettings, predictor_config
    from napari_fbrs.inference.engine.predictor import Predictor

    model, label = _model_for(spec)
    image, gt = load_inputs(800)
    clicks = [Click(r, c, p) for r, c, p in click_sequence(gt, num_clicks)]
    predictor = Predictor(model, predictor_config(UserSettings(mode=mode)))
    started = time.perf_counter()
    predictor.set_image(image)
    set_image_s = time.perf_counter() - started
    seconds, evals = [], []
    for k in range(1, len(clicks) + 1):
        predictor.predict(clicks[:k])
        seconds.append(predictor.last.seconds)
        evals.append(predictor.last.lbfgs_evals)
    gflops = count_gflops(predictor, image, clicks)  # untimed replay
    predictor.set_image(image)  # a profiled replay of the later clicks: where the time goes
    predictor.predict(clicks[:1])
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for k in range(2, len(clicks) + 1):
            predictor.predict(clicks[:k])
    ops = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in ops) or 1
    top = sorted(ops, key=lambda e: e.self_cpu_time_total, reverse=True)[:3]
    return {
        "model": label,
        "mode": mode,
        "shape": list(image.shape[:2]),
        "threads": torch.get_num_threads(),
        "set_image_s": set_image_s,
        "seconds": seconds,
        "evals": evals,
        "gflops": gflops,
        "top_ops": [(e.key, e.self_cpu_time_total / total) for e in top],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def defaults_table(models: list[str], modes: list[str], num_clicks: int) -> list[dict]:
    me = str(Path(__file__).resolve())
    rate = matmul_gflops(2)
    print(
        f"Widget defaults (demo preset), 800 px sheep, {num_clicks} clicks, {usable_cpus()} "
        f"usable CPUs, sustained fp32 matmul {rate:.0f} GFLOP/s\n"
    )
    print(
        "| model | mode | click 1 s | later clicks s (median / max) | GFLOP click 1 / later "
        "(median) | compute bound later s | L-BFGS evals | where later clicks spend time |"
    )
    print("|---|---|---:|---:|---:|---:|---|---|")
    rows = []
    for spec in models:
        for mode in modes:
            row = run_child([me, "--defaults-child", spec, mode, str(num_clicks)])
            later, flops = row["seconds"][1:], row["gflops"]
            later_flops = statistics.median(flops[1:])
            ops = ", ".join(f"{name} {share:.0%}" for name, share in row["top_ops"])
            print(
                f"| {row['model']} | {mode} | {row['seconds'][0]:.2f} | "
                f"{statistics.median(later):.2f} / {max(later):.2f} | {flops[0]:.1f} / "
                f"{later_flops:.1f} | {later_flops / rate:.2f} | "
                f"{','.join(map(str, row['evals']))} | {ops} |",
                flush=True,
            )
            rows.append(row)
    return rows


# -- --busy: click latency on a shared CPU ------------------------------------------------------
#: name -> environment of the child (None: call configure_threads() in the child instead).
#: The first row is the reference the idle figures are compared with (issue 21).
THREAD_SETTINGS: dict[str, dict[str, str] | None] = {
    "ACTIVE": {"OMP_WAIT_POLICY": "ACTIVE"},
    "default": {},
    "1-thread": {"OMP_NUM_THREADS": "1"},
    "PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "spin-3e6": {"GOMP_SPINCOUNT": "3000000"},
    "per-click": None,
}
SETTING_LABELS = {
    "ACTIVE": "ACTIVE (spin, never sleep)",
    "default": "torch default (spin, then sleep)",
    "1-thread": "1 thread",
    "PASSIVE": "all cores, PASSIVE (until #21)",
    "spin-3e6": "GOMP_SPINCOUNT=3e6 (~30 ms spin)",
    "per-click": "configure_threads(): per click",
}
BUSY_DEFAULT_SETTINGS = "ACTIVE,default,1-thread,PASSIVE,per-click"


def busy_inputs(size: int, num_clicks: int) -> tuple[np.ndarray, list[tuple[int, int, bool]]]:
    """The sheep image (or its stand-in) resized to ``size`` x ``size``, and NoC clicks."""
    from skimage.transform import resize

    image, gt = load_inputs(600)
    shape = (size, size)
    image = (resize(image, shape, order=1, preserve_range=True) + 0.5).astype(np.uint8)
    gt = resize(gt, shape, order=0, preserve_range=True, anti_aliasing=False).astype(np.int8)
    return image, click_sequence(gt, num_clicks)


def run_busy_child(size: int, num_clicks: int, checkpoint: str, configure: bool) -> dict:
    """Time NoBRS clicks (after one untimed warm-up click) in this fresh process."""
    if configure:
        from napari_fbrs.threads import configure_threads

        configure_threads()  # before torch is imported, as the CLI does
    import torch

    from napari_fbrs.inference.engine.clicks import Click
    from napari_fbrs.inference.engine.config import eval_preset
    from napari_fbrs.inference.engine.predictor import Predictor
    from napari_fbrs.model.checkpoint import load_checkpoint
    from napari_fbrs.model.weights import resolve_checkpoint

    model = load_checkpoint(resolve_checkpoint(checkpoint)).model
    image, triples = busy_inputs(size, num_clicks)
    clicks = [Click(r, c, p) for r, c, p in triples]
    config = eval_preset("NoBRS").with_changes(max_size=size, zoom_in=None)
    predictor = Predictor(model, config)
    predictor.set_image(image)
    predictor.predict(clicks[:1])  # warm-up: allocations, oneDNN kernel selection
    seconds, threads = [], []
    for k in range(1, len(clicks) + 1):
        predictor.predict(clicks[:k])
        seconds.append(predictor.last.seconds)
        threads.append(predictor.last.threads or torch.get_num_threads())
    return {
        "seconds": seconds,
        "threads": threads,
        "wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
        "shape": list(image.shape[:2]),
    }


def _thread_counts(threads: list[int]) -> str:
    return "/".join(str(t) for t in sorted(set(threads), reverse=True))


def busy_table(
    sizes: list[int], num_clicks: int, checkpoint: str, cores: int, settings: list[str]
) -> list[dict]:
    """Every thread setting x size, idle and with ``cores`` busy processes; print a table."""
    from _busy import BackgroundLoad, busy_processes, describe_load, idle_load

    me = str(Path(__file__).resolve())
    print(
        f"NoBRS click latency, {checkpoint} model, {usable_cpus()} usable CPUs; loaded = "
        f"{cores} competing busy process(es); median of {num_clicks} clicks after a warm-up; "
        f"before starting: {describe_load(idle_load())}\n"
    )
    header = (
        f"| {'threads / wait policy':32s} | {'image':>9s} | {'threads':>7s} | "
        f"{'idle s':>7s} | {'vs ACTIVE':>9s} | {'background':>10s} | {'loaded s':>8s} | "
        f"{'loaded/idle':>11s} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|", flush=True)
    rows, reference = [], {}
    for size in sizes:
        for name in settings:
            env = THREAD_SETTINGS[name]
            child_env = {
                k: v
                for k, v in os.environ.items()
                if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "NAPARI_FBRS_THREADS")
            }
            child_env.update(env or {})
            args = [me, "--busy-child", str(size), str(num_clicks), checkpoint]
            args.append("1" if env is None else "0")
            with BackgroundLoad() as background:
                quiet = run_child(args, env=child_env)
            with busy_processes(cores):
                loaded = run_child(args, env=child_env)
            q, lo = statistics.median(quiet["seconds"]), statistics.median(loaded["seconds"])
            reference.setdefault(size, q)  # the first setting's idle click
            shape = "x".join(map(str, quiet["shape"]))
            threads = f"{_thread_counts(quiet['threads'])}, {_thread_counts(loaded['threads'])}"
            bg = "?" if background.cores is None else f"{background.cores:.2f}"
            print(
                f"| {SETTING_LABELS[name]:32s} | {shape:>9s} | {threads:>7s} | {q:7.3f} | "
                f"{q / reference[size]:9.2f} | {bg:>10s} | {lo:8.3f} | {lo / q:11.2f} |",
                flush=True,
            )
            rows.append({"setting": name, "size": size, "quiet": quiet, "loaded": loaded})
    print(
        "\nidle: nothing else ran but the machine's background ('background': cores other "
        "processes kept busy during the idle run, from /proc/stat); vs ACTIVE: idle time over "
        f"the first row's; threads: idle, loaded (per click when they differ); after the run: "
        f"{describe_load(idle_load())}"
    )
    return rows


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="hrnet18/resnet34, 4 modes, 400 px")
    parser.add_argument(
        "--sizes",
        default="400,800",
        help="400 runs every mode; 800 runs NoBRS and f-BRS-B [400,800]",
    )
    parser.add_argument("--archs", default=",".join(ARCHS))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--clicks", type=int, default=5, help="clicks in the sequence [5]")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--upstream-src", help="patched upstream checkout (adds same-machine ratios)"
    )
    parser.add_argument("--upstream-python", default=sys.executable)
    parser.add_argument("--json", help="also write all raw numbers here")
    parser.add_argument(
        "--busy",
        action="store_true",
        help="click latency quiet vs. with a competing busy process, per thread setting",
    )
    parser.add_argument("--busy-sizes", default="128,800", help="--busy image sizes [128,800]")
    parser.add_argument("--busy-clicks", type=int, default=4, help="--busy timed clicks [4]")
    parser.add_argument("--busy-cores", type=int, default=1, help="--busy busy processes [1]")
    parser.add_argument("--checkpoint", default="default", help="--busy model [default]")
    parser.add_argument(
        "--busy-settings",
        default=BUSY_DEFAULT_SETTINGS,
        help=f"--busy rows, of {','.join(THREAD_SETTINGS)}; the first is the idle reference "
        f"[{BUSY_DEFAULT_SETTINGS}]",
    )
    parser.add_argument("--busy-child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument(
        "--widget-defaults",
        action="store_true",
        help="the widget's default settings on an 800 px image, 8 clicks, per model and mode",
    )
    parser.add_argument(
        "--defaults-models", default=",".join(DEFAULTS_MODELS), help="--widget-defaults models"
    )
    parser.add_argument(
        "--defaults-modes", default="NoBRS,f-BRS-B", help="--widget-defaults modes"
    )
    parser.add_argument("--defaults-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument(
        "--single",
        nargs=7,
        metavar=("ARCH", "MODE", "SIZE", "INPUTS", "CKPT", "FAST", "OUT"),
        help=argparse.SUPPRESS,
    )
    args = parser.parse_args(argv)

    if args.defaults_child:
        spec, mode, clicks = args.defaults_child
        print(json.dumps(run_defaults_child(spec, mode, int(clicks))))
        return 0
    if args.widget_defaults:
        rows = defaults_table(args.defaults_models.split(","), args.defaults_modes.split(","), 8)
        if args.json:
            from napari_fbrs.atomic import atomic_write_text

            atomic_write_text(args.json, json.dumps({"widget_defaults": rows}))
        return 0
    if args.busy_child:
        size, clicks, ckpt, configure = args.busy_child
        print(json.dumps(run_busy_child(int(size), int(clicks), ckpt, configure == "1")))
        return 0
    if args.busy:
        sizes = [int(v) for v in args.busy_sizes.split(",")]
        settings = args.busy_settings.split(",")
        rows = busy_table(sizes, args.busy_clicks, args.checkpoint, args.busy_cores, settings)
        if args.json:
            from napari_fbrs.atomic import atomic_write_text

            atomic_write_text(args.json, json.dumps({"busy": rows}))
        return 0
    if args.single:
        arch, mode, size, inputs, ckpt, fast, out = args.single
        result = run_single(arch, mode, int(size), inputs, ckpt, args.threads, fast == "1", out)
        print(json.dumps(result))
        return 0

    archs, modes = args.archs.split(","), args.modes.split(",")
    sizes = [int(v) for v in args.sizes.split(",")]
    configs = [(a, m, 400) for a in archs for m in modes] if 400 in sizes else []
    if args.quick:
        configs = [
            (a, m, 400) for a in ARCHS[:2] for m in ("NoBRS", "RGB-BRS", "f-BRS-B", "f-BRS-C")
        ]
    elif 800 in sizes:
        configs += [(a, m, 800) for a in archs for m in modes if m in ("NoBRS", "f-BRS-B")]
    rate = matmul_gflops(args.threads)
    print(
        f"CPU sustained fp32 matmul: {rate:.0f} GFLOP/s ({args.threads} threads); "
        f"{args.clicks} clicks per run; times in seconds\n",
        flush=True,
    )
    header = (
        f"{'arch':15s} {'mode':11s} {'S':>3s} | {'first':>5s} {'median':>6s} {'max':>6s} "
        f"{'L-BFGS evals/click':>20s} {'GFLOP':>6s} {'limit':>5s} {'RSS':>5s} | "
        f"{'fast':>5s} {'RSS':>5s} {'dp':>7s} {'IoU':>6s} | {'up':>5s} {'RSS':>5s} | "
        f"{'ours/up':>7s} {'fast/up':>7s} {'/stored':>7s}"
    )
    print(header)
    print("-" * len(header), flush=True)
    rows = []
    scratch = Path(tempfile.mkdtemp(prefix="bench_predict_"))
    inputs = {s: write_inputs(s, args.clicks, scratch) for s in sorted({c[2] for c in configs})}
    ckpts = {a: checkpoint_for(a, scratch) for a in sorted({c[0] for c in configs})}
    me = [str(Path(__file__).resolve()), "--threads", str(args.threads)]
    for arch, mode, size in configs:
        runs, maps = {}, {}
        for fast in ("0", "1"):
            out = scratch / f"{arch}_{mode}_{size}_{fast}.npy"
            runs[fast] = run_child(
                [
                    *me,
                    "--single",
                    arch,
                    mode,
                    str(size),
                    str(inputs[size]),
                    str(ckpts[arch]),
                    fast,
                    str(out),
                ]
            )
            maps[fast] = np.load(out).astype(np.float32)
        up = None
        if args.upstream_src:
            runner = str(Path(__file__).resolve().parent / "upstream_runner.py")
            up = run_child(
                [
                    runner,
                    "--src",
                    args.upstream_src,
                    "--checkpoint",
                    str(ckpts[arch]),
                    "--mode",
                    mode,
                    "--size",
                    str(size),
                    "--inputs",
                    str(inputs[size]),
                    "--threads",
                    str(args.threads),
                ],
                python=args.upstream_python,
            )
        ours, fast_run = runs["0"], runs["1"]
        secs = ours["seconds"]
        median, fast_median = statistics.median(secs), statistics.median(fast_run["seconds"])
        up_median = statistics.median(up["seconds"]) if up else None
        # ratios of total time over the sequence: medians of five clicks with different
        # evaluation counts would compare unlike clicks
        up_total = sum(up["seconds"]) if up else None
        stored = stored_upstream_times(arch, mode) if size == 400 else None
        ratio_stored = sum(secs[: len(stored)]) / sum(stored) if stored else None
        dp = float(np.abs(maps["0"] - maps["1"]).max())
        mask_iou = min(_iou(a, b) for a, b in zip(maps["0"], maps["1"], strict=True))
        med_flops = statistics.median(ours["gflops"])

        def fmt(value: float | None, spec: str) -> str:
            return format(value, spec) if value is not None else "-"

        row = (
            f"{arch:15s} {mode:11s} {size:3d} | {secs[0]:5.2f} {median:6.2f} {max(secs):6.2f} "
            f"{','.join(map(str, ours['evals'])):>20s} {med_flops:6.0f} "
            f"{med_flops / rate:5.2f} {ours['peak_rss_mib']:5.0f} | "
            f"{fast_median:5.2f} {fast_run['peak_rss_mib']:5.0f} {dp:7.1e} {mask_iou:6.4f} | "
            f"{fmt(up_median, '5.2f'):>5s} {fmt(up and up['peak_rss_mib'], '5.0f'):>5s} | "
            f"{fmt(up_total and sum(secs) / up_total, '7.2f'):>7s} "
            f"{fmt(up_total and sum(fast_run['seconds']) / up_total, '7.2f'):>7s} "
            f"{fmt(ratio_stored, '7.2f'):>7s}"
        )
        print(row, flush=True)
        rows.append(
            {
                "ours": ours,
                "fast": fast_run,
                "upstream_here": up,
                "stored_upstream": stored,
                "fast_max_dp": dp,
                "fast_min_iou": mask_iou,
            }
        )
        if args.json:  # written after every row, so a long run that is stopped keeps its rows
            Path(args.json).write_text(json.dumps({"matmul_gflops": rate, "rows": rows}))
    print(
        "\nfirst/median/max: seconds per click (exact path). GFLOP: median per click, forward "
        "and backward, counted by FlopCounterMode;\nlimit = GFLOP / sustained matmul rate "
        "(the compute bound, s). RSS: peak MiB of the process. fast: median s with --fast\n"
        "(BatchNorm folded, channels-last); dp / IoU: largest probability difference and "
        "smallest mask IoU (p > 0.49) of fast vs exact\nover all clicks. up: the original "
        "code on this machine, same clicks and settings (--upstream-src). ours/up, fast/up,\n"
        "/stored: total time over the click sequence relative to upstream's (/stored: the first 5 "
        "clicks against the times in ../shared/reference/fixtures.json, "
        "measured on another machine)."
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "src"))
    if not any(a.startswith("--busy") for a in sys.argv[1:]):  # --busy sets threads per child
        os.environ.setdefault("OMP_NUM_THREADS", "2")
    raise SystemExit(main())
