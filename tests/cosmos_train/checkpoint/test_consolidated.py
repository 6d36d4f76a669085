"""Official consolidated checkpoints: save in Cosmos's layout, load back.

Covers EMA, bf16, TE extra_state and diffs.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from cosmos_train.checkpoint.consolidated import (
    CheckpointMismatchError,
    LoadReport,
    load_consolidated,
    save_consolidated,
)
from cosmos_train.nets import presets

GOLDEN = Path(__file__).resolve().parents[1] / "nets" / "golden"


def _tiny(seed: int, **kw) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = presets.tiny(**kw)
    net.init_weights()
    with torch.no_grad():
        net.accum_iteration.fill_(seed + 7)
    return net


def _equal(a: torch.nn.Module, b: torch.nn.Module, atol: float = 0.0) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(
        sa[k].dtype == sb[k].dtype
        and torch.allclose(sa[k].double(), sb[k].double(), rtol=0, atol=atol)
        for k in sa
    )


def _bf16_roundtrip(net: torch.nn.Module) -> torch.nn.Module:
    out = copy.deepcopy(net)
    with torch.no_grad():
        for t in out.state_dict().values():
            if t.is_floating_point():
                t.copy_(t.bfloat16().float())
    return out


@pytest.fixture(scope="module")
def mini_pair(tmp_path_factory) -> tuple[Path, torch.nn.Module, torch.nn.Module]:
    """The mini preset (45M params) saved as model.pt: net.* + net_ema.*, bf16."""
    torch.manual_seed(0)
    net = presets.mini_net()
    net.init_weights()
    ema = copy.deepcopy(net)
    with torch.no_grad():
        for p in ema.parameters():
            p.add_(0.01)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_consolidated(path, net=net, net_ema=ema)
    return path, net, ema


def test_official_layout_on_disk(mini_pair) -> None:
    path, net, ema = mini_pair
    sd = torch.load(path, weights_only=True)
    n = len(net.state_dict())
    assert list(sd)[:n] == ["net." + k for k in net.state_dict()]
    assert list(sd)[n:] == ["net_ema." + k for k in ema.state_dict()]
    assert sd["net.blocks.0.self_attn.q_proj.weight"].dtype == torch.bfloat16
    assert sd["net.accum_iteration"].dtype == torch.int64  # counters stay int64
    # float buffers are cast too (as Cosmos)
    assert sd["net.accum_train_in_hours"].dtype == torch.bfloat16
    assert not list(path.parent.glob(".*.tmp"))  # atomic write leaves no temp file


def test_mini_round_trip_bf16_to_fp32_with_ema(mini_pair) -> None:
    path, net, ema = mini_pair
    torch.manual_seed(1)
    net2, ema2 = presets.mini_net(), presets.mini_net()
    report = load_consolidated(path, net=net2, net_ema=ema2, ema="load")
    assert isinstance(report, LoadReport)
    assert (
        report.layout == "consolidated" and report.has_ema_keys and report.ema_source == "net_ema"
    )
    assert report.net_loaded == report.ema_loaded == len(net.state_dict())
    # all but the 3 int64 counters
    assert report.cast["bfloat16->float32"] == 2 * (len(net.state_dict()) - 3)
    assert next(net2.parameters()).dtype == torch.float32
    assert _equal(net2, _bf16_roundtrip(net)) and _equal(ema2, _bf16_roundtrip(ema))
    assert not _equal(net2, ema2)


def test_ema_modes(tmp_path: Path) -> None:
    net, ema = _tiny(0), _tiny(1)
    path = save_consolidated(tmp_path / "model.pt", net=net, net_ema=ema, dtype=None)
    # copy_from_net (default): EMA starts from the loaded net weights; file EMA keys are reported as
    # ignored
    n2, e2 = _tiny(2), _tiny(3)
    rep = load_consolidated(path, net=n2, net_ema=e2)
    assert rep.ema_source == "net" and _equal(n2, net) and _equal(e2, net)
    assert any(k.startswith("net_ema.") for k in rep.ignored)
    # skip: the EMA module is untouched
    n3, e3 = _tiny(2), _tiny(3)
    load_consolidated(path, net=n3, net_ema=e3, ema="skip")
    assert _equal(n3, net) and _equal(e3, _tiny(3))
    # load: from the file's net_ema.* keys, exactly (fp32 file)
    n4, e4 = _tiny(2), _tiny(3)
    assert load_consolidated(path, net=n4, net_ema=e4, ema="load").cast == {}
    assert _equal(n4, net) and _equal(e4, ema)
    with pytest.raises(ValueError, match="ema="):
        load_consolidated(path, net=n4, ema="average")


def test_ema_only_file(tmp_path: Path) -> None:
    """model_ema_bf16.pt: the EMA weights renamed to net.*; load='copy_from_net' fills both
    modules."""
    ema = _tiny(5)
    path = save_consolidated(tmp_path / "model_ema_bf16.pt", net=ema)
    assert all(k.startswith("net.") for k in torch.load(path, weights_only=True))
    net2, ema2 = _tiny(0), _tiny(1)
    rep = load_consolidated(path, net=net2, net_ema=ema2)
    assert not rep.has_ema_keys and rep.ema_source == "net"
    assert _equal(net2, _bf16_roundtrip(ema)) and _equal(ema2, net2)
    with pytest.raises(CheckpointMismatchError, match="no `net_ema.\\*` keys"):
        load_consolidated(path, net=_tiny(0), net_ema=_tiny(1), ema="load")


def test_te_extra_state_keys_are_ignored(tmp_path: Path) -> None:
    """A file with TE 1.13 `_extra_state` entries (as in the golden te113 list) loads strictly."""
    net = _tiny(0)
    sd = {f"net.{k}": v for k, v in net.state_dict().items()}
    extra = [
        line.split("\t")[0]
        for line in (GOLDEN / "mini_net.te113_with_extra_state.tsv").read_text().splitlines()[1:]
        if "extra_state" in line
    ]
    assert len(extra) == 4 * 2 + 1
    for key in extra:  # same module names in the tiny net (2 blocks)
        sd[f"net.{key}"] = torch.empty(0)
    torch.save(sd, tmp_path / "te.pt")
    net2 = _tiny(1)
    rep = load_consolidated(tmp_path / "te.pt", net=net2)
    assert _equal(net2, net) and sorted(rep.ignored) == sorted(f"net.{k}" for k in extra)


@pytest.mark.parametrize(
    "wrapper", ["model", "state_dict", None], ids=["model_wrapper", "state_dict_wrapper", "bare"]
)
def test_wrappers_and_bare_state_dicts(tmp_path: Path, wrapper: str | None) -> None:
    net = _tiny(0)
    if wrapper is None:
        obj = net.state_dict()
    else:
        obj = {wrapper: {f"net.{k}": v for k, v in net.state_dict().items()}, "iteration": 3}
    torch.save(obj, tmp_path / "x.pt")
    net2 = _tiny(1)
    rep = load_consolidated(tmp_path / "x.pt", net=net2)
    assert _equal(net2, net) and rep.layout == ("bare" if wrapper is None else "consolidated")


def test_mismatch_error_lists_keys_and_shapes(tmp_path: Path) -> None:
    src = _tiny(
        0,
        use_crossattn_projection=True,
        crossattn_proj_in_channels=48,
        extra_per_block_abs_pos_emb=True,
    )
    path = save_consolidated(tmp_path / "model.pt", net=src)
    # k/v_proj shapes differ; no projection, no extra pos-emb
    dst = presets.tiny(crossattn_emb_channels=16)
    with pytest.raises(CheckpointMismatchError) as err:
        load_consolidated(path, net=dst)
    msg = str(err.value)
    assert isinstance(err.value, ValueError)
    assert (
        "unexpected keys (5;" in msg
        and "net.crossattn_proj.0.weight" in msg
        and "net.extra_pos_embedder.pos_emb_h" in msg
    )
    assert (
        "shape mismatches (4)" in msg
        and "net.blocks.0.cross_attn.k_proj.weight: file [64, 32] vs model [64, 16]" in msg
    )
    assert "strict=False" in msg and "preset" in msg
    # strict=False loads the rest and reports the differences
    before = dst.state_dict()["blocks.0.cross_attn.k_proj.weight"].clone()
    rep = load_consolidated(path, net=dst, strict=False)
    assert len(rep.unexpected) == 5 and len(rep.shape_mismatch) == 4 and rep.missing == []
    assert torch.equal(dst.state_dict()["blocks.0.cross_attn.k_proj.weight"], before)
    torch.testing.assert_close(
        dst.blocks[0].mlp.layer1.weight, src.blocks[0].mlp.layer1.weight.bfloat16().float()
    )


def test_missing_keys_are_listed_with_counts(tmp_path: Path) -> None:
    src = presets.tiny(num_blocks=1)
    path = save_consolidated(tmp_path / "model.pt", net=src)
    with pytest.raises(
        CheckpointMismatchError, match=r"missing keys \(20;"
    ) as err:  # one block = 20 tensors
        load_consolidated(path, net=presets.tiny())
    msg = str(err.value)
    assert (
        "net.blocks.1.self_attn.q_proj.weight" in msg
        and "more" not in msg
        and "unexpected" not in msg
    )


def test_long_diffs_are_truncated(tmp_path: Path) -> None:
    torch.save({f"net.bogus_{i}": torch.zeros(1) for i in range(30)}, tmp_path / "b.pt")
    with pytest.raises(CheckpointMismatchError) as err:
        load_consolidated(tmp_path / "b.pt", net=presets.tiny())
    assert "unexpected keys (30;" in str(err.value) and "... and 10 more" in str(err.value)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        load_consolidated(tmp_path / "nope.pt", net=presets.tiny())
    torch.save({"net_ema.x": torch.zeros(1)}, tmp_path / "ema_only_prefixed.pt")
    with pytest.raises(CheckpointMismatchError, match="no `net.\\*` weights"):
        load_consolidated(tmp_path / "ema_only_prefixed.pt", net=presets.tiny())
    torch.save({"a": 1}, tmp_path / "odd.pt")
    with pytest.raises(ValueError, match="not a consolidated"):
        load_consolidated(tmp_path / "odd.pt", net=presets.tiny())


def test_load_into_meta_net_materialises(tmp_path: Path) -> None:
    net = _tiny(0)
    path = save_consolidated(tmp_path / "model.pt", net=net, dtype=None)
    with torch.device("meta"):
        meta = presets.tiny()
    load_consolidated(path, net=meta)
    assert not any(t.is_meta for t in meta.state_dict().values())
    assert _equal(meta, net)


def test_load_into_fsdp2_sharded_net(tmp_path: Path) -> None:
    """A one-rank gloo FSDP2 net (DTensor params) loads a consolidated file like a plain one."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    if dist.is_initialized():
        pytest.skip("a process group is already initialised in this process")
    net = _tiny(0)
    path = save_consolidated(tmp_path / "model.pt", net=net, dtype=None)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        sharded = _tiny(1)
        for block in sharded.blocks:
            fully_shard(block, mesh=init_device_mesh("cpu", (1,)))
        fully_shard(sharded, mesh=init_device_mesh("cpu", (1,)))
        load_consolidated(path, net=sharded)
        got = {
            k: (v.full_tensor() if hasattr(v, "full_tensor") else v)
            for k, v in sharded.state_dict().items()
        }
        for key, value in net.state_dict().items():
            torch.testing.assert_close(got[key], value, rtol=0, atol=0, msg=key)
    finally:
        dist.destroy_process_group()
