"""Validation during training: the NoC protocol on the first few validation samples.

Training loss says little about what users feel (clicks to a good mask), so checkpoints are
ranked by NoC, measured exactly as ``napari-fbrs evaluate`` measures it, with the NoBRS
predictor (plain network, no refinement: fast, and what the network itself is responsible for).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from napari_fbrs.model.is_model import InteractiveModel

from .config import ValidationConfig


def noc_key(iou: float) -> str:
    """``0.9`` -> ``"noc@90"``."""
    return f"noc@{round(iou * 100)}"


def validate(
    model: InteractiveModel,
    device: torch.device,
    config: ValidationConfig,
    dataset: Any,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, float]:
    """NoC at every threshold, mIoU after 1..5 clicks and the seconds it took.

    ``dataset`` is an ``io.datasets.InstanceDataset``; ``model`` is left in eval mode (the
    caller switches back to training).
    """
    from napari_fbrs.evaluation.noc import EvalSettings, evaluate_dataset
    from napari_fbrs.inference.engine.config import eval_preset
    from napari_fbrs.inference.engine.predictor import Predictor

    settings = EvalSettings(
        max_clicks=config.max_clicks,
        iou_thresholds=tuple(config.iou_thresholds),
        max_samples=config.num_samples,
    )
    predictor_config = eval_preset("NoBRS", config.kind)
    if not config.zoom_in:
        predictor_config = predictor_config.with_changes(zoom_in=None)
    predictor = Predictor(model, predictor_config, device=device)
    started = time.perf_counter()
    model.eval()
    with torch.no_grad():
        result = evaluate_dataset(
            dataset, predictor, settings, method="model", progress=False, should_stop=should_stop
        )
    metrics = {noc_key(t): float(result.noc(t)) for t in config.iou_thresholds}
    curve = np.asarray(result.miou_curve(), dtype=np.float64).ravel()
    metrics.update({f"miou@{k + 1}": float(curve[k]) for k in range(min(5, curve.size))})
    metrics["seconds"] = time.perf_counter() - started
    return metrics
