"""tools/eval_synthetic.py: scores a trained tiny run, writes its JSON and contact sheet, clear errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import av
import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "experiments" / "tiny_cpu.py")


def _tool(name: str):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(ROOT / "tools"))


@pytest.fixture(scope="module")
def tiny_job(tmp_path_factory):
    """A 2-step tiny_cpu run (checkpoint at step 2) in its own output root."""
    root = tmp_path_factory.mktemp("out")
    mp = pytest.MonkeyPatch()
    mp.setenv("IMAGINAIRE_OUTPUT_ROOT", str(root))
    try:
        code = _tool("train").main([TINY, "trainer.max_iter=2", "checkpoint.save_iter=2", "trainer.validation_iter=2",
                                    "trainer.max_val_iter=1", "~trainer.callbacks.every_n_sample_reg",
                                    "~trainer.callbacks.every_n_sample_ema"])
        assert code == 0
        yield root / "cosmos_train" / "cpu" / "tiny_cpu", mp
    finally:
        mp.undo()


def test_scores_held_out_clips_and_writes_the_sheet(tiny_job, capsys):
    job, _ = tiny_job
    assert _tool("eval_synthetic").main([str(job), "--num-clips", "2", "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "frame  centroid err px (median)  mass kept (median)" in out and "a " in out
    result = json.loads((job / "eval" / "latest" / "eval_synthetic.json").read_text())
    assert [c["index"] for c in result["clips"]] == [0, 1] and result["first_generated_frame"] == 1
    for clip in result["clips"]:
        for key in ("generated", "tokenizer_roundtrip"):
            assert len(clip[key]["centroid_error_px"]) == len(clip[key]["mass_kept"]) == 17
    ceiling = result["summary"]["tokenizer_roundtrip"]
    # The stand-in tokenizer keeps the shapes: what a perfect model would score.
    assert ceiling["centroid_error_px_median"] < 1.5 and ceiling["mass_kept_last_median"] > 0.8
    assert result["settings"]["num_clips"] == 2
    with av.open(str(job / "eval" / "latest" / "contact_sheet.png")) as container:
        (frame,) = list(container.decode(video=0))
    assert (frame.height, frame.width) == (4 * (64 + 2) + 2, 17 * (64 + 2) + 2)  # truth/generated x 2 clips


def test_experiment_file_names_its_job_and_a_checkpoint_can_be_chosen(tiny_job, tmp_path):
    job, _ = tiny_job
    ckpt = job / "checkpoints" / "iter_000000002"
    assert _tool("eval_synthetic").main([TINY, "--checkpoint", str(ckpt), "--num-clips", "1", "--steps", "1",
                                         "--output-dir", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "eval_synthetic.json").read_text())["settings"]["checkpoint"] == str(ckpt)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["/nonexistent/job"], "is not a directory"),
        (["{job}", "--num-clips", "99"], "--num-clips must be in 1..16"),
    ],
    ids=["missing-dir", "too-many-clips"],
)
def test_clear_errors(tiny_job, capsys, argv, message):
    job, _ = tiny_job
    assert _tool("eval_synthetic").main([a.format(job=job) for a in argv] + ["--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_run_on_other_data_is_refused_before_building(tiny_job, tmp_path, capsys):
    _, mp = tiny_job
    mp.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path))
    assert _tool("train").main([str(ROOT / "experiments" / "2b_nemo.py"), "data_train=mock", "--dryrun"]) in (0, 1)
    (job,) = list(tmp_path.rglob("config.yaml"))
    assert _tool("eval_synthetic").main([str(job.parent)]) == 2
    assert "eval_synthetic scores runs trained on SyntheticVideoDataset" in capsys.readouterr().err
