"""Process-group setup without torchrun: one process, world size 1, helpers are no-ops."""

from __future__ import annotations

import pytest

from cosmos_train.distributed.env import (
    all_gather_object,
    barrier,
    broadcast_object,
    get_env,
    init_distributed,
)


def test_single_process_without_torchrun(monkeypatch):
    for var in ("WORLD_SIZE", "RANK", "MASTER_ADDR", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    env = init_distributed()
    assert (env.rank, env.world_size, env.backend, env.is_main, env.distributed) == (
        0,
        1,
        "none",
        True,
        False,
    )
    assert env.device.type in ("cpu", "cuda") and get_env() == env
    barrier()
    assert all_gather_object({"a": 1}) == [{"a": 1}] and broadcast_object(5) == 5


def test_bad_backend_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    with pytest.raises(ValueError, match="backend must be"):
        init_distributed(backend="mpi")
