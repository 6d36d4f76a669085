"""experiments/2b_nemo.py: Cosmos's 2B nemo post-training recipe (reference scenario 2 and friends)."""

from __future__ import annotations

from pathlib import Path

import pytest

import lazycfg
from cosmos_train.configs.net import NET_KWARGS
from tests.experiments._values import assert_config_value

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"

PATH = str(EXPERIMENTS / "2b_nemo.py")


@pytest.fixture(scope="module")
def cfg():
    return lazycfg.load(PATH)


def test_check_is_clean(cfg):
    assert [str(p) for p in lazycfg.check(cfg)] == []


@pytest.mark.parametrize(
    "path, expected",
    [
        ("job.project", "cosmos_predict_v2p5"),
        ("job.group", "video2world"),
        ("job.name", "2b_cosmos_nemo_assets"),
        ("job.wandb_mode", "online"),
        ("trainer.distributed_parallelism", "fsdp"),
        ("model.config.fsdp_shard_size", 8),
        ("model.config.state_t", 24),
        ("model.config.resolution", "720"),
        ("model.config.conditional_frames_probs", {0: 0.5, 1: 0.25, 2: 0.25}),
        ("model.config.shift", 5.0),
        ("model.config.train_time_weight", "reweighting"),
        ("model.config.tokenizer.temporal_window", 16),
        ("optimizer.lr", 2 ** (-14.5)),
        ("optimizer.weight_decay", 0.001),
        ("optimizer.betas", [0.9, 0.999]),
        ("optimizer.fused", True),
        ("scheduler.f_max", [0.5]),
        ("scheduler.f_min", [0.2]),
        ("scheduler.warm_up_steps", [2000]),
        ("scheduler.cycle_lengths", [100000]),
        ("scheduler.f_start", [1e-6]),
        ("checkpoint.save_iter", 200),
        ("checkpoint.save_to_object_store.enabled", False),
        ("checkpoint.load_from_object_store.enabled", False),
        ("trainer.max_iter", 1000),
        ("trainer.logging_iter", 100),
        ("trainer.straggler_detection.enabled", False),
        ("trainer.straggler_detection.max_diff", 1.5),
        ("trainer.callbacks.grad_clip.clip_norm", 0.1),
        ("model_parallel.context_parallel_size", 1),
        ("upload_reproducible_setup", True),
        ("dataloader_train.dataset.dataset_dir", "datasets/cosmos_nemo_assets"),
        ("dataloader_train.dataset.num_frames", 93),
        ("dataloader_train.dataset.video_size", (704, 1280)),
        ("dataloader_train.dataset.text_dim", 100352),
        ("checkpoint.load_path", "nvidia/Cosmos-Predict2.5-2B/base/post-trained"),
        ("model.config.tokenizer.ckpt_path", "Wan2.1/vae"),
        ("model.config.text_encoder.weights", "nvidia/Cosmos-Reason1.1-7B"),
        ("model.config.text_encoder.max_length", 512),
        ("model.config.text_encoder.dtype", "bfloat16"),
    ],
    ids=lambda v: v if isinstance(v, str) and "." in v else None,
)
def test_scenario_2_values(cfg, path, expected):
    assert_config_value(cfg, path, expected)


def test_targets_and_choices(cfg):
    assert lazycfg.LazyRef  # the library's lazy reference type
    assert cfg.model._target_ == "cosmos_train.model.video2world.Video2WorldModelRectifiedFlow"
    assert cfg.model._recursive_ is False
    assert cfg.checkpoint.type._target_ == "cosmos_train.checkpoint.dcp.DCPCheckpointer"
    choices = lazycfg.choices(cfg)
    assert choices["model"] == "fsdp_rectified_flow"
    assert choices["callbacks"] == ["basic", "viz_online_sampling", "wandb", "cluster_speed"]


def test_net_is_the_released_predict2_5_2B(cfg):
    net = cfg.model.config.net
    assert net._target_ == "cosmos_train.nets.dit.MiniTrainDiT"
    assert {k: net[k] for k in net} == NET_KWARGS["predict2_5_2B"]


def test_net_on_meta_has_the_released_parameter_count(cfg, meta_param_count):
    assert meta_param_count(cfg) == 2_059_174_912


def test_cli_group_choice_keeps_experiment_values():
    """Scenario 4: optimizer=fusedadamw changes the option, keeps the experiment's lr/wd/betas."""
    cfg = lazycfg.load(PATH, ["optimizer=fusedadamw"])
    assert lazycfg.choices(cfg)["optimizer"] == "fusedadamw"
    assert (cfg.optimizer.lr, cfg.optimizer.weight_decay, cfg.optimizer.betas) == (2 ** (-14.5), 0.001, [0.9, 0.999])


def test_net_swap_keeps_experiment_patches():
    """Scenario 6: net=cosmos_v1_14B gives the 14B size with the experiment's RoPE/projection patches."""
    net = lazycfg.load(PATH, ["net=cosmos_v1_14B"]).model.config.net
    assert (net.model_channels, net.num_blocks, net.num_heads) == (5120, 36, 40)
    assert (net.rope_h_extrapolation_ratio, net.rope_w_extrapolation_ratio) == (3.0, 3.0)
    assert net.use_crossattn_projection is True


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["optimizer.lr=7e-4"], 7e-4),
        (["trainer.seed=3", "trainer.seed=4"], 4),
    ],
    ids=["lr", "last_wins"],
)
def test_cli_values_apply_after_the_experiment(overrides, expected):
    """Scenario 5."""
    cfg = lazycfg.load(PATH, overrides)
    key = overrides[-1].split("=")[0]
    obj = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    assert obj == expected


@pytest.mark.parametrize(
    "override, error",
    [
        ("trainer.max_iter=abc", "trainer.max_iter"),
        ("model.config.state_t=abc", "model.config.state_t"),
        ("checkpoint.save_iter=abc", "checkpoint.save_iter"),
        ("model_parallel.context_parallel_size=abc", "model_parallel.context_parallel_size"),
        ("job.foo=1", "job.foo"),
        ("~checkpoint.load_path", "checkpoint.load_path"),
        ("data_val=null", "data_val"),
        ("net=cosmos_v9", "cosmos_v1_2B"),
    ],
    ids=["max_iter", "state_t", "save_iter", "cp_size", "unknown_key", "delete_field", "null_group", "bad_option"],
)
def test_bad_overrides_name_the_key(override, error):
    """Scenarios 7-10: the whole tree is typed; errors name the key (or list the valid options)."""
    with pytest.raises(lazycfg.ConfigError, match=error):
        lazycfg.load(PATH, [override])


def test_model_option_swap_rejects_rectified_flow_fields():
    """Scenario 7: model=fsdp (EDM) under the RF experiment fails on model.config.shift."""
    from lazycfg._configclass import is_configclass

    from cosmos_train.model.config import Video2WorldConfig

    if not is_configclass(Video2WorldConfig):
        pytest.skip("cosmos_train.model.config uses plain attrs: unknown attributes are not rejected yet")
    with pytest.raises(lazycfg.ConfigError, match="shift"):
        lazycfg.load(PATH, ["model=fsdp"])


def test_interpolations_resolve_after_overrides():
    """Scenario 13/14: ${...} resolve once, after every override."""
    cfg = lazycfg.load(PATH, ["job.name=foo_${job.group}", "trainer.run_validation=${upload_reproducible_setup}"])
    lazycfg.resolve(cfg)
    assert cfg.job.name == "foo_video2world"
    assert cfg.trainer.run_validation is True


def test_smoke_overrides_apply(cfg):
    """Scenario 18: --smoke's values."""
    import copy

    c = copy.deepcopy(cfg)
    lazycfg.apply_overrides(c, ["job.wandb_mode=disabled", "trainer.max_iter=1", "trainer.logging_iter=1",
                                "trainer.validation_iter=1", "checkpoint.save_iter=1"])
    assert (c.trainer.max_iter, c.trainer.logging_iter, c.checkpoint.save_iter) == (1, 1, 1)


def test_short_cpu_run_on_a_tiny_nemo_folder(run_experiment, nemo_overrides):
    """The recipe end to end (local mp4 folder, precomputed embeddings, RF, EMA, DCP) on a tiny net."""
    out = run_experiment("2b_nemo.py", nemo_overrides)
    assert out["summary"]["iteration"] == 2
    train_rows = [r for r in out["rows"] if r.get("split") == "train"]
    assert [r["iteration"] for r in train_rows] == [1, 2]
    assert all(r["loss"] > 0 for r in train_rows)
    assert (out["job_dir"] / "checkpoints" / "iter_000000002").is_dir()
    assert (out["job_dir"] / "config.yaml").is_file()


def test_data_pin_keeps_clip_shape_and_text_width():
    """data_train=mock: the recipe without files (same clips, Reason1-wide random text)."""
    cfg = lazycfg.load(PATH, ["data_train=mock"])
    ds = cfg.dataloader_train.dataset
    assert ds._target_ == "cosmos_train.data.mock.MockVideoDataset"
    assert (ds.num_frames, ds.height, ds.width, ds.text_len, ds.text_dim) == (93, 704, 1280, 512, 100352)
    assert [str(p) for p in lazycfg.check(cfg.dataloader_train)] == []
    small = lazycfg.load(str(EXPERIMENTS / "2b_nemo_480p.py"), ["data_train=mock"]).dataloader_train.dataset
    assert (small.height, small.width) == (480, 832)


def test_text_is_reason1_online_as_in_cosmos(cfg):
    """Cosmos's recipes compute Reason1 embeddings in the training step (compute_online=True)."""
    assert lazycfg.choices(cfg)["text_encoder"] == "reason1_online"
    assert cfg.model.config.text_encoder._target_ == "cosmos_train.text_encoders.reason1.Reason1TextEncoder"
    assert cfg.dataloader_train.dataset.text_embeddings_subdir is None


def test_text_encoder_precomputed_reads_the_embedding_folder():
    cfg = lazycfg.load(PATH, ["text_encoder=precomputed"])
    assert cfg.model.config.text_encoder is None
    assert cfg.dataloader_train.dataset.text_embeddings_subdir == "reason1_embeddings"
    assert [str(p) for p in lazycfg.check(cfg)] == []


def test_short_cpu_run_with_online_reason1(run_experiment, nemo_overrides, tiny_reason1_dir):
    """The recipe as Cosmos runs it: captions -> Reason1 (the tiny fixture decoder) in the step, no files."""
    keep = [o for o in nemo_overrides if not o.startswith(("text_encoder=", "model.config.net.crossattn_proj_in"))]
    out = run_experiment("2b_nemo.py", keep + [
        f"model.config.text_encoder.weights={tiny_reason1_dir}",
        "model.config.text_encoder.max_length=32",
        "model.config.text_encoder.dtype=float32",
        "model.config.net.crossattn_proj_in_channels=256",  # 4 layers x 64 of the tiny decoder
    ])
    assert out["config"].dataloader_train.dataset.text_embeddings_subdir is None
    train_rows = [r for r in out["rows"] if r.get("split") == "train"]
    assert [r["iteration"] for r in train_rows] == [1, 2] and all(r["loss"] > 0 for r in train_rows)
