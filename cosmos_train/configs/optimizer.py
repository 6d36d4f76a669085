"""``optimizer`` options (package ``optimizer``).

Both build ``torch.optim.AdamW`` through :func:`cosmos_train.optim.optimizers.build_adamw`; the
model's parameters are supplied at build time (``params=model.optimizer_parameters()``).

* ``fusedadamw`` (default; Cosmos: apex ``FusedAdam`` with fp32 master weights): the fused kernel
  over fp32 parameters, which are the master weights (compute runs in bf16 under autocast).
* ``adamw`` (Cosmos: ``torch.optim.AdamW(fused=True)``): the same optimizer; kept as its own option
  so Cosmos command lines (``optimizer=adamw``) work. Its ``fused`` defaults to "fused on CUDA".
"""

from __future__ import annotations

from lazycfg import PLACEHOLDER, L, lazy_imports, register

with lazy_imports():
    from cosmos_train.optim.optimizers import build_adamw

register(
    "optimizer",
    "fusedadamw",
    L(build_adamw)(
        params=PLACEHOLDER, lr=1e-4, weight_decay=0.1, betas=[0.9, 0.99], eps=1e-8, fused=True
    ),
)
register(
    "optimizer",
    "adamw",
    L(build_adamw)(
        params=PLACEHOLDER, lr=1e-4, weight_decay=0.1, betas=[0.9, 0.99], eps=1e-8, fused=None
    ),
)
