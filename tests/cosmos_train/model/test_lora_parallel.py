"""LoRA with the trainer's parallelism: FSDP2 on 2 gloo ranks, activation checkpointing, compile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cosmos_train.checkpoint.consolidated import save_consolidated
from cosmos_train.model import lora
from cosmos_train.nets.checkpointing import apply_activation_checkpointing
from cosmos_train.nets.presets import tiny

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
WORKER = HERE / "lora_fsdp_worker.py"


def _lora_net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = tiny()
    net.init_weights()
    lora.inject_lora(net, lora.LoraSpec(rank=4, alpha=4))
    with torch.no_grad():  # non-zero B: the adapters take part in forward and backward
        for name, p in net.named_parameters():
            if ".lora_B." in name:
                p.normal_(0, 0.1)
    return net


def _block_inputs(net):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 2, 4, 4, 64, generator=g, requires_grad=True)
    emb, ctx = torch.randn(2, 2, 64, generator=g), torch.randn(2, 5, 32, generator=g)
    adaln = torch.randn(2, 2, 192, generator=g)
    return x, emb, ctx, net._rope_tables(2, 4, 4, None), adaln, None


def _out_and_grads(block, inputs):
    out = block(*inputs)
    params = [p for p in block.parameters() if p.requires_grad]
    return out, torch.autograd.grad(out.square().sum(), [inputs[0], *params])


@pytest.mark.parametrize("mode", ["block", "selective", "selective_mlp"])
def test_activation_checkpointing_keeps_lora_outputs_and_grads(mode):
    net = _lora_net()
    inputs = _block_inputs(net)
    ref_out, ref_grads = _out_and_grads(net.blocks[0], inputs)
    keys = list(net.state_dict())
    apply_activation_checkpointing(net, mode=mode)
    assert list(net.state_dict()) == keys
    out, grads = _out_and_grads(net.blocks[0], inputs)
    torch.testing.assert_close(out, ref_out)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r)


@pytest.mark.slow
def test_lora_block_compiles_fullgraph_with_selective_checkpointing():
    """PEFT's LoRA layers trace without graph breaks inside a checkpointed block (~10 s)."""
    torch._dynamo.reset()
    net = _lora_net()
    apply_activation_checkpointing(net, mode="selective")
    inputs = _block_inputs(net)
    ref_out, ref_grads = _out_and_grads(net.blocks[0], inputs)
    compiled = torch.compile(net.blocks[0], fullgraph=True, backend="aot_eager")
    out, grads = _out_and_grads(compiled, inputs)
    torch.testing.assert_close(out, ref_out)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r)


@pytest.mark.slow
def test_fsdp_lora_matches_unsharded_and_round_trips_dcp(tmp_path):
    torch.manual_seed(3)
    base_net = tiny()
    base_net.init_weights()
    with torch.no_grad():
        for p in base_net.parameters():
            p.add_(0.02 * torch.randn_like(p))
    base = save_consolidated(tmp_path / "base.pt", net=base_net, dtype=None)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(WORKER),
        str(tmp_path),
        str(base),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    for r in (r0, r1):
        assert r["all_dtensor"] and r["ema_dtensor"]  # base, adapters and EMA all sharded
        assert r["trainable"] and all(lora.is_adapter_key(n) for n in r["trainable"])
        for name, before in r["base_before"].items():  # the frozen base never moves
            assert torch.equal(r["net"][name], before), name
    for a, b, ref in zip(r0["losses"], r1["losses"], r0["ref_losses"]):
        assert (a + b) / 2 == pytest.approx(ref, rel=1e-4)
    for name, value in r0["ref_net"].items():
        torch.testing.assert_close(r0["net"][name], value, rtol=1e-4, atol=1e-5)
    assert r0["ema"].keys() == r0["ref_ema"].keys()
    for name, value in r0["ref_ema"].items():
        torch.testing.assert_close(r0["ema"][name], value, rtol=1e-4, atol=1e-5)
    for r in (r0, r1):
        assert r["loaded_iter"] == 3
        for name, value in r["net"].items():
            assert torch.equal(r["loaded_net"][name], value), name
        for name, value in r["ema"].items():
            assert torch.equal(r["loaded_ema"][name], value), name
        for a, b in zip(r["loaded_momentum"], r["momentum"]):
            assert torch.equal(a, b)
