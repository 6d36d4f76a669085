"""tools/generate.py with LoRA: sampling a LoRA run, --lora PATH[:SCALE] (repeatable), and a merged
export sampling like the unmerged adapters."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch

import lazycfg
from cosmos_train.checkpoint.consolidated import save_consolidated

ROOT = Path(__file__).resolve().parents[2]
TINY_CPU = str(ROOT / "experiments" / "tiny_cpu.py")
TEXT = [
    "text_encoder=hash",
    "model.config.text_encoder.max_length=8",
    "model.config.text_encoder.embed_dim=32",
    "model.config.text_encoder.allow_random=true",  # the base .pt counts as released weights
]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict[str, Path]:
    """A base .pt, a 4-step LoRA run on it (large lr: the adapters matter), and its exports."""
    from cosmos_train.launch import launch
    from cosmos_train.model.lora import export_lora_checkpoint

    out = tmp_path_factory.mktemp("out")
    cfg = lazycfg.load(TINY_CPU, TEXT)
    torch.manual_seed(0)
    net = lazycfg.instantiate(cfg.model.config.net)
    net.init_weights()
    base = save_consolidated(out / "base.pt", net=net, dtype=None)
    old = os.environ.get("IMAGINAIRE_OUTPUT_ROOT")
    os.environ["IMAGINAIRE_OUTPUT_ROOT"] = str(out)
    try:
        cfg = lazycfg.load(
            TINY_CPU,
            [
                *TEXT,
                "job.name=lora",
                "model.config.use_lora=true",
                "model.config.lora_rank=4",
                f"checkpoint.load_path={base}",
                "optimizer.lr=0.05",
                "trainer.max_iter=4",
                "trainer.run_validation=false",
                "checkpoint.save_iter=4",
                "model.config.ema.enabled=false",
                "~trainer.callbacks.every_n_sample_reg",
                "~trainer.callbacks.every_n_sample_ema",
            ],
        )
        launch(cfg)
        job = Path(cfg.job.path_local)  # read while IMAGINAIRE_OUTPUT_ROOT points here
    finally:
        if old is None:
            del os.environ["IMAGINAIRE_OUTPUT_ROOT"]
        else:
            os.environ["IMAGINAIRE_OUTPUT_ROOT"] = old
    export_lora_checkpoint(job, out / "merged", merged=True)
    export_lora_checkpoint(job, out / "adapter", merged=False)
    return {
        "base": base,
        "job": job,
        "merged": out / "merged" / "model.pt",
        "adapter": out / "adapter",
    }


@pytest.fixture(scope="module")
def generate_main():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import generate as tool
    finally:
        sys.path.remove(str(ROOT / "tools"))
    return tool.main


def _frames(path: Path) -> torch.Tensor:
    import av

    with av.open(str(path)) as c:
        return torch.stack(
            [torch.from_numpy(f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
        ).float()


def _gen(generate_main, tmp_path, name: str, source, *extra: str) -> Path:
    out = tmp_path / f"{name}.mp4"
    argv = [
        str(source),
        "--prompt",
        "a red ball",
        "--steps",
        "3",
        "--regular",
        "-o",
        str(out),
        *extra,
    ]
    assert generate_main(argv) == 0
    return out


def test_lora_run_merged_export_and_lora_flag_sample_alike(run, generate_main, tmp_path):
    lora_run = _frames(_gen(generate_main, tmp_path, "run", run["job"]))
    merged = _frames(
        _gen(generate_main, tmp_path, "merged", TINY_CPU, "--checkpoint", str(run["merged"]), *TEXT)
    )
    flag = _gen(
        generate_main,
        tmp_path,
        "flag",
        TINY_CPU,
        "--checkpoint",
        str(run["base"]),
        "--lora",
        str(run["adapter"]),
        *TEXT,
    )
    base = _frames(
        _gen(generate_main, tmp_path, "base", TINY_CPU, "--checkpoint", str(run["base"]), *TEXT)
    )
    far = (base - lora_run).abs().mean()
    assert far > 2.0  # the adapters change the samples...
    for other in (merged, _frames(flag)):  # ...and all three LoRA paths agree (mp4 coding aside)
        assert (other - lora_run).abs().mean() < 0.1 * far
    side = json.loads(flag.with_suffix(".json").read_text())["checkpoint"]["loras"]
    assert (
        side[0]["scale"] == 1.0
        and side[0]["path"] == str(run["adapter"].resolve())
        and len(side[0]["sha256"]) == 64
    )


def test_scales_combine_and_zero_is_the_base(run, generate_main, tmp_path):
    base = _gen(generate_main, tmp_path, "base", TINY_CPU, "--checkpoint", str(run["base"]), *TEXT)
    zero = _gen(
        generate_main,
        tmp_path,
        "zero",
        TINY_CPU,
        "--checkpoint",
        str(run["base"]),
        "--lora",
        f"{run['adapter']}:0",
        *TEXT,
    )
    assert zero.read_bytes() == base.read_bytes()
    halves = _gen(
        generate_main,
        tmp_path,
        "halves",
        TINY_CPU,
        "--checkpoint",
        str(run["base"]),
        "--lora",
        f"{run['adapter']}:0.5",
        "--lora",
        f"{run['adapter']}:0.5",
        *TEXT,
    )
    one = _gen(
        generate_main,
        tmp_path,
        "one",
        TINY_CPU,
        "--checkpoint",
        str(run["base"]),
        "--lora",
        str(run["adapter"]),
        *TEXT,
    )
    assert (_frames(halves) - _frames(one)).abs().mean() < 0.5
    loras = json.loads(halves.with_suffix(".json").read_text())["checkpoint"]["loras"]
    assert [x["scale"] for x in loras] == [0.5, 0.5]


def test_missing_adapter_is_a_clear_error(run, generate_main, tmp_path, capsys):
    argv = [
        str(run["job"]),
        "--prompt",
        "x",
        "--steps",
        "1",
        "--lora",
        str(tmp_path / "none:0.5"),
        "-o",
        str(tmp_path / "x.mp4"),
    ]
    assert generate_main(argv) == 2
    assert "no PEFT adapter" in capsys.readouterr().err
