"""The typed Config schema: Cosmos's fields and defaults, typing, validate, freeze, to_dict, job
paths."""

from __future__ import annotations

import attrs
import pytest

import lazycfg
from cosmos_train.config import (
    DEFAULT_OUTPUT_ROOT,
    CheckpointConfig,
    Config,
    JobConfig,
    ModelParallelConfig,
    ObjectStoreConfig,
    Profiling,
    TrainerConfig,
)
from cosmos_train.configs.base import make_config
from lazycfg._configclass import is_configclass


@pytest.mark.parametrize(
    "path, expected",
    [
        ("job.wandb_mode", "online"),
        ("trainer.type", "cosmos_train.trainer.trainer.Trainer"),
        ("trainer.distributed_parallelism", "ddp"),
        ("trainer.ddp.static_graph", False),
        ("trainer.ddp.broadcast_buffers", True),
        ("trainer.cudnn.benchmark", True),
        ("trainer.seed", 0),
        ("trainer.grad_scaler_args", {"enabled": False}),
        ("trainer.max_iter", 999999999),
        ("trainer.max_val_iter", None),
        ("trainer.logging_iter", 100),
        ("trainer.run_validation", True),
        ("trainer.validation_iter", 999999999),
        ("trainer.memory_format", "preserve_format"),
        ("trainer.grad_accum_iter", 1),
        ("trainer.straggler_detection.max_diff", 2.0),
        ("trainer.profiling.target_ranks", list(range(8))),
        ("checkpoint.type", None),
        ("checkpoint.save_iter", 999999999),
        ("checkpoint.load_path", ""),
        ("checkpoint.strict_resume", True),
        ("checkpoint.keys_not_to_resume", []),
        ("checkpoint.jit.dtype", "bfloat16"),
        ("model_parallel.context_parallel_size", 1),
        ("upload_reproducible_setup", False),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_class_defaults_follow_cosmos(path, expected):
    cfg = Config()
    value = cfg
    for part in path.split("."):
        value = getattr(value, part)
    assert value == expected


@pytest.mark.parametrize(
    "make, field",
    [
        (CheckpointConfig, "keys_not_to_resume"),
        (Profiling, "target_ranks"),
        (TrainerConfig, "grad_scaler_args"),
        (CheckpointConfig, "save_to_object_store"),
        (Config, "trainer"),
    ],
    ids=["keys_not_to_resume", "target_ranks", "grad_scaler_args", "object_store", "trainer"],
)
def test_no_shared_mutable_defaults(make, field):
    a, b = make(), make()
    assert getattr(a, field) == getattr(b, field)
    assert getattr(a, field) is not getattr(b, field)


def test_every_section_is_a_configclass():
    cfg = Config()
    for section in (
        cfg,
        cfg.job,
        cfg.trainer,
        cfg.trainer.ddp,
        cfg.trainer.parallelism,
        cfg.checkpoint,
        cfg.checkpoint.save_to_object_store,
        cfg.model_parallel,
    ):
        assert is_configclass(section), type(section).__name__


def test_typed_assignment_and_typos_fail_with_the_path():
    cfg = Config()
    with pytest.raises(lazycfg.ConfigTypeError, match="max_iter: expected int"):
        cfg.trainer.max_iter = "abc"
    with pytest.raises(lazycfg.ConfigError, match="max_iter"):
        cfg.trainer.maxiter = 1
    cfg.trainer.straggler_detection.max_diff = 3  # int -> float is lossless
    assert cfg.trainer.straggler_detection.max_diff == 3.0
    assert isinstance(cfg.trainer.straggler_detection.max_diff, float)


def test_loading_the_schema_never_imports_torch():
    import subprocess
    import sys

    code = "import sys, cosmos_train.config; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_job_paths_use_the_cosmos_variable(monkeypatch):
    job = JobConfig(project="p", group="g", name="n")
    assert job.path == "p/g/n"
    monkeypatch.delenv("IMAGINAIRE_OUTPUT_ROOT", raising=False)
    assert job.path_local == f"{DEFAULT_OUTPUT_ROOT}/p/g/n"
    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", "/data/runs")
    assert job.path_local == "/data/runs/p/g/n"  # read on every access, as in Cosmos


def _valid() -> Config:
    cfg = make_config()
    lazycfg.select(cfg, "net", "tiny")
    cfg.job.name = "fixed"
    return cfg


def test_make_config_validates_once_a_net_is_chosen():
    _valid().validate(world_size=1)


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda c: setattr(c.model_parallel, "context_parallel_size", 2),
            "model_parallel.context_parallel_size=2",
        ),
        (
            lambda c: setattr(c.model_parallel, "tensor_model_parallel_size", 2),
            "model_parallel.tensor_model_parallel_size=2",
        ),
        (
            lambda c: setattr(c.model_parallel, "pipeline_model_parallel_size", 4),
            "model_parallel.pipeline_model_parallel_size=4",
        ),
        (
            lambda c: setattr(c.model_parallel, "sequence_parallel", True),
            "model_parallel.sequence_parallel",
        ),
        (lambda c: setattr(c.job, "name", ""), "job.name is empty"),
        (
            lambda c: setattr(c.trainer, "distributed_parallelism", "zero3"),
            "trainer.distributed_parallelism='zero3'",
        ),
        (lambda c: setattr(c.trainer, "logging_iter", 0), "trainer.logging_iter=0"),
        (
            lambda c: setattr(c.trainer.parallelism, "activation_checkpointing", "full"),
            "activation_checkpointing='full'",
        ),
        (lambda c: setattr(c.model.config, "net", None), "model.config.net is not set"),
        (lambda c: setattr(c.job, "name", "run_${now:%Y}"), "unresolved interpolation"),
        (
            lambda c: setattr(c.checkpoint.save_to_object_store, "enabled", True),
            "checkpoint.save_to_object_store.enabled=True",
        ),
    ],
    ids=[
        "cp",
        "tp",
        "pp",
        "sp",
        "empty_name",
        "parallelism",
        "logging_iter",
        "ac_mode",
        "no_net",
        "unresolved",
        "object_store",
    ],
)
def test_validate_names_the_offending_path(edit, message):
    cfg = _valid()
    edit(cfg)
    with pytest.raises(
        lazycfg.ConfigError,
        match=message.replace("$", r"\$").replace("{", r"\{").replace("(", r"\("),
    ):
        cfg.validate(world_size=1)


@pytest.mark.parametrize(
    "precision, param_dtype, ok",
    [
        ("float32", None, True),
        ("bfloat16", None, True),
        ("bfloat16", "bfloat16", True),
        ("bfloat16", "float32", True),  # gather in fp32, autocast still computes in bf16
        ("float32", "float32", True),
        ("float32", "bfloat16", False),  # FSDP would run bf16 without autocast; one process fp32
        ("bfloat16", "float16", False),
    ],
    ids=[
        "fp32-follow",
        "bf16-follow",
        "bf16-same",
        "bf16-fp32-gather",
        "fp32-same",
        "fp32-bf16-gather",
        "bf16-fp16-gather",
    ],
)
def test_param_dtype_must_agree_with_the_model_precision(precision, param_dtype, ok):
    cfg = _valid()
    assert cfg.trainer.parallelism.param_dtype is None  # default: follow model.config.precision
    cfg.model.config.precision = precision
    cfg.trainer.parallelism.param_dtype = param_dtype
    if ok:
        cfg.validate(world_size=1)
    else:
        with pytest.raises(
            lazycfg.ConfigError,
            match=rf"param_dtype={param_dtype} contradicts model.config.precision={precision}"
            r".*param_dtype=null",
        ):
            cfg.validate(world_size=1)


def test_fsdp_shard_size_larger_than_world_is_an_error():
    cfg = _valid()
    lazycfg.select(cfg, "model", "fsdp_rectified_flow")
    lazycfg.select(cfg, "net", "tiny")
    assert cfg.model.config.fsdp_shard_size == 8
    with pytest.raises(
        lazycfg.ConfigError, match=r"fsdp_shard_size=8 is larger than the world size \(2\)"
    ):
        cfg.validate(world_size=2)
    cfg.validate(world_size=8)
    cfg.validate(world_size=16)  # HSDP: 2 replicas of 8 shards
    with pytest.raises(lazycfg.ConfigError, match="does not divide"):
        cfg.validate(world_size=12)


@pytest.mark.parametrize("with_credentials", [False, True], ids=["no-credentials", "credentials"])
def test_object_store_is_refused_as_not_implemented(tmp_path, monkeypatch, with_credentials):
    """Never "provide the credentials file" first: with it the answer would still be no."""
    monkeypatch.chdir(tmp_path)
    cfg = _valid()
    lazycfg.select(cfg, "checkpoint", "s3")
    if with_credentials:
        (tmp_path / "credentials").mkdir()
        (tmp_path / "credentials" / "s3_checkpoint.secret").write_text("{}")
    with pytest.raises(lazycfg.ConfigError, match="not implemented.*checkpoint=local") as info:
        cfg.validate(world_size=1)
    assert "credentials" not in str(info.value)


def test_freeze_is_deep_and_names_the_path():
    cfg = _valid().freeze()
    for assign, path in (
        (lambda: setattr(cfg.job, "name", "x"), "job.name"),
        (lambda: setattr(cfg, "upload_reproducible_setup", True), "upload_reproducible_setup"),
        (
            lambda: setattr(cfg.checkpoint.save_to_object_store, "enabled", True),
            "checkpoint.save_to_object_store.enabled",
        ),
        (lambda: setattr(cfg.optimizer, "lr", 1.0), "optimizer.lr"),
        (lambda: cfg.trainer.callbacks.__setitem__("x", None), "trainer.callbacks"),
    ):
        with pytest.raises(lazycfg.FrozenConfigError, match=path.replace(".", r"\.")):
            assign()


def test_to_dict_is_plain_and_keeps_targets():
    d = _valid().to_dict()
    assert d["job"]["project"] == "cosmos_diffusion_v2"
    assert d["optimizer"]["_target_"] == "cosmos_train.optim.optimizers.build_adamw"
    assert d["model"]["config"]["net"]["model_channels"] == 64
    assert d["trainer"]["callbacks"]["grad_clip"]["clip_norm"] == 1.0

    def plain(x):
        if isinstance(x, dict):
            return type(x) is dict and all(plain(v) for v in x.values())
        if isinstance(x, list):
            return type(x) is list and all(plain(v) for v in x)
        return isinstance(x, (str, int, float, bool, type(None), tuple))

    assert plain(d)


def test_pretty_print_lists_every_top_level_field():
    text = _valid().pretty_print()
    for field in attrs.fields(Config):
        assert f"{field.name}:" in text
    assert "model_channels: 64" in text


def test_object_store_config_defaults():
    assert ObjectStoreConfig() == ObjectStoreConfig(enabled=False, credentials="", bucket="")
    assert ModelParallelConfig().sequence_parallel is False


def test_ac_mode_names_match_the_nets_module():
    from cosmos_train import config as schema
    from cosmos_train.nets import checkpointing

    assert schema.AC_MODES == checkpointing.AC_MODES
    assert set(schema.COSMOS_SAC_MODES) == set(checkpointing.COSMOS_SAC_MODES)
