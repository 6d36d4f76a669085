"""tools/generate.py and cosmos_train.inference on a 2-step tiny_cpu run (online text encoder)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import lazycfg

from ._jobs import train_tiny_job

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def job_dir(tmp_path_factory) -> Path:
    """A 2-step CPU-default job with a checkpoint; captions hashed online (so --prompt works)."""
    return train_tiny_job(
        tmp_path_factory.mktemp("out"),
        "text_encoder=hash",
        "model.config.text_encoder.max_length=8",
        "model.config.text_encoder.embed_dim=32",
    )


@pytest.fixture(scope="module")
def generate_main():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import generate as tool
    finally:
        sys.path.remove(str(ROOT / "tools"))
    return tool.main


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """A png, a jpg, a 24-frame mp4 of another size, and a [8, 32] text embedding."""
    import av

    from cosmos_train.data.video_io import write_mp4

    root = tmp_path_factory.mktemp("inputs")
    g = torch.Generator().manual_seed(0)
    paths = {
        "png": root / "frame.png",
        "jpg": root / "frame.jpg",
        "mp4": root / "clip.mp4",
        "emb": root / "prompt.pt",
    }
    image = (torch.rand(48, 80, 3, generator=g) * 255).to(torch.uint8).numpy()
    for key in ("png", "jpg"):
        with av.open(str(paths[key]), mode="w") as c:
            stream = c.add_stream("png" if key == "png" else "mjpeg")
            stream.width, stream.height = 80, 48
            stream.pix_fmt = "rgb24" if key == "png" else "yuvj420p"
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in stream.encode(frame.reformat(format=stream.pix_fmt)):
                c.mux(packet)
            for packet in stream.encode():
                c.mux(packet)
    write_mp4(paths["mp4"], (torch.rand(3, 24, 48, 80, generator=g) * 255).to(torch.uint8), fps=16)
    torch.save(torch.randn(8, 32, generator=g), paths["emb"])
    return paths


def _decode(path: Path) -> int:
    import av

    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def _sidecar(path: Path) -> dict:
    return json.loads(path.with_suffix(".json").read_text())


def test_load_run_restores_config_and_trained_weights(job_dir):
    from cosmos_train.inference import load_run

    config, model = load_run(job_dir, device="cpu")
    assert config.job.name == "tiny_cpu" and config.trainer.max_iter == 2
    assert not model.training
    fresh = lazycfg.instantiate(config.model, device="cpu")
    trained = dict(model.net.named_parameters())
    assert any(not torch.equal(p, trained[n]) for n, p in fresh.net.named_parameters())
    assert model.net_ema is not None
    _, again = load_run(job_dir / "checkpoints" / "iter_000000002", device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(again.net.parameters(), model.net.parameters()))


def test_prompt_gives_video_and_sidecar_with_cosmos_defaults(job_dir, generate_main, tmp_path):
    out = tmp_path / "t2w.mp4"
    assert (
        generate_main([str(job_dir), "--prompt", "a red ball", "--steps", "2", "-o", str(out)]) == 0
    )
    assert _decode(out) == 17
    side = _sidecar(out)
    assert side["sampler"] == {
        "solver": "unipc",
        "num_steps": 2,
        "shift": 5.0,
        "karras": False,
        "guidance": 7.0,
        "conditional_frame_timestep": -1.0,
        "seed": 1,
    }
    assert side["inference_type"] == "text2world" and side["num_conditional_frames"] == 0
    assert side["prompt"] == "a red ball" and side["negative_prompt"].startswith(
        "The video captures a series"
    )
    assert (
        side["text_encoder"]["class"] == "HashTextEncoder"
        and side["text_encoder"]["semantic"] is False
    )
    ckpt = side["checkpoint"]
    assert ckpt["checkpoint"].endswith("iter_000000002") and ckpt["weights"] == "ema"
    assert len(ckpt["weights_sha256"]) == 64 and len(ckpt["config_fingerprint"]) == 64
    assert (
        side["resolution"] == [64, 64] and side["num_frames"] == 17 and side["guardrails"] == "none"
    )


def test_same_seed_same_video_and_settings_change_it(job_dir, generate_main, tmp_path):
    def run(name: str, *extra: str) -> bytes:
        out = tmp_path / f"{name}.mp4"
        # 3 steps: with 2, UniPC's output equals Euler's (order-1 first step, no final corrector)
        argv = [str(job_dir), "--prompt", "a blue square", "--steps", "3", "-o", str(out), *extra]
        assert generate_main(argv) == 0
        return out.read_bytes()

    a = run("a")
    assert run("b") == a
    assert run("seed2", "--seed", "2") != a
    assert run("euler", "--solver", "euler") != a
    assert run("karras", "--karras") != a
    assert run("g0", "--guidance", "0") != a
    assert _sidecar(tmp_path / "karras.mp4")["sampler"]["karras"] is True


def test_checkpoint_default_karras_and_conditioning_timestep(job_dir, generate_main, tmp_path):
    """use_kerras_sigma_at_inference in a run's config: Karras sampling, unless --no-karras."""
    out = tmp_path / "k.mp4"
    overrides = [
        "model.config.use_kerras_sigma_at_inference=true",
        "model.config.conditional_frame_timestep=0.1",
    ]
    assert (
        generate_main([str(job_dir), "--prompt", "x", "--steps", "2", "-o", str(out), *overrides])
        == 0
    )
    sampler = _sidecar(out)["sampler"]
    assert sampler["karras"] is True and sampler["conditional_frame_timestep"] == 0.1
    assert (
        generate_main(
            [
                str(job_dir),
                "--prompt",
                "x",
                "--steps",
                "2",
                "--no-karras",
                "-o",
                str(out),
                *overrides,
            ]
        )
        == 0
    )
    assert _sidecar(out)["sampler"]["karras"] is False


@pytest.mark.parametrize(
    "kind, expected",
    [("png", ("image2world", 1)), ("jpg", ("image2world", 1)), ("mp4", ("video2world", 2))],
)
def test_input_selects_image2world_or_video2world(
    job_dir, generate_main, inputs, tmp_path, kind, expected
):
    out = tmp_path / f"{kind}.mp4"
    assert (
        generate_main(
            [
                str(job_dir),
                "--prompt",
                "a",
                "--input",
                str(inputs[kind]),
                "--steps",
                "1",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    side = _sidecar(out)
    assert (side["inference_type"], side["num_conditional_frames"]) == expected
    assert _decode(out) == 17


def test_conditioning_frames_are_taken_as_cosmos_takes_them(inputs, tmp_path):
    """Image: frame 0, then zeros. Video: its last 4(n-1)+1 frames, then the last one repeated."""
    from cosmos_train.data.video_io import write_mp4
    from cosmos_train.inference import conditioning_video

    levels = torch.arange(12, dtype=torch.uint8) * 20  # frame i is flat grey 20*i
    clip = levels.view(1, 12, 1, 1).expand(3, 12, 32, 32).contiguous()
    path = write_mp4(tmp_path / "ramp.mp4", clip, fps=16)
    out = conditioning_video(path, num_frames=9, height=32, width=32, num_conditional_frames=2)
    means = out.float().mean(dim=(0, 2, 3))
    expected = torch.cat([levels[-5:], levels[-1:].expand(4)]).float()
    assert torch.allclose(means, expected, atol=3)  # mpeg4 is lossy
    image = conditioning_video(
        inputs["png"], num_frames=9, height=32, width=32, num_conditional_frames=1
    )
    assert (
        image.shape == (3, 9, 32, 32) and image[:, 0].float().mean() > 10 and not image[:, 1:].any()
    )


def test_resize_and_center_crop_covers_then_crops():
    from cosmos_train.inference import resize_and_center_crop

    video = torch.zeros(3, 1, 40, 100, dtype=torch.uint8)
    video[..., 40:60] = 255  # a white band in the middle columns
    out = resize_and_center_crop(video, 64, 64)  # scale 1.6 -> 64 x 160, crop the centre 64 columns
    assert out.shape == (3, 1, 64, 64)
    assert out[..., 18:46].min() == 255 and out[..., :14].max() == 0 and out[..., 50:].max() == 0


def test_batch_input_cosmos_format_with_shared_settings(job_dir, generate_main, inputs, tmp_path):
    (tmp_path / "robot.txt").write_text("a robot welding\n")
    shutil.copy(inputs["png"], tmp_path / "robot.png")
    jobs = {
        "inference_type": "image2world",
        "seed": 3,
        "guidance": 2,
        "samples": {
            "welding": {"prompt_path": "robot.txt", "input_path": "robot.png"},
            "bus": {"prompt": "a bus", "input_path": "robot.png"},
        },
    }
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    out = tmp_path / "out"
    assert (
        generate_main(
            [
                str(job_dir),
                "--batch-input",
                str(tmp_path / "jobs.json"),
                "--steps",
                "1",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    welding = _sidecar(out / "welding.mp4")
    assert welding["prompt"] == "a robot welding" and welding["inference_type"] == "image2world"
    assert welding["sampler"]["seed"] == 3 and welding["sampler"]["guidance"] == 2.0
    assert (
        welding["input"] == str(tmp_path / "robot.png")
        and _sidecar(out / "bus.mp4")["prompt"] == "a bus"
    )


def test_batch_input_list_with_per_job_overrides(job_dir, generate_main, inputs, tmp_path):
    jobs = {
        "steps": 1,
        "jobs": [
            {"name": "one", "prompt": "a", "seed": 5},
            {
                "name": "two",
                "text_embedding": str(inputs["emb"]),
                "solver": "euler",
                "input": str(inputs["mp4"]),
                "num_conditional_frames": 1,
            },
        ],
    }
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    assert (
        generate_main(
            [
                str(job_dir),
                "--batch-input",
                str(tmp_path / "jobs.json"),
                "--guidance",
                "3",
                "-o",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    one, two = _sidecar(tmp_path / "out" / "one.mp4"), _sidecar(tmp_path / "out" / "two.mp4")
    assert (one["sampler"]["seed"], one["sampler"]["solver"], one["sampler"]["guidance"]) == (
        5,
        "unipc",
        3.0,
    )
    assert (two["sampler"]["solver"], two["num_conditional_frames"], two["inference_type"]) == (
        "euler",
        1,
        "video2world",
    )
    assert two["negative"].startswith("zeros")


def test_default_output_goes_under_the_job_directory(
    job_dir, generate_main, inputs, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert (
        generate_main(
            [str(job_dir), "--text-embedding", str(inputs["emb"]), "--steps", "1", "--seed", "7"]
        )
        == 0
    )
    assert (job_dir / "generated" / "prompt_seed7.mp4").is_file()
    assert (job_dir / "generated" / "prompt_seed7.json").is_file() and not list(tmp_path.iterdir())


def test_from_dataset_item(job_dir, generate_main, tmp_path):
    out = tmp_path / "s.mp4"
    assert (
        generate_main(
            [
                str(job_dir),
                "--from-dataset",
                "1",
                "--num-conditional-frames",
                "1",
                "--steps",
                "2",
                "--guidance",
                "2",
                "--seed",
                "3",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    side = _sidecar(out)
    assert (
        side["caption"].startswith("a ")
        and side["num_conditional_frames"] == 1
        and _decode(out) == 17
    )


def test_experiment_file_with_exported_weights_gives_the_same_video(
    job_dir, generate_main, inputs, tmp_path
):
    """No job directory: the experiment builds the model, --checkpoint names an exported .pt."""
    from cosmos_train.checkpoint.export import export_checkpoint

    release = export_checkpoint(job_dir, tmp_path / "release").files
    experiment = str(ROOT / "experiments" / "tiny_cpu.py")
    common = ["--text-embedding", str(inputs["emb"]), "--steps", "2", "--device", "cpu"]
    out_a, out_b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    assert (
        generate_main(
            [experiment, "--checkpoint", str(release["model.pt"]), *common, "-o", str(out_a)]
        )
        == 0
    )
    assert generate_main([str(job_dir), *common, "-o", str(out_b)]) == 0
    assert out_a.read_bytes() == out_b.read_bytes()  # same weights, seed and text: the same video
    assert (
        _sidecar(out_a)["checkpoint"]["weights_sha256"]
        == _sidecar(out_b)["checkpoint"]["weights_sha256"]
    )


def _write(tmp_path: Path, name: str, content) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(content))
    return str(path)


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--prompt", "a", "--num-frames", "16"],
            "--num-frames 16 is not a frame count the tokenizer can code",
        ),
        (
            ["--prompt", "a", "--input", "{mp4}", "--num-conditional-frames", "9"],
            "--num-conditional-frames 9 is too large",
        ),
        (
            ["--prompt", "a", "--num-conditional-frames", "1"],
            "needs conditioning frames: pass --input",
        ),
        (
            ["--prompt", "a", "--input", "{png}", "--num-conditional-frames", "2"],
            "an image gives 1 conditioning",
        ),
        (
            ["--text-embedding", "/nonexistent/prompt.pt"],
            "--text-embedding /nonexistent/prompt.pt does not exist",
        ),
        (["--prompt", "a", "--resolution", "60,64"], "must be multiples of 16"),
        (
            ["--prompt", "a", "--input", "/nonexistent.mp4"],
            "--input /nonexistent.mp4 does not exist",
        ),
        ([], "give exactly one of --prompt TEXT, --text-embedding FILE.pt or --from-dataset N"),
        (["--prompt", "a", "--text-embedding", "{emb}"], "(got --prompt, --text-embedding)"),
        (["--prompt", "a", "model.config.text_encoder=null"], "--prompt needs a text encoder"),
        (["--batch-input", "{bad_key}"], "unknown job setting 'sed' (did you mean 'seed'?)"),
        (["--batch-input", "{bad_type}"], "inference_type must be one of"),
    ],
    ids=[
        "frames_16",
        "cond_9",
        "cond_without_input",
        "image_two_frames",
        "missing_embedding",
        "resolution",
        "missing_input",
        "no_text",
        "two_texts",
        "no_encoder",
        "json_key",
        "json_type",
    ],
)
def test_clear_errors(job_dir, generate_main, inputs, tmp_path, capsys, argv, message):
    files = {
        **{k: str(v) for k, v in inputs.items()},
        "bad_key": _write(tmp_path, "k.json", [{"prompt": "a", "sed": 1}]),
        "bad_type": _write(tmp_path, "t.json", {"inference_type": "audio2world", "samples": {}}),
    }
    argv = [a.format(**files) for a in argv]
    assert generate_main([str(job_dir), "--steps", "1", "-o", str(tmp_path / "x.mp4"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("error: ") and message in err, err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["/nonexistent/job"], "does not exist"),
        ([str(ROOT / "experiments" / "tiny_cpu.py")], "name the weights with --checkpoint"),
    ],
    ids=["missing_source", "experiment_without_weights"],
)
def test_source_errors(generate_main, capsys, argv, message):
    assert generate_main([*argv, "--prompt", "a"]) == 2
    assert message in capsys.readouterr().err


def test_runs_as_a_fresh_command(job_dir, tmp_path):
    """The command line in a new interpreter (nothing imported before it loads the config)."""
    out = tmp_path / "fresh.mp4"
    cmd = [
        sys.executable,
        str(ROOT / "tools" / "generate.py"),
        str(job_dir),
        "--prompt",
        "a",
        "--steps",
        "1",
        "-o",
        str(out),
    ]
    proc = subprocess.run(
        cmd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _sidecar(out)["prompt"] == "a"


@pytest.mark.slow
def test_torchrun_spreads_jobs_over_ranks(job_dir, tmp_path):
    jobs = [{"name": f"j{i}", "prompt": f"job {i}", "seed": i} for i in range(3)]
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which(
        "torchrun"
    )
    cmd = [
        torchrun,
        "--standalone",
        "--nproc_per_node=2",
        str(ROOT / "tools" / "generate.py"),
        str(job_dir),
        "--batch-input",
        str(tmp_path / "jobs.json"),
        "--steps",
        "1",
        "-o",
        str(tmp_path / "out"),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = {j["name"]: _sidecar(tmp_path / "out" / f"{j['name']}.mp4")["rank"] for j in jobs}
    assert ranks == {"j0": 0, "j1": 1, "j2": 0}


def test_released_weights_with_a_random_vae_are_refused(job_dir, generate_main, tmp_path, capsys):
    """Never silently random at inference: a release .pt next to an unloaded Wan2.1 VAE stops."""
    from cosmos_train.checkpoint.export import export_checkpoint

    release = export_checkpoint(job_dir, tmp_path / "release").files["model.pt"]
    experiment = str(ROOT / "experiments" / "tiny_cpu.py")
    argv = [
        experiment,
        "--checkpoint",
        str(release),
        "--prompt",
        "a",
        "tokenizer=wan2pt1_tokenizer",
    ]
    assert generate_main([*argv, "-o", str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err
    assert "error: inference loads released net weights" in err
    assert "model.config.tokenizer.ckpt_path" in err and "allow_random=True" in err


def test_checkpoint_by_catalogue_name_offline_says_what_to_download(
    generate_main, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    experiment = str(ROOT / "experiments" / "tiny_cpu.py")
    name = "nvidia/Cosmos-Predict2.5-2B/base/post-trained"
    assert generate_main([experiment, "--checkpoint", name, "--prompt", "a"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--checkpoint" in err and "download" in err, err
