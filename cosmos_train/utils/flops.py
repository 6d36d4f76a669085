"""Model FLOPs of the Cosmos DiT, counted the torchtitan way (attention included).

Every matmul counts ``2 m n k``; attention counts ``4 N M D`` per layer (``Q K^T`` and ``A V``),
non-causal. Training is 3x the forward (backward = 2x), without activation-checkpoint recompute:
this is the *model* FLOP count used for MFU (trainer_spec §2.5). Elementwise work (norms, RoPE,
softmax, GELU) is not counted, as in torchtitan and ``torch.utils.flop_counter``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from torch import nn

__all__ = [
    "dit_forward_flops_breakdown",
    "dit_forward_flops_per_sample",
    "dit_train_flops_per_sample",
    "dit_tokens_per_sample",
]

_FIELDS = (
    "model_channels",
    "num_blocks",
    "num_heads",
    "mlp_ratio",
    "crossattn_emb_channels",
    "patch_spatial",
    "patch_temporal",
    "in_channels",
    "out_channels",
    "concat_padding_mask",
    "use_adaln_lora",
    "adaln_lora_dim",
    "use_crossattn_projection",
    "crossattn_proj_in_channels",
)


def _net_defaults() -> dict[str, Any]:
    from cosmos_train.nets.dit import MiniTrainDiT

    sig = inspect.signature(MiniTrainDiT.__init__)
    return {k: sig.parameters[k].default for k in _FIELDS}


def _shape(net_or_kwargs: Any) -> dict[str, Any]:
    """The architecture fields from a net, a kwargs mapping or a lazy config node (defaults
    filled)."""
    if isinstance(net_or_kwargs, nn.Module):
        missing = [k for k in _FIELDS if not hasattr(net_or_kwargs, k)]
        if missing:
            raise TypeError(
                f"{type(net_or_kwargs).__name__} lacks DiT attributes {missing}; pass the net's "
                "kwargs instead"
            )
        return {k: getattr(net_or_kwargs, k) for k in _FIELDS}
    if isinstance(net_or_kwargs, Mapping):
        given = dict(net_or_kwargs)
    else:
        try:  # lazy config nodes iterate over their kwarg names and support item access
            given = {k: net_or_kwargs[k] for k in net_or_kwargs}
        except TypeError as err:
            raise TypeError(
                "expected a DiT nn.Module or a mapping of its kwargs, got "
                f"{type(net_or_kwargs).__name__}"
            ) from err
    shape = _net_defaults()
    shape.update({k: given[k] for k in _FIELDS if k in given})
    return shape


def _token_grid(shape: dict[str, Any], latent_thw: tuple[int, int, int]) -> tuple[int, int, int]:
    T, H, W = latent_thw
    p, pt = shape["patch_spatial"], shape["patch_temporal"]
    if T % pt or H % p or W % p:
        raise ValueError(
            f"latent_thw={tuple(latent_thw)} is not divisible by the patch size (t={pt}, "
            f"spatial={p})"
        )
    return T // pt, H // p, W // p


def dit_tokens_per_sample(net_or_kwargs: Any, latent_thw: tuple[int, int, int]) -> int:
    """Tokens the DiT sees per sample: ``(T/pt) (H/p) (W/p)`` of the latent."""
    t, h, w = _token_grid(_shape(net_or_kwargs), latent_thw)
    return t * h * w


def dit_forward_flops_breakdown(
    net_or_kwargs: Any,
    latent_thw: tuple[int, int, int],
    text_len: int = 512,
    timestep_frames: int | None = None,
) -> dict[str, float]:
    """Forward FLOPs per sample by component.

    Args:
        net_or_kwargs: a ``MiniTrainDiT`` or its constructor kwargs (missing ones take the
            defaults).
        latent_thw: latent ``(T, H, W)`` (after the tokenizer, before patching).
        text_len: text tokens seen by cross-attention.
        timestep_frames: frames with their own timestep (AdaLN is computed per frame); default all
            latent frames (per-frame timesteps, as in Video2World training).
    """
    s = _shape(net_or_kwargs)
    t, h, w = _token_grid(s, latent_thw)
    N = t * h * w
    M = text_len
    D, L, C = s["model_channels"], s["num_blocks"], s["crossattn_emb_channels"]
    F_ = int(D * s["mlp_ratio"])
    p, pt = s["patch_spatial"], s["patch_temporal"]
    Tt = t if timestep_frames is None else timestep_frames
    cin = (s["in_channels"] + 1 + (1 if s["concat_padding_mask"] else 0)) * p * p * pt
    if s["use_adaln_lora"]:
        r = s["adaln_lora_dim"]
        t_emb = 2 * Tt * (D * D + D * 3 * D)
        block_mod = 3 * 2 * Tt * (D * r + r * 3 * D)
        final_mod = 2 * Tt * (D * r + r * 2 * D)
    else:
        t_emb = 2 * Tt * (D * D + D * D)
        block_mod = 3 * 2 * Tt * D * 3 * D
        final_mod = 2 * Tt * D * 2 * D
    return {
        "patch_embed": 2.0 * N * cin * D,
        "text_projection": 2.0 * M * s["crossattn_proj_in_channels"] * C
        if s["use_crossattn_projection"]
        else 0.0,
        "timestep_embedding": float(t_emb),
        "adaln_modulation": float(L * block_mod + final_mod),
        "self_attn_linear": 2.0 * L * N * 4 * D * D,
        "cross_attn_linear": 2.0 * L * (N * 2 * D * D + M * 2 * C * D),
        "mlp": 2.0 * L * N * 2 * D * F_,
        "self_attn_sdpa": 4.0 * L * N * N * D,
        "cross_attn_sdpa": 4.0 * L * N * M * D,
        "final_layer": 2.0 * N * D * p * p * pt * s["out_channels"],
    }


def dit_forward_flops_per_sample(
    net_or_kwargs: Any,
    latent_thw: tuple[int, int, int],
    text_len: int = 512,
    timestep_frames: int | None = None,
) -> float:
    """Total forward FLOPs per sample (sum of :func:`dit_forward_flops_breakdown`)."""
    return float(
        sum(
            dit_forward_flops_breakdown(
                net_or_kwargs, latent_thw, text_len, timestep_frames
            ).values()
        )
    )


def dit_train_flops_per_sample(
    net_or_kwargs: Any,
    latent_thw: tuple[int, int, int],
    text_len: int = 512,
    timestep_frames: int | None = None,
) -> float:
    """Model training FLOPs per sample: 3x the forward (no AC recompute), attention included.

    For the Predict2.5-2B at 480p (latent 24x60x104, 37,440 tokens, 512 text tokens) this is
    about 1.35 PFLOP (trainer_spec §2.5).
    """
    return 3.0 * dit_forward_flops_per_sample(net_or_kwargs, latent_thw, text_len, timestep_frames)
