"""``scheduler`` options (package ``scheduler``): LambdaLinear (Cosmos) and a cosine variant.

The optimizer is supplied at build time (``optimizer=...``). Values are lists, one entry per
cycle, as in Cosmos, so ``scheduler.f_max=[0.5]`` works unchanged.
"""

from __future__ import annotations

from lazycfg import PLACEHOLDER, L, lazy_imports, register

with lazy_imports():
    from cosmos_train.optim.schedules import lambda_cosine_lr, lambda_linear_lr

_COSMOS_DEFAULTS = dict(
    warm_up_steps=[1000], cycle_lengths=[10000000000000], f_start=[1e-6], f_max=[1.0], f_min=[1.0]
)

register(
    "scheduler",
    "lambdalinear",
    L(lambda_linear_lr)(optimizer=PLACEHOLDER, **_COSMOS_DEFAULTS),
)
register(
    "scheduler",
    "lambdacosine",
    L(lambda_cosine_lr)(optimizer=PLACEHOLDER, **_COSMOS_DEFAULTS),
)
