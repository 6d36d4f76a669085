"""tools/generate.py and cosmos_train.inference.load_run on a 2-step CPU-default run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import lazycfg

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def job_dir(tmp_path_factory) -> Path:
    """A trained (2 steps) CPU-default job with a checkpoint."""
    import os

    from cosmos_train.launch import launch

    out = tmp_path_factory.mktemp("out")
    old = os.environ.get("IMAGINAIRE_OUTPUT_ROOT")
    os.environ["IMAGINAIRE_OUTPUT_ROOT"] = str(out)
    try:
        cfg = lazycfg.load(str(ROOT / "experiments" / "tiny_cpu.py"),
                           ["trainer.max_iter=2", "trainer.run_validation=false", "checkpoint.save_iter=2",
                            "~trainer.callbacks.every_n_sample_reg", "~trainer.callbacks.every_n_sample_ema"])
        launch(cfg)
        return Path(cfg.job.path_local)
    finally:
        if old is None:
            del os.environ["IMAGINAIRE_OUTPUT_ROOT"]
        else:
            os.environ["IMAGINAIRE_OUTPUT_ROOT"] = old


@pytest.fixture(scope="module")
def generate_main():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import generate as tool
    finally:
        sys.path.remove(str(ROOT / "tools"))
    return tool.main


def _decode(path: Path) -> int:
    import av

    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def test_load_run_restores_config_and_trained_weights(job_dir):
    from cosmos_train.inference import load_run

    config, model = load_run(job_dir, device="cpu")
    assert config.job.name == "tiny_cpu" and config.trainer.max_iter == 2
    assert not model.training
    fresh = lazycfg.instantiate(config.model, device="cpu")
    trained = dict(model.net.named_parameters())
    assert any(not torch.equal(p, trained[n]) for n, p in fresh.net.named_parameters())
    assert model.net_ema is not None
    # A checkpoint directory works as the source too.
    _, again = load_run(job_dir / "checkpoints" / "iter_000000002", device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(again.net.parameters(), model.net.parameters()))


def test_generate_from_dataset_item_with_conditioning_frame(job_dir, generate_main, tmp_path, capsys):
    out = tmp_path / "s.mp4"
    assert generate_main([str(job_dir), "--from-dataset", "1", "--num-conditional-frames", "1", "--steps", "2",
                          "--guidance", "2", "--seed", "3", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "caption: a " in text and "EMA weights" in text
    assert _decode(out) == 17


def test_generate_from_a_text_embedding_file(job_dir, generate_main, tmp_path):
    emb = tmp_path / "prompt.pt"
    torch.save(torch.randn(8, 32), emb)
    out = tmp_path / "t2v.mp4"
    assert generate_main([str(job_dir), "--text-embedding", str(emb), "--steps", "2", "--regular", "-o", str(out)]) == 0
    assert _decode(out) == 17


def test_same_seed_same_video(job_dir):
    from cosmos_train.inference import generate, load_run, make_batch

    _, model = load_run(job_dir, device="cpu")
    batch = make_batch(text_embedding=torch.randn(8, 32), num_frames=17, height=64, width=64)
    a = generate(model, batch, num_steps=2, seed=1)
    assert torch.equal(a, generate(model, batch, num_steps=2, seed=1))
    assert not torch.equal(a, generate(model, batch, num_steps=2, seed=2))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["/nonexistent/job"], "does not exist"),
        ([str(ROOT / "experiments" / "tiny_cpu.py")], "name the weights with --checkpoint"),
    ],
    ids=["missing_source", "experiment_without_weights"],
)
def test_clear_errors(generate_main, capsys, argv, message):
    assert generate_main(argv) == 2
    assert message in capsys.readouterr().err


def test_needs_a_text_embedding(job_dir, generate_main, capsys):
    assert generate_main([str(job_dir), "--steps", "1"]) == 2
    assert "--text-embedding FILE.pt or --from-dataset N" in capsys.readouterr().err


def test_generate_from_an_experiment_and_official_weights(job_dir, generate_main, tmp_path):
    """No job directory: the experiment file builds the model, --checkpoint names a consolidated .pt."""
    from cosmos_train.checkpoint.consolidated import save_consolidated
    from cosmos_train.inference import load_run

    _, model = load_run(job_dir, device="cpu")
    official = tmp_path / "model.pt"
    save_consolidated(official, net=model.net, net_ema=model.net_ema, dtype=torch.float32)
    emb = tmp_path / "prompt.pt"
    torch.save(torch.randn(8, 32), emb)
    out_a, out_b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    experiment = str(ROOT / "experiments" / "tiny_cpu.py")
    assert generate_main([experiment, "--checkpoint", str(official), "--text-embedding", str(emb),
                          "--steps", "2", "-o", str(out_a), "--device", "cpu"]) == 0
    assert generate_main([str(job_dir), "--text-embedding", str(emb), "--steps", "2", "-o", str(out_b)]) == 0
    assert _decode(out_a) == 17
    assert out_a.read_bytes() == out_b.read_bytes()  # same weights, seed and prompt: the same video
