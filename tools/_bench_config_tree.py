"""The Cosmos-shaped synthetic config used by ``tools/bench_config.py``, rendered three ways.

One specification (13 option groups, experiments in inheritance chains, ~230 leaves) is written
out as source files for:

* ``lc/``: lazycfg (``@configclass`` schema, ``register`` at import, experiment files that call
  a parent's ``make_config()`` through ``load_rel``);
* ``hy/``: Hydra's ConfigStore with ``defaults`` lists, composed the way Cosmos's ``override()``
  does (attrs -> DictConfig -> compose -> resolve -> attrs rebuild);
* ``fl/``: a plain-Python floor (attrs + dicts, functions per option, naive overrides, no checks).

Experiment bodies only edit values (never replace a whole node) and select each group at most
once per chain, so Hydra's "bodies merge after groups" and lazycfg's "select replaces the
subtree" give the same final config; ``bench_config.py --verify`` checks that.
"""

from __future__ import annotations

import os
import textwrap
from typing import Any

T = "bench_targets."  # targets are dotted strings: nothing heavy is imported while loading


class N:
    """A call node: target (short class name) and kwargs."""

    def __init__(self, target: str, recursive: bool = True, **kwargs: Any) -> None:
        self.target, self.recursive, self.kwargs = T + target, recursive, kwargs


class A:
    """An attrs config instance of a schema class."""

    def __init__(self, cls: str, **kwargs: Any) -> None:
        self.cls, self.kwargs = cls, kwargs


class _Placeholder:
    def __repr__(self) -> str:
        return "PLACEHOLDER"


PH = _Placeholder()


def _loader(dataset: str, **kw: Any) -> N:
    ds = N(
        dataset,
        resolution="${model.config.resolution}",
        num_video_frames=93,
        fps=16,
        dataset_dir="datasets/cosmos_nemo_assets",
        caption_type="t5",
        augment=True,
    )
    base = dict(
        dataset=ds,
        batch_size=1,
        shuffle=True,
        num_workers=8,
        pin_memory=True,
        drop_last=True,
        prefetch_factor=4,
        persistent_workers=False,
        cache_size=32,
    )
    base.update(kw)
    return N("get_video_dataloader", **base)


def _net(channels: int, blocks: int, heads: int) -> N:
    return N(
        "MiniTrainDIT",
        max_img_h=240,
        max_img_w=240,
        max_frames=128,
        in_channels=16,
        out_channels=16,
        patch_spatial=2,
        patch_temporal=1,
        concat_padding_mask=True,
        model_channels=channels,
        num_blocks=blocks,
        num_heads=heads,
        mlp_ratio=4.0,
        crossattn_emb_channels=1024,
        pos_emb_cls="rope3d",
        pos_emb_learnable=True,
        pos_emb_interpolation="crop",
        min_fps=1,
        max_fps=30,
        use_adaln_lora=True,
        adaln_lora_dim=256,
        rope_h_extrapolation_ratio=1.0,
        rope_w_extrapolation_ratio=1.0,
        rope_t_extrapolation_ratio=1.0,
        extra_per_block_abs_pos_emb=False,
        rope_enable_fps_modulation=False,
        sac_config={"mode": "predict2_2b_720", "every_n_blocks": 1},
        use_crossattn_projection=False,
        crossattn_proj_in_channels=1024,
        timestep_scale=1.0,
        use_wan_fp32_strategy=False,
        atten_backend="minimal_a2a",
    )


def _model(parallelism: str) -> N:
    cfg = N(
        "Video2WorldConfig",
        precision="bfloat16",
        state_ch=16,
        state_t=24,
        resolution="720",
        fsdp_shard_size=1 if parallelism == "ddp" else 8,
        sigma_data=1.0,
        shift=5,
        conditional_frames_probs={0: 0.5, 1: 0.25, 2: 0.25},
        min_num_conditional_frames=0,
        max_num_conditional_frames=2,
        text_encoder_class="T5",
        train_time_distribution="logitnormal",
        train_time_weight="uniform",
        net=None,
        tokenizer=None,
        conditioner=None,
        ema=None,
        input_data_key="video",
        loss_scale=10.0,
        adjust_video_noise=True,
    )
    return N("Video2WorldModel", recursive=False, config=cfg)


def _remap(key: str, out: str) -> N:
    return N("ReMapkey", input_key=key, output_key=out, dropout_rate=0.0, dtype=None)


_S3 = "${upload_reproducible_setup}"

# group -> (package, {option: value}); order = the base config's selection order.
GROUPS: dict[str, tuple[str, dict[str, Any]]] = {
    "data_train": (
        "dataloader_train",
        {
            "mock": _loader("MockVideoDataset"),
            "video_a": _loader("LocalVideoDataset", batch_size=2),
            "video_b": _loader("LocalVideoDataset", num_workers=4),
        },
    ),
    "data_val": (
        "dataloader_val",
        {
            "mock": _loader("MockVideoDataset", shuffle=False),
            "video_a": _loader("LocalVideoDataset", shuffle=False),
        },
    ),
    "optimizer": (
        "optimizer",
        {
            "adamw": N(
                "get_base_optimizer",
                model=PH,
                optim_type="adamw",
                lr=1e-4,
                weight_decay=0.1,
                betas=[0.9, 0.999],
                eps=1e-8,
                fused=True,
            ),
            "fusedadamw": N(
                "get_base_optimizer",
                model=PH,
                optim_type="fusedadam",
                lr=1e-4,
                weight_decay=0.1,
                betas=[0.9, 0.999],
                eps=1e-8,
                master_weights=True,
                capturable=True,
            ),
        },
    ),
    "scheduler": (
        "scheduler",
        {
            "lambdalinear": N(
                "LambdaLinearScheduler",
                warm_up_steps=[1000],
                cycle_lengths=[10000000],
                f_start=[1e-6],
                f_max=[1.0],
                f_min=[1.0],
                verbosity_interval=0,
            ),
            "constant": N(
                "LambdaLinearScheduler",
                warm_up_steps=[0],
                cycle_lengths=[10000000],
                f_start=[1.0],
                f_max=[1.0],
                f_min=[1.0],
                verbosity_interval=0,
            ),
        },
    ),
    "model": ("model", {"ddp": _model("ddp"), "fsdp": _model("fsdp")}),
    "callbacks": (
        "trainer.callbacks",
        {
            "basic": {
                "grad_clip": N("GradClip", clip_norm=1.0, force_finite=True),
                "low_prec": N("LowPrecisionCallback", config=PH, trainer=PH, update_iter=1),
                "iter_speed": N(
                    "IterSpeed", every_n="${trainer.logging_iter}", hit_thres=50, save_s3=_S3
                ),
                "heart_beat": N("HeartBeat", every_n=10, step_size=1, save_s3=_S3),
                "device_monitor": N(
                    "DeviceMonitor",
                    every_n="${trainer.logging_iter}",
                    save_s3=_S3,
                    upload_every_n_mul=10,
                ),
                "manual_gc": N("ManualGarbageCollection", every_n=5, warm_up=5),
                "compile_tokenizer": N(
                    "CompileTokenizer", enabled=False, compile_after_iterations=4, dynamic=False
                ),
            },
            "wandb": {
                "wandb": N(
                    "WandbCallback",
                    save_s3=_S3,
                    logging_iter_multipler=1,
                    save_logging_iter_multipler=10,
                ),
                "wandb_10x": N(
                    "WandbCallback",
                    save_s3=_S3,
                    logging_iter_multipler=10,
                    save_logging_iter_multipler=1,
                ),
            },
            "viz": {
                "every_n_sample_reg": N(
                    "EveryNDrawSample",
                    every_n=5000,
                    do_x0_prediction=False,
                    guidance=[0, 3, 7],
                    fps=16,
                    save_s3=_S3,
                ),
                "every_n_sample_ema": N(
                    "EveryNDrawSample",
                    every_n=5000,
                    do_x0_prediction=False,
                    guidance=[0, 3, 7],
                    fps=16,
                    is_ema=True,
                    save_s3=_S3,
                ),
            },
            "speed": {"dataloader_speed": N("DataloadingSpeed", every_n=100, save_s3=_S3)},
        },
    ),
    "net": (
        "model.config.net",
        {
            "cosmos_v1_2B": _net(2048, 28, 16),
            "cosmos_v1_14B": _net(5120, 36, 40),
            "mini": _net(512, 4, 8),
        },
    ),
    "conditioner": (
        "model.config.conditioner",
        {
            "video_cond": N(
                "VideoConditioner",
                fps=_remap("fps", "fps"),
                padding_mask=_remap("padding_mask", "padding_mask"),
                text=N(
                    "TextAttr",
                    input_key=["t5_text_embeddings"],
                    dropout_rate=0.2,
                    use_empty_string=False,
                ),
                use_video_condition=N(
                    "BooleanFlag",
                    input_key="fps",
                    output_key="use_video_condition",
                    dropout_rate=0.0,
                ),
            )
        },
    ),
    "ema": (
        "model.config.ema",
        {
            "power": N("EMAConfig", enabled=True, rate=0.1, iteration_shift=0, type="power"),
            "power_slow": N("EMAConfig", enabled=True, rate=0.05, iteration_shift=0, type="power"),
        },
    ),
    "tokenizer": (
        "model.config.tokenizer",
        {
            "wan2pt1": N(
                "Wan2pt1VAEInterface",
                name="wan2pt1_tokenizer",
                vae_pth="checkpoints/wan2pt1/vae.pth",
                temporal_window=16,
                chunk_duration=81,
                spatial_compression_factor=8,
                temporal_compression_factor=4,
                load_mean_std=False,
                s3_credential_path="",
                dtype="bfloat16",
            ),
            "dummy": N("DummyTokenizer", latent_ch=16, spatial_compression_factor=8),
        },
    ),
    "checkpoint": (
        "checkpoint",
        {
            "local": A("CheckpointConfig", save_iter=1000, load_path="", strict_resume=True),
            "s3": A(
                "CheckpointConfig", save_iter=500, load_path="s3://bucket/ckpt", strict_resume=True
            ),
        },
    ),
    "ckpt_type": (
        "checkpoint.type",
        {
            "dcp": N("DistributedCheckpointer", async_save=False, verbose=True),
            "dummy": N("DummyCheckpointer", verbose=False),
        },
    ),
    "model_parallel": (
        "model_parallel",
        {
            "default": A("ModelParallelConfig"),
            "cp2": A("ModelParallelConfig", context_parallel_size=2),
        },
    ),
}
DEFAULTS: list[tuple[str, Any]] = [
    ("data_train", "mock"),
    ("data_val", "mock"),
    ("optimizer", "adamw"),
    ("scheduler", "lambdalinear"),
    ("model", "ddp"),
    ("callbacks", ["basic"]),
    ("net", "mini"),
    ("conditioner", "video_cond"),
    ("ema", "power"),
    ("tokenizer", "wan2pt1"),
    ("checkpoint", "local"),
    ("ckpt_type", "dcp"),
    ("model_parallel", "default"),
]

SCHEMA = """
@DECORATOR
class JobConfig:
    project: str = "cosmos_diffusion_v2"
    group: str = "debug"
    name: str = "delete_${now:%Y-%m-%d}_${now:%H-%M-%S}"
    wandb_mode: str = "online"
    cluster: str = "local"


@DECORATOR
class TrainerConfig:
    max_iter: int = 400000
    logging_iter: int = 10
    validation_iter: int = 100
    run_validation: bool = False
    seed: int = 0
    grad_accum_iter: int = 1
    distributed_parallelism: str = "ddp"
    max_val_iter: Optional[int] = None
    timestamp_seed: bool = False
    memory_format: str = "preserve_format"
    ddp: dict = attrs.field(factory=lambda: {"find_unused_parameters": False,
                                             "static_graph": True, "broadcast_buffers": True})
    cudnn: dict = attrs.field(factory=lambda: {"deterministic": False, "benchmark": True})
    callbacks: Any = None
    grad_scaler_args: dict = attrs.field(factory=lambda: {"enabled": False, "init_scale": 65536.0})
    straggler_detection: dict = attrs.field(
        factory=lambda: {"enabled": False, "max_diff": 1.5, "report_freq": 100})


@DECORATOR
class CheckpointConfig:
    type: Any = None
    save_iter: int = 1000
    load_path: str = ""
    load_training_state: bool = False
    strict_resume: bool = True
    keys_not_to_resume: list = attrs.field(factory=list)
    broadcast_via_filesystem: bool = False
    verbose: bool = True
    dcp_async_mode_enabled: bool = False
    load_ema_to_reg: bool = False
    jit: dict = attrs.field(factory=lambda: {"enabled": False, "input_shape": None,
                                             "device": "cuda", "dtype": "bfloat16",
                                             "strict": True})


@DECORATOR
class ModelParallelConfig:
    tensor_model_parallel_size: int = 1
    pipeline_model_parallel_size: int = 1
    context_parallel_size: int = 1
    sequence_parallel: bool = False


@DECORATOR
class Config:
    model: Any = None
    optimizer: Any = None
    scheduler: Any = None
    dataloader_train: Any = None
    dataloader_val: Any = None
    job: JobConfig = attrs.field(factory=JobConfig)
    trainer: TrainerConfig = attrs.field(factory=TrainerConfig)
    checkpoint: CheckpointConfig = attrs.field(factory=CheckpointConfig)
    model_parallel: ModelParallelConfig = attrs.field(factory=ModelParallelConfig)
    upload_reproducible_setup: bool = False
"""

# The 10 command-line overrides of the measured run (one group choice, two interpolations).
OVERRIDES = [
    "trainer.max_iter=500",
    "trainer.logging_iter=7",
    "optimizer.lr=3e-4",
    "model.config.net.num_blocks=4",
    "job.name=bench_${trainer.max_iter}_${now:%Y%m%d}",
    "trainer.validation_iter=${trainer.logging_iter}",
    "checkpoint.save_iter=50",
    "dataloader_train.batch_size=3",
    "trainer.callbacks.grad_clip.clip_norm=0.5",
    "ema=power_slow",
]
MEASURED = "d4"


class Exp:
    """One experiment: parent, group selections and value edits (dotted path -> value)."""

    def __init__(
        self, name: str, parent: str | None, choices: dict[str, Any], edits: dict[str, Any]
    ) -> None:
        self.name, self.parent, self.choices, self.edits = name, parent, choices, edits


def experiments(n: int) -> list[Exp]:
    """The measured chain d0..d4 (depth 5) plus ``n - 5`` sibling experiments."""
    chain = [
        Exp(
            "d0",
            None,
            {"net": "cosmos_v1_2B"},
            {
                "job.project": "cosmos_predict_v2p5",
                "job.group": "video2world",
                "job.name": "d0",
                "trainer.max_iter": 1000,
                "model.config.state_t": 24,
                "trainer.distributed_parallelism": "fsdp",
                "model.config.net.rope_h_extrapolation_ratio": 3.0,
            },
        ),
        Exp(
            "d1",
            "d0",
            {"callbacks": ["basic", "wandb", "viz", "speed"]},
            {
                "trainer.logging_iter": 100,
                "model.config.resolution": "720",
                "model.config.shift": 5,
                "trainer.callbacks.wandb.logging_iter_multipler": 2,
            },
        ),
        Exp(
            "d2",
            "d1",
            {"optimizer": "fusedadamw", "data_train": "video_a"},
            {
                "optimizer.lr": 2**-14.5,
                "optimizer.weight_decay": 0.001,
                "dataloader_train.num_workers": 4,
                "model.config.net.use_crossattn_projection": True,
                "job.name": "d2",
            },
        ),
        Exp(
            "d3",
            "d2",
            {"data_val": "video_a", "scheduler": "constant"},
            {
                "checkpoint.save_iter": 200,
                "checkpoint.load_path": "s3://bucket/ckpt",
                "scheduler.f_max": [0.5],
                "scheduler.f_min": [0.2],
                "upload_reproducible_setup": True,
                "model.config.net.timestep_scale": 0.001,
            },
        ),
        Exp(
            "d4",
            "d3",
            {"tokenizer": "wan2pt1", "model_parallel": "cp2"},
            {
                "job.name": "2b_cosmos_nemo_assets",
                "trainer.straggler_detection.max_diff": 2.5,
                "model.config.fsdp_shard_size": 8,
                "dataloader_train.dataset.num_video_frames": 61,
                "model.config.tokenizer.temporal_window": 8,
                "job.wandb_mode": "disabled",
            },
        ),
    ]
    siblings = []
    for i in range(max(0, n - len(chain))):
        parent = ["d0", "d1", "d2", None][i % 4]
        choices = {} if parent else {"net": ["mini", "cosmos_v1_14B"][i % 2]}
        siblings.append(
            Exp(
                f"s{i}",
                parent,
                choices,
                {
                    "job.name": f"s{i}",
                    "trainer.max_iter": 100 + i,
                    "model.config.state_t": 8 + i % 16,
                },
            )
        )
    return chain + siblings


def chain_of(exps: list[Exp], name: str) -> list[Exp]:
    """The experiments from the root ancestor down to ``name``."""
    by = {e.name: e for e in exps}
    out = [by[name]]
    while out[-1].parent:
        out.append(by[out[-1].parent])
    return out[::-1]


# ------------------------------------------------------------------------------------ rendering
def _lc(v: Any) -> str:
    if isinstance(v, N):
        args = [f"{k}={_lc(x)}" for k, x in v.kwargs.items()]
        if not v.recursive:
            args.append("_recursive_=False")
        return f'L("{v.target}")({", ".join(args)})'
    if isinstance(v, A):
        return f"{v.cls}({', '.join(f'{k}={_lc(x)}' for k, x in v.kwargs.items())})"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k!r}: {_lc(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_lc(x) for x in v) + "]"
    return repr(v)


def _py(v: Any, placeholder: str = "None") -> str:
    """Plain dict form (Hydra nodes and the floor): ``{"_target_": ..., **kwargs}``."""
    if isinstance(v, N):
        items = [f'"_target_": "{v.target}"'] + [
            f"{k!r}: {_py(x, placeholder)}" for k, x in v.kwargs.items()
        ]
        if not v.recursive:
            items.append('"_recursive_": False')
        return "{" + ", ".join(items) + "}"
    if isinstance(v, A):
        return f"{v.cls}({', '.join(f'{k}={_py(x, placeholder)}' for k, x in v.kwargs.items())})"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k!r}: {_py(x, placeholder)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_py(x, placeholder) for x in v) + "]"
    if v is PH:
        return placeholder
    return repr(v)


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(textwrap.dedent(text).lstrip())


def write_lazycfg(root: str, exps: list[Exp]) -> None:
    """lazycfg: schema + groups registered at import + one file per experiment."""
    pkg = os.path.join(root, "benchlc")
    _write(os.path.join(pkg, "__init__.py"), "")
    _write(
        os.path.join(pkg, "schema.py"),
        "from typing import Any, Optional\n\nimport attrs\nfrom lazycfg import configclass\n"
        + SCHEMA.replace("@DECORATOR", "@configclass"),
    )
    lines = [
        "from lazycfg import L, PLACEHOLDER, register",
        "from benchlc.schema import CheckpointConfig, ModelParallelConfig",
        "",
    ]
    for group, (package, options) in GROUPS.items():
        for name, value in options.items():
            lines.append(f"register({group!r}, {name!r}, {_lc(value)}, package={package!r})")
    _write(os.path.join(pkg, "groups.py"), "\n".join(lines) + "\n")
    sel = "\n".join(f"    select(cfg, {g!r}, {o!r})" for g, o in DEFAULTS)
    _write(
        os.path.join(pkg, "base.py"),
        f"""
import benchlc.groups  # noqa: F401  (registers the options once per process)
from lazycfg import select
from benchlc.schema import Config


def make_config():
    cfg = Config()
{sel}
    return cfg
""",
    )
    for e in exps:
        head = f'    cfg = load_rel("{e.parent}.py")' if e.parent else "    cfg = _base()"
        body = [f"    select(cfg, {g!r}, {o!r})" for g, o in e.choices.items()]
        body += [f"    cfg.{p} = {_lc(v)}" for p, v in e.edits.items()]
        _write(
            os.path.join(root, "experiments", f"{e.name}.py"),
            "from lazycfg import load_rel, select\n"
            "from benchlc.base import make_config as _base\n\n\n"
            "def make_config():\n" + head + "\n" + "\n".join(body) + "\n    return cfg\n",
        )


def write_floor(root: str, exps: list[Exp]) -> None:
    """Plain Python: attrs + dicts, options as functions, naive overrides and resolution."""
    pkg = os.path.join(root, "benchfl")
    _write(os.path.join(pkg, "__init__.py"), "")
    _write(
        os.path.join(pkg, "schema.py"),
        "from typing import Any, Optional\n\nimport attrs\n"
        + SCHEMA.replace("@DECORATOR", "@attrs.define(slots=False)"),
    )
    lines = ["from benchfl.schema import CheckpointConfig, ModelParallelConfig", "", "GROUPS = {"]
    for group, (package, options) in GROUPS.items():
        opts = ", ".join(f"{n!r}: lambda: {_py(v)}" for n, v in options.items())
        lines.append(f"    {group!r}: ({package!r}, {{{opts}}}),")
    lines.append("}")
    _write(os.path.join(pkg, "groups.py"), "\n".join(lines) + "\n")
    _write(
        os.path.join(pkg, "base.py"),
        f"""
import ast
import re
from datetime import datetime

from benchfl.groups import GROUPS
from benchfl.schema import Config

DEFAULTS = {DEFAULTS!r}


def get(obj, path):
    for k in path.split("."):
        obj = obj[k] if isinstance(obj, dict) else getattr(obj, k)
    return obj


def setp(obj, path, value):
    head, _, last = path.rpartition(".")
    obj = get(obj, head) if head else obj
    if isinstance(obj, dict):
        obj[last] = value
    else:
        setattr(obj, last, value)


def select(cfg, group, option, pinned=None):
    package, options = GROUPS[group]
    option = (pinned or {{}}).get(group, option)
    if isinstance(option, list):
        value = {{}}
        for o in option:
            value.update(options[o]())
    else:
        value = options[option]()
    setp(cfg, package, value)


def make_config(pinned=None):
    cfg = Config()
    for g, o in DEFAULTS:
        select(cfg, g, o, pinned)
    return cfg


def parse(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def resolve(cfg, now=None):
    now = now or datetime.now()

    def one(m, root=cfg):
        body = m.group(1)
        if body.startswith("now:"):
            return now.strftime(body[4:])
        return get(root, body)

    def children(obj):
        if isinstance(obj, dict):
            return list(obj.items())
        if isinstance(obj, list):
            return list(enumerate(obj))
        if hasattr(obj, "__attrs_attrs__"):
            return [(a.name, getattr(obj, a.name)) for a in obj.__attrs_attrs__]
        return []

    def walk(obj):
        for k, v in children(obj):
            if isinstance(v, str) and "${{" in v:
                m = re.fullmatch(r"\\$\\{{([^}}]*)\\}}", v)
                v = one(m) if m else re.sub(r"\\$\\{{([^}}]*)\\}}", lambda m: str(one(m)), v)
                if isinstance(obj, (dict, list)):
                    obj[k] = v
                else:
                    setattr(obj, k, v)
            else:
                walk(v)

    walk(cfg)
    return cfg


def load(name, overrides=(), now=None):
    import importlib

    pinned = {{}}
    values = []
    for o in overrides:
        key, _, text = o.partition("=")
        if key in GROUPS:
            pinned[key] = parse(text)
        else:
            values.append((key, parse(text)))
    cfg = importlib.import_module("benchfl_exps." + name).make_config(pinned)
    for key, value in values:
        setp(cfg, key, value)
    return resolve(cfg, now)
""",
    )
    _write(os.path.join(root, "benchfl_exps", "__init__.py"), "")
    for e in exps:
        head = (
            f"from benchfl_exps.{e.parent} import make_config as _parent\n"
            if e.parent
            else "from benchfl.base import make_config as _parent\n"
        )
        body = [f"    select(cfg, {g!r}, {o!r}, pinned)" for g, o in e.choices.items()]
        body += [f"    setp(cfg, {p!r}, {_py(v)})" for p, v in e.edits.items()]
        _write(
            os.path.join(root, "benchfl_exps", f"{e.name}.py"),
            "from benchfl.base import select, setp\n" + head + "\n\n"
            "def make_config(pinned=None):\n    cfg = _parent(pinned)\n"
            + "\n".join(body)
            + "\n    return cfg\n",
        )


def _nested(edits: dict[str, Any]) -> dict:
    out: dict = {}
    for path, value in edits.items():
        d = out
        keys = path.split(".")
        for k in keys[:-1]:
            d = d.setdefault(k, {})
        d[keys[-1]] = value
    return out


def write_hydra(root: str, exps: list[Exp]) -> None:
    """Hydra ConfigStore + defaults lists + Cosmos's override() (attrs round trip)."""
    pkg = os.path.join(root, "benchhy")
    _write(os.path.join(pkg, "__init__.py"), "")
    _write(
        os.path.join(pkg, "schema.py"),
        "from typing import Any, Optional\n\nimport attrs\n"
        + SCHEMA.replace("@DECORATOR", "@attrs.define(slots=False)")
        + "\n    defaults: list = attrs.field(factory=lambda: list(DEFAULTS_LIST))\n\n\n"
        + "DEFAULTS_LIST = ['_self_', "
        + ", ".join(repr({g: o}) for g, o in DEFAULTS)
        + ", {'experiment': None}]\n",
    )
    lines = [
        "from hydra.core.config_store import ConfigStore",
        "from benchhy.schema import CheckpointConfig, ModelParallelConfig",
        "",
        "cs = ConfigStore.instance()",
    ]
    for group, (package, options) in GROUPS.items():
        for name, value in options.items():
            lines.append(
                f"cs.store(group={group!r}, package={package!r}, name={name!r}, node={_py(value)})"
            )
    _write(os.path.join(pkg, "groups.py"), "\n".join(lines) + "\n")
    exp_lines = [
        "from hydra.core.config_store import ConfigStore",
        "",
        "cs = ConfigStore.instance()",
    ]
    for e in exps:
        defaults = [f"/experiment/{e.parent}"] if e.parent else []
        defaults += [{f"override /{g}": o} for g, o in e.choices.items()]
        defaults.append("_self_")
        node = {"defaults": defaults, **_nested(e.edits)}
        exp_lines.append(
            f"cs.store(group='experiment', package='_global_', name={e.name!r}, node={_py(node)})"
        )
    # Cosmos imports every experiment module when building the config; one module per
    # experiment keeps that cost proportional to the number of experiments, as there.
    for i, line in enumerate(exp_lines[3:]):
        _write(os.path.join(pkg, "experiments", f"e{i}.py"), "\n".join(exp_lines[:3] + [line]))
    _write(os.path.join(pkg, "experiments", "__init__.py"), "")
    _write(
        os.path.join(pkg, "run.py"),
        """
import importlib
import os
from datetime import datetime

import attrs
from hydra import compose, initialize
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

import benchhy.groups  # noqa: F401
from benchhy.schema import Config


def make_config():
    cfg = Config()
    here = os.path.join(os.path.dirname(__file__), "experiments")
    for name in sorted(os.listdir(here)):
        if name.startswith("e") and name.endswith(".py"):
            importlib.import_module("benchhy.experiments." + name[:-3])
    return cfg


def config_from_dict(ref, kwargs):
    if attrs.has(type(ref)) and isinstance(kwargs, (dict, DictConfig)):
        fields = {f.name: f for f in attrs.fields(type(ref))}
        out = {}
        for k, v in kwargs.items():
            out[k] = config_from_dict(getattr(ref, k), v) if k in fields else v
        return type(ref)(**out)
    return kwargs


def override(config, overrides, now=None):
    config_omegaconf = DictConfig(content=attrs.asdict(config), flags={"allow_objects": True})
    ConfigStore.instance().store(name="config", node=config_omegaconf)
    if not GlobalHydra().is_initialized():
        initialize(version_base=None)
    composed = compose(config_name="config", overrides=list(overrides))
    if now is not None:  # a fixed timestamp (compose re-registers Hydra's own `now`)
        OmegaConf.register_new_resolver("now", lambda fmt: now.strftime(fmt), replace=True)
    OmegaConf.resolve(composed)
    return config_from_dict(config, composed)


def load(name, overrides=(), now=None):
    return override(make_config(), ["experiment=" + name, *overrides], now)
""",
    )


def write_all(root: str, n_experiments: int) -> list[Exp]:
    """Write the three renderings of the tree with ``n_experiments`` under ``root``."""
    exps = experiments(n_experiments)
    write_lazycfg(os.path.join(root, "lc"), exps)
    write_hydra(os.path.join(root, "hy"), exps)
    write_floor(os.path.join(root, "fl"), exps)
    return exps
