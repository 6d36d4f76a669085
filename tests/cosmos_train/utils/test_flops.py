"""DiT FLOP counting: trainer_spec §2.5 numbers and an exact cross-check against torch's counter."""

from __future__ import annotations

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from cosmos_train.nets import presets
from cosmos_train.utils.flops import (
    dit_forward_flops_breakdown,
    dit_forward_flops_per_sample,
    dit_tokens_per_sample,
    dit_train_flops_per_sample,
)


@pytest.mark.parametrize(
    "latent_thw,tokens,train_pf",
    [((24, 88, 160), 84_480, 5.78), ((24, 60, 104), 37_440, 1.35), ((24, 54, 96), 31_104, 0.98)],
    ids=["720p", "480p", "432x768"],
)
def test_2b_matches_trainer_spec_table(latent_thw, tokens, train_pf) -> None:
    kw = presets.PRESETS["cosmos_v1_2B"]
    assert dit_tokens_per_sample(kw, latent_thw) == tokens
    assert dit_train_flops_per_sample(kw, latent_thw) / 1e15 == pytest.approx(train_pf, rel=0.01)


def test_per_token_terms_match_trainer_spec() -> None:
    """linear 2*L*14*D^2 = 3.29 GF, self-attn 4*L*N*D, cross-attn 4*L*512*D = 0.117 GF per token
    (2B, 480p)."""
    kw = presets.PRESETS["cosmos_v1_2B"]
    b = dit_forward_flops_breakdown(kw, (24, 60, 104))
    N, L, D = 37_440, 28, 2048
    per_token_linear = (b["self_attn_linear"] + b["mlp"] + 2.0 * L * N * 2 * D * D) / N
    assert per_token_linear == pytest.approx(
        2 * L * 14 * D * D
    ) and per_token_linear / 1e9 == pytest.approx(3.29, rel=0.01)
    assert b["self_attn_sdpa"] / N == 4 * L * N * D
    assert b["cross_attn_sdpa"] / N == 4 * L * 512 * D
    assert dit_train_flops_per_sample(kw, (24, 60, 104)) == 3 * dit_forward_flops_per_sample(
        kw, (24, 60, 104)
    )


def test_projection_and_net_or_kwargs_agree() -> None:
    kw = presets.PRESETS["predict2_5_2B"]
    with torch.device("meta"):
        net = presets.predict2_5_2B()
    assert dit_train_flops_per_sample(net, (24, 60, 104)) == dit_train_flops_per_sample(
        kw, (24, 60, 104)
    )
    b = dit_forward_flops_breakdown(kw, (24, 60, 104))
    assert b["text_projection"] == 2.0 * 512 * 100352 * 1024
    assert (
        dit_forward_flops_breakdown(presets.PRESETS["cosmos_v1_2B"], (24, 60, 104))[
            "text_projection"
        ]
        == 0
    )


@pytest.mark.parametrize("projection", [False, True], ids=["plain", "text_projection"])
def test_forward_count_equals_torch_flop_counter_exactly(projection: bool) -> None:
    """With the math SDPA backend every FLOP is a counted matmul: our formula is exact."""
    kw = dict(use_crossattn_projection=True, crossattn_proj_in_channels=48) if projection else {}
    torch.manual_seed(0)
    net = presets.tiny(**kw)
    net.init_weights()
    B, T, H, W, L = 2, 3, 8, 8, 7
    inputs = dict(
        x_B_C_T_H_W=torch.randn(B, 16, T, H, W),
        timesteps_B_T=torch.rand(B, T),
        crossattn_emb=torch.randn(B, L, 48 if projection else 32),
    )
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        net(**inputs)
    assert counter.get_total_flops() == B * dit_forward_flops_per_sample(net, (T, H, W), text_len=L)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="divisible"):
        dit_tokens_per_sample(presets.PRESETS["tiny"], (3, 7, 8))
    with pytest.raises(TypeError, match="DiT"):
        dit_train_flops_per_sample(torch.nn.Linear(2, 2), (1, 8, 8))
    with pytest.raises(TypeError, match="mapping"):
        dit_train_flops_per_sample(3, (1, 8, 8))
