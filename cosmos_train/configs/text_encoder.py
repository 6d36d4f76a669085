"""``text_encoder`` options (package ``model.config.text_encoder``): where embeddings come from.

* ``precomputed`` (default): ``None``; the dataset supplies ``t5_text_embeddings`` from files
  (``LocalVideoDataset(text_embeddings_subdir=...)``, from ``tools/compute_text_embeddings.py``).
* ``reason1_online``: Cosmos-Reason1 embeddings ``[B, 512, 100352]`` computed in the training step
  from ``ai_caption``, as the released Predict2.5 recipes do (``compute_online=True``). The 7B
  decoder is frozen (no grad, not in the optimizer, EMA or checkpoints) and kept whole in
  ``bfloat16`` on each rank's GPU (13.2 GiB measured on an H100; 18 ms per caption at 512 tokens,
  under 0.5% of a 2B 480p step: ``docs/benchmarks.md``); ``offload_to_cpu=True`` keeps it in host
  memory between calls instead (frees that memory, but the copies took 9 s per call on an H100:
  for sampling on small GPUs, not for training);
  ``cache_size`` keeps the embeddings of recent captions (the nemo recipe has one caption, so
  the decoder then runs once). It is not sharded: FSDP would save ~11.6 GiB/rank on 8 ranks at
  the price of weight gathers every step, and the 2B recipe fits without it.
* ``t5``: T5-11B encoder states ``[B, 512, 1024]``, zero past each caption (Cosmos-Predict2's
  text input; not what the Predict2.5 nets take), for nets with 1024-wide text input.
* ``hash``: NON-semantic word-hash vectors (``[B, 512, 100352]``); smoke tests only (it warns).

Weights: ``model.config.text_encoder.weights`` takes a catalogue name (default
``nvidia/Cosmos-Reason1.1-7B``), ``hf://ORG/REPO[@REV]`` or a local folder
(see :mod:`cosmos_train.checkpoint.hub`).
"""

from __future__ import annotations

from lazycfg import L, lazy_imports, register

with lazy_imports():
    from cosmos_train.text_encoders.hash import HashTextEncoder
    from cosmos_train.text_encoders.reason1 import Reason1TextEncoder
    from cosmos_train.text_encoders.t5 import T5TextEncoder

_PKG = "model.config.text_encoder"

register("text_encoder", "precomputed", None, package=_PKG)
register(
    "text_encoder",
    "reason1_online",
    L(Reason1TextEncoder)(
        weights="nvidia/Cosmos-Reason1.1-7B",
        tokenizer=None,
        max_length=512,
        dtype="bfloat16",
        attn_implementation="sdpa",
        offload_to_cpu=False,
        cache_size=4,
        allow_random=False,
    ),
    package=_PKG,
)
register(
    "text_encoder",
    "t5",
    L(T5TextEncoder)(
        weights="google-t5/t5-11b", max_length=512, dtype="bfloat16", allow_random=False
    ),
    package=_PKG,
)
register(
    "text_encoder",
    "hash",
    L(HashTextEncoder)(
        max_length=512, embed_dim=100352, seed=0, dtype="float32", allow_random=False
    ),
    package=_PKG,
)
