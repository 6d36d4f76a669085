"""A distributed-aware, resumable data loader.

:func:`build_dataloader` wraps ``torch.utils.data.DataLoader`` with a
:class:`ResumableDistributedSampler` (a ``DistributedSampler`` over the default process group
when one is initialised, else over one replica: a plain seeded shuffle) and fixes two Cosmos
gaps: the sampler's epoch advances (``set_epoch``, and automatically when an epoch is
exhausted), and the position inside an epoch is saved and restored exactly
(``state_dict``/``load_state_dict``) by skipping consumed indices at the sampler level, so
resumed runs do not decode the skipped samples.

``sampling`` picks the index order: ``"distributed"`` (the above), ``"shards"``
(:class:`~cosmos_train.data.samplers.ShardSampler`: each rank reads its own tar shards; the dataset
has ``shard_sizes``) or ``"buckets"`` (:class:`~cosmos_train.data.samplers.BucketBatchSampler`:
every step's batch comes from one aspect-ratio bucket on all ranks; the dataset has
``bucket_ids``). All three resume exactly.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler, default_collate

from cosmos_train.data.samplers import BucketBatchSampler, ShardSampler

__all__ = ["ResumableDistributedSampler", "StatefulDataLoader", "build_dataloader", "SAMPLINGS"]

#: Values of ``build_dataloader(sampling=...)``.
SAMPLINGS = ("distributed", "shards", "buckets")


class ResumableDistributedSampler(DistributedSampler):
    """``DistributedSampler`` that can start an epoch after ``skip`` of this rank's indices.

    The order of an epoch depends only on ``(seed, epoch, len(dataset), num_replicas)``, exactly
    as in ``DistributedSampler``; :meth:`set_skip` drops the first indices of the next iteration.
    """

    def __init__(
        self,
        dataset: Dataset,
        *,
        num_replicas: int,
        rank: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        super().__init__(
            dataset,
            num_replicas=num_replicas,
            rank=rank,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
        )
        self._skip = 0

    def set_skip(self, skip: int) -> None:
        """Skip the first ``skip`` indices of this rank in the next ``__iter__`` (one time)."""
        if not 0 <= skip <= self.num_samples:
            raise ValueError(f"skip={skip} outside [0, {self.num_samples}] for this rank")
        self._skip = skip

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        skip, self._skip = self._skip, 0
        return iter(indices[skip:])

    def __len__(self) -> int:
        return self.num_samples - self._skip


def _worker_init(_: int) -> None:
    # Workers decode video (PyAV has its own threads); one torch thread each avoids
    # oversubscription.
    torch.set_num_threads(1)


class StatefulDataLoader:
    """Iterates a ``DataLoader`` and remembers the epoch and the batches consumed in it.

    Use :func:`build_dataloader` to create one. ``len()`` is the number of batches in a full
    epoch on this rank. Exhausting an iteration (or stopping right after an epoch's last batch)
    advances the epoch by one; ``set_epoch`` sets it explicitly (the trainer calls it at the start
    of every epoch, which is idempotent).
    """

    def __init__(
        self,
        loader: DataLoader,
        sampler: ResumableDistributedSampler,
        batch_size: int,
        drop_last: bool,
    ) -> None:
        self.loader = loader
        self.sampler = sampler
        self.dataset = loader.dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.epoch = 0
        self._consumed = 0  # batches handed out in the current epoch
        # The last iteration handed out the epoch's final batch but was abandoned before it could
        # advance the epoch (a consumer that stops after exactly len(loader) batches).
        self._ended_unexhausted = False
        self._set_epoch(0)

    def _set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.sampler.set_epoch(epoch)
        # Datasets with per-epoch randomness (random video windows) follow the sampler's epoch.
        set_dataset_epoch = getattr(self.dataset, "set_epoch", None)
        if callable(set_dataset_epoch):
            set_dataset_epoch(epoch)

    def set_epoch(self, epoch: int) -> None:
        """Make ``epoch`` the current epoch; a different epoch starts at its beginning.

        Setting the current epoch again keeps the position, so a trainer that calls
        ``set_epoch(state["epoch"])`` after :meth:`load_state_dict` still resumes mid-epoch.
        """
        if int(epoch) != self.epoch:
            self._consumed = 0
            self._ended_unexhausted = False
        self._set_epoch(int(epoch))

    def __len__(self) -> int:
        n = self.sampler.num_samples
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        # A new iteration resumes where the last state left off (after load_state_dict) or at
        # the beginning of the current epoch; after an iteration that stopped right after the
        # epoch's last batch, it starts the next epoch (like a fresh DataLoader iterator would).
        if self._ended_unexhausted:
            self._ended_unexhausted = False
            self._consumed = 0
            self._set_epoch(self.epoch + 1)
        self.sampler.set_skip(self._consumed * self.batch_size)
        for batch in self.loader:
            self._consumed += 1
            self._ended_unexhausted = self._consumed >= len(self)
            yield batch
        self._ended_unexhausted = False
        self._consumed = 0
        self._set_epoch(self.epoch + 1)

    def state_dict(self) -> dict[str, int]:
        """Position to resume from: epoch and globally consumed samples in that epoch."""
        return {
            "epoch": self.epoch,
            "batches_consumed": self._consumed,
            "samples_consumed": self._consumed * self.batch_size * self.sampler.num_replicas,
            "batch_size": self.batch_size,
            "world_size": self.sampler.num_replicas,
            "seed": self.sampler.seed,
            "dataset_len": len(self.dataset),
        }

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Restore a position saved by :meth:`state_dict`; the next iteration continues there.

        The world size may change if the consumed samples divide evenly over the new ranks
        and batch size; the seed and dataset length must match (else the order differs).
        """
        for key in ("seed", "dataset_len"):
            mine = self.sampler.seed if key == "seed" else len(self.dataset)
            if key in state and int(state[key]) != mine:
                raise ValueError(
                    f"data loader state has {key}={state[key]} but this loader has {key}={mine}: "
                    f"the sample order would differ. Use the same dataset and seed to resume, or "
                    f"drop the loader state (start the data from epoch 0)."
                )
        world = self.sampler.num_replicas
        saved_world = int(state.get("world_size", world))
        if getattr(self.sampler, "world_size_fixed", False) and saved_world != world:
            raise ValueError(
                f"data loader state was saved with world_size={saved_world}; this "
                f"{type(self.sampler).__name__} order depends on the number of ranks, so it "
                f"resumes only on {saved_world} ranks (or drop the loader state to restart the "
                "epoch)"
            )
        samples = int(
            state.get(
                "samples_consumed",
                state.get("batches_consumed", 0)
                * state.get("batch_size", self.batch_size)
                * state.get("world_size", world),
            )
        )
        per_rank, rest = divmod(samples, world)
        if rest or per_rank % self.batch_size:
            raise ValueError(
                f"cannot resume {samples} consumed samples with world_size={world} and "
                f"batch_size={self.batch_size}: they do not split into whole batches per rank. "
                f"Resume with the saved world_size={state.get('world_size')} and "
                f"batch_size={state.get('batch_size')}."
            )
        consumed = per_rank // self.batch_size
        if consumed > len(self):
            raise ValueError(
                f"data loader state consumed {consumed} batches, more than the "
                f"{len(self)} batches of an epoch on this rank"
            )
        self._set_epoch(int(state.get("epoch", 0)))
        self._consumed = consumed
        # A saved fully-consumed epoch stays as saved: the next iteration ends at once and then
        # advances, which is what the trainer's data stream expects when it resumes.
        self._ended_unexhausted = False


def _resolve_world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if (rank is None) != (world_size is None):
        raise ValueError("pass both rank and world_size (to override the process group) or neither")
    if rank is None:
        if dist.is_available() and dist.is_initialized():
            # Data-parallel rank/size: the ranks of a context-parallel group read the same samples.
            from cosmos_train.distributed.context_parallel import data_parallel_rank_world

            return data_parallel_rank_world()
        return 0, 1
    if not 0 <= rank < world_size:
        raise ValueError(f"rank={rank} must lie in [0, world_size={world_size})")
    return int(rank), int(world_size)


def build_dataloader(
    *,
    dataset: Dataset,
    batch_size: int = 1,
    num_workers: int = 0,
    shuffle: bool = True,
    drop_last: bool = True,
    pin_memory: bool = False,
    seed: int = 0,
    prefetch_factor: int | None = None,
    persistent_workers: bool = False,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    rank: int | None = None,
    world_size: int | None = None,
    sampling: Literal["distributed", "shards", "buckets"] = "distributed",
) -> StatefulDataLoader:
    """Build a resumable loader that shards ``dataset`` over the data-parallel ranks.

    Args:
        dataset: a map-style dataset (``__len__`` and ``__getitem__``).
        batch_size: samples per batch on each rank.
        num_workers: loader worker processes (0: load in the main process).
        shuffle: shuffle with ``seed + epoch`` (the same permutation on every rank).
        drop_last: drop the tail that does not fill a whole batch (and the sampler's uneven tail).
        pin_memory: pin batches for faster host-to-device copies.
        seed: shuffle seed.
        prefetch_factor: batches prefetched per worker (``None``: PyTorch's default).
        persistent_workers: keep workers between epochs.
        collate_fn: batch collation; default stacks tensors and keeps strings as lists.
        rank: this rank; with ``world_size``, overrides the default process group.
        world_size: number of data-parallel ranks.
        sampling: ``"distributed"``, ``"shards"`` (rank-local tar shards, needs
            ``dataset.shard_sizes``) or ``"buckets"`` (one aspect-ratio bucket per step, needs
            ``dataset.bucket_ids``); ``shards`` and ``buckets`` always drop incomplete tails.
    """
    if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
        raise TypeError(f"build_dataloader needs a map-style dataset, got {type(dataset).__name__}")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    rank, world_size = _resolve_world(rank, world_size)
    if len(dataset) < world_size:
        raise ValueError(f"dataset has {len(dataset)} samples, fewer than world_size={world_size}")
    if persistent_workers and num_workers > 0 and callable(getattr(dataset, "set_epoch", None)):
        warnings.warn(
            "persistent_workers=True keeps the workers' dataset at epoch 0: per-epoch "
            "randomness (random video windows) repeats every epoch",
            stacklevel=2,
        )
    extra: dict[str, Any] = {}
    if sampling == "distributed":
        sampler: Any = ResumableDistributedSampler(
            dataset,
            num_replicas=world_size,
            rank=rank,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
        )
        extra.update(sampler=sampler, batch_size=batch_size, drop_last=drop_last)
    elif sampling == "shards":
        sampler = ShardSampler(
            _dataset_attr(dataset, "shard_sizes", sampling),
            num_replicas=world_size,
            rank=rank,
            shuffle=shuffle,
            seed=seed,
        )
        extra.update(sampler=sampler, batch_size=batch_size, drop_last=True)
        drop_last = True
    elif sampling == "buckets":
        sampler = BucketBatchSampler(
            _dataset_attr(dataset, "bucket_ids", sampling),
            batch_size=batch_size,
            num_replicas=world_size,
            rank=rank,
            shuffle=shuffle,
            seed=seed,
        )
        extra.update(batch_sampler=sampler)
        drop_last = True
    else:
        raise ValueError(f"sampling={sampling!r} is not valid; choose one of {list(SAMPLINGS)}")
    if num_workers > 0:
        extra["worker_init_fn"] = _worker_init
        extra["persistent_workers"] = persistent_workers
        if prefetch_factor is not None:
            extra["prefetch_factor"] = prefetch_factor
    loader = DataLoader(
        dataset,
        num_workers=num_workers,
        collate_fn=collate_fn or default_collate,
        pin_memory=pin_memory,
        **extra,
    )
    return StatefulDataLoader(loader, sampler, batch_size, drop_last)


def _dataset_attr(dataset: Dataset, name: str, sampling: str) -> Any:
    value = getattr(dataset, name, None)
    if value is None:
        raise ValueError(
            f"sampling={sampling!r} needs a dataset with {name!r}; "
            f"{type(dataset).__name__} has none (use sampling='distributed')"
        )
    return value
