"""``tokenizer`` options (package ``model.config.tokenizer``).

* ``wan2pt1_tokenizer`` (default): the Wan2.1 VAE (8x8 spatial, 4x causal temporal, 16 channels).
  Weights: ``model.config.tokenizer.ckpt_path=Wan2.1/vae`` (the released file through the Hugging
  Face cache), an ``hf://`` spec or a local ``Wan2.1_VAE.pth``; without one the VAE is randomly
  initialised (fine for throughput, useless for quality) with a warning, and a run that loads
  released net weights stops unless ``model.config.tokenizer.allow_random=True``.
* ``standin`` (alias ``pooling``): :class:`~cosmos_train.tokenizers.standin.PoolingTokenizer`, a
  weight-free stand-in with the same shapes and a real decode (tests, the CPU default, benchmarks).
* ``identity``: latents are pixels (3 channels), for unit tests of nets and losses.
"""

from __future__ import annotations

from lazycfg import L, lazy_imports, register

with lazy_imports():
    from cosmos_train.tokenizers.standin import IdentityTokenizer, PoolingTokenizer
    from cosmos_train.tokenizers.wan21 import Wan21VAE

_PKG = "model.config.tokenizer"

register(
    "tokenizer",
    "wan2pt1_tokenizer",
    L(Wan21VAE)(ckpt_path=None, dtype="bfloat16", temporal_window=16, allow_random=False),
    package=_PKG,
)
for _name in ("standin", "pooling"):
    register(
        "tokenizer",
        _name,
        L(PoolingTokenizer)(latent_ch=16, spatial=8, temporal=4, seed=0),
        package=_PKG,
    )
register("tokenizer", "identity", L(IdentityTokenizer)(latent_ch=3), package=_PKG)
