"""Parity with the original f-BRS implementation (../shared/reference, random weights).

Pass criteria (issue 3): the forward pass (NoBRS at every click, click 0 of every mode) within
2e-3; f-BRS-A/B/C within 5e-3 at click 1 and mask IoU >= 0.95 at every click; RGB-/DistMap-BRS
the same number of L-BFGS evaluations at click 1 and mask IoU >= 0.95 there; the same ZoomIn
ROI at every click. Later input-space BRS clicks are reported (terminal summary), not asserted.

Input-space BRS optimises ~240k variables through the whole network, and the reference README
shows that a float32-level change of convolution kernels alone (oneDNN on/off) moves its click-1
map by up to 0.19. Convolution kernels differ between CPU generations, so on a CPU other than
the one that produced the fixtures the click-1 mask can differ for that reason alone. When the
IoU criterion fails, the test therefore measures the conditioning on this machine (the same
computation with oneDNN disabled) and skips, with both numbers in the reason, only if that
float32-level perturbation alone also breaks the criterion; otherwise it fails.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.engine.config import BRSMode, eval_preset
from napari_fbrs.inference.engine.predictor import Predictor
from napari_fbrs.model.checkpoint import load_checkpoint
from tests.conftest import SHARED, require_shared

pytestmark = [pytest.mark.reference, pytest.mark.slow]

ARCHS = ("hrnet18_ocr64", "resnet34_dh128")
MODES = tuple(m.value for m in BRSMode)
CASES = [(a, m) for a in ARCHS for m in MODES]
THRESH = 0.49
PARITY_REPORT: list[str] = []


@dataclass
class Run:
    probs: list[np.ndarray]
    evals: list[int]
    rois: list[tuple[int, int, int, int]]


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    ma, mb = a > THRESH, b > THRESH
    union = np.logical_or(ma, mb).sum()
    return 1.0 if union == 0 else float(np.logical_and(ma, mb).sum() / union)


@functools.cache
def _model(arch: str):  # noqa: ANN202
    return load_checkpoint(SHARED / "reference" / "checkpoints" / f"{arch}_random_fp16.pth").model


@functools.cache
def _reference(arch: str, mode: str) -> dict[str, np.ndarray]:
    with np.load(SHARED / "reference" / f"{arch}__{mode}.npz") as data:
        return {k: data[k] for k in data.files}


@functools.cache
def _image() -> np.ndarray:
    with np.load(SHARED / "reference" / "sheep_inputs.npz") as data:
        return data["image_rgb"]


def run_fixture(arch: str, mode: str, num_clicks: int = 5, onednn: bool = True) -> Run:
    """The fixture's settings: eval preset (threshold 0.49, ZoomIn 400) plus max_size 400."""
    torch.set_num_threads(2)
    ref = _reference(arch, mode)
    predictor = Predictor(_model(arch), eval_preset(mode).with_changes(max_size=400))
    predictor.set_image(_image())
    clicks: list[Click] = []
    run = Run([], [], [])
    with torch.backends.mkldnn.flags(enabled=onednn):
        for row, col, positive in ref["clicks"][:num_clicks]:
            clicks.append(Click(int(row), int(col), bool(positive)))
            run.probs.append(predictor.predict(clicks))
            run.evals.append(predictor.last.lbfgs_evals)
            roi = predictor.last.zoom_roi
            run.rois.append(roi if roi is not None else (-1, -1, -1, -1))
    return run


@functools.cache
def cached_run(arch: str, mode: str) -> Run:
    require_shared("reference")
    run = run_fixture(arch, mode)
    ref = _reference(arch, mode)
    rows = []
    for k, probs in enumerate(run.probs):
        expected = ref["probs"][k].astype(np.float32)
        diff, iou = np.abs(probs - expected).max(), mask_iou(probs, expected)
        evals = f"{run.evals[k]}/{int(ref['lbfgs_evals'][k])}"
        rows.append(f"c{k}: max|dp| {diff:.1e} IoU {iou:.4f} evals {evals}")
    PARITY_REPORT.append(f"{arch:15s} {mode:12s} " + " | ".join(rows))
    return run


@pytest.mark.parametrize(("arch", "mode"), CASES)
def test_forward_pass_matches(arch: str, mode: str) -> None:
    run, ref = cached_run(arch, mode), _reference(arch, mode)
    clicks = range(5) if mode == "NoBRS" else range(1)
    for k in clicks:
        diff = np.abs(run.probs[k] - ref["probs"][k].astype(np.float32)).max()
        assert diff <= 2e-3, f"click {k}: max |dp| {diff:.2e}"


@pytest.mark.parametrize(("arch", "mode"), CASES)
def test_zoom_in_roi_matches_at_every_click(arch: str, mode: str) -> None:
    run, ref = cached_run(arch, mode), _reference(arch, mode)
    assert run.rois == [tuple(int(v) for v in roi) for roi in ref["zoom_roi"]]


@pytest.mark.parametrize(("arch", "mode"), [c for c in CASES if c[1].startswith("f-BRS")])
def test_feature_brs_matches(arch: str, mode: str) -> None:
    run, ref = cached_run(arch, mode), _reference(arch, mode)
    assert run.evals[1] == ref["lbfgs_evals"][1]
    diff = np.abs(run.probs[1] - ref["probs"][1].astype(np.float32)).max()
    assert diff <= 5e-3, f"click 1: max |dp| {diff:.2e}"
    for k in range(5):
        iou = mask_iou(run.probs[k], ref["probs"][k].astype(np.float32))
        assert iou >= 0.95, f"click {k}: mask IoU {iou:.4f}"


@pytest.mark.parametrize(
    ("arch", "mode"), [c for c in CASES if c[1] in ("RGB-BRS", "DistMap-BRS")]
)
def test_input_brs_first_optimised_click_matches(arch: str, mode: str) -> None:
    run, ref = cached_run(arch, mode), _reference(arch, mode)
    assert run.evals[1] == ref["lbfgs_evals"][1], "different number of L-BFGS evaluations"
    iou = mask_iou(run.probs[1], ref["probs"][1].astype(np.float32))
    if iou >= 0.95:
        return
    perturbed = run_fixture(arch, mode, num_clicks=2, onednn=False)
    self_iou = mask_iou(run.probs[1], perturbed.probs[1])
    if self_iou < 0.95:
        pytest.skip(
            f"{arch} {mode} click 1: IoU {iou:.4f} with the reference, but this computation is"
            f" ill-conditioned on this CPU: disabling oneDNN alone (a float32-level change)"
            f" moves the same click to IoU {self_iou:.4f}"
        )
    pytest.fail(f"click 1: mask IoU {iou:.4f} < 0.95 (oneDNN on/off agree at {self_iou:.4f})")


@pytest.mark.parametrize("mode", ["NoBRS", "f-BRS-B"])
def test_fast_path_meets_the_same_criteria(mode: str) -> None:
    """The opt-in fast path (BatchNorm folding, channels-last) on hrnet18_ocr64."""
    arch = "hrnet18_ocr64"
    require_shared("reference")
    ref = _reference(arch, mode)
    predictor = Predictor(_model(arch), eval_preset(mode).with_changes(max_size=400, fast=True))
    predictor.set_image(_image())
    clicks: list[Click] = []
    for k, (row, col, positive) in enumerate(ref["clicks"][:3]):
        clicks.append(Click(int(row), int(col), bool(positive)))
        probs = predictor.predict(clicks)
        expected = ref["probs"][k].astype(np.float32)
        limit = 2e-3 if mode == "NoBRS" or k == 0 else 5e-3
        assert np.abs(probs - expected).max() <= limit
        assert mask_iou(probs, expected) >= 0.95
        assert predictor.last.lbfgs_evals == ref["lbfgs_evals"][k]
