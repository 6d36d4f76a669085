"""ShardSampler, BucketBatchSampler: rank-local shards, one bucket a step, determinism, resume."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Dataset

from cosmos_train.data.loader import build_dataloader
from cosmos_train.data.samplers import BucketBatchSampler, ShardSampler

SHARDS = [5, 5, 5, 4, 3, 5]  # 27 samples


class Indexed(Dataset):
    """Items are their own index; ``shard_sizes`` / ``bucket_ids`` as a real dataset has them."""

    def __init__(self, shard_sizes=None, bucket_ids=None, n=None):
        self.shard_sizes, self.bucket_ids = shard_sizes, bucket_ids
        self.n = n or (sum(shard_sizes) if shard_sizes else len(bucket_ids))

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"sample_idx": i}


def shard_of(i: int) -> int:
    start = 0
    for s, n in enumerate(SHARDS):
        if i < start + n:
            return s
        start += n
    raise IndexError(i)


def rank_orders(world: int, epoch: int = 0, seed: int = 0, shuffle: bool = True) -> list[list[int]]:
    out = []
    for rank in range(world):
        sampler = ShardSampler(SHARDS, num_replicas=world, rank=rank, seed=seed, shuffle=shuffle)
        sampler.set_epoch(epoch)
        out.append(list(sampler))
    return out


@pytest.mark.parametrize("world", [1, 2, 3])
def test_shard_ranks_are_disjoint_equal_and_read_few_shards(world):
    orders = rank_orders(world)
    assert len({len(o) for o in orders}) == 1 and len(orders[0]) == sum(SHARDS) // world
    flat = [i for o in orders for i in o]
    assert len(flat) == len(set(flat))
    for o in orders:
        # contiguous parts of the shard stream: a rank touches at most its share of shards + 1
        assert len({shard_of(i) for i in o}) <= -(-len(SHARDS) // world) + 1
    if world == 1:
        assert sorted(flat) == list(range(sum(SHARDS)))


def test_shard_order_is_seeded_per_epoch():
    assert rank_orders(2, epoch=0) == rank_orders(2, epoch=0)
    assert rank_orders(2, epoch=0) != rank_orders(2, epoch=1)
    assert rank_orders(2, seed=1) != rank_orders(2, seed=0)
    assert rank_orders(1, shuffle=False) == [list(range(27))]
    # within a shard, samples are read together (one shard at a time) even when shuffled
    order = rank_orders(1)[0]
    changes = sum(shard_of(a) != shard_of(b) for a, b in zip(order, order[1:]))
    assert changes == len(SHARDS) - 1


def test_too_few_samples_for_the_ranks():
    with pytest.raises(ValueError, match="fewer than the 4 ranks"):
        ShardSampler([1, 2], num_replicas=4, rank=0)


BUCKETS = ["16,9"] * 9 + ["1,1"] * 7 + ["9,16"] * 2 + ["4,3"] * 6


@pytest.mark.parametrize("world, batch", [(1, 2), (2, 2), (3, 1)])
def test_every_rank_draws_the_same_bucket_at_every_step(world, batch):
    schedules = []
    for rank in range(world):
        sampler = BucketBatchSampler(
            BUCKETS, batch_size=batch, num_replicas=world, rank=rank, seed=3
        )
        schedules.append(list(sampler))
        assert len(schedules[-1]) == len(sampler) == sampler.num_batches
    per_step = batch * world
    assert sampler.num_batches == sum(BUCKETS.count(b) // per_step for b in set(BUCKETS))
    for step in zip(*schedules):
        labels = {BUCKETS[i] for batch_idx in step for i in batch_idx}
        assert len(labels) == 1
    flat = [i for s in schedules for b in s for i in b]
    assert len(flat) == len(set(flat))
    assert len({BUCKETS[b[0]] for b in schedules[0]}) > 1  # the buckets do change between steps


def test_bucket_schedule_is_seeded_and_refuses_a_batch_no_bucket_fills():
    def sched(seed, epoch):
        s = BucketBatchSampler(BUCKETS, batch_size=2, num_replicas=1, rank=0, seed=seed)
        s.set_epoch(epoch)
        return list(s)

    assert sched(0, 0) == sched(0, 0) and sched(0, 0) != sched(0, 1) and sched(0, 0) != sched(1, 0)
    with pytest.raises(ValueError, match="no aspect-ratio bucket fills"):
        BucketBatchSampler(BUCKETS, batch_size=5, num_replicas=2, rank=0)


@pytest.mark.parametrize(
    "sampling, dataset",
    [
        ("shards", Indexed(shard_sizes=SHARDS)),
        ("buckets", Indexed(bucket_ids=BUCKETS)),
    ],
    ids=["shards", "buckets"],
)
@pytest.mark.parametrize("num_workers", [0, 1])
def test_resume_yields_exactly_the_remaining_batches(sampling, dataset, num_workers):
    def loader(rank=0):
        return build_dataloader(
            dataset=dataset,
            batch_size=2,
            sampling=sampling,
            rank=rank,
            world_size=2,
            num_workers=num_workers,
            seed=5,
        )

    full = loader()
    reference = [b["sample_idx"].tolist() for epoch in range(2) for b in full]
    first = loader()
    it = iter(first)
    consumed = [next(it)["sample_idx"].tolist() for _ in range(3)]
    state = first.state_dict()
    resumed = loader()
    resumed.load_state_dict(state)
    rest = [b["sample_idx"].tolist() for b in resumed] + [b["sample_idx"].tolist() for b in resumed]
    assert consumed + rest == reference
    other_world = build_dataloader(
        dataset=dataset, batch_size=2, sampling=sampling, rank=0, world_size=1, seed=5
    )
    with pytest.raises(ValueError, match="resumes only on 2 ranks"):
        other_world.load_state_dict(state)


def test_sampling_needs_the_dataset_attribute():
    with pytest.raises(ValueError, match="needs a dataset with 'shard_sizes'"):
        build_dataloader(dataset=Indexed(bucket_ids=BUCKETS), sampling="shards")
    with pytest.raises(ValueError, match="sampling='rows' is not valid"):
        build_dataloader(dataset=Indexed(bucket_ids=BUCKETS), sampling="rows")
    # unshuffled: the first bucket label in sorted order, "1,1"
    assert torch.equal(
        next(
            iter(
                build_dataloader(
                    dataset=Indexed(bucket_ids=BUCKETS),
                    sampling="buckets",
                    batch_size=3,
                    shuffle=False,
                )
            )
        )["sample_idx"],
        torch.tensor([9, 10, 11]),
    )
