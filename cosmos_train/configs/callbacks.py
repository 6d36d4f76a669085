"""``callbacks`` options (package ``trainer.callbacks``; a multi-option group: ``callbacks=[basic,wandb]``).

Each option is a mapping ``{name: L(Callback)(...)}``; selecting several merges them in order, and
the trainer calls callbacks in that order. Mapping from Cosmos's options:

* ``basic``: ``grad_clip`` (total-norm clipping, 1.0; non-finite gradients are never zeroed),
  ``iter_speed`` (tokens/s, TFLOP/s, MFU), ``device_monitor`` (peak memory), ``manual_gc``,
  plus ``progress_bar`` (ours). Cosmos's ``low_prec`` (apex master-weight copy), ``heart_beat``
  (S3 telemetry) and ``compile_tokenizer`` have no counterpart: fp32 params are the master
  weights here, and there is no telemetry service.
* ``wandb``: ``wandb`` (:class:`WandbLogger`) sends the rows of ``<job>/metrics.jsonl`` to W&B
  in ``job.wandb_mode`` (online/offline/disabled) when the ``wandb`` package is installed; without
  it, one warning and nothing else (W&B is not a dependency). Every run logs locally anyway:
  ``metrics.jsonl`` and TensorBoard events when ``tensorboard`` is installed.
* ``viz_online_sampling``: sample videos every 5000 steps from the regular (``every_n_sample_reg``)
  and EMA (``every_n_sample_ema``) weights, written as mp4 under ``<job>/samples/``.
* ``cluster_speed``, ``debug``, ``long``: empty (Cosmos's are cluster telemetry or empty too).
"""

from __future__ import annotations

from typing import Any

from lazycfg import L, lazy_imports, register

with lazy_imports():
    from cosmos_train.trainer.callbacks import (
        EveryNDrawSample,
        GradClip,
        IterSpeed,
        ManualGC,
        MemoryStats,
        ProgressBar,
        WandbLogger,
    )

_PKG = "trainer.callbacks"

__all__ = ["tune_callbacks"]


def tune_callbacks(config: Any, **settings: dict[str, Any]) -> None:
    """Sets fields of the selected callbacks, skipping those the ``callbacks`` choice left out.

    Experiments use it instead of ``config.trainer.callbacks.<name>.<field> = ...``, so a smaller
    choice on the command line (``callbacks=[basic,wandb]``, which replaces the experiment's own
    list) works with every experiment instead of failing with ``KeyError: '<name>'``.

    Example: ``tune_callbacks(config, grad_clip={"clip_norm": 0.1}, every_n_sample_reg={"every_n": 200})``.
    """
    callbacks = config.trainer.callbacks
    for name, values in settings.items():
        if callbacks is None or name not in callbacks or callbacks[name] is None:
            continue  # not selected: nothing to tune
        for key, value in values.items():
            setattr(callbacks[name], key, value)


def _sampler(*, is_ema: bool) -> object:
    return L(EveryNDrawSample)(
        every_n=5000, is_ema=is_ema, regular=not is_ema, num_samples=1, num_steps=35, guidance=0.0, seed=0, fps=16
    )


register(
    "callbacks",
    "basic",
    {
        "grad_clip": L(GradClip)(clip_norm=1.0),
        "iter_speed": L(IterSpeed)(),
        "device_monitor": L(MemoryStats)(),
        "manual_gc": L(ManualGC)(every_n=5, warm_up=5),
        "progress_bar": L(ProgressBar)(),
    },
    package=_PKG,
)
register(
    "callbacks",
    "viz_online_sampling",
    {"every_n_sample_reg": _sampler(is_ema=False), "every_n_sample_ema": _sampler(is_ema=True)},
    package=_PKG,
)
register("callbacks", "wandb", {"wandb": L(WandbLogger)()}, package=_PKG)
for _name in ("cluster_speed", "debug", "long"):
    register("callbacks", _name, {}, package=_PKG)
