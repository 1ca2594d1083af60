"""Can a stride-4 output draw a nucleus at 90 % IoU at all? The best case, by fitting.

The built-in models predict logits at a quarter of the input resolution and upsample them
bilinearly (``align_corners=True``). Before a finer decoder is trained for small nuclei, this
measures the ceiling of the coarse one: for each object, ZoomIn's view of it is emulated (the
box grown 1.4x around its centre, at least 200 px, resized so the longest side is 400 px), a
free logit grid at ``1/stride`` of that view is fitted to the true mask by gradient descent,
and the fitted mask, resized back to the image, is scored by IoU. A ceiling near 1 says the
resolution is not what loses the NoC@90 clicks; the network's accuracy is::

    python training/stride_oracle.py --root ../shared/datasets/DSB2018 --every 10
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from napari_fbrs.inference.engine.config import ZoomInConfig, eval_preset
from napari_fbrs.inference.engine.transforms import crop_and_resize, object_roi
from napari_fbrs.io.datasets import open_dataset

ZOOM = ZoomInConfig()  # the eval preset's ZoomIn: 1.4x box, >= 200 px, longest side 400
THRESHOLD = eval_preset().prob_thresh


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


def zoomed_view(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The part of ``mask`` ZoomIn would crop around it, and that crop as the network sees it."""
    rmin, rmax, cmin, cmax = object_roi(mask, (), ZOOM.expansion_ratio, ZOOM.min_crop_size)
    crop = mask[rmin : rmax + 1, cmin : cmax + 1]
    full = torch.from_numpy(mask.astype(np.float32))[None, None]
    view = crop_and_resize(full, (rmin, rmax, cmin, cmax), ZOOM.target_size)[0, 0] > 0.5
    return crop, view.numpy()


def fitted_iou(crop: np.ndarray, view: np.ndarray, stride: int, steps: int = 250) -> float:
    """IoU of the best ``stride`` logit grid found for ``view`` (:func:`zoomed_view`), back at
    ``crop``'s resolution and thresholded as the NoC protocol does."""
    target = torch.from_numpy(view.astype(np.float32))
    height, width = target.shape
    grid = torch.zeros(1, 1, -(-height // stride), -(-width // stride), requires_grad=True)
    optimiser = torch.optim.Adam([grid], lr=0.5)
    for _ in range(steps):
        logits = _resize(grid, (height, width))[0, 0]
        loss = F.binary_cross_entropy_with_logits(logits, target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        probs = torch.sigmoid(_resize(grid, (height, width)))
        back = _resize(probs, crop.shape)[0, 0].numpy() > THRESHOLD
    return float((back & crop).sum() / (back | crop).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True, help="a DSB2018 folder")
    parser.add_argument("--split", default="train/last-40")
    parser.add_argument("--every", type=int, default=10, help="objects 0, N, 2N, ...")
    parser.add_argument("--strides", default="4,8,16", help="comma-separated output strides")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = open_dataset("dsb2018", args.root, args.split)
    masks = [np.asarray(dataset[i].mask) == 1 for i in range(0, len(dataset), args.every)]
    views = [zoomed_view(m) for m in masks]
    areas = np.array([m.sum() for m in masks])
    small = areas < np.quantile(areas, 0.25)
    print(f"{len(masks)} objects of {args.split}, ZoomIn view ({ZOOM.target_size} px)")
    print("| stride | mean IoU | IoU < 0.9 | IoU < 0.95 | smallest quarter, mean IoU |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for stride in (int(s) for s in args.strides.split(",")):
        ious = np.array([fitted_iou(crop, view, stride) for crop, view in views])
        print(
            f"| {stride} | {ious.mean():.3f} | {(ious < 0.9).sum()} | {(ious < 0.95).sum()} "
            f"| {ious[small].mean():.3f} |"
        )


if __name__ == "__main__":
    main()
