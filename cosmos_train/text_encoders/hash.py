"""Deterministic, NON-semantic caption embeddings: a stand-in for smoke tests only.

Wraps :func:`cosmos_train.data.text_hash.hash_text_embedding` (a fixed random vector per word).
Constructing one logs a warning: a net trained or sampled with these never sees language.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from cosmos_train.data.text_hash import hash_text_embedding

__all__ = ["HashTextEncoder"]

log = logging.getLogger(__name__)


class HashTextEncoder:
    """Per-word seeded random vectors ``[B, max_length, embed_dim]`` (padding rows are zeros).

    Args:
        max_length: tokens per caption.
        embed_dim: channels per token (the net's text width).
        seed: word-vector seed.
        device: where the output goes.
        dtype: output dtype.
        allow_random: permit this stand-in next to released net weights (see
            :func:`cosmos_train.checkpoint.pretrained.check_pretrained_parts`).
    """

    semantic = False
    weights = None

    def __init__(
        self,
        *,
        max_length: int = 512,
        embed_dim: int = 1024,
        seed: int = 0,
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype = "float32",
        allow_random: bool = False,
    ) -> None:
        from cosmos_train.utils.dtypes import parse_dtype

        self.max_length = int(max_length)
        self.embed_dim = int(embed_dim)
        self.seed = int(seed)
        self.device = torch.device(device)
        self.dtype = parse_dtype(dtype, "model.config.text_encoder.dtype")
        self.allow_random = bool(allow_random)
        log.warning(
            "text_encoder=hash: captions become NON-SEMANTIC word-hash vectors (%d x %d); smoke "
            "tests only, "
            "a net trained on them never sees language",
            self.max_length,
            self.embed_dim,
        )

    def encode(self, captions: Sequence[str]) -> torch.Tensor:
        """Embeddings ``[B, max_length, embed_dim]``."""
        if isinstance(captions, str):
            raise TypeError("encode takes a sequence of captions, not one string")
        rows = [
            hash_text_embedding(
                str(c), text_len=self.max_length, text_dim=self.embed_dim, seed=self.seed
            )[0]
            for c in captions
        ]
        out = torch.stack(rows) if rows else torch.zeros(0, self.max_length, self.embed_dim)
        return out.to(device=self.device, dtype=self.dtype)
