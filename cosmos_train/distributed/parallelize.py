"""How nets are materialised: meta build, activation checkpointing, per-block compile, FSDP2, DDP.

:func:`make_net_builder` returns a :data:`cosmos_train.model.base.NetBuilder`. The model decides
*what* the net is (a zero-argument factory); the builder decides *how* it is built (torchtitan's
order: AC, then per-block ``torch.compile``, then per-block ``fully_shard`` + root):

1. build the net on the ``meta`` device (no memory, no init cost);
2. materialise it unsharded on ``init_device`` and call ``init_weights()`` under a fixed seed
   inside a forked RNG, so every rank gets identical weights without touching the global RNG
   (DTensor random init is incomplete on CPU/gloo, so initialisation happens before sharding);
   then the caller's ``prepare`` (a LoRA net loads its base weights and gets its adapters, seeded
   the same on every rank);
3. apply activation checkpointing and per-block compile;
4. FSDP2: ``fully_shard`` every block and the root with a bf16 ``MixedPrecisionPolicy`` (fp32
   gradient reduction) over a 1D mesh or a 2D HSDP ``("replicate", "shard")`` mesh, which moves
   the local shards to the device.

Mixed precision under FSDP2: parameters are all-gathered in ``param_dtype`` (bf16), gradients
are reduced in ``reduce_dtype`` (fp32) and the sharded master parameters stay fp32. FSDP does
*not* cast forward inputs (``cast_forward_inputs=False``): its default would round the diffusion
timesteps to bf16 at the net boundary (before the sinusoidal embedding; bf16 keeps 8 bits of
mantissa, so t=0.999 becomes 1.0) and the fp32 RoPE tables and AdaLN embeddings at every block
boundary. Compute precision comes from the model's ``torch.autocast`` (``precision``), the same
on CPU and CUDA; without autocast the nets cast their inputs to their weights' dtype themselves.

EMA nets get the same sharding but no mixed precision (they stay fp32) and no AC or compile.

Activation checkpointing (``ac_mode``, config ``trainer.parallelism.activation_checkpointing``)
offers every mode of :data:`cosmos_train.nets.checkpointing.AC_MODES`: ``none``, ``block``,
``selective``, ``selective_mlp``, ``selective_down``, ``mm_only`` (Cosmos SAC names such as
``predict2_2b_720_aggressive`` map onto them). Measured on one H100 80 GB, Predict2.5-2B, batch 1,
per-block compile, EMA: at 480p ``selective`` 44.2% MFU, ``selective_down`` 45.0%,
``selective_mlp`` 45.9% (69.7 GiB peak); at 720p ``selective`` 46.8% MFU at 75.4 GiB peak.
Recommendation: **480p: ``selective_mlp``; 720p: ``selective``** (720p has 2.25x the tokens and
``selective`` already peaks near 80 GB, so the extra saved MLP outputs leave no headroom;
``selective_mlp`` at 720p was not measured).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from cosmos_train.distributed.env import get_world_size
from cosmos_train.utils.dtypes import parse_dtype

__all__ = [
    "make_net_builder",
    "wrap_ddp",
    "build_mesh",
    "apply_fsdp",
    "apply_compile",
    "broadcast_module",
]

log = logging.getLogger(__name__)

_MODES = ("none", "ddp", "fsdp")


def _dtype(name: str | torch.dtype | None, what: str) -> torch.dtype | None:
    """``None`` (keep fp32) or the dtype ``name`` (``"bfloat16"``, ``torch.float32``, ...)."""
    return None if name is None else parse_dtype(name, what)


def _ac_mode(mode: str | None) -> str:
    """Validates ``ac_mode`` when the builder is made, not when the first net is built."""
    from cosmos_train.nets.checkpointing import AC_MODES, COSMOS_SAC_MODES, normalize_ac_mode

    try:
        return normalize_ac_mode(mode)
    except ValueError:
        raise ValueError(
            f"make_net_builder: unknown ac_mode {mode!r}; valid modes are {list(AC_MODES)} (or a "
            f"Cosmos SAC mode: {sorted(COSMOS_SAC_MODES)}). In a config set "
            "trainer.parallelism.activation_checkpointing to one of them (selective_mlp for the 2B "
            "at 480p, selective at 720p)"
        ) from None


def build_mesh(*, device: torch.device | str, shard_size: int | None = None) -> Any:
    """A 1D ``("shard",)`` mesh over all ranks, or a 2D HSDP ``("replicate", "shard")`` mesh.

    Args:
        device: the device type of the mesh (``cpu`` with gloo, ``cuda`` with nccl).
        shard_size: ranks per shard group (Cosmos ``fsdp_shard_size``); ``None`` or the world
            size gives plain FSDP.
    """
    from torch.distributed.device_mesh import init_device_mesh

    world = get_world_size()
    dev = torch.device(device).type
    if shard_size is None or shard_size <= 0 or shard_size == world:
        return init_device_mesh(dev, (world,), mesh_dim_names=("shard",))
    if world % shard_size:
        raise ValueError(f"fsdp shard_size={shard_size} must divide the world size {world}")
    return init_device_mesh(
        dev, (world // shard_size, shard_size), mesh_dim_names=("replicate", "shard")
    )


def apply_compile(net: nn.Module, **compile_kwargs: Any) -> nn.Module:
    """Compiles each of ``net.blocks`` in place (``module.compile`` keeps parameter names)."""
    blocks = getattr(net, "blocks", None)
    if blocks is None:
        raise ValueError(
            f"{type(net).__name__} has no .blocks; per-block compile needs an nn.ModuleList named "
            "blocks"
        )
    for block in blocks:
        block.compile(**compile_kwargs)
    return net


def apply_fsdp(
    net: nn.Module,
    *,
    mesh: Any,
    param_dtype: torch.dtype | None = torch.bfloat16,
    reduce_dtype: torch.dtype | None = torch.float32,
    reshard_after_forward: bool = True,
) -> nn.Module:
    """``fully_shard`` each block, then the root; the last block keeps its params for backward.

    Inputs are never cast by FSDP (``cast_forward_inputs=False``, see the module docstring): the
    timesteps, RoPE tables and AdaLN embeddings keep fp32 and the model's autocast picks the
    compute dtype of each op.
    """
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mp = MixedPrecisionPolicy(
        param_dtype=param_dtype, reduce_dtype=reduce_dtype, cast_forward_inputs=False
    )
    blocks = list(getattr(net, "blocks", []))
    for i, block in enumerate(blocks):
        # The last block runs first in backward; resharding it after forward would only regather it.
        fully_shard(
            block,
            mesh=mesh,
            mp_policy=mp,
            reshard_after_forward=reshard_after_forward and i < len(blocks) - 1,
        )
    fully_shard(net, mesh=mesh, mp_policy=mp, reshard_after_forward=reshard_after_forward)
    return net


@torch.no_grad()
def broadcast_module(net: nn.Module, src: int = 0) -> None:
    """Copies rank ``src``'s parameters and buffers to every rank (unsharded modules only)."""
    if get_world_size() == 1:
        return
    for t in list(net.parameters()) + list(net.buffers()):
        torch.distributed.broadcast(t.data, src=src)


def make_net_builder(
    *,
    device: torch.device | str,
    mode: str = "none",
    mesh: Any = None,
    shard_size: int | None = None,
    param_dtype: str | torch.dtype | None = "bfloat16",
    reduce_dtype: str | torch.dtype | None = "float32",
    ac_mode: str | None = "none",
    ac_every_n_blocks: int = 1,
    compile_blocks: bool = False,
    compile_kwargs: dict[str, Any] | None = None,
    init_device: torch.device | str | None = None,
    seed: int = 0,
    reshard_after_forward: bool = True,
    context_parallel: Any = None,
) -> Callable[..., nn.Module]:
    """A :data:`NetBuilder` for ``"none"`` / ``"ddp"`` / ``"fsdp"`` training.

    Args:
        device: training device. mode: parallelism (DDP wrapping itself is the trainer's job;
            here ``"ddp"`` only means "unsharded, identical on all ranks").
        mesh: an FSDP device mesh; built with :func:`build_mesh` from ``shard_size`` if None.
        param_dtype, reduce_dtype: FSDP ``MixedPrecisionPolicy`` of the trained net (``None``:
            keep fp32). Ignored outside FSDP (use autocast in the model there).
        ac_mode: per-block activation checkpointing, one of
            :data:`cosmos_train.nets.checkpointing.AC_MODES` (``"none"``, ``"block"``,
            ``"selective"``, ``"selective_mlp"``, ``"selective_down"``, ``"mm_only"``) or a Cosmos
            SAC mode name; ``None`` means ``"none"``. For the 2B on an H100 use
            ``"selective_mlp"`` at 480p and ``"selective"`` at 720p (see the module docstring).
        ac_every_n_blocks: checkpoint every n-th block only (1: all).
        compile_blocks: ``torch.compile`` each block.
        init_device: where the unsharded net is initialised before sharding (default ``device``;
            ``"cpu"`` saves accelerator memory for large nets at the cost of a slower init).
        seed: init seed, identical on every rank.
        reshard_after_forward: FSDP ``reshard_after_forward`` (False trades memory for speed).
        context_parallel: a :class:`~cosmos_train.distributed.context_parallel.ContextParallel`
            (from ``init_context_parallel``): both nets split their sequence over its group.
    """
    if mode not in _MODES:
        raise ValueError(f"make_net_builder: mode must be one of {_MODES}, got {mode!r}")
    ac_mode = _ac_mode(ac_mode)
    device = torch.device(device)
    init_dev = torch.device(init_device) if init_device is not None else device
    p_dtype = _dtype(
        param_dtype, "make_net_builder param_dtype (config: trainer.parallelism.param_dtype)"
    )
    r_dtype = _dtype(
        reduce_dtype, "make_net_builder reduce_dtype (config: trainer.parallelism.reduce_dtype)"
    )
    state: dict[str, Any] = {"mesh": mesh}

    def build(
        make_net: Callable[[], nn.Module],
        *,
        role: str = "net",
        prepare: Callable[[nn.Module], nn.Module] | None = None,
    ) -> nn.Module:
        if role not in ("net", "net_ema"):
            raise ValueError(f"net builder: role must be 'net' or 'net_ema', got {role!r}")
        with torch.device("meta"):
            net = make_net()
        net = net.to_empty(device=init_dev)
        # Identical init on every rank, independent of (and not disturbing) the global RNG.
        devices = [init_dev] if init_dev.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            init = getattr(net, "init_weights", None)
            if not callable(init):
                raise TypeError(
                    f"{type(net).__name__} has no init_weights(); the net builder initialises nets "
                    "with it"
                )
            with torch.no_grad():
                init()
            if prepare is not None:  # e.g. LoRA: load the base, inject adapters (seeded), freeze
                net = prepare(net)
        if context_parallel is not None:
            from cosmos_train.distributed.context_parallel import enable_context_parallel

            enable_context_parallel(net, context_parallel)
        if role == "net_ema":
            net.requires_grad_(False)
            net.float()
        else:
            if ac_mode != "none":
                from cosmos_train.nets.checkpointing import apply_activation_checkpointing

                net = apply_activation_checkpointing(
                    net, mode=ac_mode, every_n_blocks=ac_every_n_blocks
                )
            if compile_blocks:
                apply_compile(net, **(compile_kwargs or {}))
        if mode == "fsdp":
            if state["mesh"] is None:
                state["mesh"] = build_mesh(device=device, shard_size=shard_size)
            is_ema = role == "net_ema"
            apply_fsdp(
                net,
                mesh=state["mesh"],
                param_dtype=None if is_ema else p_dtype,
                reduce_dtype=None if is_ema else r_dtype,
                reshard_after_forward=reshard_after_forward,
            )
        elif init_dev != device:
            net = net.to(device)
        return net

    return build


def wrap_ddp(
    module: nn.Module, *, find_unused_parameters: bool = False, **ddp_kwargs: Any
) -> nn.parallel.DistributedDataParallel:
    """DDP without ``static_graph``, so ``no_sync()`` really skips the all-reduce when accumulating.

    DDP broadcasts rank 0's parameters and buffers at construction, which also guarantees
    identical weights for unsharded nets.
    """
    dev = next((p.device for p in module.parameters()), torch.device("cpu"))
    device_ids = [dev.index] if dev.type == "cuda" else None
    with warnings.catch_warnings():
        # torch >= 2.13 renames broadcast_buffers; torch 2.11 only knows the old name. Buffers are
        # identical at init (same builder seed) and never trained, so no per-forward broadcast.
        warnings.filterwarnings("ignore", message=".*broadcast_buffers.*", category=FutureWarning)
        return nn.parallel.DistributedDataParallel(
            module,
            device_ids=device_ids,
            find_unused_parameters=find_unused_parameters,
            broadcast_buffers=ddp_kwargs.pop("broadcast_buffers", False),
            **ddp_kwargs,
        )
