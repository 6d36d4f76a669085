"""One bare PyTorch training step of a DiT: the baseline the GPU benchmarks compare against.

No trainer, no model class, no data loader: random latents through the net under autocast, an
MSE loss, backward, gradient clipping, AdamW (``cosmos_train.optim.build_adamw``) and an EMA
lerp, with fp32 master weights, activation checkpointing and optional per-block compile, the
settings the experiments use. ``tools/gpu_check.py`` (part ``bare480``) and
``tools/bench_dit_gpu.py`` both time this step (imported as ``_gpu_check.bare_step``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from cosmos_train.distributed.parallelize import apply_compile
from cosmos_train.nets.checkpointing import apply_activation_checkpointing, normalize_ac_mode
from cosmos_train.nets.dit import MiniTrainDiT
from cosmos_train.optim.optimizers import build_adamw
from cosmos_train.utils.flops import dit_train_flops_per_sample

__all__ = ["BareStep"]


class BareStep:
    """A DiT with its optimizer, EMA and one batch of random inputs, ready to step.

    Args:
        net_kwargs: ``MiniTrainDiT`` keyword arguments (a preset or ``model.config.net``).
        device: where to train.
        latent_thw: latent (frames, height, width) of the batch (see :meth:`set_latent_shape`).
        text_len: text tokens of the cross-attention context.
        precision: autocast dtype name (``float32`` disables autocast).
        ac_mode: activation-checkpointing mode (ours or a Cosmos ``SACConfig.mode``).
        compile_blocks: ``torch.compile`` each block.
        lr, weight_decay, betas, fused: AdamW settings.
        clip_norm: gradient clipping norm.
        ema_rate: EMA lerp weight per step.
        seed: initialisation and input seed.
    """

    def __init__(
        self,
        net_kwargs: dict[str, Any],
        *,
        device: torch.device | str,
        latent_thw: tuple[int, int, int],
        text_len: int = 512,
        precision: str = "bfloat16",
        ac_mode: str | None = "none",
        compile_blocks: bool = False,
        lr: float = 1e-5,
        weight_decay: float = 0.0,
        betas: Sequence[float] = (0.9, 0.999),
        fused: bool = False,
        clip_norm: float = 1.0,
        ema_rate: float = 0.01,
        seed: int = 0,
    ) -> None:
        self.net_kwargs = dict(net_kwargs)
        self.device = torch.device(device)
        self.text_len = text_len
        self.dtype = getattr(torch, precision)
        self.clip_norm = clip_norm
        self.ema_rate = ema_rate
        self.seed = seed
        with torch.device("meta"):
            net = MiniTrainDiT(**self.net_kwargs)
        net = net.to_empty(device=self.device)
        torch.manual_seed(seed)
        with torch.no_grad():
            net.init_weights()
        self.net = net
        self.ac_mode = self.set_ac_mode(ac_mode)
        if compile_blocks:
            apply_compile(net)
        self.compiled = compile_blocks
        self.optimizer = build_adamw(
            params=list(net.named_parameters()),
            lr=lr,
            weight_decay=weight_decay,
            betas=betas,
            fused=fused,
        )
        self.params = list(net.parameters())
        self.ema = [p.detach().clone() for p in self.params]
        self.inputs: dict[str, torch.Tensor] = {}
        self.target = torch.empty(0)
        self.flops = 0.0
        self.tokens = 0
        self.set_latent_shape(*latent_thw)

    def set_ac_mode(self, mode: str | None) -> str:
        """Switches activation checkpointing (replaces the previous mode); returns its name."""
        self.ac_mode = normalize_ac_mode(mode)
        apply_activation_checkpointing(self.net, mode=self.ac_mode)
        return self.ac_mode

    def set_latent_shape(self, t: int, h: int, w: int) -> None:
        """A fresh batch of one latent clip ``[1, C, t, h, w]``; the first frame conditions."""
        dev = self.device
        g = torch.Generator(device=dev).manual_seed(self.seed)
        x = torch.randn(1, self.net_kwargs.get("in_channels", 16), t, h, w, device=dev, generator=g)
        mask = torch.zeros(1, 1, t, h, w, device=dev)
        mask[:, :, :1] = 1.0
        patch = self.net_kwargs.get("patch_spatial", 2)
        self.inputs = dict(
            x_B_C_T_H_W=x,
            timesteps_B_T=torch.full((1, 1), 500.0, device=dev),
            crossattn_emb=torch.randn(
                1,
                self.text_len,
                self.net_kwargs["crossattn_proj_in_channels"],
                device=dev,
                generator=g,
            ),
            condition_video_input_mask_B_C_T_H_W=mask,
            fps=torch.full((1,), 16.0, device=dev),
            padding_mask=torch.zeros(1, 1, 8 * h, 8 * w, device=dev),
        )
        self.target = torch.randn(
            x.shape[0], self.net_kwargs.get("out_channels", 16), t, h, w, device=dev, generator=g
        )
        self.flops = dit_train_flops_per_sample(self.net_kwargs, (t, h, w), text_len=self.text_len)
        self.tokens = t * (h // patch) * (w // patch)

    def step(self) -> None:
        """One training step."""
        with torch.autocast(
            self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32
        ):
            out = self.net(**self.inputs)
        loss = (out.float() - self.target).square().mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.clip_norm, foreach=True)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            torch._foreach_lerp_(self.ema, self.params, self.ema_rate)

    def time(
        self, *, warmup: int, steps: int, sync: Callable[[], None] = lambda: None
    ) -> tuple[float, float]:
        """(warm-up seconds, seconds per measured step); ``sync`` waits for the device."""
        t0 = time.perf_counter()
        for _ in range(warmup):
            self.step()
        sync()
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(steps):
            self.step()
        sync()
        return warm, (time.perf_counter() - t0) / steps
