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
#: Where padding clicks are moved: so far that their distance saturates tanh exactly.
_FAR_COORD = -1e4


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
    each sign.

    Padding clicks are moved far outside the image before the differences are taken, so they
    never win the minimum and a sign without clicks saturates ``tanh`` exactly as an infinite
    distance would (``tanh(2 * 108) == 1`` in float32); this avoids masking a ``[B, 2K, H, W]``
    tensor, which cost a fifth of a training forward pass.
    """
    batch, total, _ = points.shape
    num_slots = total // 2
    flat = points.reshape(-1, 2).to(torch.float64)
    invalid = flat.max(dim=1).values < 0
    flat = torch.where(invalid.view(-1, 1), flat.new_tensor(_FAR_COORD), flat)
    rows = torch.arange(height, dtype=torch.float64, device=points.device)
    cols = torch.arange(width, dtype=torch.float64, device=points.device)
    # Differences are formed in float64 and rounded once to float32, as the reference does.
    dr = (rows.view(1, height) - flat[:, 0].view(-1, 1)).to(torch.float32)
    dc = (cols.view(1, width) - flat[:, 1].view(-1, 1)).to(torch.float32)
    dr = dr / scale
    dc = dc / scale
    dr = (dr * dr).view(batch * 2, num_slots, height, 1)
    dc = (dc * dc).view(batch * 2, num_slots, 1, width)
    # A running minimum over the slots: never a [B, 2K, H, W] tensor in memory.
    best = dr[:, 0] + dc[:, 0]
    for slot in range(1, num_slots):
        torch.minimum(best, dr[:, slot] + dc[:, slot], out=best)
    return best.view(batch, 2, height, width)


def distance_maps(
    points: torch.Tensor, height: int, width: int, norm_radius: float
) -> torch.Tensor:
    """Return ``[B, 2, H, W]`` float32 maps for ``points`` of shape ``[B, 2 * K, 2]``."""
    return torch.tanh(torch.sqrt(_min_sq_distance(points, height, width, norm_radius)) * 2)


def disk_maps(
    points: torch.Tensor, height: int, width: int, radius: float, norm_radius: float = 260.0
) -> torch.Tensor:
    """``[B, 2, H, W]`` float32: 1 within ``radius`` pixels of a click of that sign, else 0.

    The distance maps above change by only ``2 * d / norm_radius`` near an existing click, so a
    late corrective click a few pixels from earlier ones barely moves them; a disk per click
    (as RITM encodes clicks) is a strong, local signal at every click.
    """
    return _disks(_min_sq_distance(points, height, width, norm_radius), radius / norm_radius)


def _disks(sq: torch.Tensor, radius: float) -> torch.Tensor:
    """Pixels whose squared distance ``sq`` is within ``radius`` (same units); a pixel exactly
    on the circle counts, whatever the rounding of ``sq``."""
    return (sq <= radius * radius * (1 + 1e-6)).to(torch.float32)


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
        # One set of squared distances for both encodings (distance_maps' own arithmetic).
        sq = _min_sq_distance(points, image.shape[2], image.shape[3], self.norm_radius)
        disks = _disks(sq, self.disk_radius / self.norm_radius)
        return torch.cat((torch.tanh(torch.sqrt(sq) * 2), disks), dim=1)
