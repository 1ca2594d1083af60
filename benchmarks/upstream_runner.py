"""Time the ORIGINAL f-BRS code on the same clicks and settings as bench_predict.py.

Nothing of the original is included here: point ``--src`` at your own checkout of
github.com/SamsungLabs/fbrs_interactive_segmentation (commit c91c337) with the small
compatibility patches listed in ../shared/reference/README.md (guarded torchvision import,
Cython import moved into the cpu branch, ``np.int``/``np.bool``/``np.float`` aliases), and run
this with a Python that has its dependencies (torch, numpy, scipy, opencv-python-headless,
tensorboard). Prints one JSON line: per-click seconds, L-BFGS evaluations and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--src", "--checkpoint", "--mode"):
        parser.add_argument(name, required=True)
    parser.add_argument("--size", type=int, default=400)
    parser.add_argument("--inputs", required=True, help="npz with image and clicks")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, args.src)

    import torch
    from isegm.inference import utils
    from isegm.inference.clicker import Click, Clicker
    from isegm.inference.predictors import brs_functors, get_predictor

    torch.set_num_threads(args.threads)
    with np.load(args.inputs) as data:
        image, clicks = data["image"], [tuple(map(int, c)) for c in data["clicks"]]
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    tensor = torch.from_numpy(image.transpose(2, 0, 1)).contiguous().float().div(255)
    tensor = tensor.sub(mean).div(std)
    model = utils.load_is_model(args.checkpoint, "cpu")
    predictor = get_predictor(
        model,
        args.mode,
        "cpu",
        prob_thresh=0.49,
        zoom_in_params={"target_size": args.size},
        predictor_params={"max_size": args.size},
    )
    predictor.set_input_image(tensor)

    calls = [0]
    original_call = brs_functors.BaseOptimizer.__call__

    def counting_call(self, x):  # noqa: ANN001, ANN202
        calls[0] += 1
        return original_call(self, x)

    brs_functors.BaseOptimizer.__call__ = counting_call
    clicker = Clicker()
    seconds, evals = [], []
    for row, col, positive in clicks:
        clicker.add_click(
            Click(is_positive=np.bool_(positive), coords=(np.int64(row), np.int64(col)))
        )
        calls[0] = 0
        start = time.perf_counter()
        predictor.get_prediction(clicker)
        seconds.append(time.perf_counter() - start)
        evals.append(calls[0])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "evals": evals, "peak_rss_mib": rss}))


if __name__ == "__main__":
    main()
