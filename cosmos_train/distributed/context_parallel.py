"""Context parallelism (CP): one sample's latent sequence split over the ranks of a CP group.

Layout. ``world = dp x cp`` ranks; CP is the innermost dimension, so rank ``r`` is CP rank
``r % cp`` of data-parallel (DP) group ``r // cp`` and a CP group is ``cp`` consecutive ranks
(one NVLink island when ``cp`` divides the GPUs per node). Every rank of a CP group reads the
same samples (the data loader shards by DP rank only, :func:`data_parallel_rank_world`), so the
per-sample draws keyed by ``(seed, iteration, sample_idx)`` (noise, time, conditioning frames)
are the same on each of them. FSDP2/HSDP keeps sharding over *all* ranks
(``model.config.fsdp_shard_size`` counts ranks, CP ranks included, as in Cosmos): parameters and
optimizer state do not depend on the CP size, so checkpoints are CP-independent.

What is split. The net splits its token grid ``[B, T, H, W, D]`` along latent **time** right
after the patch embedding, runs every block on its ``T / cp`` frames and all-gathers the final
layer's small output (``p*p*pt*C`` channels instead of ``D``). Time, not the flattened token
sequence, because every position-dependent input of a block is per frame or per (t, h, w):

- the timestep / AdaLN modulation ``[B, T, D]`` is sliced with the same frame range;
- the RoPE table rows are ``t``-major, so a frame range is one contiguous row range, i.e. each
  rank uses its **global** offsets;
- the condition mask and padding mask are input channels concatenated before the patch embed,
  so they are split exactly like the latent.

The model (loss, noise, masks, sampler) sees whole tensors: the loss is reduced over the whole
sample by construction, and a sampled video is identical on every CP rank.

Self-attention: Ulysses all-to-all (DeepSpeed-Ulysses; Cosmos's ``minimal_a2a`` backend). Each
rank projects, normalises and rotates ``q, k, v`` for its tokens, one all-to-all turns
"my tokens, all heads" into "all tokens, ``heads / cp`` heads", SDPA runs on the whole sequence
(so the math is exact, not an online-softmax merge), and a second all-to-all returns the
output. Chosen over ring attention because (a) it is exact with any SDPA kernel (cuDNN/flash on
H100, the math kernel on CPU/gloo for the tests), (b) it moves ``4 x tokens x D / cp`` values
per layer and rank regardless of the CP size, and (c) ``all_to_all_single`` exists on gloo and
NCCL. The price is ``num_heads % cp == 0``: the 2B net (16 heads) takes CP 1/2/4/8/16, the 14B
(40 heads) CP 1/2/4/5/8/10/20/40. PyTorch's ``context_parallel`` (ring, experimental) needs
CUDA flash/efficient SDPA and does not run on gloo. Cross-attention keys/values (the text) stay
whole on every rank.

Uneven lengths. When the latent frames ``T`` do not divide by ``cp``, the grid is padded with
empty frames to the next multiple; padded tokens are dropped from ``q, k, v`` after the
all-to-all (they never enter the softmax) and their outputs are cut before the gather, so the
result is exact; the cost is ``ceil(T/cp) * cp / T`` more block compute. ``pad_uneven=False``
refuses instead.

Gradients. Each CP rank computes the same loss on the gathered output; the gather's backward
keeps this rank's slice of the output gradient times ``cp``, and DDP/FSDP averages gradients
over all ``dp x cp`` ranks, which together gives exactly the gradient of the data-parallel
mean loss (the slices' contributions add up over the CP group).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from cosmos_train.distributed.env import get_rank, get_world_size

__all__ = [
    "ContextParallel",
    "ParallelDims",
    "SeqShard",
    "data_parallel_rank_world",
    "enable_context_parallel",
    "enable_model_context_parallel",
    "get_context_parallel",
    "init_context_parallel",
    "reset_context_parallel",
]


@dataclass(frozen=True)
class ParallelDims:
    """The ``replicate x shard`` (FSDP/HSDP over all ranks) and ``dp x cp`` sizes of a run.

    Args:
        world_size: total ranks.
        cp_size: ranks per context-parallel group (``model_parallel.context_parallel_size``).
        shard_size: FSDP shard group size (``model.config.fsdp_shard_size``); ``None``, 0 or
            the world size shard over all ranks.
    """

    world_size: int
    cp_size: int = 1
    shard_size: int | None = None

    def problems(self) -> list[str]:
        """Every inconsistency, each naming the config key to change."""
        out = []
        if self.cp_size < 1:
            out.append(f"model_parallel.context_parallel_size={self.cp_size} must be >= 1")
        elif self.world_size % self.cp_size:
            out.append(
                f"model_parallel.context_parallel_size={self.cp_size} does not divide the world "
                f"size ({self.world_size}): launch a multiple of {self.cp_size} ranks or pick a "
                f"divisor of {self.world_size}"
            )
        shard = self.shard_size
        if shard is not None and shard > 0 and self.world_size % shard:
            out.append(
                f"model.config.fsdp_shard_size={shard} does not divide the world size "
                f"({self.world_size})"
            )
        return out

    @property
    def dp_size(self) -> int:
        """Data-parallel groups: ranks that read different samples."""
        return self.world_size // self.cp_size

    def dp_rank(self, rank: int) -> int:
        return rank // self.cp_size

    def cp_rank(self, rank: int) -> int:
        return rank % self.cp_size


class ContextParallel:
    """A CP group and how the net uses it (see the module docstring).

    Args:
        group: the process group of this rank's CP peers (``None``: the default group).
        pad_uneven: pad a frame count that does not divide by the CP size (exact, see module
            docstring); False raises instead.
    """

    def __init__(self, group: Any = None, *, pad_uneven: bool = True) -> None:
        self.group = group
        self.size = dist.get_world_size(group)
        self.rank = dist.get_rank(group)
        self.pad_uneven = pad_uneven

    def __repr__(self) -> str:
        return f"ContextParallel(size={self.size}, rank={self.rank}, pad_uneven={self.pad_uneven})"

    # ------------------------------------------------------------------ net entry / exit
    def shard(
        self,
        x_B_T_H_W_D: torch.Tensor,
        t_emb_B_T_D: torch.Tensor,
        adaln_lora_B_T_3D: torch.Tensor | None,
        rope: tuple[torch.Tensor, torch.Tensor],
        extra_pos: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, SeqShard, torch.Tensor | None]:
        """This rank's frames of every per-frame / per-token input of the blocks.

        ``t_emb``/``adaln_lora`` with one frame (``[B, 1, *]``) broadcast and stay whole; the
        RoPE tables come back as a :class:`SeqShard` that also carries the attention exchange.
        """
        T, HW = x_B_T_H_W_D.shape[1], x_B_T_H_W_D.shape[2] * x_B_T_H_W_D.shape[3]
        local = self.local_frames(T)
        start, pad = self.rank * local, local * self.size - T

        def frames(t: torch.Tensor | None, dim: int) -> torch.Tensor | None:
            if t is None or t.shape[dim] == 1:
                return t
            if pad:
                t = _pad_dim(t, dim, pad)
            return t.narrow(dim, start, local)

        cos, sin = rope
        rows = slice(start * HW, (start + local) * HW)
        if pad:
            cos, sin = _pad_dim(cos, 0, pad * HW), _pad_dim(sin, 0, pad * HW)
        shard = SeqShard(cos[rows], sin[rows], cp=self, valid_tokens=T * HW)
        return (
            frames(x_B_T_H_W_D, 1),
            frames(t_emb_B_T_D, 1),
            frames(adaln_lora_B_T_3D, 1),
            shard,
            frames(extra_pos, 1),
        )

    def gather(self, x_B_t_H_W_O: torch.Tensor, frames: int) -> torch.Tensor:
        """All frames ``[B, frames, H, W, O]`` from every rank's slice (autograd: module doc)."""
        return _GatherFrames.apply(x_B_t_H_W_O, self)[:, :frames]

    def local_frames(self, frames: int) -> int:
        """Frames per rank (``ceil``; padded), or a clear error when padding is off."""
        if frames % self.size and not self.pad_uneven:
            raise ValueError(
                f"context parallelism: {frames} latent frames do not divide by "
                f"model_parallel.context_parallel_size={self.size}; use a frame count whose latent "
                f"length is a multiple of {self.size} (model.config.state_t) or allow padding"
            )
        if frames < self.size:
            raise ValueError(
                f"context parallelism: {frames} latent frames cannot be split over "
                f"model_parallel.context_parallel_size={self.size} ranks; use at least {self.size} "
                "latent frames (model.config.state_t) or a smaller context_parallel_size"
            )
        return math.ceil(frames / self.size)

    # ------------------------------------------------------------------ attention
    def attention(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, valid_tokens: int
    ) -> torch.Tensor:
        """Exact self-attention over the whole sequence from local ``[B, L/cp, heads, d]`` q/k/v.

        Returns the local tokens' output ``[B, L/cp, heads, d]``.
        """
        B, L, H, d = q.shape
        if H % self.size:
            raise ValueError(
                f"Ulysses context parallelism needs num_heads ({H}) divisible by "
                f"model_parallel.context_parallel_size={self.size}"
            )
        cp, h = self.size, H // self.size
        # [3, B, L, cp, h, d] -> [cp, 3, B, L, h, d]: chunk j (heads j*h..) goes to rank j.
        qkv = torch.stack([q, k, v]).view(3, B, L, cp, h, d).permute(3, 0, 1, 2, 4, 5).contiguous()
        qkv = _AllToAll.apply(qkv, self.group)
        # Received chunk s holds rank s's tokens: [cp, 3, B, L, h, d] -> [3, B, cp * L, h, d].
        qkv = qkv.permute(1, 2, 0, 3, 4, 5).reshape(3, B, cp * L, h, d)[:, :, :valid_tokens]
        q, k, v = (t.transpose(1, 2) for t in qkv.unbind(0))
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2)  # [B, valid, h, d]
        if cp * L > valid_tokens:
            out = _pad_dim(out, 1, cp * L - valid_tokens)
        # [B, cp, L, h, d] -> [cp, B, L, h, d]: chunk s (its tokens) goes back to rank s.
        out = out.reshape(B, cp, L, h, d).transpose(0, 1).contiguous()
        out = _AllToAll.apply(out, self.group)
        # Received chunk j holds heads j*h..: [cp, B, L, h, d] -> [B, L, cp * h, d].
        return out.permute(1, 2, 0, 3, 4).reshape(B, L, H, d)


class SeqShard(tuple):
    """RoPE ``(cos, signed_sin)`` rows of this rank's tokens, plus the CP attention exchange.

    A 2-tuple, so code that unpacks RoPE tables keeps working; self-attention calls
    :meth:`attend` instead of local SDPA when it receives one.
    """

    cp: ContextParallel
    valid_tokens: int

    def __new__(
        cls, cos: torch.Tensor, sin: torch.Tensor, *, cp: ContextParallel, valid_tokens: int
    ) -> SeqShard:
        obj = super().__new__(cls, (cos, sin))
        obj.cp, obj.valid_tokens = cp, valid_tokens
        return obj

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``[B, L/cp, heads, d]`` q/k/v -> this rank's attention output, same layout."""
        return self.cp.attention(q, k, v, self.valid_tokens)


def _pad_dim(t: torch.Tensor, dim: int, n: int) -> torch.Tensor:
    """``t`` with ``n`` zero entries appended along ``dim``."""
    shape = list(t.shape)
    shape[dim] = n
    return torch.cat([t, t.new_zeros(shape)], dim=dim)


class _AllToAll(torch.autograd.Function):
    """``all_to_all_single`` along dim 0 in equal chunks; its own adjoint."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, group: Any) -> torch.Tensor:
        ctx.group = group
        return _all_to_all(x, group)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return _all_to_all(grad, ctx.group), None


def _all_to_all(x: torch.Tensor, group: Any) -> torch.Tensor:
    # Contiguous in and out: the collective works on memory order (empty_like would copy strides).
    x = x.contiguous()
    out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    dist.all_to_all_single(out, x, group=group)
    return out


class _GatherFrames(torch.autograd.Function):
    """All-gather along dim 1; backward keeps this rank's slice times the CP size (module doc)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, cp: ContextParallel) -> torch.Tensor:
        ctx.cp, ctx.local = cp, x.shape[1]
        x = x.contiguous()
        parts = [torch.empty(x.shape, dtype=x.dtype, device=x.device) for _ in range(cp.size)]
        dist.all_gather(parts, x, group=cp.group)
        return torch.cat(parts, dim=1)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        cp = ctx.cp
        return grad.narrow(1, cp.rank * ctx.local, ctx.local) * cp.size, None


# ---------------------------------------------------------------------------------------------
# Process-wide state: the CP group of this rank and the DP view the data loader needs.
# ---------------------------------------------------------------------------------------------

_STATE: dict[str, Any] = {"dims": None, "cp": None, "mesh": None}


def init_context_parallel(
    cp_size: int,
    *,
    device: torch.device | str = "cpu",
    shard_size: int | None = None,
    pad_uneven: bool = True,
) -> ContextParallel | None:
    """Builds the ``("dp", "cp")`` device mesh and returns this rank's :class:`ContextParallel`.

    Collective: every rank calls it with the same arguments. ``cp_size == 1`` records the DP
    layout and returns None. Raises ``ValueError`` naming the config keys on bad sizes.
    """
    world = get_world_size()
    dims = ParallelDims(world_size=world, cp_size=int(cp_size), shard_size=shard_size)
    problems = dims.problems()
    if problems:
        raise ValueError("; ".join(problems))
    current: ContextParallel | None = _STATE["cp"]
    if _STATE["dims"] == dims and (current is None or current.pad_uneven == pad_uneven):
        return current  # already built by an earlier caller of this process (one mesh per run)
    _STATE.update(dims=dims, cp=None, mesh=None)
    if dims.cp_size == 1:
        return None
    from torch.distributed.device_mesh import init_device_mesh

    mesh = init_device_mesh(
        torch.device(device).type, (dims.dp_size, dims.cp_size), mesh_dim_names=("dp", "cp")
    )
    cp = ContextParallel(mesh.get_group("cp"), pad_uneven=pad_uneven)
    _STATE.update(cp=cp, mesh=mesh)
    return cp


def reset_context_parallel() -> None:
    """Forget the CP layout (tests; a new process group)."""
    _STATE.update(dims=None, cp=None, mesh=None)


def get_context_parallel() -> ContextParallel | None:
    """This rank's CP group, or None without context parallelism."""
    return _STATE["cp"]


def data_parallel_rank_world() -> tuple[int, int]:
    """``(dp_rank, dp_size)``: what the data loader shards by (CP peers read the same samples)."""
    dims: ParallelDims | None = _STATE["dims"]
    rank, world = get_rank(), get_world_size()
    if dims is None or dims.world_size != world:
        return rank, world
    return dims.dp_rank(rank), dims.dp_size


def enable_context_parallel(net: nn.Module, cp: ContextParallel | None) -> nn.Module:
    """Makes ``net`` (a :class:`~cosmos_train.nets.dit.MiniTrainDiT`) split tokens over ``cp``.

    Stored as a plain attribute (not a submodule): parameters and state_dict keys do not change.
    """
    if cp is None:
        return net
    heads = getattr(net, "num_heads", None)
    if heads is None or not hasattr(net, "blocks"):
        raise TypeError(
            f"{type(net).__name__} does not support context parallelism (needs a DiT with "
            "num_heads and blocks)"
        )
    if heads % cp.size:
        raise ValueError(
            f"model_parallel.context_parallel_size={cp.size} must divide the net's "
            f"num_heads={heads} (Ulysses attention moves whole heads); pick a divisor of {heads}"
        )
    net.context_parallel = cp
    return net


def enable_model_context_parallel(
    model: nn.Module, cp_size: int | None = None
) -> ContextParallel | None:
    """Inference: split one video's sequence over ``cp_size`` ranks (default: all ranks).

    Collective. Builds the mesh (:func:`init_context_parallel`) and enables CP on the model's
    ``net`` and, when present, ``net_ema``. Every rank then runs the same sampling call on the
    same inputs and gets the same video (the net gathers its output), so one rank writes it.
    Returns None in one process.
    """
    size = get_world_size() if cp_size is None else int(cp_size)
    if size <= 1:
        return None
    cp = init_context_parallel(size, device=getattr(model, "device", "cpu"))
    for name in ("net", "net_ema"):
        net = getattr(model, name, None)
        if net is not None:
            enable_context_parallel(net, cp)
    return cp
