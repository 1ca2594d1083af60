"""Click encoding: one distance map for positive and one for negative clicks.

f-BRS feeds clicks to the network as two extra input channels. Each channel holds, for every
pixel, ``tanh(2 * d / norm_radius)`` where ``d`` is the Euclidean distance to the nearest click of
that sign (padding clicks at negative coordinates are ignored). Everything is computed with
torch so that gradients flow for DistMap-BRS and no compiled extension is needed.
"""

from __future__ import annotations

import torch
from torch import nn

#: Coordinates of a padding click (a slot that holds no click).
PAD_COORD = -1.0
#: Squared normalised distance given to padding clicks: far enough to saturate tanh.
_FAR = 1e6


def encode_points(
    positive: list[list[tuple[float, float]]],
    negative: list[list[tuple[float, float]]],
    num_slots: int,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Pack per-sample click lists into the ``[B, 2 * num_slots, 2]`` tensor the model takes.

    The first ``num_slots`` rows hold positive clicks, the next ``num_slots`` negative clicks;
    unused slots hold ``(-1, -1)``. Coordinates are (row, col) in network-input pixels and are
    kept in float64 so that the subtraction in :func:`distance_maps` happens at full precision.
    """
    batch = []
    for pos, neg in zip(positive, negative, strict=True):
        pos = list(pos) + [(PAD_COORD, PAD_COORD)] * (num_slots - len(pos))
        neg = list(neg) + [(PAD_COORD, PAD_COORD)] * (num_slots - len(neg))
        batch.append(pos + neg)
    return torch.tensor(batch, dtype=torch.float64, device=device).reshape(
        len(batch), 2 * num_slots, 2
    )


def _min_sq_distance(points: torch.Tensor, height: int, width: int, scale: float) -> torch.Tensor:
    """``[B, 2, H, W]`` squared distance (in units of ``scale`` pixels) to the nearest click of
    each sign; padding clicks count as infinitely far."""
    batch, total, _ = points.shape
    num_slots = total // 2
    flat = points.reshape(-1, 2)
    invalid = flat.max(dim=1).values < 0
    rows = torch.arange(height, dtype=torch.float64, device=points.device)
    cols = torch.arange(width, dtype=torch.float64, device=points.device)
    # Differences are formed in float64 and rounded once to float32, as the reference does.
    dr = (rows.view(1, height, 1) - flat[:, 0].view(-1, 1, 1).to(torch.float64)).to(torch.float32)
    dc = (cols.view(1, 1, width) - flat[:, 1].view(-1, 1, 1).to(torch.float64)).to(torch.float32)
    dr = dr / scale
    dc = dc / scale
    dr = dr * dr
    dc = dc * dc
    sq = dr.expand(-1, height, width) + dc.expand(-1, height, width)
    sq = sq.masked_fill(invalid.view(-1, 1, 1), _FAR)
    return (
        sq.view(batch * 2, num_slots, height, width)
        .min(dim=1)
        .values.view(batch, 2, height, width)
    )


def distance_maps(
    points: torch.Tensor, height: int, width: int, norm_radius: float
) -> torch.Tensor:
    """Return ``[B, 2, H, W]`` float32 maps for ``points`` of shape ``[B, 2 * K, 2]``."""
    return torch.tanh(torch.sqrt(_min_sq_distance(points, height, width, norm_radius)) * 2)


def disk_maps(points: torch.Tensor, height: int, width: int, radius: float) -> torch.Tensor:
    """``[B, 2, H, W]`` float32: 1 within ``radius`` pixels of a click of that sign, else 0.

    The distance maps above change by only ``2 * d / norm_radius`` near an existing click, so a
    late corrective click a few pixels from earlier ones barely moves them; a disk per click
    (as RITM encodes clicks) is a strong, local signal at every click.
    """
    return (_min_sq_distance(points, height, width, radius) <= 1.0).to(torch.float32)


class DistMaps(nn.Module):
    """Module wrapper so the radius travels with the model (no parameters)."""

    def __init__(self, norm_radius: float = 260.0) -> None:
        super().__init__()
        self.norm_radius = float(norm_radius)

    def forward(self, image: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        return distance_maps(points, image.shape[2], image.shape[3], self.norm_radius)


class ClickMaps(nn.Module):
    """Distance maps and click disks: ``[B, 4, H, W]`` (dist +, dist -, disk +, disk -)."""

    def __init__(self, norm_radius: float = 260.0, disk_radius: float = 5.0) -> None:
        super().__init__()
        self.norm_radius = float(norm_radius)
        self.disk_radius = float(disk_radius)

    def forward(self, image: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[2], image.shape[3]
        return torch.cat(
            (
                distance_maps(points, height, width, self.norm_radius),
                disk_maps(points, height, width, self.disk_radius),
            ),
            dim=1,
        )
