"""Process-group setup from the ``torchrun`` environment, and small collective helpers.

One process without ``torchrun`` is a valid "distributed" run of world size 1: every helper
here degrades to a no-op, so the trainer has no ``if distributed`` branches of its own.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "DistEnv",
    "init_distributed",
    "get_env",
    "is_dist",
    "get_rank",
    "get_world_size",
    "barrier",
    "all_gather_object",
    "broadcast_object",
]


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits: rank, world size, local rank, device and backend."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str = "none"

    @property
    def is_main(self) -> bool:
        """True on global rank 0 (the rank that writes files shared by the job)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when a default process group with more than zero peers is initialised."""
        return self.backend != "none"


def is_dist() -> bool:
    """True when the default process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if is_dist() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_dist() else 1


def get_env() -> DistEnv:
    """The environment of an already initialised (or single) process."""
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
    else:
        device = torch.device("cpu")
    if not is_dist():
        return DistEnv(device=device, local_rank=local_rank)
    return DistEnv(dist.get_rank(), dist.get_world_size(), local_rank, device, dist.get_backend())


def init_distributed(*, backend: str = "auto", timeout_s: float = 1800.0) -> DistEnv:
    """Initialise the default process group from ``torchrun``'s environment variables.

    Args:
        backend: ``"auto"`` (nccl on CUDA, gloo on CPU), ``"nccl"`` or ``"gloo"``.
        timeout_s: collective timeout; a hung collective fails after this many seconds.

    Returns:
        The :class:`DistEnv`; world size 1 with backend ``"none"`` when ``WORLD_SIZE`` is unset
        (a plain ``python tools/train.py`` run).
    """
    if is_dist():
        return get_env()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 and "MASTER_ADDR" not in os.environ:
        return get_env()
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend not in ("nccl", "gloo"):
        raise ValueError(
            f"init_distributed: backend must be 'auto', 'nccl' or 'gloo', got {backend!r}"
        )
    if backend == "nccl":
        if not torch.cuda.is_available():
            raise RuntimeError(
                "init_distributed: backend='nccl' needs CUDA; use backend='gloo' on CPU"
            )
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        os.environ.setdefault("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1")
    _import_world_default_modules()
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
    return get_env()


def _import_world_default_modules() -> None:
    """Imports, before the default group exists, modules whose defaults capture ``group.WORLD``.

    ``torch.distributed.nn.functional`` declares ``def broadcast(..., group=group.WORLD)`` and
    friends: imported after ``init_process_group`` (DCP and DDP pull it in lazily), those default
    arguments keep the default ``ProcessGroupGloo`` alive forever, so ``destroy_process_group``
    cannot free it and its C++ threads (``pt_gloo_runloop``, ``gloo_tcp_loop``) run on into
    interpreter shutdown, where tearing them down races with the peer's exit and can abort the
    process (``terminate called without an active exception``). Imported first, the defaults
    are ``None`` (meaning "the default group", resolved per call).
    """
    if dist.is_available():
        import torch.distributed.nn.functional  # noqa: F401


def barrier() -> None:
    """A barrier over the default group; no-op in one process."""
    if is_dist():
        dist.barrier()


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj`` in rank order (``[obj]`` in one process)."""
    if not is_dist():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank."""
    if not is_dist():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
