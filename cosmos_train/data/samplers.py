"""Index orders for sharded data and aspect-ratio buckets, resumable like the distributed sampler.

Both samplers have the interface :class:`~cosmos_train.data.loader.StatefulDataLoader` drives:
``set_epoch(epoch)``, ``set_skip(samples)`` (skip this rank's first samples of the next
iteration, for exact resume), ``num_samples`` (per rank per epoch, the same on every rank and
every epoch), ``num_replicas``, ``seed``. Orders depend only on ``(seed, epoch)`` and the dataset,
so every rank computes the same global schedule without communication.

- :class:`ShardSampler`: per epoch the shards are shuffled, the samples inside each shard are
  shuffled, and the resulting stream is cut into ``num_replicas`` contiguous, equal parts: each
  rank reads about ``1/num_replicas`` of the shards (a shard on a boundary is split between two
  ranks), never the whole dataset.
- :class:`BucketBatchSampler`: a batch sampler over aspect-ratio buckets. Per epoch each bucket's
  samples are shuffled and cut into global batches (``batch_size * num_replicas``, the tail that
  does not fill one is dropped, as Cosmos's shard equalisation drops it); the order of the global
  batches is shuffled by the seed. At every step all ranks take their slice of the same global
  batch, so every rank sees the same bucket (one shape for FSDP and ``torch.compile``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

__all__ = ["BucketBatchSampler", "ShardSampler"]

# Independent random streams of one (seed, epoch): the order of shards / steps, and within one.
_ORDER, _WITHIN = 0, 1


def _check_world(num_replicas: int, rank: int) -> None:
    if num_replicas < 1 or not 0 <= rank < num_replicas:
        raise ValueError(f"rank={rank} must lie in [0, num_replicas={num_replicas})")


class _Skippable:
    """``set_epoch``/``set_skip`` bookkeeping shared by the samplers."""

    #: Resuming on another world size would change which samples were consumed.
    world_size_fixed = True
    num_samples: int

    def __init__(self, num_replicas: int, rank: int, shuffle: bool, seed: int) -> None:
        _check_world(num_replicas, rank)
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed = bool(shuffle), int(seed)
        self.epoch = 0
        self._skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def set_skip(self, skip: int) -> None:
        """Skip the first ``skip`` samples of this rank in the next ``__iter__`` (one time)."""
        if not 0 <= skip <= self.num_samples:
            raise ValueError(f"skip={skip} outside [0, {self.num_samples}] for this rank")
        self._skip = int(skip)

    def _take_skip(self) -> int:
        skip, self._skip = self._skip, 0
        return skip

    def _rng(self, *keys: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, *keys])


class ShardSampler(_Skippable, Sampler[int]):
    """Sample indices of one rank for shard-local reading (see the module docstring).

    Args:
        shard_sizes: samples per shard, in the dataset's index order (shard 0 holds indices
            ``0 .. shard_sizes[0] - 1`` and so on).
        num_replicas: data-parallel ranks.
        rank: this rank.
        shuffle: shuffle shards and samples per epoch (else the stored order).
        seed: shuffle seed.
    """

    def __init__(
        self,
        shard_sizes: Sequence[int],
        *,
        num_replicas: int,
        rank: int,
        shuffle: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(num_replicas, rank, shuffle, seed)
        self.shard_sizes = [int(n) for n in shard_sizes]
        self.starts = np.concatenate([[0], np.cumsum(self.shard_sizes)]).astype(np.int64)
        total = int(self.starts[-1])
        if total < num_replicas:
            raise ValueError(
                f"{total} samples in {len(self.shard_sizes)} shards, fewer than the "
                f"{num_replicas} ranks"
            )
        self.num_samples = total // num_replicas

    def epoch_order(self) -> np.ndarray:
        """All indices of the current epoch, in the global reading order."""
        shards = np.arange(len(self.shard_sizes))
        if self.shuffle:
            shards = self._rng(_ORDER).permutation(shards)
        parts = []
        for s in shards:
            idx = np.arange(self.starts[s], self.starts[s + 1])
            parts.append(self._rng(_WITHIN, int(s)).permutation(idx) if self.shuffle else idx)
        return np.concatenate(parts)

    def rank_shards(self) -> list[int]:
        """Shard numbers this rank reads in the current epoch (for logs and tests)."""
        order = self.epoch_order()
        mine = order[self.rank * self.num_samples : (self.rank + 1) * self.num_samples]
        shard_of = np.searchsorted(self.starts, mine, side="right") - 1
        return sorted(set(int(s) for s in shard_of))

    def __iter__(self) -> Iterator[int]:
        order = self.epoch_order()
        begin = self.rank * self.num_samples + self._take_skip()
        end = (self.rank + 1) * self.num_samples
        return iter(int(i) for i in order[begin:end])

    def __len__(self) -> int:
        return self.num_samples - self._skip


class BucketBatchSampler(_Skippable, Sampler[list[int]]):
    """Batches of one rank, every step's batch from one aspect-ratio bucket on all ranks.

    Args:
        bucket_ids: the bucket of every dataset index (any hashable label, e.g. ``"16,9"``).
        batch_size: samples per batch on each rank.
        num_replicas: data-parallel ranks.
        rank: this rank.
        shuffle: shuffle within buckets and the order of the steps' buckets per epoch.
        seed: the seed of the schedule.
    """

    def __init__(
        self,
        bucket_ids: Sequence[object],
        *,
        batch_size: int,
        num_replicas: int,
        rank: int,
        shuffle: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(num_replicas, rank, shuffle, seed)
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.batch_size = int(batch_size)
        labels = sorted({str(b) for b in bucket_ids})
        self.buckets = {
            label: np.array([i for i, b in enumerate(bucket_ids) if str(b) == label])
            for label in labels
        }
        per_step = self.batch_size * self.num_replicas
        self.steps_per_bucket = {b: len(idx) // per_step for b, idx in self.buckets.items()}
        self.num_batches = sum(self.steps_per_bucket.values())
        if self.num_batches == 0:
            sizes = {b: len(idx) for b, idx in self.buckets.items()}
            raise ValueError(
                f"no aspect-ratio bucket fills one global batch of {per_step} "
                f"(batch_size {batch_size} x {num_replicas} ranks); bucket sizes {sizes}. "
                "Lower the batch size or add clips"
            )
        self.num_samples = self.num_batches * self.batch_size

    def schedule(self) -> list[tuple[str, np.ndarray]]:
        """The current epoch's global batches: ``(bucket, indices of all ranks)`` per step."""
        per_step = self.batch_size * self.num_replicas
        steps: list[tuple[str, np.ndarray]] = []
        for k, (label, idx) in enumerate(self.buckets.items()):
            order = self._rng(_WITHIN, k).permutation(idx) if self.shuffle else idx
            for s in range(self.steps_per_bucket[label]):
                steps.append((label, order[s * per_step : (s + 1) * per_step]))
        if self.shuffle:
            steps = [steps[i] for i in self._rng(_ORDER).permutation(len(steps))]
        return steps

    def __iter__(self) -> Iterator[list[int]]:
        skip = self._take_skip()
        if skip % self.batch_size:
            raise ValueError(f"cannot skip {skip} samples: not whole batches of {self.batch_size}")
        lo, hi = self.rank * self.batch_size, (self.rank + 1) * self.batch_size
        for _, batch in self.schedule()[skip // self.batch_size :]:
            yield [int(i) for i in batch[lo:hi]]

    def __len__(self) -> int:
        return self.num_batches - self._skip // self.batch_size
