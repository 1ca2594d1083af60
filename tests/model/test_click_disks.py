"""Click disks (release 3's extra click encoding) and the release-2 -> disk weight upgrade."""

from __future__ import annotations

import torch

from napari_fbrs.model.dist_maps import ClickMaps, disk_maps, distance_maps, encode_points
from napari_fbrs.model.registry import build_model
from napari_fbrs.training.model_init import add_click_disk_inputs


def test_a_disk_covers_the_pixels_within_its_radius_of_its_own_sign_only():
    points = encode_points([[(10.0, 12.0)]], [[(30.0, 30.0), (2.0, 2.0)]], num_slots=3)
    maps = disk_maps(points, 40, 40, radius=5.0)
    rows, cols = torch.meshgrid(torch.arange(40), torch.arange(40), indexing="ij")
    near_pos = ((rows - 10) ** 2 + (cols - 12) ** 2) <= 25
    assert torch.equal(maps[0, 0].bool(), near_pos)
    near_neg = (((rows - 30) ** 2 + (cols - 30) ** 2) <= 25) | (
        ((rows - 2) ** 2 + (cols - 2) ** 2) <= 25
    )
    assert torch.equal(maps[0, 1].bool(), near_neg)


def test_click_maps_stack_distance_maps_and_disks():
    points = encode_points([[(5.0, 5.0)]], [[]], num_slots=1)
    image = torch.zeros(1, 3, 16, 20)
    maps = ClickMaps(260.0, 5.0)(image, points)
    assert maps.shape == (1, 4, 16, 20)
    assert torch.equal(maps[:, :2], distance_maps(points, 16, 20, 260.0))
    assert torch.equal(maps[:, 2:], disk_maps(points, 16, 20, 5.0))
    assert maps[0, 3].sum() == 0  # no negative click


def test_upgraded_release_2_weights_predict_exactly_what_release_2_did():
    torch.manual_seed(0)
    old = build_model("efficientnet_lite0_fpn96")
    for p in old.parameters():
        p.data.normal_(0, 0.05)
    new = build_model("efficientnet_lite0_fpn96_disk")
    new.load_state_dict(add_click_disk_inputs(old.state_dict()), strict=True)
    image = torch.randn(1, 3, 64, 64)
    points = encode_points([[(20.0, 20.0), (21.0, 25.0)]], [[(40.0, 40.0)]], num_slots=2)
    prev = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        a = old(image, points, prev)["instances"]
        b = new(image, points, prev)["instances"]
    assert torch.allclose(a, b, atol=1e-5)
