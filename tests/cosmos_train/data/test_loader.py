"""build_dataloader: epochs, exact mid-epoch resume, rank splits, collation, workers."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Dataset, DistributedSampler

from cosmos_train.data.loader import build_dataloader
from cosmos_train.data.mock import MockVideoDataset


class IndexDataset(Dataset):
    """Items that only carry their index (and a caption string to check collation)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.fetched: list[int] = []

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        self.fetched.append(int(i))
        return {"sample_idx": int(i), "ai_caption": f"caption {i}", "x": torch.full((2,), float(i))}


def order(loader) -> list[list[int]]:
    return [batch["sample_idx"].tolist() for batch in loader]


def test_collate_keeps_captions_as_list_and_stacks_tensors():
    loader = build_dataloader(dataset=IndexDataset(8), batch_size=4, shuffle=False)
    batch = next(iter(loader))
    assert batch["ai_caption"] == [f"caption {i}" for i in range(4)]
    assert batch["x"].shape == (4, 2) and batch["sample_idx"].dtype == torch.int64


def test_mock_batch_matches_interface():
    ds = MockVideoDataset(num_frames=3, height=8, width=8, text_len=4, text_dim=5, length=4)
    batch = next(iter(build_dataloader(dataset=ds, batch_size=2)))
    assert batch["video"].shape == (2, 3, 3, 8, 8) and batch["video"].dtype == torch.uint8
    assert batch["t5_text_mask"].shape == (2, 4) and batch["image_size"].shape == (2, 4)
    assert batch["fps"].shape == (2,) and batch["num_frames"].tolist() == [3, 3]
    assert isinstance(batch["ai_caption"], list)


def test_len_and_drop_last():
    assert len(build_dataloader(dataset=IndexDataset(10), batch_size=3)) == 3
    loader = build_dataloader(
        dataset=IndexDataset(10), batch_size=3, drop_last=False, shuffle=False
    )
    assert len(loader) == 4 and sum(len(b) for b in order(loader)) == 10


def test_epoch_advances_and_set_epoch_changes_order():
    loader = build_dataloader(dataset=IndexDataset(16), batch_size=4, seed=3)
    first, second = order(loader), order(loader)  # exhausting an epoch advances it
    assert loader.epoch == 2
    assert first != second and sorted(sum(first, [])) == sorted(sum(second, [])) == list(range(16))
    loader.set_epoch(0)
    assert order(loader) == first
    loader.set_epoch(1)
    assert order(loader) == second


def test_same_seed_same_order_other_seed_differs():
    a = order(build_dataloader(dataset=IndexDataset(16), batch_size=4, seed=1))
    assert a == order(build_dataloader(dataset=IndexDataset(16), batch_size=4, seed=1))
    assert a != order(build_dataloader(dataset=IndexDataset(16), batch_size=4, seed=2))


@pytest.mark.parametrize("num_workers", [0, 2], ids=["main-process", "two-workers"])
def test_state_dict_resume_yields_exactly_the_remaining_batches(num_workers):
    full = order(build_dataloader(dataset=IndexDataset(20), batch_size=2, seed=5))
    loader = build_dataloader(dataset=IndexDataset(20), batch_size=2, seed=5)
    it = iter(loader)
    head = [next(it)["sample_idx"].tolist() for _ in range(4)]
    state = loader.state_dict()
    assert state["epoch"] == 0 and state["batches_consumed"] == 4

    ds = IndexDataset(20)
    resumed = build_dataloader(dataset=ds, batch_size=2, seed=5, num_workers=num_workers)
    resumed.load_state_dict(state)
    resumed.set_epoch(state["epoch"])  # what a trainer does on resume: keeps the position
    tail = order(resumed)
    assert head + tail == full
    if num_workers == 0:  # skipped samples are never fetched (decoded)
        assert sorted(ds.fetched) == sorted(sum(tail, []))
    # the next epoch after a resumed one is the normal next epoch
    assert order(resumed) == order(
        _at_epoch(build_dataloader(dataset=IndexDataset(20), batch_size=2, seed=5), 1)
    )


def _at_epoch(loader, epoch):
    loader.set_epoch(epoch)
    return loader


def test_state_after_full_epoch_points_to_next_epoch():
    loader = build_dataloader(dataset=IndexDataset(8), batch_size=2)
    order(loader)
    assert loader.state_dict()["epoch"] == 1 and loader.state_dict()["batches_consumed"] == 0


def test_stopping_after_the_last_batch_starts_the_next_epoch():
    """A consumer that takes exactly len(loader) batches and stops still gets a new epoch next."""
    loader = build_dataloader(dataset=IndexDataset(8), batch_size=2)
    first = [b["sample_idx"].tolist() for _, b in zip(range(len(loader)), loader)]
    assert loader.state_dict()["epoch"] == 0 and loader.state_dict()["batches_consumed"] == 4
    second = order(loader)
    assert len(second) == 4 and second != first and loader.epoch == 2
    assert sorted(sum(second, [])) == list(range(8))
    # Stopping before the end keeps the position (mid-epoch continuation).
    part = [b["sample_idx"].tolist() for _, b in zip(range(2), loader)]
    assert part + order(loader) == order(
        _at_epoch(build_dataloader(dataset=IndexDataset(8), batch_size=2), 2)
    )


def test_resuming_a_fully_consumed_epoch_ends_it_then_advances():
    """The trainer's data stream resumes a saved end-of-epoch position this way."""
    loader = build_dataloader(dataset=IndexDataset(8), batch_size=2)
    for _, _b in zip(range(len(loader)), loader):
        pass
    state = loader.state_dict()
    resumed = build_dataloader(dataset=IndexDataset(8), batch_size=2)
    resumed.load_state_dict(state)
    resumed.set_epoch(0)
    assert order(resumed) == [] and resumed.epoch == 1
    assert len(order(resumed)) == 4


def test_rank_split_is_disjoint_and_covers_dataset():
    kw = dict(dataset=IndexDataset(12), batch_size=2, seed=0)
    r0 = build_dataloader(rank=0, world_size=2, **kw)
    r1 = build_dataloader(rank=1, world_size=2, **kw)
    assert isinstance(r0.sampler, DistributedSampler) and len(r0) == 3
    s0, s1 = sum(order(r0), []), sum(order(r1), [])
    assert not set(s0) & set(s1) and sorted(s0 + s1) == list(range(12))


def test_resume_on_a_different_world_size():
    # 2 ranks x 2 batches x batch 2 = 8 consumed samples = 4 batches of 2 on one rank
    kw = dict(dataset=IndexDataset(16), batch_size=2, seed=0)
    two = [build_dataloader(rank=r, world_size=2, **kw) for r in range(2)]
    iters = [iter(loader) for loader in two]
    for it in iters:
        next(it), next(it)
    one = build_dataloader(**kw)
    one.load_state_dict(two[0].state_dict())
    rest = sum(order(one), [])
    full = sum(order(build_dataloader(**kw)), [])
    assert rest == full[8:]


def test_incompatible_state_is_a_clear_error():
    loader = build_dataloader(dataset=IndexDataset(8), batch_size=2, seed=0)
    with pytest.raises(ValueError, match="seed=1 but this loader has seed=0"):
        loader.load_state_dict({"epoch": 0, "samples_consumed": 2, "seed": 1, "dataset_len": 8})
    with pytest.raises(ValueError, match="whole batches"):
        loader.load_state_dict({"epoch": 0, "samples_consumed": 3, "seed": 0, "dataset_len": 8})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(rank=0), "both rank and world_size"),
        (dict(rank=2, world_size=2), r"rank=2 must lie in"),
        (dict(batch_size=0), "batch_size must be positive"),
    ],
    ids=["rank-only", "rank-out-of-range", "zero-batch"],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_dataloader(dataset=IndexDataset(4), **kwargs)
