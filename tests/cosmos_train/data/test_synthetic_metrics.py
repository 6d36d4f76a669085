"""Synthetic-set metrics: colour mass, centroid error, mass kept, PSNR and the contact sheet."""

from __future__ import annotations

import math

import pytest
import torch

from cosmos_train.data.synthetic import BACKGROUND, SyntheticVideoDataset
from cosmos_train.data.synthetic_metrics import centroids, clip_metrics, colour_mass, contact_sheet, psnr

_DS = SyntheticVideoDataset(length=8)


@pytest.mark.parametrize("index", range(8), ids=lambda i: _DS.ground_truth(i)["shape"] + f"{i}")
def test_ground_truth_centres_match_the_rendered_clip(index):
    truth = _DS.ground_truth(index)
    video = _DS[index]["video"]
    err = (centroids(colour_mass(video, truth["rgb"])) - truth["centers"]).norm(dim=1)
    assert err.max() < 0.3  # anti-aliased rendering: the colour-mass centre is the true centre
    assert _DS[index]["ai_caption"] == f"a {truth['color']} {truth['shape']} moving {truth['direction']}"


def test_the_truth_scores_perfectly():
    video, truth = _DS[0]["video"], _DS.ground_truth(0)
    m = clip_metrics(video, video, truth)
    assert max(m["centroid_error_px"]) < 0.3 and m["mass_kept"] == [1.0] * 17 and m["psnr_db"] == math.inf


@pytest.mark.parametrize("shift", [3, -5])
def test_a_shifted_clip_has_that_centroid_error_and_all_its_mass(shift):
    video, truth = _DS[1]["video"], _DS.ground_truth(1)
    moved = torch.full_like(video, BACKGROUND)
    if shift > 0:
        moved[..., shift:] = video[..., :-shift]
    else:
        moved[..., :shift] = video[..., -shift:]
    m = clip_metrics(moved, video, truth)
    inside = [e for e, k in zip(m["centroid_error_px"], m["mass_kept"]) if k > 0.99]
    assert inside and all(abs(e - abs(shift)) < 0.3 for e in inside)
    assert m["psnr_db"] < 30


def test_an_empty_clip_scores_the_diagonal_and_no_mass():
    video, truth = _DS[2]["video"], _DS.ground_truth(2)
    m = clip_metrics(torch.full_like(video, BACKGROUND), video, truth, first_generated=1)
    assert m["centroid_error_px"] == [pytest.approx(math.hypot(64, 64))] * 17
    assert m["mass_kept"] == [0.0] * 17


def test_other_colours_and_faint_speckle_are_not_credited():
    video, truth = _DS[3]["video"], _DS.ground_truth(3)
    rgb = torch.tensor(truth["rgb"]).view(3, 1, 1, 1).float()
    other = torch.tensor([rgb[1], rgb[2], rgb[0]]).view(3, 1, 1, 1)  # the channels rotated
    painted = torch.where(video.float() > BACKGROUND + 1, other.expand_as(video), video.float()).to(torch.uint8)
    assert colour_mass(painted, truth["rgb"]).sum() == 0
    gen = torch.Generator().manual_seed(0)
    speckle = (BACKGROUND + 20 * torch.rand(video.shape, generator=gen)).to(torch.uint8)
    assert clip_metrics(speckle, video, truth)["mass_kept"][-1] < 0.05


def test_psnr():
    a = torch.zeros(3, 2, 4, 4, dtype=torch.uint8)
    assert psnr(a, a) == math.inf
    assert psnr(a, a + 255) == pytest.approx(0.0)


def test_contact_sheet_places_frames_in_rows():
    a = torch.full((3, 2, 4, 5), 10, dtype=torch.uint8)
    b = torch.full((3, 2, 4, 5), 200, dtype=torch.uint8)
    sheet = contact_sheet([a, b], gap=1)
    assert sheet.shape == (3, 2 * (4 + 1) + 1, 2 * (5 + 1) + 1)
    assert sheet[0, 1, 1] == 10 and sheet[0, 6, 7] == 200 and sheet[0, 0, 0] == 255
    with pytest.raises(ValueError, match="clip 1"):
        contact_sheet([a, b[:, :1]])
