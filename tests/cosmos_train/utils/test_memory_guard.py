"""The memory guard: model-state estimate before building, refusal with the estimate and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

import lazycfg
from cosmos_train.utils import memory_guard
from cosmos_train.utils.memory_guard import (
    MemoryEstimate,
    check_training_memory,
    estimate_training_memory,
)

EXPERIMENTS = Path(__file__).resolve().parents[3] / "experiments"
GIB = 2**30
TINY_PARAMS = 613_632  # tiny_cpu: the tiny preset at 128 channels


@pytest.mark.parametrize(
    "ema, shards, per_param",
    [(True, 1, 20), (False, 1, 16), (True, 2, 10)],
    ids=["ema", "no-ema", "fsdp-2"],
)
def test_estimate_counts_weights_grads_adam_and_ema(ema, shards, per_param):
    cfg = lazycfg.load(str(EXPERIMENTS / "tiny_cpu.py"), [f"model.config.ema.enabled={ema}"])
    estimate = estimate_training_memory(cfg, shards=shards)
    assert estimate == MemoryEstimate(num_params=TINY_PARAMS, shards=shards, ema=ema)
    assert estimate.per_rank == TINY_PARAMS * per_param


def test_2b_on_a_24gb_machine_is_refused_with_the_estimate_and_the_fix(monkeypatch):
    monkeypatch.setattr(memory_guard, "available_bytes", lambda device: 24 * GIB)
    cfg = lazycfg.load(
        str(EXPERIMENTS / "2b_nemo_480p.py"), ["data_train=mock", "tokenizer=standin"]
    )
    with pytest.raises(lazycfg.ConfigError) as err:
        check_training_memory(cfg, device="cpu")
    text = str(err.value)
    assert text.startswith("the model cannot fit: 2.06B parameters need at least 38.4 GiB per rank")
    assert "only 24.0 GiB are free on cpu" in text
    assert "trainer.distributed_parallelism=fsdp" in text and "trainer.memory_check=false" in text
    # Eight FSDP shards fit; two CPU ranks sharing the machine need twice as much.
    assert check_training_memory(cfg, device="cpu", shards=8).per_rank < 24 * GIB
    with pytest.raises(lazycfg.ConfigError, match=r"x 2 ranks on this machine"):
        check_training_memory(cfg, device="cpu", shards=2, ranks_sharing=2)


def test_lora_counts_gradients_adam_and_ema_of_the_adapters_only(monkeypatch):
    monkeypatch.setattr(memory_guard, "available_bytes", lambda device: 24 * GIB)
    cfg = lazycfg.load(str(EXPERIMENTS / "2b_nemo_lora.py"), ["model.config.fsdp_shard_size=1"])
    estimate = check_training_memory(cfg, device="cpu")  # fits where full fine-tuning is refused
    assert (estimate.num_params, estimate.num_trainable) == (2_059_174_912 + 45_875_200, 45_875_200)
    assert estimate.per_rank == estimate.num_params * 4 + 45_875_200 * (
        4 + 8 + 4
    )  # grad, AdamW, EMA


def test_available_cpu_memory_is_read():
    free = memory_guard.available_bytes("cpu")
    assert free is not None and 0 < free
