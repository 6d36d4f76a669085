"""Callbacks: group dispatch and errors, clipping, throughput/MFU, samples as video files."""

from __future__ import annotations

import gc

import av
import pytest
import torch

from cosmos_train.model.toy import toy_components
from cosmos_train.trainer.callbacks import (
    HOOKS,
    Callback,
    CallbackError,
    CallbackGroup,
    EveryNDrawSample,
    GradClip,
    IterSpeed,
    LoggedRowCallback,
    ManualGC,
    MemoryStats,
    RecordingCallback,
    tile_videos,
    total_grad_norm,
)
from cosmos_train.trainer.trainer import Trainer


class _Order(Callback):
    def __init__(self, name, log):
        self.name, self.log = name, log

    def on_train_end(self, model, iteration=0):
        self.log.append(self.name)


class _Boom(Callback):
    def on_train_end(self, model, iteration=0):
        raise ValueError("kaboom")


def test_group_calls_in_dict_order_and_skips_none():
    log: list[str] = []
    group = CallbackGroup({"b": _Order("b", log), "off": None, "a": _Order("a", log)})
    group.on_train_end(None, 3)
    assert log == ["b", "a"] and len(group) == 2 and "off" not in group


def test_group_errors_name_the_callback():
    with pytest.raises(TypeError, match="trainer.callbacks.bad"):
        CallbackGroup({"bad": object()})
    with pytest.raises(CallbackError, match="'boom' \\(_Boom\\) failed in on_train_end: kaboom"):
        CallbackGroup({"boom": _Boom()}).on_train_end(None, 1)
    with pytest.raises(AttributeError, match="no hook 'on_trian_end'"):
        _ = CallbackGroup({}).on_trian_end


def test_recording_callback_implements_every_hook():
    rec = RecordingCallback()
    group = CallbackGroup({"rec": rec})
    for hook in HOOKS:
        getattr(group, hook)()
    assert [h for h, _ in rec.events] == list(HOOKS)


def test_total_grad_norm_matches_torch_and_clip_scales(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 3)
    net(torch.randn(5, 4)).pow(2).sum().backward()
    expected = torch.nn.utils.get_total_norm([p.grad for p in net.parameters()])
    assert torch.allclose(total_grad_norm(net.parameters()), expected)

    model, opt, sched, loader = toy_components()
    seen = {}

    class _After(Callback):
        def on_before_optimizer_step(
            self, model_ddp, optimizer, scheduler, grad_scaler, iteration=0
        ):
            seen["post"] = total_grad_norm(model.net.parameters()).item()
            seen["pre"] = self.trainer._grad_norm.item()

    trainer = Trainer(
        max_iter=1,
        job_dir=tmp_path,
        logging_iter=1,
        tensorboard=False,
        callbacks={"grad_clip": GradClip(clip_norm=0.01), "after": _After()},
    )
    trainer.fit(model, opt, sched, loader)
    assert seen["pre"] > 0.01
    assert seen["post"] == pytest.approx(0.01, rel=1e-3)


def test_iter_speed_reports_tokens_and_mfu_with_attention(tmp_path):
    model, opt, sched, loader = toy_components(batch_size=2)
    trainer = Trainer(
        max_iter=2,
        job_dir=tmp_path,
        logging_iter=2,
        tensorboard=False,
        callbacks={"speed": IterSpeed(peak_flops_per_s=1e12), "mem": MemoryStats()},
    )
    out = trainer.fit(model, opt, sched, loader)["last_logged"]
    batch = next(iter(loader))
    assert out["tokens_per_s"] == pytest.approx(out["samples_per_s"] * 32)
    flops = model.flops_per_sample(batch)
    linear_only = (
        3
        * 32
        * 2
        * sum(m.weight.numel() for m in model.net.modules() if isinstance(m, torch.nn.Linear))
    )
    assert flops > linear_only  # attention counted
    assert out["mfu"] == pytest.approx(out["samples_per_s"] * flops / 1e12)
    assert out["mem_max_rss_gib"] > 0


def test_logged_row_callback_adds_fields_only_to_logged_rows(tmp_path):
    import json

    calls = []

    class _Extra(LoggedRowCallback):
        def add_metrics(self, model, data_batch, metrics):
            calls.append(metrics["iteration"])
            metrics["extra"] = len(data_batch["sample_idx"])

    model, opt, sched, loader = toy_components(batch_size=2)
    Trainer(
        max_iter=4,
        job_dir=tmp_path,
        logging_iter=2,
        tensorboard=False,
        callbacks={"extra": _Extra()},
    ).fit(model, opt, sched, loader)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert calls == [2, 4] and [(r["iteration"], r["extra"]) for r in rows] == [(2, 2), (4, 2)]


def test_manual_gc_disables_after_warmup_and_restores(tmp_path):
    model, opt, sched, loader = toy_components()
    seen = []

    class _Probe(Callback):
        def on_training_step_end(self, model, data_batch, output_batch, loss, iteration=0):
            seen.append(gc.isenabled())

    assert gc.isenabled()
    trainer = Trainer(
        max_iter=4,
        job_dir=tmp_path,
        logging_iter=10,
        tensorboard=False,
        callbacks={"gc": ManualGC(every_n=2, warm_up=2), "probe": _Probe()},
    )
    trainer.fit(model, opt, sched, loader)
    assert seen == [True, False, False, False]
    assert gc.isenabled()
    with pytest.raises(ValueError, match=r"ManualGC: need every_n >= 1.*got 0"):
        ManualGC(every_n=0)


def test_draw_sample_writes_openable_mp4_for_regular_and_ema(tmp_path):
    model, opt, sched, loader = toy_components(video_shape=(3, 3, 6, 8))
    cb = EveryNDrawSample(every_n=2, num_samples=2, num_steps=2)
    trainer = Trainer(
        max_iter=2, job_dir=tmp_path, logging_iter=10, tensorboard=False, callbacks={"draw": cb}
    )
    trainer.fit(model, opt, sched, loader)
    names = sorted(p.name for p in (tmp_path / "samples").iterdir())
    assert names == ["iter_000000002_ema.mp4", "iter_000000002_reg.mp4"]
    with av.open(str(tmp_path / "samples" / "iter_000000002_ema.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 3 and frames[0].shape == (6, 16, 3)  # two samples side by side


def test_tile_videos_rejects_wrong_dtype():
    with pytest.raises(ValueError, match="uint8"):
        tile_videos(torch.zeros(1, 3, 2, 4, 4))
