"""Text encoders: captions -> ``[B, L, D]`` embeddings for the DiT's cross-attention.

* :class:`Reason1TextEncoder`: Cosmos-Reason1 (Qwen2.5-VL-7B) "full_concat" embeddings, what the
  released Predict2.5 nets take (``[B, 512, 100352]``); needs the optional ``transformers`` extra.
* :class:`T5TextEncoder`: T5-11B states ``[B, 512, 1024]`` (Cosmos-Predict2's text input).
* :class:`HashTextEncoder`: non-semantic word hashes for smoke tests.
* :func:`build_text_encoder`: the encoder a run's config asks for (``None``: precomputed files).

Heavy imports (transformers) happen only when an encoder is built.
"""

from __future__ import annotations

from cosmos_train.text_encoders.base import TextEncoder, build_text_encoder, text_encoder_node
from cosmos_train.text_encoders.hash import HashTextEncoder
from cosmos_train.text_encoders.reason1 import (
    DEFAULT_NEGATIVE_PROMPT,
    REASON1_WEIGHTS,
    SYSTEM_PROMPT,
    Reason1TextEncoder,
    WeightsLoadError,
    mean_normalize,
)
from cosmos_train.text_encoders.t5 import T5TextEncoder

__all__ = [
    "DEFAULT_NEGATIVE_PROMPT",
    "REASON1_WEIGHTS",
    "SYSTEM_PROMPT",
    "HashTextEncoder",
    "Reason1TextEncoder",
    "T5TextEncoder",
    "TextEncoder",
    "WeightsLoadError",
    "build_text_encoder",
    "mean_normalize",
    "text_encoder_node",
]
