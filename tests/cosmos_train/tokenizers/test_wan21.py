"""Wan2.1 VAE: golden key list, forward parity with the reference, chunking, tokenizer wrapper."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cosmos_train.tokenizers import VideoTokenizer
from cosmos_train.tokenizers.wan21 import (
    WAN21_LATENT_MEAN,
    WAN21_LATENT_STD,
    WAN21_VAE_KWARGS,
    Wan21VAE,
    WanVAEModel,
)

FIXTURES = Path(__file__).parent / "fixtures"
TINY = dict(dim=4, z_dim=16)  # the fixture's architecture: released layout, width 96 -> 4


@pytest.fixture(scope="module")
def parity() -> dict:
    """Reference outputs of ``WanVAE_`` (Cosmos-Predict2.5 @50369b8, dim=4, fp32, CPU)."""
    return torch.load(FIXTURES / "parity_tiny.pt", weights_only=True)


@pytest.fixture(scope="module")
def tiny_model(parity: dict) -> WanVAEModel:
    model = WanVAEModel(**parity["kwargs"])
    model.load_state_dict(parity["state_dict"], strict=True)
    return model.eval()


def _scale(parity: dict) -> list[torch.Tensor]:
    return [parity["inputs"]["scale_mean"], 1.0 / parity["inputs"]["scale_std"]]


def _golden_tsv() -> tuple[str, list[tuple[str, tuple[int, ...]]]]:
    lines = (FIXTURES / "wan21_vae.tsv").read_text().splitlines()
    rows = [line.split("\t") for line in lines[1:] if line.strip()]
    return lines[0], [(key, tuple(int(s) for s in shape.split(","))) for key, shape, *_ in rows]


def test_state_dict_matches_golden_tsv_on_meta() -> None:
    header, golden = _golden_tsv()
    assert "126892531 params" in header
    with torch.device("meta"):
        model = WanVAEModel(**WAN21_VAE_KWARGS)
    got = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert got == golden  # same keys, same order, same shapes
    assert sum(p.numel() for p in model.parameters()) == 126_892_531
    assert sum(p.numel() for p in model.encoder.parameters()) == 53_595_872
    assert sum(p.numel() for p in model.decoder.parameters()) == 73_295_331
    assert len(list(model.buffers())) == 0


def test_tokenizer_on_meta_counts_and_factors() -> None:
    tok = Wan21VAE(device="meta")
    assert isinstance(tok, VideoTokenizer)
    assert sum(p.numel() for p in tok.parameters()) == 126_892_531
    assert (tok.latent_ch, tok.spatial_compression_factor, tok.temporal_compression_factor) == (
        16,
        8,
        4,
    )
    assert tok.get_latent_num_frames(93) == 24 and tok.get_pixel_num_frames(24) == 93
    assert tok.model.encoder.conv1.weight.dtype == torch.bfloat16
    assert not any(p.requires_grad for p in tok.parameters())


@pytest.mark.parametrize(
    "name, call, tol",
    [
        ("encode_mu_5f", ("encode", "video_5f"), 1e-5),
        ("encode_mu_9f", ("encode", "video_9f"), 1e-5),
        ("decode_5f", ("decode", "z_2f"), 5e-5),
        ("decode_9f", ("decode", "z_3f"), 5e-5),
    ],
    ids=["encode-5f", "encode-9f", "decode-2lat", "decode-3lat"],
)
def test_forward_parity_with_reference(
    parity: dict, tiny_model: WanVAEModel, name: str, call: tuple[str, str], tol: float
) -> None:
    method, key = call
    with torch.no_grad():
        out = getattr(tiny_model, method)(parity["inputs"][key], _scale(parity))
    ref = parity["outputs"][name]
    assert out.shape == ref.shape
    assert float((out - ref).abs().max()) <= tol


def test_reconstruction_parity(parity: dict, tiny_model: WanVAEModel) -> None:
    with torch.no_grad():
        recon = tiny_model.decode(
            tiny_model.encode(parity["inputs"]["video_5f"], _scale(parity)), _scale(parity)
        )
    assert float((recon - parity["outputs"]["recon_5f"]).abs().max()) <= 5e-5


@pytest.mark.parametrize(
    "temporal_window, decode_window",
    [(4, 1), (8, 2), (16, 3)],
    ids=["enc4-dec1", "enc8-dec2", "enc16-dec3"],
)
def test_chunk_sizes_only_change_round_off(
    parity: dict, tiny_model: WanVAEModel, temporal_window: int, decode_window: int
) -> None:
    # 17 f
    video = torch.cat([parity["inputs"]["video_9f"], parity["inputs"]["video_9f"][:, :, 1:]], dim=2)
    scale = _scale(parity)
    with torch.no_grad():
        tiny_model.set_windows(temporal_window=16, decode_window=1)
        ref_z = tiny_model.encode(video, scale)
        ref_x = tiny_model.decode(ref_z, scale)
        tiny_model.set_windows(temporal_window=temporal_window, decode_window=decode_window)
        try:
            z = tiny_model.encode(video, scale)
            x = tiny_model.decode(ref_z, scale)
        finally:
            tiny_model.set_windows(temporal_window=16, decode_window=1)
    assert z.shape == (1, 16, 5, 4, 4) and x.shape == (1, 3, 17, 32, 32)
    torch.testing.assert_close(z, ref_z, atol=1e-5, rtol=0)
    torch.testing.assert_close(x, ref_x, atol=5e-5, rtol=0)


def test_encoding_is_causal(parity: dict, tiny_model: WanVAEModel) -> None:
    """Changing later frames never changes earlier latents."""
    video = parity["inputs"]["video_9f"]
    changed = video.clone()
    changed[:, :, 5:] = -changed[:, :, 5:]
    with torch.no_grad():
        a, b = (tiny_model.encode(v, _scale(parity)) for v in (video, changed))
    torch.testing.assert_close(a[:, :, :2], b[:, :, :2], atol=0, rtol=0)
    assert not torch.allclose(a[:, :, 2], b[:, :, 2])


def test_latent_normalisation_constants_match_reference() -> None:
    ref = json.loads((FIXTURES / "wan21_latent_norm.json").read_text())
    assert list(WAN21_LATENT_MEAN) == ref["mean"] and list(WAN21_LATENT_STD) == ref["std"]
    tok = Wan21VAE(**TINY)  # bf16 by default, as Cosmos runs it
    assert tok.latent_mean.tolist() == ref["mean_bf16"]
    assert tok.latent_inv_std.tolist() == ref["inv_std_bf16"]


@pytest.fixture()
def tiny_ckpt(tmp_path: Path, parity: dict) -> Path:
    path = tmp_path / "Wan2.1_VAE_tiny.pth"
    torch.save(parity["state_dict"], path)
    return path


def test_tokenizer_loads_local_weights(parity: dict, tiny_ckpt: Path) -> None:
    tok = Wan21VAE(
        ckpt_path=str(tiny_ckpt),
        dtype="float32",
        latent_mean=parity["inputs"]["scale_mean"].tolist(),
        latent_std=parity["inputs"]["scale_std"].tolist(),
        **TINY,
    )
    z = tok.encode(parity["inputs"]["video_5f"])
    assert z.dtype == torch.float32
    torch.testing.assert_close(z, parity["outputs"]["encode_mu_5f"], atol=1e-5, rtol=0)
    video = tok.decode(parity["inputs"]["z_2f"])
    torch.testing.assert_close(
        video, parity["outputs"]["decode_5f"].clamp(-1, 1), atol=5e-5, rtol=0
    )


def test_tokenizer_bf16_close_to_fp32(parity: dict, tiny_ckpt: Path) -> None:
    fp32 = Wan21VAE(ckpt_path=str(tiny_ckpt), dtype="float32", **TINY)
    bf16 = Wan21VAE(ckpt_path=str(tiny_ckpt), **TINY)
    video = parity["inputs"]["video_9f"]
    a, b = fp32.encode(video), bf16.encode(video)
    assert b.dtype == torch.float32 and b.shape == a.shape == (1, 16, 3, 4, 4)
    assert float((a - b).abs().max()) < 0.05 * float(a.abs().max())
    assert bf16.decode(b).shape == video.shape


@pytest.mark.parametrize("frames", [1, 5], ids=["T1", "T5"])
def test_random_init_tokenizer_shapes(frames: int) -> None:
    tok = Wan21VAE(dtype="float32", **TINY)
    video = torch.rand(1, 3, frames, 16, 24) * 2 - 1
    z = tok.encode(video)
    assert z.shape == (1, 16, 1 + (frames - 1) // 4, 2, 3) and torch.isfinite(z).all()
    out = tok.decode(z)
    assert out.shape == video.shape and out.abs().max() <= 1


def test_missing_weights_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError,
        match="model.config.tokenizer.ckpt_path=.*neither an existing file.*Wan2.1/vae",
    ):
        Wan21VAE(ckpt_path=str(tmp_path / "Wan2.1_VAE.pth"), **TINY)


def test_wrong_weights_file_gives_readable_diff(tmp_path: Path, parity: dict) -> None:
    sd = dict(parity["state_dict"])
    sd["encoder.extra.weight"] = torch.zeros(1)
    del sd["conv2.bias"]
    sd["conv1.weight"] = torch.zeros(1, 2, 1, 1, 1)
    path = tmp_path / "bad.pth"
    torch.save({"state_dict": sd}, path)
    with pytest.raises(ValueError) as err:
        Wan21VAE(ckpt_path=str(path), **TINY)
    msg = str(err.value)
    assert "missing (1): conv2.bias" in msg
    assert "unexpected (1): encoder.extra.weight" in msg
    assert "conv1.weight: file (1, 2, 1, 1, 1) vs model (32, 32, 1, 1, 1)" in msg
    # The released (dim=96) architecture does not accept the tiny file either.
    torch.save(parity["state_dict"], path)
    with pytest.raises(ValueError, match="shape mismatch"):
        Wan21VAE(ckpt_path=str(path), device="meta")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"temporal_window": 6}, "multiple of 4"),
        ({"dtype": "int8"}, r"dtype=.int8. is not a known dtype; use one of"),
        ({"z_dim": 8}, "z_dim=8 values"),
        ({"temperal_downsample": (True,)}, "needs 3 entries"),
    ],
    ids=["window", "dtype", "z_dim-constants", "downsample-list"],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Wan21VAE(**{**TINY, **kwargs})


def test_encode_rejects_bad_frame_count() -> None:
    with pytest.raises(ValueError, match="1 \\+ 4\\*k pixel frames, got 4"):
        Wan21VAE(dtype="float32", **TINY).encode(torch.zeros(1, 3, 4, 16, 16))


def test_unreadable_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "Wan2.1_VAE.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="could not read .* as a PyTorch state_dict"):
        Wan21VAE(ckpt_path=str(path), **TINY)
