"""cosmos_train.launch: the mapping of the typed Config onto trainer, checkpointer and net
builder."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import lazycfg
from cosmos_train import launch
from cosmos_train.checkpoint import dcp
from cosmos_train.checkpoint.dcp import DCPCheckpointer
from cosmos_train.trainer import trainer as trainer_module
from cosmos_train.trainer.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cfg(monkeypatch, tmp_path):
    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path))
    return lazycfg.resolve(lazycfg.load(str(ROOT / "experiments" / "tiny_cpu.py")))


def test_trainer_kwargs_map_every_knob(cfg):
    cfg.trainer.max_iter, cfg.trainer.logging_iter, cfg.trainer.validation_iter = 300, 10, 100
    cfg.trainer.cudnn.deterministic = True
    cfg.trainer.timeout_period = 600
    cfg.trainer.straggler_detection.enabled = True
    cfg.trainer.straggler_detection.max_diff = 1.5
    cfg.trainer.profiling.enable_profiling = True
    cfg.trainer.profiling.target_ranks = [0, 1]
    cfg.job.wandb_mode = "disabled"
    kw = Trainer.config_kwargs(cfg)
    assert kw["max_iter"] == 300 and kw["logging_iter"] == 10 and kw["validation_iter"] == 100
    assert kw["job_dir"] == cfg.job.path_local
    assert kw["deterministic"] is True
    assert kw["timeout_s"] == 600.0
    assert kw["straggler"] == {"report_every": 100, "max_ratio": 1.5, "raise_after": 1}
    assert kw["profiling"]["ranks"] == (0, 1)
    assert kw["tensorboard"] is False
    assert kw["config"] is cfg
    assert list(kw["callbacks"]) == list(cfg.trainer.callbacks)
    from cosmos_train.trainer.callbacks import GradClip

    assert (
        isinstance(kw["callbacks"]["grad_clip"], GradClip)
        and kw["callbacks"]["grad_clip"].clip_norm == 1.0
    )
    # The trainer class accepts exactly these keywords.
    trainer = launch.build_trainer(cfg)
    assert trainer.max_iter == 300 and trainer.timeout_s == 600.0
    assert isinstance(trainer.checkpointer, DCPCheckpointer)


def test_watchdog_on_straggler_and_profiling_off_by_default(cfg):
    kw = Trainer.config_kwargs(cfg)
    assert kw["straggler"] is None and kw["profiling"] is None
    assert kw["timeout_s"] == 900.0


@pytest.mark.parametrize("period", [0, 999999999], ids=["zero", "cosmos-off"])
def test_watchdog_can_be_turned_off(cfg, period):
    cfg.trainer.timeout_period = period
    assert Trainer.config_kwargs(cfg)["timeout_s"] is None


@pytest.mark.parametrize(
    "cls, section, elsewhere",
    [
        pytest.param(Trainer, "trainer", trainer_module.CONFIG_FIELDS_USED_ELSEWHERE, id="trainer"),
        pytest.param(
            DCPCheckpointer, "checkpoint", dcp.CONFIG_FIELDS_USED_ELSEWHERE, id="checkpoint"
        ),
    ],
)
def test_every_config_field_reaches_its_component(cfg, cls, section, elsewhere):
    """A new field is a constructor parameter of the same name, a derived one, or used elsewhere."""
    import inspect

    import attrs

    params = inspect.signature(cls.__init__).parameters
    fields = [f.name for f in attrs.fields(type(getattr(cfg, section)))]
    unmapped = [
        n for n in fields if n not in params and n not in cls.CONFIG_DERIVED and n not in elsewhere
    ]
    assert unmapped == []
    passed = cls.config_kwargs(cfg)
    for name in fields:
        if name in params and name not in cls.CONFIG_DERIVED:
            assert passed[name] == getattr(getattr(cfg, section), name), name
    assert set(passed) <= set(params)


def test_from_config_overrides_replace_mapped_arguments(cfg):
    trainer = Trainer.from_config(cfg, max_iter=7, checkpointer=None)
    assert trainer.max_iter == 7 and trainer.checkpointer is None


def test_checkpointer_built_from_the_checkpoint_section(cfg):
    cfg.checkpoint.save_iter = 100
    cfg.checkpoint.keys_not_to_resume = ["optim"]
    cfg.checkpoint.keep_last_k = 2
    cfg.checkpoint.allowed_config_changes = ["trainer.callbacks.*"]
    ck = dcp.build_checkpointer(cfg)
    assert (
        "trainer.callbacks.*" in ck.allowed_config_changes and "job.*" in ck.allowed_config_changes
    )
    assert ck.save_iter == 100 and ck.keys_not_to_resume == ("optim",) and ck.keep_last_k == 2
    assert Path(ck.job_dir) == Path(cfg.job.path_local)
    assert ck.config is cfg


def test_ckpt_type_none_is_logged(cfg, caplog):
    lazycfg.select(cfg, "ckpt_type", "disabled")
    with caplog.at_level(logging.WARNING, logger="cosmos_train.checkpoint.dcp"):
        assert dcp.build_checkpointer(cfg) is None
        assert launch.build_trainer(cfg).checkpointer is None
    assert "NO checkpoints will be saved" in caplog.text


def test_net_builder_follows_the_parallelism_section(cfg):
    import torch

    cfg.trainer.parallelism.activation_checkpointing = "block"
    build = launch.make_builder(cfg, device=torch.device("cpu"))
    net = build(lambda: lazycfg.instantiate(cfg.model.config.net), role="net")
    assert sum(p.numel() for p in net.parameters()) == 613_632  # tiny_cpu widens the tiny preset
    # Same init on every call (identical on every rank).
    net2 = build(lambda: lazycfg.instantiate(cfg.model.config.net), role="net")
    assert all(
        torch.equal(a, b) for a, b in zip(net.state_dict().values(), net2.state_dict().values())
    )


@pytest.mark.parametrize(
    "precision, param_dtype, expected",
    [
        ("float32", None, "float32"),
        ("bfloat16", None, "bfloat16"),
        ("bfloat16", "float32", "float32"),
    ],
    ids=["fp32-model", "bf16-model", "explicit"],
)
def test_fsdp_param_dtype_follows_the_model_precision_unless_set(
    cfg, monkeypatch, precision, param_dtype, expected
):
    from cosmos_train.distributed import parallelize

    seen = {}
    monkeypatch.setattr(parallelize, "make_net_builder", lambda **kwargs: seen.update(kwargs))
    cfg.model.config.precision = precision
    cfg.trainer.parallelism.param_dtype = param_dtype
    launch.make_builder(cfg, device="cpu")
    assert seen["param_dtype"] == expected


def test_resolve_on_one_rank_resolves_once(cfg):
    c = lazycfg.load(
        str(ROOT / "experiments" / "tiny_cpu.py"), ["job.name=run_${now:%Y}_${now:%Y}"]
    )
    resolved = launch.resolve_on_all_ranks(c)
    year = resolved.job.name.split("_")[1]
    assert resolved.job.name == f"run_{year}_{year}"


def test_trainer_type_must_import(cfg):
    cfg.trainer.type = "cosmos_train.trainer.NoSuchTrainer"
    with pytest.raises(
        lazycfg.ConfigError,
        match="trainer.type='cosmos_train.trainer.NoSuchTrainer' cannot be imported",
    ):
        launch.build_trainer(cfg)


def test_official_weights_without_checkpointer(cfg, tmp_path):
    """ckpt_type=none + checkpoint.load_path=<consolidated .pt>: the launcher loads the weights
    itself."""
    import torch

    from cosmos_train.checkpoint.consolidated import save_consolidated

    cfg.model.config.precision = "float32"
    model = lazycfg.instantiate(cfg.model, device="cpu")
    with torch.no_grad():
        for p in model.net.parameters():
            p.add_(1.0)
    path = tmp_path / "model.pt"
    save_consolidated(path, net=model.net, net_ema=model.net_ema, dtype=torch.float32)
    fresh = lazycfg.instantiate(cfg.model, device="cpu")
    launch.load_official_weights(fresh, str(path))
    for a, b in zip(fresh.net.parameters(), model.net.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(lazycfg.ConfigError, match="only a consolidated .pt"):
        launch.load_official_weights(fresh, str(tmp_path))
    with pytest.raises(lazycfg.ConfigError, match="does not exist"):
        launch.load_official_weights(fresh, str(tmp_path / "missing.pt"))


def test_ignored_cosmos_fields_are_logged(cfg, caplog):
    cfg.trainer.ddp.static_graph = True
    cfg.checkpoint.load_ema_to_reg = True
    with caplog.at_level(logging.WARNING, logger="cosmos_train.launch"):
        launch._warn_about_ignored_fields(cfg)
    assert "trainer.ddp.static_graph=True has no effect" in caplog.text
    assert "checkpoint.load_ema_to_reg=True has no effect" in caplog.text


def _raise(exc: BaseException):
    raise exc


@pytest.mark.parametrize(
    "body, code, stderr",
    [
        pytest.param(lambda: None, 0, "", id="none-is-0"),
        pytest.param(lambda: 1, 1, "", id="return-code"),
        pytest.param(
            lambda: _raise(lazycfg.ConfigError("bad key x")),
            2,
            "error: bad key x\n",
            id="config-error",
        ),
    ],
)
def test_run_cli_turns_user_errors_into_exit_2(body, code, stderr, capsys):
    assert launch.run_cli(body) == code
    assert capsys.readouterr().err == stderr


def test_run_cli_reports_checkpoint_errors_and_reraises_bugs(capsys):
    from cosmos_train.checkpoint.dcp import CheckpointError

    assert launch.run_cli(lambda: _raise(CheckpointError("resume refused: shape"))) == 2
    assert capsys.readouterr().err == "error: resume refused: shape\n"
    with pytest.raises(ZeroDivisionError):
        launch.run_cli(lambda: 1 / 0)
