"""Deterministic, NON-semantic caption embeddings derived from the caption's words.

Each word gets a fixed random vector (seeded by a CRC32 of the word and a seed) placed at its
token position; positions past the caption are zeros with mask 0. Identical captions always give
identical embeddings and different words give different vectors, which is all a small model
needs to learn a caption -> video mapping (the synthetic dataset) or all a smoke test needs
(``tools/compute_text_embeddings.py --encoder hash``). These are not language-model embeddings.
"""

from __future__ import annotations

import re
import zlib

import torch

__all__ = ["caption_words", "word_vector", "hash_text_embedding"]

_WORD = re.compile(r"[a-z0-9]+")


def caption_words(caption: str) -> list[str]:
    """Lower-cased alphanumeric words of ``caption`` (punctuation dropped)."""
    return _WORD.findall(caption.lower())


def word_vector(word: str, dim: int, seed: int = 0) -> torch.Tensor:
    """The fixed float32 ``[dim]`` vector of ``word`` (unit variance per element)."""
    # CRC32 is stable across processes and Python versions, unlike hash().
    key = zlib.crc32(word.encode("utf-8")) ^ (seed * 0x9E3779B1 & 0xFFFFFFFF)
    gen = torch.Generator().manual_seed(key)
    return torch.randn(dim, generator=gen, dtype=torch.float32)


def hash_text_embedding(
    caption: str, *, text_len: int, text_dim: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings ``[text_len, text_dim]`` float32 and mask ``[text_len]`` int64 of ``caption``.

    Words beyond ``text_len`` are dropped; the padding rows are zeros with mask 0.
    """
    if text_len <= 0 or text_dim <= 0:
        raise ValueError(f"text_len and text_dim must be positive, got {text_len}, {text_dim}")
    words = caption_words(caption)[:text_len]
    emb = torch.zeros(text_len, text_dim, dtype=torch.float32)
    mask = torch.zeros(text_len, dtype=torch.int64)
    for pos, word in enumerate(words):
        emb[pos] = word_vector(word, text_dim, seed)
        mask[pos] = 1
    return emb, mask
