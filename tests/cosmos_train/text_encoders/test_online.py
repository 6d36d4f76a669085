"""Online text encoding in the model: captions in, embeddings in the step, encoder frozen."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import lazycfg

TINY = str(Path(__file__).resolve().parents[3] / "experiments" / "tiny_cpu.py")


@pytest.fixture(scope="module")
def model_and_batch():
    cfg = lazycfg.load(
        TINY,
        [
            "text_encoder=hash",
            "model.config.text_encoder.max_length=8",
            "model.config.text_encoder.embed_dim=32",
            "model.config.text_encoder.allow_random=true",
        ],
    )
    model = lazycfg.instantiate(cfg.model, device="cpu", seed=0)
    batch = next(iter(lazycfg.instantiate(cfg.dataloader_train)))
    return model, batch


def test_encoder_is_frozen_and_outside_the_state_dict(model_and_batch):
    model, _ = model_and_batch
    assert model.text_encoder is not None and model.text_encoder.semantic is False
    assert all(k.startswith(("net.", "net_ema.")) for k in model.state_dict())
    assert not any("text_encoder" in n for n, _ in model.named_parameters())


def test_step_uses_the_captions(model_and_batch):
    model, batch = model_and_batch
    captions_only = {
        k: v for k, v in batch.items() if k not in ("t5_text_embeddings", "t5_text_mask")
    }
    out, loss = model.training_step(captions_only, iteration=1)
    assert torch.isfinite(loss)
    expected = model.text_encoder.encode(list(batch["ai_caption"]))
    assert expected.shape == (len(batch["ai_caption"]), 8, 32)
    assert torch.equal(model._with_text_embeddings(captions_only)["t5_text_embeddings"], expected)


def test_missing_captions_are_a_clear_error(model_and_batch):
    model, batch = model_and_batch
    no_text = {k: v for k, v in batch.items() if k not in ("ai_caption", "t5_text_embeddings")}
    with pytest.raises(KeyError, match=r"model\.config\.input_caption_key"):
        model.training_step(no_text, iteration=1)


def test_embeddings_without_captions_pass_through(model_and_batch):
    """A batch already encoded (tools/generate.py encodes the prompt once) is used as it is."""
    model, batch = model_and_batch
    encoded = {k: v for k, v in batch.items() if k != "ai_caption"}
    assert model._with_text_embeddings(encoded) is encoded


def test_negative_prompt_text_is_encoded_for_sampling(model_and_batch):
    model, batch = model_and_batch
    b = len(batch["ai_caption"])
    out = model._with_text_embeddings({**batch, "neg_ai_caption": ["ugly, static"] * b})
    assert torch.equal(
        out["neg_t5_text_embeddings"], model.text_encoder.encode(["ugly, static"] * b)
    )
