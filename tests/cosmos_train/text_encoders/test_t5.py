"""T5 text encoder (Cosmos-Predict2's algorithm) on a tiny random T5 in a Hugging Face folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import lazycfg
from cosmos_train.checkpoint.pretrained import random_parts
from cosmos_train.text_encoders import T5TextEncoder, WeightsLoadError, build_text_encoder

WORDS = "a red car drives two words the video of sks teal robot".split()


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory) -> Path:
    """A T5 encoder folder: 2 layers x 32, a word-level tokenizer appending ``</s>`` like T5's."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    folder = tmp_path_factory.mktemp("tiny_t5")
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", 1)]
    )
    PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    ).save_pretrained(str(folder))
    torch.manual_seed(0)
    config = T5Config(vocab_size=len(vocab), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4)
    T5EncoderModel(config).save_pretrained(str(folder))
    return folder


def test_states_are_zero_past_each_caption(tiny_t5):
    from transformers import T5EncoderModel

    enc = T5TextEncoder(weights=str(tiny_t5), max_length=8, dtype="float32")
    out = enc.encode(["a red car", "two words"])
    assert out.shape == (2, 8, 32) and enc.embed_dim == 32
    # 3 words + </s> and 2 words + </s> are real; the rest is exactly zero (Cosmos zeroes it).
    assert (out[0, :4].abs().sum(-1) > 0).all() and out[0, 4:].abs().max() == 0
    assert (out[1, :3].abs().sum(-1) > 0).all() and out[1, 3:].abs().max() == 0
    # The real rows are the encoder's states under the padding mask.
    ref = T5EncoderModel.from_pretrained(str(tiny_t5)).eval()
    ids = torch.tensor([[3, 4, 5, 1, 0, 0, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        expected = ref(input_ids=ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(out[0, :4], expected[0, :4])


def test_real_rows_do_not_depend_on_the_padded_length(tiny_t5):
    short = T5TextEncoder(weights=str(tiny_t5), max_length=8, dtype="float32").encode(["a red car"])
    long = T5TextEncoder(weights=str(tiny_t5), max_length=16, dtype="float32").encode(["a red car"])
    torch.testing.assert_close(short[0, :4], long[0, :4], atol=1e-5, rtol=1e-5)


def test_missing_weights_are_an_error(tiny_t5, tmp_path):
    folder = tmp_path / "bad"
    shutil.copytree(tiny_t5, folder)
    sd = load_file(str(folder / "model.safetensors"))
    key = next(k for k in sd if "block.1.layer.0.SelfAttention.q" in k)
    del sd[key]
    (folder / "model.safetensors").unlink()
    save_file(sd, str(folder / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(WeightsLoadError, match=r"missing keys \(1\): .*SelfAttention\.q"):
        T5TextEncoder(weights=str(folder), max_length=8, dtype="float32")


def test_config_option_builds_it_and_the_never_random_check_knows_it(tiny_t5):
    tiny = str(Path(__file__).resolve().parents[3] / "experiments" / "tiny_cpu.py")
    cfg = lazycfg.load(
        tiny,
        [
            "text_encoder=t5",
            f"model.config.text_encoder.weights={tiny_t5}",
            "model.config.text_encoder.max_length=8",
        ],
    )
    enc = build_text_encoder(cfg, device="cpu", dtype="float32")
    assert isinstance(enc, T5TextEncoder) and enc.encode(["a red car"]).shape == (1, 8, 32)
    unset = lazycfg.load(tiny, ["text_encoder=t5", "model.config.text_encoder.weights=''"])
    ((key, advice, allowed),) = random_parts(unset)
    assert key == "model.config.text_encoder.weights" and "google-t5/t5-11b" in advice
    assert allowed is False


def test_compute_text_embeddings_t5_writes_trimmed_states(tiny_t5, tmp_path):
    """tools/compute_text_embeddings.py --encoder t5 runs this encoder and keeps the real rows."""
    import importlib.util

    tool_path = Path(__file__).resolve().parents[3] / "tools" / "compute_text_embeddings.py"
    spec = importlib.util.spec_from_file_location("compute_text_embeddings_t5", tool_path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    (tmp_path / "metas").mkdir()
    (tmp_path / "metas" / "x.txt").write_text("a red car\n")
    argv = [
        "--dataset-dir",
        str(tmp_path),
        "--encoder",
        "t5",
        "--checkpoint",
        str(tiny_t5),
        "--text-len",
        "8",
        "--dtype",
        "float32",
    ]
    assert tool.main(argv) == 0
    saved = torch.load(tmp_path / "t5_xxl" / "x.pt", weights_only=True)
    direct = T5TextEncoder(weights=str(tiny_t5), max_length=8, dtype="float32").encode(
        ["a red car"]
    )
    assert saved["embeddings"].shape == (4, 32)
    torch.testing.assert_close(saved["embeddings"], direct[0, :4])
