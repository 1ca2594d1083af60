"""Backpropagating refinement: the objective L-BFGS-B minimises after each click.

BRS treats the clicks as hard constraints at test time: some auxiliary variables (an additive
bias on the input image or the distance maps, or a per-channel scale and bias on intermediate
features for f-BRS) are optimised so that the predicted probability is high under positive
clicks and low under negative ones, with a small L2 penalty that keeps the correction minimal.

:class:`BRSObjective` is the function scipy's L-BFGS-B calls: it returns the loss and its
gradient for a flat float64 parameter vector, remembers the best logits it has seen, and stops
the optimiser early (zero gradient) once every click is satisfied or the mask no longer
changes. Numbers follow the original implementation exactly, since the optimiser's discrete
decisions amplify any difference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import minimize

from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.engine.config import BRSLossConfig, LBFGSConfig

LogitsFn = Callable[..., torch.Tensor]
UnpackFn = Callable[[torch.Tensor], tuple[tuple[torch.Tensor, ...], torch.Tensor]]


def click_masks(
    clicks_lists: Sequence[Sequence[Click]], height: int, width: int, radius: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """3x3 squares at the rounded click positions, ``[B, 1, H, W]`` float32 each.

    Slicing follows numpy semantics exactly as the original does, so a click on the first row
    or column (whose square would start at -1) marks nothing.
    """
    pos = np.zeros((len(clicks_lists), 1, height, width), dtype=np.float32)
    neg = np.zeros_like(pos)
    for index, clicks in enumerate(clicks_lists):
        for click in clicks:
            r, c = int(round(click.row)), int(round(click.col))
            target = pos if click.positive else neg
            target[index, 0, r - radius : r + radius + 1, c - radius : c + radius + 1] = 1.0
    return torch.from_numpy(pos), torch.from_numpy(neg)


def click_consistency_loss(
    probs: torch.Tensor, pos_mask: torch.Tensor, neg_mask: torch.Tensor, eps: float
) -> tuple[torch.Tensor, float, float]:
    """Mean squared violation under positive and negative clicks, and the worst violations."""
    pos_diff = (1 - probs) * pos_mask
    pos_term = torch.sum(pos_diff**2) / (torch.sum(pos_mask) + eps)
    neg_diff = probs * neg_mask
    neg_term = torch.sum(neg_diff**2) / (torch.sum(neg_mask) + eps)
    with torch.no_grad():
        worst_pos = torch.max(torch.abs(pos_diff)).item()
        worst_neg = torch.max(torch.abs(neg_diff)).item()
    return pos_term + neg_term, worst_pos, worst_neg


def batch_mask_iou(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Per-sample IoU of two boolean ``[B, ...]`` masks (samples with an empty union dropped)."""
    dims = list(range(1, a.dim()))
    union = torch.mean((a | b).float(), dim=dims).numpy()
    inter = torch.mean((a & b).float(), dim=dims).numpy()
    keep = union > 0
    return inter[keep] / union[keep]


def unpack_scale_bias(reg_weight: float, reg_bias_weight: float) -> UnpackFn:
    """f-BRS variables: ``scale = 1 + s`` and ``bias = b`` per channel."""

    def unpack(params: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        s, b = torch.chunk(params, 2, dim=0)
        reg = reg_weight * (torch.sum(s**2) + reg_bias_weight * torch.sum(b**2))
        return (1 + s, b), reg

    return unpack


def unpack_input_bias(shape: tuple[int, ...], with_flip: bool, reg_weight: float) -> UnpackFn:
    """RGB-/DistMap-BRS variables: one additive map, mirrored for the flipped batch half."""

    def unpack(params: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        bias = params.view(shape)
        if with_flip:
            bias = torch.cat([bias, torch.flip(bias, dims=[3])], dim=0)
        return (bias,), reg_weight * torch.sum(bias**2)

    return unpack


@dataclass
class BRSObjective:
    """Loss and gradient for scipy; keeps the lowest-loss logits it has produced."""

    logits_fn: LogitsFn
    unpack: UnpackFn
    pos_mask: torch.Tensor
    neg_mask: torch.Tensor
    prob_thresh: float
    loss: BRSLossConfig
    device: torch.device

    def __post_init__(self) -> None:
        self.best_logits: torch.Tensor | None = None
        self.best_loss: float = float("inf")
        self.evaluations = 0
        self._last_mask: torch.Tensor | None = None

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        self.evaluations += 1
        params = torch.from_numpy(x).float().to(self.device).requires_grad_(True)
        with torch.enable_grad():
            variables, reg = self.unpack(params)
            logits = self.logits_fn(*variables)
            probs = torch.sigmoid(logits)
            pos_mask, neg_mask = self.pos_mask, self.neg_mask
            if self.loss.flip_average:
                probs, mirrored = torch.chunk(probs, 2, dim=0)
                probs = 0.5 * (probs + torch.flip(mirrored, dims=[3]))
                pos_mask, neg_mask = pos_mask[: probs.shape[0]], neg_mask[: probs.shape[0]]
            loss, worst_pos, worst_neg = click_consistency_loss(
                probs, pos_mask, neg_mask, self.loss.eps
            )
            loss = loss + reg

        value = loss.detach().cpu().numpy()
        if self.best_logits is None or value < self.best_loss:
            self.best_logits = logits.detach()
            self.best_loss = value
        zero = np.zeros_like(x)
        if worst_pos < 1 - self.prob_thresh and worst_neg < self.prob_thresh:
            return float(value), zero  # every click satisfied: stop here

        mask = (probs > self.prob_thresh).detach().cpu()
        if self._last_mask is not None and self.loss.min_iou_diff > 0:
            iou = batch_mask_iou(mask, self._last_mask)
            if len(iou) > 0 and iou.mean() > 1 - self.loss.min_iou_diff:
                return float(value), zero  # the mask has stopped changing
        self._last_mask = mask

        # autograd.grad computes only d(loss)/d(params): no weight gradients, nothing accumulated.
        (grad,) = torch.autograd.grad(loss, params)
        return float(value), grad.cpu().numpy().ravel().astype(np.float64)


def run_lbfgs(objective: BRSObjective, x0: np.ndarray, config: LBFGSConfig) -> np.ndarray:
    """Minimise with scipy's L-BFGS-B using the original settings; returns the final point."""
    result = minimize(
        objective,
        np.asarray(x0, dtype=np.float64),
        jac=True,
        method="L-BFGS-B",
        options={
            "maxcor": config.m,
            "ftol": config.factr * np.finfo(float).eps,
            "gtol": config.pgtol,
            "maxfun": config.maxfun,
            "maxiter": config.effective_maxiter,
        },
    )
    return np.asarray(result.x, dtype=np.float64)
