"""DataStream: set_epoch every epoch, exact position for stateful and plain loaders."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, DistributedSampler

from cosmos_train.data.loader import build_dataloader
from cosmos_train.model.toy import ToyVideoDataset
from cosmos_train.trainer.data_stream import DataStream


def _plain_loader():
    ds = ToyVideoDataset(length=6)
    sampler = DistributedSampler(ds, num_replicas=1, rank=0, shuffle=True, seed=3)
    return DataLoader(ds, batch_size=2, sampler=sampler), sampler


def _ids(batch):
    return batch["sample_idx"].tolist()


def test_plain_loader_epochs_differ_and_set_epoch_is_called():
    loader, sampler = _plain_loader()
    stream = DataStream(loader)
    epoch0 = [_ids(stream.next()) for _ in range(3)]
    epoch1 = [_ids(stream.next()) for _ in range(3)]
    assert sampler.epoch == 1 and stream.epoch == 1
    assert sorted(sum(epoch0, [])) == list(range(6)) and epoch0 != epoch1


def test_plain_loader_resume_skips_consumed_batches():
    loader, _ = _plain_loader()
    ref = DataStream(loader)
    seq = [_ids(ref.next()) for _ in range(7)]
    first = DataStream(_plain_loader()[0])
    for _ in range(4):
        first.next()
    resumed = DataStream(_plain_loader()[0])
    resumed.load_state_dict(first.state_dict())
    assert [_ids(resumed.next()) for _ in range(3)] == seq[4:]


def test_stateful_loader_resume_uses_loader_state():
    make = lambda: build_dataloader(dataset=ToyVideoDataset(length=6), batch_size=2, seed=5)  # noqa: E731
    ref = DataStream(make())
    seq = [_ids(ref.next()) for _ in range(8)]
    first = DataStream(make())
    for _ in range(5):
        first.next()
    state = first.state_dict()
    assert state["loader"] is not None
    resumed = DataStream(make())
    resumed.load_state_dict(state)
    assert [_ids(resumed.next()) for _ in range(3)] == seq[5:]
    assert torch.is_tensor(make().__iter__().__next__()["video"])
