"""``model`` options (package ``_global_``: each sets ``model`` and
``trainer.distributed_parallelism``).

As in Cosmos, ``model`` is ``L(ModelClass)(config=<typed model config>, _recursive_=False)``: the
model receives its typed config with ``net``/``tokenizer``/``conditioner`` still lazy and builds
them itself (net on ``meta``, then sharded, then initialised).

* ``ddp`` (default): EDM ``Video2WorldModel``, DDP.
* ``fsdp``: EDM, FSDP2 with ``fsdp_shard_size=8``.
* ``fsdp_rectified_flow``: rectified flow (the Predict2.5 objective), FSDP2, ``fsdp_shard_size=8``,
  ``state_t=24``.
* ``ddp_rectified_flow`` (ours): rectified flow with DDP (small nets, the CPU default).

Selecting a model option replaces ``model`` wholesale;
:func:`cosmos_train.configs.base.select_model`
re-applies the current ``net``/``conditioner``/``ema``/``tokenizer`` choices afterwards.
"""

from __future__ import annotations

from cosmos_train.model.config import Video2WorldConfig, Video2WorldRectifiedFlowConfig
from lazycfg import L, lazy_imports, register

with lazy_imports():
    from cosmos_train.model.video2world import Video2WorldModel, Video2WorldModelRectifiedFlow

_EDM, _RF = Video2WorldModel, Video2WorldModelRectifiedFlow


def _option(parallelism: str, target: object, config: object) -> dict:
    return {
        "trainer.distributed_parallelism": parallelism,
        "model": L(target)(config=config, _recursive_=False),
    }


register("model", "ddp", _option("ddp", _EDM, Video2WorldConfig()), package="_global_")
register(
    "model", "fsdp", _option("fsdp", _EDM, Video2WorldConfig(fsdp_shard_size=8)), package="_global_"
)
register(
    "model",
    "fsdp_rectified_flow",
    _option("fsdp", _RF, Video2WorldRectifiedFlowConfig(fsdp_shard_size=8, state_t=24)),
    package="_global_",
)
register(
    "model",
    "ddp_rectified_flow",
    _option("ddp", _RF, Video2WorldRectifiedFlowConfig(state_t=24)),
    package="_global_",
)
