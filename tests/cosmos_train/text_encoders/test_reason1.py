"""Reason1 text encoder: the five exact fixture cases, Cosmos's chat and ids, strict loading."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from cosmos_train.text_encoders import (
    DEFAULT_NEGATIVE_PROMPT,
    Reason1TextEncoder,
    TextEncoder,
    WeightsLoadError,
    build_text_encoder,
    mean_normalize,
)
from tests.conftest import REASON1_FIXTURE

FIXTURE = torch.load(REASON1_FIXTURE / "cases.pt", weights_only=True)
CASES = {c["name"]: c for c in FIXTURE["cases"]}
MAX_LEN = FIXTURE["meta"]["max_len"]


def _encoder(folder: Path, **kwargs) -> Reason1TextEncoder:
    kwargs = {"max_length": MAX_LEN, "dtype": "float32", "attn_implementation": "eager", **kwargs}
    return Reason1TextEncoder(weights=str(folder), **kwargs)


@pytest.fixture(scope="module")
def encoder(tiny_reason1_dir) -> Reason1TextEncoder:
    return _encoder(tiny_reason1_dir)


@pytest.mark.parametrize("name", list(CASES))
def test_chat_text_and_ids_are_cosmos(encoder, name):
    case = CASES[name]
    assert encoder.chat_text(case["caption"]) == case["chat_text"]
    ids = encoder.tokenize([case["caption"]])
    assert torch.equal(ids[0], case["input_ids"])


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_each_case_matches_the_fixture_in_fp32(tiny_reason1_dir, encoder, name, attn):
    enc = encoder if attn == "eager" else _encoder(tiny_reason1_dir, attn_implementation=attn)
    out = enc.encode([CASES[name]["caption"]])
    assert out.shape == (1, MAX_LEN, 256) and out.dtype == torch.float32
    torch.testing.assert_close(out[0], CASES[name]["expected"], atol=1e-5, rtol=1e-5)


def test_batch_matches_the_fixture(encoder):
    out = encoder.encode([c["caption"] for c in FIXTURE["cases"]])
    torch.testing.assert_close(out, FIXTURE["batch"]["expected"], atol=1e-5, rtol=1e-5)


def test_fixture_negative_prompt_is_cosmos_default():
    assert CASES["negative_prompt"]["caption"] == DEFAULT_NEGATIVE_PROMPT


@pytest.mark.parametrize(
    "mistake",
    [
        "population_std_(correction=0)",
        "keep_embedding_layer_drop_last_(hidden_states[:-1])",
        "layers_in_reverse_order",
    ],
)
def test_common_mistakes_land_where_checks_json_says(encoder, mistake):
    """The 1e-5 tolerance catches them; from our decoder's states, as checks.json says."""
    with torch.no_grad():
        hs = encoder.model(
            input_ids=FIXTURE["batch"]["input_ids"], output_hidden_states=True
        ).hidden_states
    if mistake.startswith("population_std"):
        parts = [
            (h - h.mean(-1, keepdim=True)) / (h.std(-1, keepdim=True, correction=0) + 1e-8)
            for h in hs[1:]
        ]
    elif mistake.startswith("keep_embedding"):
        parts = [mean_normalize(h) for h in hs[:-1]]
    else:
        parts = [mean_normalize(h) for h in hs[1:]][::-1]
    diff = (torch.cat(parts, dim=-1) - FIXTURE["batch"]["expected"]).abs().max().item()
    expected = json.loads((REASON1_FIXTURE / "checks.json").read_text())[mistake]
    assert diff == pytest.approx(expected, rel=1e-3) and diff > 1e-5


def test_bf16_is_close_to_fp32(tiny_reason1_dir):
    out = _encoder(tiny_reason1_dir, dtype="bfloat16").encode([CASES["short"]["caption"]])
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out[0].float(), CASES["short"]["expected"], atol=0.1, rtol=0)


def test_cache_reuses_and_bounds(tiny_reason1_dir):
    enc = _encoder(tiny_reason1_dir, cache_size=2)
    a, b, c = (CASES[n]["caption"] for n in ("short", "exact_fit", "empty"))
    first = enc.encode([a, a, b])
    assert torch.equal(first[0], first[1]) and len(enc._cache) == 2
    again = enc.encode([b, c, a])
    torch.testing.assert_close(again[2], first[0], atol=0, rtol=0)
    assert len(enc._cache) == 2


def test_protocol_and_builder(tiny_reason1_dir):
    from lazycfg import L

    node = L(Reason1TextEncoder)(
        weights=str(tiny_reason1_dir), max_length=MAX_LEN, dtype="bfloat16"
    )
    enc = build_text_encoder(node, device="cpu", dtype="float32")
    assert isinstance(enc, TextEncoder) and enc.dtype == torch.float32
    assert (enc.max_length, enc.embed_dim, enc.semantic) == (MAX_LEN, 256, True)
    assert build_text_encoder(None) is None


def _rewrite_weights(src: Path, dst: Path, edit) -> Path:
    shutil.copytree(src, dst)
    sd = load_file(str(dst / "model.safetensors"))
    sd = edit(dict(sd))
    (dst / "model.safetensors").unlink()
    save_file(sd, str(dst / "model.safetensors"))
    return dst


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda sd: {k: v for k, v in sd.items() if k != "model.layers.1.self_attn.q_proj.bias"},
            r"missing keys \(1\): layers\.1\.self_attn\.q_proj\.bias",
        ),
        (
            lambda sd: {**sd, "model.layers.0.mlp.extra.weight": torch.zeros(2)},
            r"unexpected keys \(1\): model\.layers\.0\.mlp\.extra\.weight",
        ),
        (
            lambda sd: {**sd, "model.norm.weight": torch.zeros(3)},
            r"model\.norm\.weight: \(3,\) != \(64,\)",
        ),
        (
            lambda sd: {k.replace("model.layers.3.", "model.layer.3."): v for k, v in sd.items()},
            r"missing keys \(\d+\): layers\.3\..*unexpected keys \(\d+\): model\.layer\.3\.",
        ),
    ],
    ids=["missing", "unexpected", "bad_shape", "misnamed"],
)
def test_loading_is_strict(tiny_reason1_dir, tmp_path, edit, message):
    folder = _rewrite_weights(tiny_reason1_dir, tmp_path / "bad", edit)
    with pytest.raises(WeightsLoadError, match=f"(?s){message}"):
        _encoder(folder)


def test_transformers5_names_and_unused_parts_load_the_same(tiny_reason1_dir, tmp_path):
    """``model.language_model.*`` keys (transformers 5) load; vision, lm_head skipped."""

    def edit(sd):
        out = {k.replace("model.", "model.language_model.", 1): v for k, v in sd.items()}
        out["lm_head.weight"] = torch.zeros(1000, 64)
        out["visual.blocks.0.attn.qkv.weight"] = torch.zeros(4, 4)
        return out

    folder = _rewrite_weights(tiny_reason1_dir, tmp_path / "hf5", edit)
    out = _encoder(folder).encode([CASES["short"]["caption"]])
    torch.testing.assert_close(out[0], CASES["short"]["expected"], atol=1e-5, rtol=1e-5)


def test_full_vl_config_json_loads(tiny_reason1_dir, tmp_path):
    """The real folder's config.json is a whole Qwen2.5-VL config (4.x layout)."""
    folder = tmp_path / "vl"
    shutil.copytree(tiny_reason1_dir, folder)
    tiny = json.loads((REASON1_FIXTURE / "tiny_config.json").read_text())
    vl = {
        "architectures": ["Qwen2_5_VLForConditionalGeneration"],
        "model_type": "qwen2_5_vl",
        **{
            k: tiny[k]
            for k in (
                "hidden_size",
                "intermediate_size",
                "num_hidden_layers",
                "num_attention_heads",
                "num_key_value_heads",
                "rms_norm_eps",
                "vocab_size",
                "max_position_embeddings",
            )
        },
        "rope_theta": 1e6,
        "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
        "tie_word_embeddings": False,
        "use_cache": True,
        "vision_config": {
            "hidden_size": 32,
            "out_hidden_size": 64,
            "depth": 1,
            "intermediate_size": 64,
            "num_heads": 2,
            "fullatt_block_indexes": [0],
        },
    }
    (folder / "config.json").write_text(json.dumps(vl))
    out = _encoder(folder).encode([CASES["exact_fit"]["caption"]])
    torch.testing.assert_close(out[0], CASES["exact_fit"]["expected"], atol=1e-5, rtol=1e-5)


def test_random_weights_need_allow_random():
    with pytest.raises(
        WeightsLoadError, match=r"model\.config\.text_encoder\.weights.*allow_random=True"
    ):
        Reason1TextEncoder(weights=None)


def test_real_size_gives_cosmos_shape_on_meta():
    """Reason1's real size (28 x 3584) gives [B, 512, 100352]; built and run on the meta device."""
    enc = Reason1TextEncoder(weights=None, allow_random=True, device="meta", dtype="bfloat16")
    assert (enc.num_layers, enc.hidden_size, enc.embed_dim, enc.max_length) == (
        28,
        3584,
        100352,
        512,
    )
    out = enc.encode_ids(torch.zeros(2, 512, dtype=torch.int64, device="meta"))
    assert out.shape == (2, 512, 100352) and out.dtype == torch.bfloat16


def test_missing_tokenizer_files_are_named(tiny_reason1_dir, tmp_path):
    folder = tmp_path / "no_tok"
    shutil.copytree(tiny_reason1_dir, folder)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(
        WeightsLoadError, match=r"tokenizer\.json.*model\.config\.text_encoder\.tokenizer"
    ):
        _encoder(folder)
