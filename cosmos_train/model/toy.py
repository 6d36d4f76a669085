"""A small rectified-flow video model behind :class:`TrainModel`, for trainer tests and benchmarks.

``ToyVideoModel`` denoises tiny videos ``[3, T, H, W]`` with a transformer of ``blocks`` (self
attention + MLP per block), so per-block activation checkpointing, per-block ``fully_shard``,
EMA, sampling and MFU accounting are exercised exactly as for the real DiT, in milliseconds.
``ToyVideoDataset`` gives deterministic smooth videos with ``sample_idx``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cosmos_train.model.base import Batch, NetBuilder, TrainModel
from cosmos_train.model.noise import mix_seed
from cosmos_train.optim.ema import PowerEMA
from cosmos_train.utils.dtypes import parse_dtype

__all__ = [
    "ToyNet",
    "ToyVideoModel",
    "ToyVideoDataset",
    "sample_generator",
    "toy_components",
    "toy_param_count",
]


def sample_generator(seed: int, iteration: int, sample_idx: int) -> torch.Generator:
    """A CPU generator seeded from ``(seed, iteration, sample_idx)``: the same draws however a
    batch is split."""
    return torch.Generator().manual_seed(mix_seed(seed, iteration, sample_idx))


class ToyBlock(nn.Module):
    """Pre-norm transformer block: self attention (SDPA) then MLP."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = (
            self.qkv(self.norm1(x))
            .view(b, n, 3, self.num_heads, d // self.num_heads)
            .permute(2, 0, 3, 1, 4)
        )
        att = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d)
        x = x + self.proj(att)
        return x + self.mlp(self.norm2(x))


class ToyNet(nn.Module):
    """Token transformer over the voxels of a tiny video; predicts the flow velocity.

    Args:
        in_channels: video channels (3).
        dim: model width; num_blocks: depth; num_heads: attention heads.
    """

    def __init__(
        self, *, in_channels: int = 3, dim: int = 32, num_blocks: int = 2, num_heads: int = 2
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"ToyNet: dim={dim} must be divisible by num_heads={num_heads}")
        self.in_channels, self.model_channels, self.num_heads, self.num_blocks = (
            in_channels,
            dim,
            num_heads,
            num_blocks,
        )
        self.x_embedder = nn.Linear(in_channels + 1, dim)
        self.blocks = nn.ModuleList(ToyBlock(dim, num_heads) for _ in range(num_blocks))
        self.final_layer = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, in_channels))

    def init_weights(self) -> None:
        """Deterministic given the global torch seed; zero output layer like DiT's final layer."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.zeros_(self.final_layer[1].weight)

    def forward(self, x_B_C_T_H_W: torch.Tensor, timesteps_B: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x_B_C_T_H_W.shape
        if not torch.is_autocast_enabled(x_B_C_T_H_W.device.type):
            # No autocast (e.g. FSDP bf16 params, which do not cast inputs): compute in the weights'
            # dtype.
            x_B_C_T_H_W = x_B_C_T_H_W.to(self.x_embedder.weight.dtype)
        tokens = x_B_C_T_H_W.flatten(2).transpose(1, 2)  # [B, THW, C]
        tt = timesteps_B.view(b, 1, 1).expand(b, tokens.shape[1], 1).to(tokens.dtype)
        x = self.x_embedder(torch.cat([tokens, tt], dim=-1))
        for block in self.blocks:
            x = block(x)
        out = self.final_layer(x)
        return out.transpose(1, 2).reshape(b, c, t, h, w)


class ToyVideoDataset(torch.utils.data.Dataset):
    """Deterministic smooth videos: item ``i`` is a function of ``(seed, i)`` only.

    Items hold ``video`` (float32 in [-1, 1], ``[3, T, H, W]``) and ``sample_idx``.
    """

    def __init__(
        self, *, length: int = 64, shape: tuple[int, int, int, int] = (3, 2, 4, 4), seed: int = 0
    ) -> None:
        self.length, self.shape, self.seed = int(length), tuple(shape), int(seed)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, idx: int) -> dict[str, Any]:
        if not 0 <= idx < self.length:
            raise IndexError(f"ToyVideoDataset index {idx} out of range [0, {self.length})")
        g = torch.Generator().manual_seed(self.seed * 100_003 + idx)
        c, t, h, w = self.shape
        base = torch.rand(c, 1, 1, 1, generator=g) * 2 - 1
        ramp = torch.linspace(-1, 1, w).view(1, 1, 1, w) * (
            torch.rand(c, 1, 1, 1, generator=g) - 0.5
        )
        video = (base + ramp + 0.1 * torch.randn(c, t, h, w, generator=g)).clamp(-1, 1)
        return {"video": video, "sample_idx": torch.tensor(idx, dtype=torch.int64)}


class ToyVideoModel(TrainModel):
    """Rectified-flow model over :class:`ToyVideoDataset` videos.

    Args:
        dim, num_blocks, num_heads: net size.
        video_shape: ``(C, T, H, W)`` of the data.
        ema_s: power-EMA rate, or ``None`` for no EMA net.
        precision: a dtype name (``"float32"``, ``"bfloat16"``, ...): the net runs under
            ``torch.autocast`` to this
            dtype (as :class:`cosmos_train.model.video2world.Video2WorldModel` does).
        seed: seed of the per-sample diffusion draws.
        nonfinite_at: iterations whose loss is forced to NaN (tests of the non-finite policy).
        device, net_builder: runtime arguments, as for every model.
    """

    def __init__(
        self,
        *,
        dim: int = 32,
        num_blocks: int = 2,
        num_heads: int = 2,
        video_shape: tuple[int, int, int, int] = (3, 2, 4, 4),
        ema_s: float | None = 0.1,
        precision: str = "float32",
        seed: int = 0,
        nonfinite_at: tuple[int, ...] = (),
        device: torch.device | str = "cpu",
        net_builder: NetBuilder | None = None,
    ) -> None:
        super().__init__()
        self.precision = parse_dtype(precision, "ToyVideoModel precision")
        self.device = torch.device(device)
        self.video_shape = tuple(video_shape)
        self.seed = int(seed)
        self.nonfinite_at = tuple(nonfinite_at)
        if net_builder is None:
            from cosmos_train.distributed.parallelize import make_net_builder

            # Seeded init: two models built in one process (a resumed run, a reference) are equal.
            net_builder = make_net_builder(device=self.device, seed=self.seed)
        builder = net_builder
        make_net: Callable[[], nn.Module] = lambda: ToyNet(  # noqa: E731
            in_channels=self.video_shape[0], dim=dim, num_blocks=num_blocks, num_heads=num_heads
        )
        self.net = builder(make_net, role="net")
        self._build_ema(builder, make_net, PowerEMA(s=ema_s) if ema_s is not None else None)

    # ---- diffusion -------------------------------------------------------------------------
    def _draws(self, batch: Batch, iteration: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample ``(t, noise)``; ``iteration=None`` gives the fixed validation draws."""
        ts, noises = [], []
        for idx in batch["sample_idx"].tolist():
            g = sample_generator(self.seed, -7 if iteration is None else iteration, int(idx))
            ts.append(torch.full((), 0.5) if iteration is None else torch.rand((), generator=g))
            noises.append(torch.randn(self.video_shape, generator=g))
        return torch.stack(ts).to(self.device), torch.stack(noises).to(self.device)

    def _loss(self, net: nn.Module, batch: Batch, iteration: int | None) -> torch.Tensor:
        x0 = batch["video"].to(self.device, torch.float32)
        t, noise = self._draws(batch, iteration)
        tb = t.view(-1, 1, 1, 1, 1)
        xt = (1 - tb) * x0 + tb * noise
        v_pred = self._net_forward(net, xt, t)
        return F.mse_loss(v_pred, noise - x0)

    def _net_forward(self, net: nn.Module, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``net(x, t)`` under autocast to ``precision`` (timesteps stay fp32); output in fp32."""
        enabled = self.precision != torch.float32
        with torch.autocast(device_type=self.device.type, dtype=self.precision, enabled=enabled):
            return net(x, t.float()).float()

    def training_step(self, batch: Batch, iteration: int) -> tuple[dict[str, Any], torch.Tensor]:
        loss = self._loss(self.net, batch, iteration)
        if iteration in self.nonfinite_at:
            loss = loss * float("nan")
        return {"loss": loss.detach()}, loss

    @torch.no_grad()
    def validation_step(self, batch: Batch, iteration: int) -> tuple[dict[str, Any], torch.Tensor]:
        loss = self._loss(self.net, batch, None)
        return {"loss": loss}, loss

    # EMA hooks (on_before_zero_grad, ema_scope) come from TrainModel.

    # ---- accounting and sampling -----------------------------------------------------------
    def tokens_per_sample(self, batch: Batch) -> int:
        _, t, h, w = self.video_shape
        return t * h * w

    def flops_per_sample(self, batch: Batch) -> float:
        """3x forward: 2 FLOPs per linear weight per token, plus 4*N*D per token per attention
        layer."""
        n = self.tokens_per_sample(batch)
        linear = sum(
            m.in_features * m.out_features for m in self.net.modules() if isinstance(m, nn.Linear)
        )
        attn = 4 * len(self.net.blocks) * n * self.net.model_channels
        return 3.0 * n * (2.0 * linear + attn)

    @torch.no_grad()
    def generate_samples(
        self, batch: Batch, *, num_steps: int = 8, guidance: float = 0.0, seed: int = 0
    ) -> torch.Tensor:
        """Euler integration of the learned flow from noise (t=1) to data (t=0); uint8 on CPU."""
        b = len(batch["sample_idx"])
        g = torch.Generator().manual_seed(seed)
        x = torch.randn((b, *self.video_shape), generator=g).to(self.device)
        for i in range(num_steps, 0, -1):
            t = torch.full((b,), i / num_steps, device=self.device)
            x = x - (1.0 / num_steps) * self._net_forward(self.net, x, t)
        return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()


def toy_param_count(dim: int, num_blocks: int, in_channels: int = 3) -> int:
    """Parameter count of :class:`ToyNet` (for docs and sanity checks)."""
    block = (
        2 * 2 * dim
        + (dim * 3 * dim + 3 * dim)
        + (dim * dim + dim)
        + (dim * 4 * dim + 4 * dim)
        + (4 * dim * dim + dim)
    )
    return (
        (in_channels + 1) * dim
        + dim
        + num_blocks * block
        + 2 * dim
        + dim * in_channels
        + in_channels
    )


def toy_components(
    *,
    lr: float = 1e-3,
    batch_size: int = 2,
    dataset_length: int = 16,
    shuffle: bool = True,
    warmup: int = 5,
    rank: int | None = None,
    world_size: int | None = None,
    **model_kwargs: Any,
) -> tuple[ToyVideoModel, torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR, Any]:
    """A ready ``(model, optimizer, scheduler, train_loader)`` for tests and benchmarks.

    AdamW over ``model.optimizer_parameters()``, a linear warm-up ``LambdaLR`` and a resumable
    :func:`cosmos_train.data.loader.build_dataloader` over :class:`ToyVideoDataset`.
    """
    from cosmos_train.data.loader import build_dataloader

    model = ToyVideoModel(**model_kwargs)
    optimizer = torch.optim.AdamW(
        [p for _, p in model.optimizer_parameters()], lr=lr, weight_decay=1e-3
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _Warmup(warmup))
    shape = model.video_shape
    loader = build_dataloader(
        dataset=ToyVideoDataset(length=dataset_length, shape=shape, seed=model.seed),
        batch_size=batch_size,
        shuffle=shuffle,
        rank=rank,
        world_size=world_size,
    )
    return model, optimizer, scheduler, loader


class _Warmup:
    """Picklable linear warm-up factor (LambdaLR saves callable objects' ``__dict__``)."""

    def __init__(self, steps: int) -> None:
        self.steps = max(int(steps), 1)

    def __call__(self, n: int) -> float:
        return min(1.0, (n + 1) / self.steps)
