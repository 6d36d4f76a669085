"""Shared by the LoRA tests: configs of the tiny model, a 'pretrained' base, a short training."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from cosmos_train.checkpoint.consolidated import save_consolidated
from cosmos_train.model.config import Video2WorldRectifiedFlowConfig
from cosmos_train.nets.presets import tiny
from cosmos_train.tokenizers.standin import PoolingTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_video2world import make_batch  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
COSMOS_TARGETS = "q_proj,k_proj,v_proj,output_proj,mlp.layer1,mlp.layer2"


def plain_config(**kw) -> Video2WorldRectifiedFlowConfig:
    base = dict(net=tiny, tokenizer=PoolingTokenizer, precision="float32", state_t=4)
    return Video2WorldRectifiedFlowConfig(**{**base, **kw})


def lora_config(**kw) -> Video2WorldRectifiedFlowConfig:
    return plain_config(use_lora=True, lora_rank=4, lora_alpha=8, **kw)


def make_base_file(tmp_path_factory) -> Path:
    """A 'pretrained' base: the tiny net with weights unlike the builder's init (seed 7)."""
    torch.manual_seed(7)
    net = tiny()
    net.init_weights()
    with torch.no_grad():
        for p in net.parameters():  # non-zero AdaLN projections too: the base must matter
            p.add_(0.02 * torch.randn_like(p))
    path = tmp_path_factory.mktemp("base") / "model_ema_fp32.pt"
    save_consolidated(path, net=net, dtype=None)
    return path


def train(model, steps: int = 3, lr: float = 2e-2) -> None:
    opt = torch.optim.AdamW([p for _, p in model.optimizer_parameters()], lr=lr)
    batch = make_batch(2)
    for it in range(steps):
        _, loss = model.training_step(batch, it)
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.on_before_zero_grad(opt, None, it)
