"""Golden state_dict layout of every preset against Cosmos's key lists, built on the meta device."""

from __future__ import annotations

import pytest
import torch

from cosmos_train.nets import MiniTrainDiT, presets

from ._fixtures import GOLDEN, read_tsv


def _layout(net: torch.nn.Module) -> list[tuple[str, tuple[int, ...], str, str]]:
    params = {n for n, _ in net.named_parameters()}
    return [
        (
            k,
            tuple(v.shape),
            str(v.dtype).removeprefix("torch."),
            "param" if k in params else "buffer",
        )
        for k, v in net.state_dict(keep_vars=True).items()
    ]


def _meta(name: str, **kw) -> MiniTrainDiT:
    with torch.device("meta"):
        return presets.build_preset(name, **kw)


@pytest.mark.parametrize("golden", list(GOLDEN), ids=list(GOLDEN))
def test_state_dict_equals_golden_list(golden: str) -> None:
    total, _, rows = read_tsv(golden)
    net = _meta(GOLDEN[golden])
    assert _layout(net) == rows  # keys, order, shapes, dtypes, param-vs-buffer
    assert sum(p.numel() for p in net.parameters()) == total
    # Every buffer is persistent (all of them are in the state_dict).
    assert {n for n, _ in net.named_buffers()} == {r[0] for r in rows if r[3] == "buffer"}


@pytest.mark.parametrize("golden", list(GOLDEN), ids=list(GOLDEN))
def test_preset_kwargs_match_golden_header(golden: str) -> None:
    """The preset dicts carry the same net kwargs as the golden header (AC/attention backend
    aside)."""
    _, kwargs, _ = read_tsv(golden)
    ours = presets.preset_kwargs(GOLDEN[golden])
    for key, value in kwargs.items():
        if key in ("sac_config", "atten_backend"):
            continue  # trainer concerns here; they do not change the state_dict
        assert ours[key] == value, key


@pytest.mark.parametrize(
    "name,total",
    [
        ("cosmos_v1_2B", 1_956_413_440),
        ("predict2_5_2B", 2_059_174_912),
        ("cosmos_v1_7B", 7_236_208_640),
        ("cosmos_v1_14B", 14_265_285_632),
        ("predict2_5_14B", 14_368_047_104),
        ("mini_net", 45_344_768),
        ("tiny", 175_808),
    ],
)
def test_parameter_totals(name: str, total: int) -> None:
    net = _meta(name)
    assert sum(p.numel() for p in net.parameters()) == total
    assert getattr(presets, name)  # the function form exists too
    assert net.num_blocks == len(net.blocks)


def test_golden_header_kwargs_build_the_same_layout() -> None:
    """The header kwargs passed straight to the net (Cosmos-style, incl. sac_config) give the
    golden list."""
    _, kwargs, rows = read_tsv("predict2.5_2B_video2world")
    with torch.device("meta"):
        net = MiniTrainDiT(**kwargs)
    assert _layout(net) == rows
    assert all(b.ac_mode == "selective" for b in net.blocks)  # predict2_2b_720_aggressive


def test_function_presets_take_overrides() -> None:
    with torch.device("meta"):
        net = presets.cosmos_v1_2B(num_blocks=2)
    assert len(net.blocks) == 2 and net.model_channels == 2048


def test_unknown_preset_lists_choices() -> None:
    with pytest.raises(KeyError, match="cosmos_v1_2B"):
        presets.preset_kwargs("cosmos_v2_2B")


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(pos_emb_cls="sincos"), "rope3d"),
        (dict(atten_backend="natten"), "atten_backend"),
        (dict(num_heads=5), "divisible"),
        (dict(n_dense_blocks=2), "n_dense_blocks"),
        (dict(ac_mode="everything"), "activation-checkpointing mode"),
    ],
    ids=["pos_emb_cls", "backend", "heads", "dense_blocks", "ac_mode"],
)
def test_bad_kwargs_are_clear_errors(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match), torch.device("meta"):
        presets.tiny(**kw)


@pytest.mark.parametrize("golden", list(GOLDEN), ids=list(GOLDEN))
def test_te_extra_state_keys_sit_on_our_rmsnorms(golden: str) -> None:
    """TE 1.13 adds `<rmsnorm>._extra_state` after each RMSNorm weight: exactly our RMSNorm
    modules."""
    _, _, rows = read_tsv(golden)
    _, _, te_rows = read_tsv(golden, extra_state=True)
    assert [r for r in te_rows if r[3] != "extra_state"] == rows
    extra = [r[0] for r in te_rows if r[3] == "extra_state"]
    net = _meta(GOLDEN[golden])
    norms = [f"{n}._extra_state" for n, m in net.named_modules() if type(m).__name__ == "RMSNorm"]
    assert sorted(extra) == sorted(norms) and len(extra) == 4 * net.num_blocks + 1
    keys = [r[0] for r in te_rows]
    assert all(keys[keys.index(k) - 1] == k.replace("._extra_state", ".weight") for k in extra)


def test_preset_values_import_without_torch() -> None:
    """Config option modules read the sizes from ``preset_values``; it must not pull in torch."""
    import subprocess
    import sys

    code = (
        "import sys, cosmos_train.nets.preset_values as v; "
        "assert 'torch' not in sys.modules, 'torch imported'; print(sorted(v.PRESETS))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == str(sorted(presets.PRESETS))
