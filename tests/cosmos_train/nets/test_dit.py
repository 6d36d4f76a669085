"""Forward parity of MiniTrainDiT with the Cosmos reference fixtures, plus input handling."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from cosmos_train.nets import MiniTrainDiT, presets
from cosmos_train.nets.layers import rope_cos_sin

from ._fixtures import FIXTURES, checks, fixture

TOL = 1e-5


def _net(name: str, **overrides) -> MiniTrainDiT:
    fx = fixture(name)
    net = MiniTrainDiT(**{**fx["kwargs"], **overrides})
    net.load_state_dict(fx["state_dict"])
    return net.eval()


def _forward(net: MiniTrainDiT, name: str, **input_overrides) -> torch.Tensor:
    inputs = {**fixture(name)["inputs"], **input_overrides}
    with torch.no_grad():
        return net(**inputs)


@pytest.mark.parametrize("name", FIXTURES)
def test_forward_matches_reference(name: str) -> None:
    fx = fixture(name)
    net = _net(name)
    assert list(net.state_dict()) == list(fx["state_dict"])
    out = _forward(net, name)
    assert out.shape == fx["output"].shape
    torch.testing.assert_close(out, fx["output"], rtol=0, atol=TOL)
    # meaningfulness: the stored output is far from trivial
    assert fx["output"].std() > 0.5


@pytest.mark.parametrize("name", FIXTURES)
def test_intermediates_match_reference(name: str) -> None:
    fx = fixture(name)
    inter = fx["intermediates"]
    inputs = fx["inputs"]
    net = _net(name)
    taps: dict[str, torch.Tensor] = {}
    hooks = [
        net.x_embedder.register_forward_hook(lambda m, a, o: taps.__setitem__("x_embedder", o)),
        net.final_layer.register_forward_hook(lambda m, a, o: taps.__setitem__("final_layer", o)),
    ]
    for i, block in enumerate(net.blocks):
        hooks.append(
            block.register_forward_hook(lambda m, a, o, i=i: taps.__setitem__(f"blocks.{i}", o))
        )
    if net.use_crossattn_projection:
        hooks.append(
            net.crossattn_proj.register_forward_hook(
                lambda m, a, o: taps.__setitem__("crossattn_proj", o)
            )
        )
    with torch.no_grad():
        net(**inputs)
        x = taps["x_embedder"]
        _, T, H, W, _ = x.shape
        taps["pos_embedder"] = net.pos_embedder(x, fps=inputs["fps"])
        if net.extra_per_block_abs_pos_emb:
            taps["extra_pos_embedder"] = net.extra_pos_embedder(x).expand_as(x)
        ts = inputs["timesteps_B_T"] * net.timestep_scale
        taps["t_embedder.out0"], taps["t_embedder.out1"] = net.t_embedder(ts)
        taps["t_embedding_norm"], _ = net._embed_timesteps(inputs["timesteps_B_T"])
    for h in hooks:
        h.remove()
    assert set(inter) <= set(taps)
    for key, ref in inter.items():
        torch.testing.assert_close(
            taps[key], ref, rtol=0, atol=TOL, msg=lambda m, key=key: f"{key}: {m}"
        )


def _feature_variants(name: str):
    """(check name in checks.json, net overrides, input overrides, post-build mutation)."""
    fx = fixture(name)
    kw, inputs = fx["kwargs"], fx["inputs"]
    pm = inputs["padding_mask"]
    hw = inputs["x_B_C_T_H_W"].shape[-2:]
    h_ratio = kw["rope_h_extrapolation_ratio"]
    t_ratio = kw["rope_t_extrapolation_ratio"]
    yield "fps_16_to_24", {}, {"fps": torch.full_like(inputs["fps"], 24.0)}, None
    yield "padding_mask_zeroed", {}, {"padding_mask": torch.zeros_like(pm)}, None
    yield (
        "padding_mask_nearest_exact_instead_of_nearest",
        {},
        {"padding_mask": F.interpolate(pm, size=tuple(hw), mode="nearest-exact")},
        None,
    )
    yield (
        "condition_mask_zeroed",
        {},
        {
            "condition_video_input_mask_B_C_T_H_W": torch.zeros_like(
                inputs["condition_video_input_mask_B_C_T_H_W"]
            )
        },
        None,
    )
    yield "timesteps_plus_1pct", {}, {"timesteps_B_T": inputs["timesteps_B_T"] * 1.01}, None
    flipped = 3.0 if h_ratio == 1.0 else 1.0
    yield (
        "rope_h_w_ratio_flipped(1<->3)",
        {
            "rope_h_extrapolation_ratio": flipped,
            "rope_w_extrapolation_ratio": flipped,
        },
        {},
        None,
    )
    yield (
        "rope_t_ratio_changed(x2 or /2)",
        {"rope_t_extrapolation_ratio": t_ratio * 2 if t_ratio == 1.0 else t_ratio / 2},
        {},
        None,
    )
    yield (
        "rope_enable_fps_modulation_flipped",
        {"rope_enable_fps_modulation": not kw.get("rope_enable_fps_modulation", True)},
        {},
        None,
    )
    yield (
        "use_wan_fp32_strategy_flipped (no-op in fp32 on CPU)",
        {"use_wan_fp32_strategy": not kw.get("use_wan_fp32_strategy", False)},
        {},
        None,
    )

    def drop_hw_exponent(net: MiniTrainDiT) -> None:
        net.pos_embedder.h_ntk_factor = kw["rope_h_extrapolation_ratio"]
        net.pos_embedder.w_ntk_factor = kw["rope_w_extrapolation_ratio"]

    def drop_t_exponent(net: MiniTrainDiT) -> None:
        net.pos_embedder.t_ntk_factor = kw["rope_t_extrapolation_ratio"]

    yield "rope_ntk_exponent_missing", {}, {}, drop_hw_exponent
    yield "rope_t_ntk_exponent_missing", {}, {}, drop_t_exponent


@pytest.mark.parametrize("name", FIXTURES)
def test_feature_switches_move_output_like_reference(name: str) -> None:
    """Each switch in checks.json moves our output by the amount it moved the reference's."""
    recorded = checks()[name]["feature_checks_maxabsdiff"]
    base = _forward(_net(name), name)
    compared = 0
    for check, net_kw, input_kw, mutate in _feature_variants(name):
        if check not in recorded:
            continue
        net = _net(name, **net_kw)
        if mutate is not None:
            mutate(net)
        diff = (_forward(net, name, **input_kw) - base).abs().max().item()
        assert diff == pytest.approx(recorded[check], abs=2e-5, rel=1e-3), check
        compared += 1
    assert compared >= 9


@pytest.mark.parametrize("name", FIXTURES)
def test_every_tensor_and_block_matters(name: str) -> None:
    """Perturbing any floating state_dict tensor (1e-3 x mean|v|) changes the output
    (checks.json)."""
    fx = fixture(name)
    sd = fx["state_dict"]
    net = _net(name)
    base = _forward(net, name)
    smallest = float("inf")
    g = torch.Generator().manual_seed(0)
    for key, value in sd.items():
        if not value.is_floating_point() or value.ndim == 0:
            continue  # the scalar training counters do not enter the forward
        # Random signs: a uniform shift of the RoPE positions would be invisible (RoPE is relative).
        delta = 1e-3 * value.abs().mean().clamp_min(1e-3) * torch.randn(value.shape, generator=g)
        net.load_state_dict({**sd, key: value + delta})
        smallest = min(smallest, (_forward(net, name) - base).abs().max().item())
    assert smallest > 1e-5  # far above fp32 noise (~1e-6); no tensor is ignored
    for i in range(len(net.blocks)):
        pert = {k: (v * 1.001 if k.startswith(f"blocks.{i}.") else v) for k, v in sd.items()}
        net.load_state_dict(pert)
        assert (_forward(net, name) - base).abs().max().item() > 1e-3


def test_reload_is_bit_exact_and_rope_cache_follows_buffers() -> None:
    name = "tiny_cosmos_v1_7B"
    net = _net(name)
    out1 = _forward(net, name)
    net2 = copy.deepcopy(net)
    torch.testing.assert_close(_forward(net2, name), out1, rtol=0, atol=0)
    # Loading new RoPE buffers must invalidate the cached cos/sin tables.
    sd = dict(fixture(name)["state_dict"])
    sd["pos_embedder.dim_spatial_range"] = sd["pos_embedder.dim_spatial_range"] * 1.01
    net.load_state_dict(sd)
    assert (_forward(net, name) - out1).abs().max() > 1e-5


def test_rope_tables_cached_per_shape() -> None:
    net = presets.tiny()
    a = net._rope_tables(2, 4, 4, None)
    assert net._rope_tables(2, 4, 4, None) is a
    b = net._rope_tables(3, 4, 4, None)
    assert b[0].shape[0] == 48 and b is not a
    torch.testing.assert_close(b[0][:32], a[0])  # the first two frames are the same positions
    ref = rope_cos_sin(net.pos_embedder.angles(3, 4, 4))
    torch.testing.assert_close(b[0], ref[0], rtol=0, atol=0)


def _tiny_inputs(B: int = 2, T: int = 2, H: int = 8, W: int = 8, L: int = 5, C: int = 32) -> dict:
    g = torch.Generator().manual_seed(0)
    return dict(
        x_B_C_T_H_W=torch.randn(B, 16, T, H, W, generator=g),
        timesteps_B_T=torch.rand(B, 1, generator=g),
        crossattn_emb=torch.randn(B, L, C, generator=g),
        condition_video_input_mask_B_C_T_H_W=torch.zeros(B, 1, T, H, W),
        fps=torch.full((B,), 24.0),
        padding_mask=torch.zeros(B, 1, H * 8, W * 8),
    )


def test_optional_inputs_default_to_zeros_and_1d_timesteps() -> None:
    torch.manual_seed(0)
    net = presets.tiny().eval()
    net.init_weights()
    inputs = _tiny_inputs()
    with torch.no_grad():
        full = net(**inputs)
        bare = net(
            inputs["x_B_C_T_H_W"],
            inputs["timesteps_B_T"][:, 0],
            inputs["crossattn_emb"],
            fps=inputs["fps"],
        )
    assert full.shape == (2, 16, 2, 8, 8)
    torch.testing.assert_close(bare, full, rtol=0, atol=0)


@pytest.mark.parametrize(
    "override,match",
    [
        ({"x_B_C_T_H_W": torch.zeros(2, 15, 2, 8, 8)}, r"x_B_C_T_H_W must be \[B, 16"),
        ({"timesteps_B_T": torch.zeros(2, 3)}, "timesteps_B_T"),
        ({"crossattn_emb": torch.zeros(2, 5, 31)}, "crossattn_emb"),
        (
            {"condition_video_input_mask_B_C_T_H_W": torch.zeros(2, 2, 2, 8, 8)},
            "condition_video_input_mask",
        ),
        ({"padding_mask": torch.zeros(2, 3, 64, 64)}, "padding_mask"),
        (
            {
                "x_B_C_T_H_W": torch.zeros(2, 16, 2, 7, 8),
                "condition_video_input_mask_B_C_T_H_W": None,
            },
            "divisible",
        ),
        (
            {
                "x_B_C_T_H_W": torch.zeros(2, 16, 2, 80, 8),
                "condition_video_input_mask_B_C_T_H_W": None,
            },
            "exceeds",
        ),
    ],
    ids=["channels", "timesteps", "text_dim", "cond_mask", "padding_mask", "patch", "too_big"],
)
def test_bad_inputs_are_clear_errors(override: dict, match: str) -> None:
    net = presets.tiny().eval()
    with pytest.raises(ValueError, match=match), torch.no_grad():
        net(**{**_tiny_inputs(), **override})


def test_build_on_meta_then_materialise_and_init() -> None:
    with torch.device("meta"):
        net = presets.tiny()
    net.to_empty(device="cpu")
    net.init_weights()
    fresh = presets.tiny()
    fresh.init_weights()
    for key in (
        "pos_embedder.seq",
        "pos_embedder.dim_spatial_range",
        "pos_embedder.dim_temporal_range",
        "accum_iteration",
    ):
        torch.testing.assert_close(net.state_dict()[key], fresh.state_dict()[key], rtol=0, atol=0)
    with torch.no_grad():
        out = net(**_tiny_inputs())
    assert torch.isfinite(out).all()


def test_bf16_autocast_forward_backward() -> None:
    """bf16 autocast runs end to end; the Wan fp32 strategy keeps the modulation and residual in
    fp32."""
    torch.manual_seed(0)
    for fp32 in (False, True):
        net = presets.tiny(use_wan_fp32_strategy=fp32)
        net.init_weights()
        for p in net.parameters():  # make the zero-initialised up-projections matter
            if p.abs().sum() == 0:
                torch.nn.init.normal_(p, std=0.02)
        ref = net(**_tiny_inputs())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = net(**_tiny_inputs())
        out.float().square().mean().backward()
        assert torch.isfinite(out).all()
        assert all(p.grad is not None for p in net.parameters())
        assert (out.float() - ref).abs().max() < 0.1 * ref.abs().max()


@pytest.mark.parametrize("fp32_mod", [False, True], ids=["bf16", "bf16_fp32_modulation"])
def test_pure_bf16_net_without_autocast(fp32_mod: bool) -> None:
    """A net cast to bf16 (as Cosmos runs it) works without autocast; fp32 modulation keeps fp32
    gates."""
    name = "tiny_predict2.5_2B"
    ref = _forward(_net(name, use_wan_fp32_strategy=fp32_mod), name)
    net = _net(name, use_wan_fp32_strategy=fp32_mod).to(torch.bfloat16)
    out = _forward(net, name)
    assert out.dtype == torch.bfloat16  # the final Linear runs in the weights' dtype
    assert (out.float() - ref).abs().max() < 0.1 * ref.abs().max()
