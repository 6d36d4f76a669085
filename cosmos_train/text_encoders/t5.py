"""T5 caption embeddings (Cosmos-Predict2 style): ``[B, 512, 1024]`` for T5-11B's encoder.

Cosmos (``predict2/inference/get_t5_emb.py``): the captions are tokenized with padding to
``max_length`` and truncation, the encoder runs with the attention mask, and the last hidden state
is zeroed past each caption's tokens. The Predict2.5 nets do not take these (they take Reason1);
T5 is for nets with 1024-wide text input (``net=cosmos_v1_2B``-style experiments).

Loading is strict: a missing or unexpected encoder key is a :class:`WeightsLoadError` (a full T5
checkpoint's ``decoder.*`` and ``lm_head.*`` are not used and are skipped).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import torch

from cosmos_train.text_encoders.reason1 import WeightsLoadError
from cosmos_train.utils.dtypes import parse_dtype

__all__ = ["T5_WEIGHTS", "T5TextEncoder"]

log = logging.getLogger(__name__)

#: The catalogue name of Cosmos's T5 (checkpoint_db.py).
T5_WEIGHTS = "google-t5/t5-11b"
_UNUSED = ("decoder.", "lm_head.")


class T5TextEncoder:
    """T5 encoder last hidden states ``[B, max_length, d_model]``, zero past each caption.

    Args:
        weights: catalogue name (default ``google-t5/t5-11b``), ``hf://ORG/REPO[@REV]`` or a local
            folder with ``config.json``, weights and tokenizer files.
        max_length: tokens per caption (Cosmos: 512).
        device: where the encoder runs.
        dtype: compute dtype.
        allow_random: permit this encoder next to released net weights with ``weights=None``
            (:func:`cosmos_train.checkpoint.pretrained.check_pretrained_parts`); a T5 encoder is
            never built randomly here, so ``weights`` is required regardless.
    """

    semantic = True

    def __init__(
        self,
        *,
        weights: str | os.PathLike | None = T5_WEIGHTS,
        max_length: int = 512,
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype = "bfloat16",
        allow_random: bool = False,
    ) -> None:
        if not weights:
            raise WeightsLoadError(
                "model.config.text_encoder.weights is not set; set it to "
                f"{T5_WEIGHTS!r} or a local T5 folder"
            )
        if not isinstance(max_length, int) or max_length <= 0:
            raise ValueError(f"text_encoder.max_length must be a positive int, got {max_length!r}")
        from transformers import AutoTokenizer, T5EncoderModel

        from cosmos_train.checkpoint.hub import resolve_weights

        folder = resolve_weights(weights, what="model.config.text_encoder.weights")
        self.weights = str(weights)
        self.max_length = max_length
        self.device = torch.device(device)
        self.dtype = parse_dtype(dtype, "model.config.text_encoder.dtype")
        self.allow_random = bool(allow_random)
        try:
            model, info = T5EncoderModel.from_pretrained(
                str(folder), local_files_only=True, output_loading_info=True, dtype=self.dtype
            )
            self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError) as err:
            raise WeightsLoadError(f"cannot load a T5 encoder from {folder}: {err}") from None
        _check_loading_info(info, folder)
        self.model = model.to(self.device).eval().requires_grad_(False)
        self.embed_dim = int(model.config.d_model)

    def encode(self, captions: Sequence[str]) -> torch.Tensor:
        """Embeddings ``[B, max_length, embed_dim]`` in ``dtype``, zero past each caption."""
        return self.encode_with_mask(captions)[0]

    @torch.no_grad()
    def encode_with_mask(self, captions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(embeddings [B, L, D], mask [B, L] int64)``: the mask is 1 on each caption's tokens."""
        if isinstance(captions, str):
            raise TypeError("encode takes a sequence of captions, not one string")
        batch = self.tokenizer(
            [str(c) for c in captions],
            max_length=self.max_length,
            padding="max_length",
            truncation=True,
            return_tensors="pt",
        )
        ids = batch["input_ids"].to(self.device)
        mask = batch["attention_mask"].to(self.device)
        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        return hidden * mask.unsqueeze(-1).to(hidden.dtype), mask.long()


def _check_loading_info(info: dict[str, Any], folder: os.PathLike) -> None:
    """Strict loading on top of ``from_pretrained``: nothing missing, unknown or misshapen."""
    missing = sorted(info.get("missing_keys", ()))
    unexpected = sorted(k for k in info.get("unexpected_keys", ()) if not k.startswith(_UNUSED))
    mismatched = [str(m) for m in info.get("mismatched_keys", ())]
    if missing or unexpected or mismatched:
        raise WeightsLoadError(
            f"the T5 weights in {folder} do not match its config.json; strict loading refuses "
            "them.\n"
            f"  missing keys ({len(missing)}): {', '.join(missing[:20])}\n"
            f"  unexpected keys ({len(unexpected)}): {', '.join(unexpected[:20])}\n"
            f"  mismatched shapes ({len(mismatched)}): {', '.join(mismatched[:20])}"
        )
