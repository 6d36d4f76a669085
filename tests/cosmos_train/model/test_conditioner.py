"""Conditioner: seeded dropout frequencies, CFG uncondition, conditioning-frame masks."""

from __future__ import annotations

import pytest
import torch

from cosmos_train.model.conditioner import Video2WorldConditioner, draw_num_conditional_frames
from cosmos_train.model.noise import sample_generators


def _batch(b: int = 4, length: int = 5, d: int = 8) -> dict:
    return {
        "t5_text_embeddings": torch.randn(b, length, d) + 3.0,
        "fps": torch.full((b,), 24.0),
        "padding_mask": torch.zeros(b, 1, 16, 16),
    }


@pytest.mark.parametrize("rate", [0.0, 0.2, 0.5, 1.0], ids=lambda r: f"rate={r}")
def test_text_dropout_frequency_and_zeroing(rate: float) -> None:
    n = 2000
    batch = _batch(n, 2, 3)
    cond = Video2WorldConditioner(text_dropout_rate=rate)(
        batch, sample_generators(0, 3, range(n), 1)
    )
    dropped = cond.text_dropped
    assert float(dropped.float().mean()) == pytest.approx(rate, abs=0.03)
    assert bool((cond.crossattn_emb[dropped] == 0).all())
    torch.testing.assert_close(cond.crossattn_emb[~dropped], batch["t5_text_embeddings"][~dropped])


def test_video_condition_dropout_frequency() -> None:
    n = 2000
    cond = Video2WorldConditioner(text_dropout_rate=0.0, use_video_condition_dropout_rate=0.3)(
        _batch(n, 1, 1), sample_generators(0, 0, range(n), 1)
    )
    assert float((~cond.use_video_condition).float().mean()) == pytest.approx(0.3, abs=0.03)


def test_draws_are_per_sample_not_per_batch() -> None:
    conditioner = Video2WorldConditioner(text_dropout_rate=0.5)
    batch = _batch(8)
    full = conditioner(batch, sample_generators(0, 1, range(8), 1))
    halves = [
        conditioner({k: v[s] for k, v in batch.items()}, sample_generators(0, 1, range(8)[s], 1))
        for s in (slice(0, 3), slice(3, 8))
    ]
    assert torch.equal(full.text_dropped, torch.cat([h.text_dropped for h in halves]))


def test_uncondition_zeroes_text_and_keeps_the_rest() -> None:
    batch = _batch()
    cond, uncond = Video2WorldConditioner(text_dropout_rate=0.2).get_condition_uncondition(batch)
    torch.testing.assert_close(cond.crossattn_emb, batch["t5_text_embeddings"])
    assert bool((uncond.crossattn_emb == 0).all())
    assert torch.equal(uncond.fps, cond.fps) and torch.equal(uncond.padding_mask, cond.padding_mask)
    assert bool(uncond.use_video_condition.all())


@pytest.mark.parametrize("counts", [[0, 1, 2, 3], [2, 2, 2, 2]], ids=["mixed", "all-2"])
def test_mask_covers_first_n_frames(counts: list[int]) -> None:
    gt = torch.randn(4, 3, 5, 2, 2)
    cond = Video2WorldConditioner.set_video_condition(
        Video2WorldConditioner()(_batch(), None, dropout=False),
        gt_frames=gt,
        num_conditional_frames=counts,
    )
    mask = cond.condition_video_input_mask_B_C_T_H_W
    assert mask.shape == (4, 1, 5, 2, 2)
    for i, n in enumerate(counts):
        assert bool((mask[i, :, :n] == 1).all()) and bool((mask[i, :, n:] == 0).all())
    assert cond.num_conditional_frames.tolist() == counts
    assert cond.gt_frames is gt


def test_images_get_no_conditioning_frames_and_count_is_capped() -> None:
    base = Video2WorldConditioner()(_batch(2), None, dropout=False)
    img = Video2WorldConditioner.set_video_condition(
        base, gt_frames=torch.randn(2, 3, 1, 2, 2), num_conditional_frames=2
    )
    assert img.num_conditional_frames.tolist() == [0, 0]
    vid = Video2WorldConditioner.set_video_condition(
        base, gt_frames=torch.randn(2, 3, 3, 2, 2), num_conditional_frames=5
    )
    assert vid.num_conditional_frames.tolist() == [2, 2]  # at least one frame left to learn


def test_conditional_frame_probabilities() -> None:
    probs = {0: 0.5, 1: 0.25, 2: 0.25}
    gens = sample_generators(0, 0, range(4000), 1)
    counts = torch.tensor(
        [draw_num_conditional_frames(g, min_frames=1, max_frames=2, probs=probs) for g in gens]
    )
    for k, p in probs.items():
        assert float((counts == k).float().mean()) == pytest.approx(p, abs=0.03)


def test_conditional_frames_uniform_fallback() -> None:
    gens = sample_generators(0, 0, range(3000), 1)
    counts = torch.tensor(
        [draw_num_conditional_frames(g, min_frames=1, max_frames=3, probs=None) for g in gens]
    )
    assert set(counts.tolist()) == {1, 2, 3}
    for k in (1, 2, 3):
        assert float((counts == k).float().mean()) == pytest.approx(1 / 3, abs=0.03)


def test_errors_are_clear() -> None:
    with pytest.raises(KeyError, match="t5_text_embeddings"):
        Video2WorldConditioner()({"fps": torch.ones(1)}, None, dropout=False)
    with pytest.raises(ValueError, match="one generator per sample"):
        Video2WorldConditioner()(_batch(2), None)
    with pytest.raises(ValueError, match="text_dropout_rate"):
        Video2WorldConditioner(text_dropout_rate=1.5)
