"""tools/train.py: --dryrun, --smoke, --explain, clear errors, and a torchrun launch."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import lazycfg

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "tools" / "train.py"
NEMO = str(ROOT / "experiments" / "2b_nemo.py")
TINY = str(ROOT / "experiments" / "tiny_cpu.py")


@pytest.fixture
def train_main(tmp_path, monkeypatch):
    """``tools/train.py``'s ``main`` in this process, with the output root in tmp_path."""
    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path / "out"))
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import train as train_tool
    finally:
        sys.path.remove(str(ROOT / "tools"))
    return train_tool.main


def test_dryrun_prints_scenario_2_and_writes_a_loadable_config(
    train_main, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # no datasets/ folder here: a note, not a failure
    assert train_main([NEMO, "--dryrun"]) == 0
    out = capsys.readouterr().out
    assert "note: training would stop here: dataloader_train.dataset.dataset_dir" in out
    for text in (
        "project: 'cosmos_predict_v2p5'",
        "name: '2b_cosmos_nemo_assets'",
        "shift: 5.0",
        "state_t: 24",
        "lr: 4.315837287515549e-05",
        "f_max: [0.5]",
        "save_iter: 200",
        "max_iter: 1000",
        "model=fsdp_rectified_flow",
        "check: no problems",
    ):
        assert text in out, text
    path = (
        tmp_path
        / "out"
        / "cosmos_predict_v2p5"
        / "video2world"
        / "2b_cosmos_nemo_assets"
        / "config.yaml"
    )
    assert f"config written to {path}" in out
    restored = lazycfg.load(str(path))
    expected = lazycfg.resolve(lazycfg.load(NEMO))
    assert lazycfg.diff(expected, restored) == []
    assert restored == expected
    assert lazycfg.choices(restored)["model"] == "fsdp_rectified_flow"


@pytest.mark.parametrize(
    "overrides, check",
    [
        (
            ["optimizer=fusedadamw"],
            lambda c: (
                c.optimizer.lr == 2 ** (-14.5) and lazycfg.choices(c)["optimizer"] == "fusedadamw"
            ),
        ),
        (
            ["net=cosmos_v1_14B"],
            lambda c: (
                (c.model.config.net.model_channels, c.model.config.net.rope_h_extrapolation_ratio)
                == (5120, 3.0)
            ),
        ),
        (
            ["--", "trainer.max_iter=7"],
            lambda c: c.trainer.max_iter == 7,
        ),  # Cosmos's "--" separator is accepted
    ],
    ids=["fusedadamw_keeps_lr", "14B_keeps_rope", "cosmos_separator"],
)
def test_dryrun_overrides(train_main, tmp_path, overrides, check):
    assert train_main([NEMO, *overrides, "--dryrun"]) == 0
    c = lazycfg.load(str(next((tmp_path / "out").rglob("config.yaml"))))
    assert check(c)


def test_dryrun_provenance_shows_sources(train_main, capsys):
    assert train_main([NEMO, "optimizer.lr=1e-4", "--dryrun", "--provenance"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"optimizer\.lr = 0\.0001  <- optimizer\.lr=1e-4", out)
    assert re.search(r"optimizer\.weight_decay = 0\.001  <- .*2b_nemo\.py:\d+", out)
    assert re.search(r"model\.config\.shift = 5\.0  <- .*2b_nemo\.py:\d+", out)


def test_explain_prints_history(train_main, capsys):
    assert train_main([NEMO, "trainer.max_iter=5", "--explain", "trainer.max_iter"]) == 0
    out = capsys.readouterr().out
    assert "400000" in out and "1000" in out and "trainer.max_iter=5" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["experiments/nope.py"],
            r"experiment file 'experiments/nope.py' does not exist.*tiny_cpu.py",
        ),
        ([NEMO, "trainer.max_iter=abc"], r"trainer\.max_iter: expected int, got 'abc'"),
        ([NEMO, "trainer.maxiter=3"], r"trainer\.maxiter.*max_iter"),
        ([NEMO, "optimizer=sgd"], r"optimizer=sgd.*fusedadamw"),
    ],
    ids=["missing_file", "bad_type", "typo", "bad_option"],
)
def test_clear_errors(train_main, capsys, argv, message):
    assert train_main(argv) == 2
    err = capsys.readouterr().err
    assert re.search(message, err, re.S), err
    assert "Traceback" not in err


def test_missing_dataset_folder_names_the_prepare_command(
    train_main, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # no datasets/ here
    assert train_main([NEMO, "model.config.fsdp_shard_size=1"]) == 2
    err = capsys.readouterr().err
    assert (
        "dataloader_train.dataset.dataset_dir='datasets/cosmos_nemo_assets' does not exist" in err
    )
    assert "python tools/prepare_nemo_assets.py" in err


def test_missing_text_embeddings_are_reported(train_main, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for sub in ("videos", "metas"):
        (tmp_path / "datasets" / "cosmos_nemo_assets" / sub).mkdir(parents=True)
    assert train_main([NEMO, "model.config.fsdp_shard_size=1", "text_encoder=precomputed"]) == 2
    err = capsys.readouterr().err
    assert "reason1_embeddings does not exist" in err and "512 x 100352" in err
    assert "tools/compute_text_embeddings.py" in err


def test_invalid_config_fails_before_building(train_main, capsys):
    assert train_main([NEMO, "model_parallel.context_parallel_size=2"]) == 2
    assert "model_parallel.context_parallel_size=2" in capsys.readouterr().err


@pytest.mark.parametrize(
    "override",
    [
        "model.config.net.num_blockz=2",
        "model.config.net.timestep_scale=[1,2]",
        "model.config.net.rope_enable_fps_modulation=maybe",
    ],
    ids=["typo", "list-for-float", "str-for-bool"],
)
def test_real_run_checks_like_dryrun_before_building(tmp_path, override):
    """Fresh processes (the net's module not imported when the overrides apply): check() stops a
    real run before anything is built, with the problem lines --dryrun prints."""
    env = dict(os.environ, OMP_NUM_THREADS="1")

    def train(*args: str, out: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(TRAIN), TINY, override, *args],
            cwd=ROOT,
            env=dict(env, IMAGINAIRE_OUTPUT_ROOT=str(tmp_path / out)),
            capture_output=True,
            text=True,
            timeout=300,
        )

    dry = train("--dryrun", out="dry")
    assert dry.returncode == 1, dry.stderr[-3000:]
    lines = [
        line.strip() for line in dry.stderr.split("problems:", 1)[1].splitlines() if line.strip()
    ]
    assert lines and all(line.startswith("model.config.net.") for line in lines), dry.stderr
    real = train(out="real")
    assert real.returncode == 2, real.stderr[-3000:]
    assert (
        real.stderr.startswith("error: the config has problems") and "Traceback" not in real.stderr
    )
    for line in lines:
        assert line in real.stderr
    assert not (tmp_path / "real").exists()  # nothing was built or written


def test_build_errors_name_the_config_path(train_main, capsys):
    """A value check() cannot judge fails at build time, named by its path (never '<root>')."""
    assert train_main([TINY, "model.config.net.num_heads=5"]) == 2
    err = capsys.readouterr().err
    assert "failed to build 'model.config.net': cosmos_train.nets.dit.MiniTrainDiT" in err
    assert "model_channels=128 must be divisible by num_heads=5" in err
    assert "<root>" not in err and "Traceback" not in err


def test_output_root_that_is_a_file_is_one_error_line(train_main, tmp_path, capsys, monkeypatch):
    root = tmp_path / "root"
    root.write_text("a file")
    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(root))
    assert train_main([TINY, "trainer.max_iter=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot create the job directory") and err.count("\n") == 1
    assert f"{root} is a file, not a directory" in err and "IMAGINAIRE_OUTPUT_ROOT" in err


def test_nonfinite_loss_is_one_error_line(train_main, capsys):
    args = [
        TINY,
        "optimizer.lr=1e6",
        "trainer.max_iter=50",
        "trainer.run_validation=false",
        "~trainer.callbacks.every_n_sample_reg",
        "~trainer.callbacks.every_n_sample_ema",
        "~trainer.callbacks.grad_clip",
        "job.name=nonfinite",
    ]
    assert train_main(args) == 2
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert re.search(r"non-finite training step at iteration \d+: loss=\S+, grad_norm=\S+", line), (
        line
    )
    assert (
        "trainer.nonfinite='raise' stopped the run" in line
        and "lower optimizer.lr (the step used" in line
    )
    assert "Traceback" not in err


def test_a_model_that_cannot_fit_is_refused_before_building(train_main, capsys, monkeypatch):
    """The issue's case: 2b_nemo_480p with mock data on a 24 GB CPU machine (free memory pinned)."""
    from cosmos_train.utils import memory_guard

    monkeypatch.setattr(memory_guard, "available_bytes", lambda device: 24 * 2**30)
    args = [str(ROOT / "experiments" / "2b_nemo_480p.py"), "data_train=mock", "tokenizer=standin"]
    assert train_main(args) == 2
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert "the model cannot fit: 2.06B parameters need at least 38.4 GiB" in line
    assert "only 24.0 GiB are free on cpu" in line and "Traceback" not in err


def test_smoke_runs_one_iteration_with_every_cadence(train_main, tmp_path):
    assert (
        train_main(
            [
                TINY,
                "--smoke",
                "trainer.callbacks.every_n_sample_reg.num_steps=2",
                "trainer.callbacks.every_n_sample_ema.num_steps=2",
            ]
        )
        == 0
    )
    (job,) = (tmp_path / "out" / "cosmos_train" / "cpu").glob("tiny_cpu_smoke_*")
    assert re.fullmatch(r"tiny_cpu_smoke_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}", job.name)
    rows = [json.loads(line) for line in (job / "metrics.jsonl").read_text().splitlines()]
    assert [(r["split"], r["iteration"]) for r in rows] == [("val", 0), ("train", 1), ("val", 1)]
    assert (job / "checkpoints" / "iter_000000001").is_dir()
    cfg = lazycfg.load(str(job / "config.yaml"))
    assert (
        cfg.trainer.max_iter,
        cfg.trainer.logging_iter,
        cfg.checkpoint.save_iter,
        cfg.job.wandb_mode,
    ) == (1, 1, 1, "disabled")


@pytest.mark.slow
def test_torchrun_two_ranks_cpu_default(tmp_path):
    """``torchrun --nproc_per_node=2 tools/train.py <cpu default>``: DDP on gloo, one config for
    both ranks."""
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which(
        "torchrun"
    )
    assert torchrun, "torchrun not found next to the Python interpreter"
    env = dict(os.environ, IMAGINAIRE_OUTPUT_ROOT=str(tmp_path / "out"), OMP_NUM_THREADS="1")
    cmd = [
        torchrun,
        "--standalone",
        "--nproc_per_node=2",
        str(TRAIN),
        TINY,
        "trainer.max_iter=2",
        "trainer.logging_iter=1",
        "trainer.validation_iter=2",
        "checkpoint.save_iter=2",
        "trainer.callbacks.every_n_sample_reg.every_n=2",
        "trainer.callbacks.every_n_sample_ema.every_n=2",
        "trainer.callbacks.every_n_sample_reg.num_steps=2",
        "trainer.callbacks.every_n_sample_ema.num_steps=2",
        "job.name=ddp_${now:%Y%m%d%H%M%S}",
    ]  # resolved once, on rank 0, for both ranks
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = list((tmp_path / "out" / "cosmos_train" / "cpu").iterdir())
    assert len(jobs) == 1 and re.fullmatch(
        r"ddp_\d{14}", jobs[0].name
    )  # one job dir: same name on both ranks
    rows = [json.loads(line) for line in (jobs[0] / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["split"] == "train"]
    assert [r["iteration"] for r in train] == [1, 2]
    assert (jobs[0] / "checkpoints" / "iter_000000002" / "model" / ".metadata").is_file()
    assert len(list((jobs[0] / "checkpoints" / "iter_000000002" / "model").glob("*.distcp"))) == 2


def test_resume_with_a_changed_config_is_refused_then_allowed(train_main, tmp_path, capsys):
    args = [
        TINY,
        "trainer.max_iter=1",
        "trainer.run_validation=false",
        "~trainer.callbacks.every_n_sample_reg",
        "~trainer.callbacks.every_n_sample_ema",
    ]
    assert train_main(args) == 0
    assert train_main([*args, "trainer.max_iter=2", "optimizer.lr=1e-4"]) == 2
    err = capsys.readouterr().err
    assert (
        "optimizer.lr=0.0001" in err
        and "checkpoint.allowed_config_changes" in err
        and "Traceback" not in err
    )
    assert (
        train_main(
            [
                *args,
                "trainer.max_iter=2",
                "optimizer.lr=1e-4",
                "checkpoint.allowed_config_changes=[optimizer.lr]",
            ]
        )
        == 0
    )


_SHUTDOWN_PROBE = """
import glob
import torch.distributed as dist
from cosmos_train.distributed.env import init_distributed
from cosmos_train.launch import _shutdown_distributed

def gloo_threads():
    names = [open(t + "/comm").read().strip() for t in glob.glob("/proc/self/task/*")]
    return [n for n in names if "gloo" in n]

init_distributed(backend="gloo")
# Like the trainer: DCP (and DDP) load modules lazily, after init.
import torch.distributed.checkpoint
assert gloo_threads(), "probe is blind: no gloo thread while the group is up"
_shutdown_distributed()
print("left:", gloo_threads())
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads thread names from /proc")
def test_shutdown_joins_the_gloo_threads(tmp_path):
    """After ``_shutdown_distributed`` no gloo thread is left to be torn down during interpreter
    exit.

    Regression: ``torch.distributed.nn.functional`` imported after ``init_process_group`` captured
    the default group in its default arguments, so its threads outlived ``destroy_process_group``
    and a 2-rank torchrun run aborted at exit now and then ("terminate called without an active
    exception").
    """
    with socket.socket() as s:  # a free port for the one-rank rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(
        os.environ,
        RANK="0",
        LOCAL_RANK="0",
        WORLD_SIZE="1",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        OMP_NUM_THREADS="1",
    )
    proc = subprocess.run(
        [sys.executable, "-c", _SHUTDOWN_PROBE],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "left: []" in proc.stdout, proc.stdout


def test_piped_console_is_plain_lines_a_summary_and_the_same_in_stdout_log(tmp_path):
    """stderr to a pipe: no carriage returns, a line per logging_iter and validation, a summary; a
    rerun says it is done."""
    env = dict(os.environ, IMAGINAIRE_OUTPUT_ROOT=str(tmp_path / "out"), OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        str(TRAIN),
        TINY,
        "trainer.max_iter=40",
        "scheduler.cycle_lengths=[40]",
        "trainer.validation_iter=40",
        "checkpoint.save_iter=40",
        "~trainer.callbacks.every_n_sample_reg",
        "~trainer.callbacks.every_n_sample_ema",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    console = proc.stdout + proc.stderr
    assert "\r" not in console
    assert re.search(r"iter 20/40  loss [0-9.]+  lr [0-9.e-]+  [0-9.]+ it/s  ETA \d+:\d\d", console)
    assert re.search(r"iter 40/40  loss [0-9.]+", console)
    assert (
        "validation at iter 0: val_loss" in console and "validation at iter 40: val_loss" in console
    )
    job = tmp_path / "out" / "cosmos_train" / "cpu" / "tiny_cpu"
    for line in (
        "training done: iteration 40/40",
        f"config:      {job / 'config.yaml'}",
        f"checkpoints: {job / 'checkpoints'} (latest iter_000000040)",
    ):
        assert line in console
    log_lines = [line.split("] ", 1)[1] for line in (job / "stdout.log").read_text().splitlines()]
    shown = [line.split("] ", 1)[1] for line in proc.stderr.splitlines() if line.startswith("[")]
    assert shown == log_lines  # stdout.log holds what the console showed
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0
    assert "job tiny_cpu is already complete" in again.stderr
    assert "trainer.max_iter=80" in again.stderr and "job.name=tiny_cpu_2" in again.stderr
