"""Does the built-in model use its previous-mask input? NoC with it and with it held empty.

    python training/ablation_prev_mask.py --root ../shared/datasets/GrabCut --max-samples 50

The same shipped weights evaluated twice on the same protocol (``evaluate``'s NoC loop, eval
preset, NoBRS): once as shipped, and once with the previous prediction replaced by an empty
mask at every click (the network then sees only the image and the clicks, as an f-BRS model
does). The difference is what the previous-mask input (trained with corrective clicks, as RITM
does) buys at inference; it is not a retraining without it, which a CPU budget did not allow.
"""

from __future__ import annotations

import argparse

import torch

from napari_fbrs.evaluation.noc import EvalSettings, evaluate_dataset
from napari_fbrs.evaluation.report import format_table
from napari_fbrs.inference.engine.config import eval_preset
from napari_fbrs.inference.engine.predictor import Predictor
from napari_fbrs.io.datasets import open_dataset
from napari_fbrs.model.checkpoint import load_checkpoint
from napari_fbrs.model.weights import resolve_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="grabcut")
    parser.add_argument("--root", required=True)
    parser.add_argument("--split")
    parser.add_argument("--max-samples", type=int)
    parser.add_argument("--checkpoint", default="default")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = open_dataset(args.dataset, args.root, split=args.split)
    settings = EvalSettings(max_samples=args.max_samples)
    for empty in (False, True):
        model = load_checkpoint(resolve_checkpoint(args.checkpoint)).model
        if empty:
            model.uses_prev_mask = False  # the predictor then passes no previous mask
        predictor = Predictor(model, eval_preset("NoBRS", args.dataset))
        label = "previous mask held empty" if empty else "as shipped"
        result = evaluate_dataset(dataset, predictor, settings, method=f"NoBRS, {label}")
        lines = format_table(result).splitlines()
        print("\n".join(lines[2:] if empty else lines), flush=True)


if __name__ == "__main__":
    main()
