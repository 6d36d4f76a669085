"""make_config() and the 12 config groups: defaults, options, packages, laziness, checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import lazycfg
from lazycfg._overrides import default_registry
from cosmos_train.configs.base import DEFAULT_CHOICES, make_config, register_options, select_checkpoint, select_model
from cosmos_train.configs.net import NET_KWARGS

GROUPS = {
    "data_train": ("dataloader_train", {"mock", "mock_image", "mock_video", "synthetic", "local_video"}),
    "data_val": ("dataloader_val", {"mock", "mock_image", "mock_video", "synthetic", "local_video"}),
    "optimizer": ("optimizer", {"fusedadamw", "adamw"}),
    "scheduler": ("scheduler", {"lambdalinear"}),
    "model": ("_global_", {"ddp", "fsdp", "fsdp_rectified_flow"}),
    "callbacks": ("trainer.callbacks", {"basic", "wandb", "debug", "viz_online_sampling", "long", "cluster_speed"}),
    "net": ("model.config.net", {"cosmos_v1_2B", "cosmos_v1_7B", "cosmos_v1_14B", "mini_net", "tiny"}),
    "conditioner": ("model.config.conditioner", {"video_prediction_conditioner"}),
    "ema": ("model.config.ema", {"power"}),
    "tokenizer": ("model.config.tokenizer", {"standin", "wan2pt1_tokenizer"}),
    "checkpoint": ("checkpoint", {"local", "s3", "pbss", "gcp"}),
    "ckpt_type": ("checkpoint.type", {"dcp", "disabled", "dummy"}),
}


@pytest.fixture(scope="module")
def base():
    return make_config()


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_group_registered_with_cosmos_package_and_options(base, group):
    registry = default_registry()
    package, expected = GROUPS[group]
    options = set(registry.options(group))
    assert expected <= options, expected - options
    assert {registry.package(group, name) for name in options} == {package}


def test_make_config_cosmos_base_values(base):
    assert (base.job.project, base.job.group) == ("cosmos_diffusion_v2", "debug")
    assert base.job.name == "delete_${now:%Y-%m-%d}_${now:%H-%M-%S}"
    assert base.trainer.max_iter == 400_000
    assert base.trainer.logging_iter == 10
    assert base.trainer.validation_iter == 100
    assert base.trainer.run_validation is False
    assert base.trainer.straggler_detection.enabled is False


def test_every_default_option_is_selected(base):
    expected = {group: option for group, option in DEFAULT_CHOICES if option is not None}
    assert lazycfg.choices(base) == expected
    assert base.model.config.net is None  # Cosmos: no default net
    assert base.trainer.distributed_parallelism == "ddp"
    assert base.checkpoint.type is not None  # dcp by default: a default run is resumable
    assert list(base.trainer.callbacks) == ["grad_clip", "iter_speed", "device_monitor", "manual_gc", "progress_bar"]


def test_timestamped_name_resolves_to_cosmos_pattern(base):
    import copy
    import re

    cfg = lazycfg.resolve(copy.deepcopy(base))
    assert re.fullmatch(r"delete_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}", cfg.job.name)


def test_fusedadamw_and_adamw_keep_lr_when_swapped():
    cfg = make_config()
    cfg.optimizer.lr = 3e-5
    lazycfg.apply_overrides(cfg, ["optimizer=adamw"])
    assert cfg.optimizer.lr == 1e-4  # a group choice on a built config replaces the subtree
    assert lazycfg.choices(cfg)["optimizer"] == "adamw"


def test_select_model_keeps_sub_choices_and_pins_still_win():
    cfg = make_config()
    lazycfg.select(cfg, "net", "tiny")
    select_model(cfg, "fsdp_rectified_flow")
    assert cfg.model.config.net.model_channels == 64
    assert cfg.model.config.tokenizer is not None and cfg.model.config.ema.enabled
    assert cfg.trainer.distributed_parallelism == "fsdp"
    select_checkpoint(cfg, "local")
    assert cfg.checkpoint.type is not None


def test_multi_option_callbacks_merge_in_order():
    cfg = make_config()
    lazycfg.select(cfg, "callbacks", ["basic", "viz_online_sampling", "wandb", "cluster_speed"])
    assert list(cfg.trainer.callbacks) == [
        "grad_clip", "iter_speed", "device_monitor", "manual_gc", "progress_bar",
        "every_n_sample_reg", "every_n_sample_ema", "wandb",
    ]
    assert cfg.trainer.callbacks.every_n_sample_ema.is_ema is True
    assert cfg.trainer.callbacks.wandb._target_ == "cosmos_train.trainer.callbacks.WandbLogger"


@pytest.mark.parametrize("name", sorted(NET_KWARGS))
def test_net_option_writes_every_preset_value(name):
    from cosmos_train.nets.presets import preset_kwargs

    node = default_registry().get("net", name)
    assert {key: node[key] for key in node} == preset_kwargs(name)


def test_registration_and_loading_do_not_import_torch():
    code = (
        "import sys, lazycfg; import cosmos_train.configs.base as b; c = b.make_config(); "
        "lazycfg.load('experiments/2b_nemo.py', ['net=cosmos_v1_14B']); "
        "from lazycfg._cli import main; main(['show', 'experiments/2b_nemo.py', 'optimizer=fusedadamw']); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _options():
    register_options()
    registry = default_registry()
    for group in GROUPS:
        for name in registry.options(group):
            yield group, name


@pytest.mark.parametrize("group, name", list(_options()))
def test_every_option_passes_check(group, name):
    """Each option's targets import and accept the written kwargs (signature-checked, nothing built)."""
    node = default_registry().get(group, name)
    problems = [str(p) for p in lazycfg.check(node)] if node is not None else []
    assert problems == []


def test_registering_twice_is_a_no_op_and_a_different_node_an_error():
    import importlib

    import cosmos_train.configs.optimizer as mod

    importlib.reload(mod)  # equal nodes: no-op
    with pytest.raises(lazycfg.ConfigError, match="already registered"):
        lazycfg.register("optimizer", "adamw", lazycfg.L("torch.optim.SGD")(lr=1.0))


_EXPERIMENTS = sorted((Path(__file__).resolve().parents[3] / "experiments").glob("*.py"))


@pytest.mark.parametrize("choice", ["callbacks=[basic,wandb]", "callbacks=[basic]", "callbacks=[wandb]"])
@pytest.mark.parametrize("experiment", _EXPERIMENTS, ids=[p.stem for p in _EXPERIMENTS])
def test_every_experiment_takes_a_smaller_callbacks_choice(experiment, choice):
    """A command-line callbacks choice replaces the experiment's list; tuning must skip the rest.

    Regression: ``callbacks=[basic,wandb]`` on tiny_cpu/2b_nemo failed with
    ``KeyError: 'every_n_sample_reg'``. Experiments tune callbacks with ``tune_callbacks``.
    """
    cfg = lazycfg.load(str(experiment), [choice])
    wanted = {"basic": {"grad_clip", "progress_bar"}, "wandb": {"wandb"}}
    names = set(cfg.trainer.callbacks)
    for option in choice.split("[")[1].rstrip("]").split(","):
        assert wanted[option] <= names
    assert "every_n_sample_reg" not in names


def test_tune_callbacks_sets_selected_and_skips_absent():
    from cosmos_train.configs.callbacks import tune_callbacks

    cfg = make_config()
    lazycfg.select(cfg, "callbacks", ["basic"])
    tune_callbacks(cfg, grad_clip={"clip_norm": 0.5}, every_n_sample_reg={"every_n": 7})
    assert cfg.trainer.callbacks.grad_clip.clip_norm == 0.5
    assert "every_n_sample_reg" not in cfg.trainer.callbacks
