"""Training and evaluation speed: images/second, peak memory, seconds per click.

For each architecture (the built-in efficientnet_lite0_fpn96, hrnet18s_ocr64 and resnet34_dh128
by default) and device (the CPU, and CUDA when available) a separate process runs a few training
steps at the SBD recipe's crop size (320 x 480) on synthetic images, then the NoC evaluation
loop on a few synthetic objects with the NoBRS and f-BRS-B predictors. The EfficientNet-Lite
model trains as its recipe does (channels-last, no auxiliary loss, 0-2 corrective clicks per
step: the "iterative" column), the others as the SBD recipe does. A fresh process per row
keeps peak RSS meaningful. Nothing is asserted; the numbers are printed as a table.

    python benchmarks/bench_train.py --quick          # a smoke run: CPU, NoBRS, few steps
    python benchmarks/bench_train.py --devices cuda --batch 32

Thread policies (issue 21): every row runs under ``train``'s own policy,
``napari_fbrs.threads.configure_threads("batch")`` (torch's defaults: OpenMP spins a moment at
a barrier, then sleeps); ``--policies`` adds the alternatives (``OMP_WAIT_POLICY=ACTIVE`` /
``PASSIVE``, ``GOMP_SPINCOUNT`` values) so the table shows how far ``train``'s policy is from
the best one (goal: within 1.05x), e.g.::

    python benchmarks/bench_train.py --archs efficientnet_lite0_fpn96 --threads 2 \
        --modes NoBRS --steps 6 --policies train,ACTIVE,PASSIVE,spin-3e6

The whole loop (issue 20): ``--recipes`` runs the ``train`` command itself on the built-in
model's recipes and ``../shared``'s data (loading, augmentation, corrective-click rounds,
forward, backward, optimiser; validation off) for ``--steps`` steps from the shipped weights,
and reports crops/s over the steps after the first 10, for release 2's recipe
(``default_model.toml``), release 3's in float32 and release 3's with bfloat16 autocast
(``train.cpu_bf16``)::

    python benchmarks/bench_train.py --recipes --steps 60
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "training" / "sbd_hrnet18_ocr64.toml"
#: name -> environment of the worker (None: configure_threads("batch") in the worker, as the
#: ``train`` command does).
POLICIES: dict[str, dict[str, str] | None] = {
    "train": None,
    "ACTIVE": {"OMP_WAIT_POLICY": "ACTIVE"},
    "PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "spin-3e6": {"GOMP_SPINCOUNT": "3000000"},
    "spin-3e4": {"GOMP_SPINCOUNT": "30000"},
}
_OMP_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "NAPARI_FBRS_THREADS")


class _Objects:
    """Synthetic images with a few ellipses; both a training source and an eval dataset."""

    name = "synthetic"

    def __init__(self, count: int, shape: tuple[int, int], seed: int = 0) -> None:
        self.count, self.shape, self.seed = count, shape, seed

    def num_images(self) -> int:
        return self.count

    def image_name(self, i: int) -> str:
        return f"synthetic{i:03d}"

    def load_instances(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng((self.seed, i))
        height, width = self.shape
        rows, cols = np.mgrid[:height, :width]
        image = rng.integers(0, 80, size=(height, width, 3)).astype(np.uint8)
        labels = np.zeros((height, width), dtype=np.int32)
        for k in range(1, 4):
            cr, cc = rng.uniform(0.2, 0.8) * height, rng.uniform(0.2, 0.8) * width
            rr, rc = rng.uniform(0.08, 0.2) * height, rng.uniform(0.08, 0.2) * width
            inside = ((rows - cr) / rr) ** 2 + ((cols - cc) / rc) ** 2 <= 1
            labels[inside] = k
            image[inside] = rng.integers(100, 256, size=3)
        return image, labels

    # evaluation view: one sample (object 1) per image
    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int):
        from napari_fbrs.io.datasets import Sample

        image, labels = self.load_instances(i)
        return Sample(self.image_name(i), image, (labels == 1).astype(np.int8))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(args: argparse.Namespace) -> dict[str, object]:
    """One row: train ``args.steps`` steps and evaluate, in this process."""
    if args.policy == "train":
        from napari_fbrs.threads import configure_threads

        configure_threads("batch")  # before torch starts, as the train command
    import torch

    from napari_fbrs.evaluation.noc import EvalSettings, evaluate_dataset
    from napari_fbrs.inference.engine.config import eval_preset
    from napari_fbrs.inference.engine.predictor import Predictor
    from napari_fbrs.training.config import load_recipe
    from napari_fbrs.training.trainer import Trainer

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    overrides = [
        f"model.arch={args.arch}",
        f"train.batch_size={args.batch}",
        f"train.device={args.device}",
        "data.kind=folder",
        "data.num_workers=0",
        "data.epoch_len=64",
        "logging.tensorboard=false",
    ]
    if args.arch.startswith("efficientnet"):
        overrides += ["train.channels_last=true", "loss.aux_weight=0", "sampler.next_clicks_max=2"]
    config = load_recipe(RECIPE, overrides)
    crop = config.data.crop_size
    source = _Objects(16, (375, 500))
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(config, out, device=device, progress=False, source=source)
        started = time.perf_counter()
        batches = [
            torch.utils.data.default_collate(
                [trainer.dataset[(0, (s * args.batch + b) % 64)] for b in range(args.batch)]
            )
            for s in range(2)
        ]
        data_items_per_s = 2 * args.batch / (time.perf_counter() - started)
        for step in range(args.warmup + args.steps):
            if step == args.warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                started = time.perf_counter()
            trainer.run_step(batches[step % 2])
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_seconds = time.perf_counter() - started
        model = trainer.model.eval()

    evals = {}
    settings = EvalSettings(max_clicks=args.clicks, full_curve=True, max_samples=args.objects)
    for mode in args.modes:
        predictor = Predictor(model, eval_preset(mode), device=device)
        result = evaluate_dataset(
            _Objects(args.objects, (375, 500), seed=1), predictor, settings, progress=False
        )
        evals[mode] = result.seconds_per_click
    return {
        "arch": args.arch,
        "policy": args.policy,
        "device": str(device),
        "batch": args.batch,
        "crop": f"{crop[0]}x{crop[1]}",
        "iterative": config.sampler.next_clicks_max,
        "train_images_per_s": args.steps * args.batch / train_seconds,
        "data_items_per_s": data_items_per_s,
        "peak_rss_mb": _peak_rss_mb(),
        "peak_cuda_mb": torch.cuda.max_memory_allocated(device) / 2**20
        if device.type == "cuda"
        else None,
        "eval_s_per_click": evals,
    }


def _table(rows: list[dict[str, object]], modes: list[str]) -> str:
    head = [
        "arch",
        "policy",
        "device",
        "batch",
        "crop",
        "iterative",
        "train img/s",
        "data items/s",
        "peak RSS MB",
        "peak CUDA MB",
    ] + [f"eval s/click {m}" for m in modes]
    lines = [head]
    for r in rows:
        if "error" in r:
            lines.append(
                [str(r["arch"]), str(r["policy"]), str(r["device"]), "-", f"failed: {r['error']}"]
            )
            continue
        cuda = r["peak_cuda_mb"]
        lines.append(
            [
                str(r["arch"]),
                str(r["policy"]),
                str(r["device"]),
                str(r["batch"]),
                str(r["crop"]),
                f"0-{r['iterative']}" if r["iterative"] else "-",
                f"{r['train_images_per_s']:.2f}",
                f"{r['data_items_per_s']:.1f}",
                f"{r['peak_rss_mb']:.0f}",
                "-" if cuda is None else f"{cuda:.0f}",
            ]
            + [f"{r['eval_s_per_click'][m]:.3f}" for m in modes]  # type: ignore[index]
        )
    widths = [max(len(line[i]) for line in lines if i < len(line)) for i in range(len(head))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)) for line in lines
    )


#: (name, recipe, overrides) of the whole-loop rows of ``--recipes``.
RECIPE_ROWS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("release 2 (default_model.toml)", "default_model.toml", ()),
    ("release 3, float32", "default_model_v3.toml", ()),
    ("release 3, bfloat16 autocast", "default_model_v3.toml", ("train.cpu_bf16=true",)),
)
SKIP_STEPS = 10


def whole_loop(recipe: str, overrides: tuple[str, ...], steps: int) -> dict[str, float]:
    """crops/s of the ``train`` command over steps SKIP_STEPS..``steps`` (its own log)."""
    import csv

    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "napari_fbrs.cli", "train"]
        command += [str(REPO / "training" / recipe), "--out", out, "--device", "cpu", "--quiet"]
        command += ["--init", "default", "--set", f"train.max_steps={steps}"]
        command += ["--set", "validation.every_epochs=0", "--set", "logging.every_steps=1"]
        for item in overrides:
            command += ["--set", item]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError((done.stderr.strip().splitlines() or ["?"])[-1])
        with open(Path(out) / "train_log.csv", newline="") as fh:
            rows = {int(r["step"]): r for r in csv.DictReader(fh)}
    first, last = rows[SKIP_STEPS], rows[steps]
    seconds = float(last["elapsed_s"]) - float(first["elapsed_s"])
    batch = _recipe_batch(recipe)
    return {
        "crops_per_s": (steps - SKIP_STEPS) * batch / seconds,
        "s_per_step": seconds / (steps - SKIP_STEPS),
    }


def _recipe_batch(recipe: str) -> int:
    from napari_fbrs.training.config import load_recipe

    return load_recipe(REPO / "training" / recipe).train.batch_size


def recipes_table(steps: int) -> None:
    """The whole-loop table of ``--recipes``, with each row's speed-up over the first."""
    from _busy import describe_load, idle_load

    print(f"before starting: {describe_load(idle_load())}")
    print("| recipe | s/step | crops/s | vs release 2 |")
    print("|---|---:|---:|---:|")
    base = None
    for name, recipe, overrides in RECIPE_ROWS:
        result = whole_loop(recipe, overrides, steps)
        base = base or result["crops_per_s"]
        print(
            f"| {name} | {result['s_per_step']:.2f} | {result['crops_per_s']:.2f} | "
            f"{result['crops_per_s'] / base:.2f}x |",
            flush=True,
        )
    print(f"after the run: {describe_load(idle_load())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (CPU only)")
    parser.add_argument(
        "--recipes", action="store_true", help="the train command's whole loop, per recipe"
    )
    parser.add_argument(
        "--archs", default="efficientnet_lite0_fpn96,hrnet18s_ocr64,resnet34_dh128"
    )
    parser.add_argument("--devices", default=None, help="default: cpu, plus cuda if present")
    parser.add_argument("--batch", type=int, default=None, help="default 8 (quick: 2)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (quick: 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--modes", default=None, help="default NoBRS,f-BRS-B (quick: NoBRS)")
    parser.add_argument(
        "--policies",
        default="train",
        help=f"thread policies, comma-separated, of {','.join(POLICIES)} [train]",
    )
    parser.add_argument("--policy", default="train", help=argparse.SUPPRESS)
    parser.add_argument("--worker", nargs=2, metavar=("ARCH", "DEVICE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.recipes:
        recipes_table(max(args.steps or 60, SKIP_STEPS + 5))
        return
    args.batch = args.batch or (2 if args.quick else 8)
    args.steps = args.steps or (2 if args.quick else 5)
    args.warmup = 1 if args.quick else 2
    args.objects = 1 if args.quick else 5
    args.clicks = 3 if args.quick else 10
    args.modes = (
        args.modes.split(",")
        if args.modes
        else (["NoBRS"] if args.quick else ["NoBRS", "f-BRS-B"])
    )

    if args.worker:
        args.arch, args.device = args.worker
        print(json.dumps(worker(args)))
        return

    import torch

    devices = (
        args.devices.split(",")
        if args.devices
        else (["cpu"] + (["cuda"] if torch.cuda.is_available() and not args.quick else []))
    )
    from _busy import describe_load, idle_load

    print(f"before starting: {describe_load(idle_load())}")
    rows = []
    for arch in args.archs.split(","):
        for device in devices:
            for policy in args.policies.split(","):
                rows.append(_run_worker(args, arch, device, policy))
                print(f"done: {arch} on {device}, {policy}", file=sys.stderr)
    print(_table(rows, args.modes))
    _print_policy_ratios(rows)
    print(f"after the run: {describe_load(idle_load())}")


def _run_worker(args: argparse.Namespace, arch: str, device: str, policy: str) -> dict:
    """One row in a fresh process with ``policy``'s OpenMP environment."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in _OMP_VARS}
    env.update(POLICIES[policy] or {})
    command = [sys.executable, __file__, "--worker", arch, device, "--policy", policy]
    command += ["--batch", str(args.batch), "--steps", str(args.steps)]
    command += ["--threads", str(args.threads), "--modes", ",".join(args.modes)]
    command += ["--quick"] if args.quick else []
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"arch": arch, "device": device, "policy": policy, "error": reason}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _print_policy_ratios(rows: list[dict[str, object]]) -> None:
    """Per architecture and device: the best policy's img/s over each policy's."""
    groups: dict[tuple[object, object], list[dict[str, object]]] = {}
    for r in rows:
        if "error" not in r:
            groups.setdefault((r["arch"], r["device"]), []).append(r)
    for (arch, device), group in groups.items():
        if len(group) < 2:
            continue
        best = max(float(r["train_images_per_s"]) for r in group)  # type: ignore[arg-type]
        ratios = ", ".join(
            f"{r['policy']} {best / float(r['train_images_per_s']):.3f}x"  # type: ignore[arg-type]
            for r in group
        )
        print(f"{arch} on {device}: best img/s over each policy's: {ratios}")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "src"))
    sys.path.insert(0, str(REPO / "benchmarks"))
    main()
