"""The text-encoder interface and :func:`build_text_encoder`.

A text encoder turns captions into the ``[B, L, D]`` tensor the DiT cross-attends to. Where that
tensor comes from is the ``text_encoder`` config group (package ``model.config.text_encoder``):
``precomputed`` (``None``: files next to the videos), ``reason1_online``, ``t5`` or ``hash``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import torch

__all__ = ["TextEncoder", "build_text_encoder", "text_encoder_node"]

log = logging.getLogger(__name__)


@runtime_checkable
class TextEncoder(Protocol):
    """What the model and the tools need from a text encoder.

    Attributes:
        max_length: tokens per caption after padding or truncation (``L``).
        embed_dim: channels per token (``D``).
        semantic: False for stand-ins whose output carries no meaning (``hash``).
        weights: where the weights came from (a path or catalogue name); ``None`` when random.
    """

    max_length: int
    embed_dim: int
    semantic: bool
    weights: str | None

    def encode(self, captions: Sequence[str]) -> torch.Tensor:
        """Embeddings ``[len(captions), max_length, embed_dim]`` (no gradient)."""
        ...


def text_encoder_node(config: Any) -> Any:
    """The ``text_encoder`` node of a run's config (``model.config.text_encoder``), or ``config``.

    Accepts a whole :class:`~cosmos_train.config.Config`, a model config, or the node.
    """
    model = getattr(config, "model", None)
    if model is not None and hasattr(model, "config"):
        config = model.config
    if hasattr(config, "text_encoder") and not hasattr(config, "_target_"):
        return config.text_encoder
    return config


def build_text_encoder(
    config: Any, *, device: torch.device | str | None = None, dtype: str | torch.dtype | None = None
) -> TextEncoder | None:
    """The text encoder a run computes online, or ``None`` when embeddings are precomputed.

    Args:
        config: a run's config, its ``model.config``, or the ``text_encoder`` node itself
            (a lazycfg node, a built encoder, or ``None``).
        device: where the encoder runs (overrides the node's ``device``).
        dtype: its compute dtype (overrides the node's ``dtype``).
    """
    node = text_encoder_node(config)
    if node is None:
        return None
    if isinstance(node, TextEncoder):
        return node
    if not hasattr(node, "_target_"):
        raise TypeError(
            f"model.config.text_encoder must be a LazyCall node, a built text encoder or None "
            f"(text_encoder=precomputed), got {type(node).__name__}"
        )
    # Lazily: importing cosmos_train must not need lazycfg.
    from cosmos_train.utils.build import instantiate_at

    runtime: dict[str, Any] = {}
    if device is not None:
        runtime["device"] = str(device)
    if dtype is not None:
        runtime["dtype"] = dtype if isinstance(dtype, str) else str(dtype).removeprefix("torch.")
    encoder = instantiate_at(node, "model.config.text_encoder", **runtime)
    if not isinstance(encoder, TextEncoder):
        raise TypeError(
            f"model.config.text_encoder built a {type(encoder).__name__}, which lacks encode(), "
            "max_length, embed_dim, semantic or weights"
        )
    return encoder
