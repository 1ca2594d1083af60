"""Normalised focal loss and auxiliary BCE: values, ignore handling, normalisation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from napari_fbrs.training.losses import (
    NormalizedFocalLoss,
    SigmoidBCELoss,
    instance_losses,
    outline_band,
)


def _reference_nfl(logits: torch.Tensor, target: torch.Tensor, alpha: float, gamma: float):
    """The paper's formula, written out pixel by pixel per sample (float64)."""
    eps = 1e-12
    out = []
    for x, y in zip(logits.double(), target.double(), strict=True):
        p = torch.sigmoid(x)
        positive = y > 0
        valid = y != -1
        p_t = torch.where(positive, p, 1 - p)
        p_t = torch.where(valid, p_t, torch.ones_like(p_t))
        beta = (1 - p_t) ** gamma
        beta = beta * valid.sum() / (beta.sum() + eps)
        a = torch.where(positive, alpha, 1 - alpha) * valid
        pixel = -a * beta * torch.log(torch.clamp(p_t + eps, max=1.0))
        out.append((pixel * valid).sum() / (valid.sum() + eps))
    return torch.stack(out)


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 1, 12, 16, generator=g) * 3
    target = (torch.rand(3, 1, 12, 16, generator=g) > 0.6).float()
    target[:, :, :2] = -1
    return logits, target


@pytest.mark.parametrize(("alpha", "gamma"), [(0.5, 2.0), (0.25, 1.0)])
def test_focal_loss_matches_the_formula(alpha: float, gamma: float) -> None:
    logits, target = _batch()
    got = NormalizedFocalLoss(alpha, gamma)(logits, target)
    assert got.shape == (3,)
    assert torch.allclose(got.double(), _reference_nfl(logits, target, alpha, gamma), rtol=1e-4)


def test_ignore_pixels_do_not_matter() -> None:
    logits, target = _batch(1)
    changed = logits.clone()
    changed[target == -1] = 100.0
    focal, bce = NormalizedFocalLoss(), SigmoidBCELoss()
    assert torch.allclose(focal(logits, target), focal(changed, target))
    assert torch.allclose(bce(logits, target), bce(changed, target))
    changed.requires_grad_(True)
    focal(changed, target).sum().backward()
    assert changed.grad is not None
    assert not changed.grad[target == -1].any()


def test_focal_loss_normalisation_keeps_the_total_weight() -> None:
    """Equal confidence everywhere: every focal weight normalises to 1, so the loss is the
    alpha-weighted cross-entropy, however confident (plain focal loss would shrink by
    ``(1 - p_t) ** gamma``)."""
    _, target = _batch(2)
    sign = torch.where(target > 0, 1.0, -1.0)
    focal = NormalizedFocalLoss(alpha=0.5, gamma=2.0)
    for confidence in (0.5, 2.0, 4.0):
        expected = 0.5 * F.softplus(torch.tensor(-confidence))
        got = focal(sign * confidence, target)
        assert torch.allclose(got, expected.expand(3), rtol=1e-5)
    assert focal(sign * 30.0, target).max() < 1e-6  # a perfect prediction costs nothing


def test_bce_matches_torch_without_ignore_pixels() -> None:
    logits, target = _batch(3)
    target[target == -1] = 0
    expected = F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean((1, 2, 3))
    assert torch.allclose(SigmoidBCELoss()(logits, target), expected, atol=1e-6)


def test_instance_losses_weights_and_parts() -> None:
    logits, target = _batch(4)
    outputs = {"instances": logits, "instances_aux": logits * 0.5}
    focal, bce = NormalizedFocalLoss(), SigmoidBCELoss()
    total, parts = instance_losses(outputs, target, focal, 1.0, bce, 0.4)
    assert set(parts) == {"instance", "aux"}
    assert float(total) == pytest.approx(parts["instance"] + 0.4 * parts["aux"], rel=1e-5)
    total, parts = instance_losses(outputs, target, focal, 1.0, None, 0.0)
    assert set(parts) == {"instance"}
    with pytest.raises(ValueError, match="zero"):
        instance_losses(outputs, target, focal, 0.0, None, 0.0)


def test_outline_band_marks_pixels_near_the_outline() -> None:
    target = torch.zeros(1, 1, 9, 9)
    target[..., 3:6, 3:6] = 1  # a 3 x 3 square
    target[..., 0, :] = -1  # ignore row: neither object nor background
    band = outline_band(target, 1)[0, 0]
    rows, cols = torch.nonzero(band, as_tuple=True)
    # width 1: the square's own outline (8 pixels; the centre sees no background) and the ring
    # of 16 background pixels around it
    assert band.sum() == 8 + 16
    assert band[4, 4] == 0 and band[3, 3] == 1 and band[2, 2] == 1 and band[1, 1] == 0
    assert int(rows.min()) == 2 and int(rows.max()) == 6 and int(cols.min()) == 2
    assert outline_band(target, 2)[0, 0].sum() == 7 * 7  # rows and columns 1-7
    assert outline_band(target, 2)[0, 0, 0].sum() == 0  # the ignore row is in no band
    assert outline_band(torch.ones(1, 1, 5, 5), 2).sum() == 0  # no background: no outline


def test_outline_weight_reweights_the_focal_loss() -> None:
    logits, target = _batch(5)
    plain = NormalizedFocalLoss()(logits, target)
    assert torch.equal(NormalizedFocalLoss(outline_weight=0.0)(logits, target), plain)
    weighted = NormalizedFocalLoss(outline_weight=3.0, outline_width=1)
    # the formula: per-pixel plain terms, weighted by 1 + 3 * band, over the weighted count
    eps = 1e-12
    prob = torch.sigmoid(logits.double())
    positive, valid = target > 0, (target != -1).double()
    p_t = torch.where(positive, prob, 1 - prob)
    focal = (1 - p_t) ** 2 * valid
    focal = focal * valid.sum((-2, -1), keepdim=True) / focal.sum((-2, -1), keepdim=True)
    pixel = -0.5 * focal * torch.log(torch.where(valid > 0, p_t, torch.ones_like(p_t)))
    weight = (1 + 3 * outline_band(target, 1).double()) * valid
    expected = (pixel * weight).sum((1, 2, 3)) / (weight.sum((1, 2, 3)) + eps)
    assert torch.allclose(weighted(logits, target).double(), expected, rtol=1e-4)
    assert not torch.allclose(weighted(logits, target), plain, rtol=1e-3)
    # a mistake on the outline costs more than the same mistake deep inside the background
    target = torch.zeros(1, 1, 16, 16)
    target[..., 6:10, 6:10] = 1
    good = torch.where(target > 0, 4.0, -4.0)
    on_outline, far_away = good.clone(), good.clone()
    on_outline[..., 5, 7] = 4.0  # background pixel touching the object, predicted object
    far_away[..., 0, 0] = 4.0
    plain_loss = NormalizedFocalLoss()
    assert torch.allclose(plain_loss(on_outline, target), plain_loss(far_away, target))
    assert weighted(on_outline, target) > weighted(far_away, target)
