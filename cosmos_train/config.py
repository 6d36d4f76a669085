"""The typed training config: Cosmos-Predict2.5's ``Config`` schema, without Hydra.

A config is one :class:`Config` instance: five lazy nodes (``model``, ``optimizer``,
``scheduler``, ``dataloader_train``, ``dataloader_val``) plus typed sections (``job``,
``trainer``, ``model_parallel``, ``checkpoint``). Field names, paths and defaults follow
Cosmos's ``imaginaire/config.py`` so Cosmos users' overrides keep working
(``trainer.max_iter=100``, ``checkpoint.save_iter=200``, ``job.name=foo``, ...), with these
deliberate differences:

* every section is a ``lazycfg.configclass``: assignments are type-checked (``trainer.max_iter=abc``
  is an error naming the key), recorded for ``explain`` and blocked once frozen;
* no shared mutable defaults (every list/dict default is a fresh object per instance);
* ``trainer.type`` is a dotted string naming the trainer class and ``trainer.memory_format`` the
  name of a ``torch`` memory format, so loading a config never imports torch;
* ``trainer.ddp.static_graph`` defaults to False: gradient accumulation skips the all-reduce on
  non-final micro-batches, which a static graph forbids;
* fields kept for Cosmos compatibility whose feature is not implemented (tensor/pipeline/context
  parallelism > 1, sequence parallelism) are rejected by :meth:`Config.validate` with a
  :class:`lazycfg.ConfigError` naming the path, instead of being silently ignored.

:func:`make_config` (the equivalent of Cosmos's video2world ``make_config``) lives in
:mod:`cosmos_train.configs.base` and is re-exported here.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import attrs

from lazycfg import PLACEHOLDER, ConfigError, configclass

__all__ = [
    "CheckpointConfig",
    "Config",
    "CuDNNConfig",
    "DDPConfig",
    "DEFAULT_OUTPUT_ROOT",
    "JITConfig",
    "JobConfig",
    "ModelParallelConfig",
    "ObjectStoreConfig",
    "ParallelismConfig",
    "Profiling",
    "StragglerDetectionConfig",
    "TrainerConfig",
    "make_config",
    "model_precision",
    "output_root",
]

#: Where job directories go when ``$IMAGINAIRE_OUTPUT_ROOT`` is unset (Cosmos's default).
DEFAULT_OUTPUT_ROOT = "/tmp/imaginaire4-output"

#: ``trainer.parallelism.activation_checkpointing`` values: the modes of
#: :mod:`cosmos_train.nets.checkpointing` and Cosmos's ``SACConfig.mode`` names (a test keeps
#: these equal to that module's lists, which import torch).
AC_MODES = ("none", "block", "selective", "selective_mlp", "selective_down", "mm_only")
COSMOS_SAC_MODES = (
    "block_wise",
    "mm_only",
    "predict2_2b_720_aggressive",
    "predict2_14b_720_aggressive",
    "predict2_2b_720",
    "predict2_14b_720",
)

#: Names accepted by ``trainer.memory_format`` (attributes of ``torch``).
MEMORY_FORMATS = ("preserve_format", "contiguous_format", "channels_last", "channels_last_3d")


def output_root() -> str:
    """The root of all job directories: ``$IMAGINAIRE_OUTPUT_ROOT``, else
    :data:`DEFAULT_OUTPUT_ROOT`."""
    return os.environ.get("IMAGINAIRE_OUTPUT_ROOT") or DEFAULT_OUTPUT_ROOT


@configclass
class ObjectStoreConfig:
    """An object-store location (S3-compatible) for checkpoints.

    Object stores are not implemented: ``enabled=True`` fails in :meth:`Config.validate`.
    """

    enabled: bool = False
    credentials: str = ""
    bucket: str = ""


@configclass
class JobConfig:
    """Names the run; the job directory is ``$IMAGINAIRE_OUTPUT_ROOT/{project}/{group}/{name}``."""

    project: str = ""
    group: str = ""
    name: str = ""
    #: ``online``/``offline``/``disabled``: the mode of the ``wandb`` callback
    #: (``callbacks=[basic,wandb]``, needs the ``wandb`` package); ``disabled`` also turns
    #: TensorBoard off. metrics.jsonl is always written.
    wandb_mode: str = "online"

    @property
    def path(self) -> str:
        """``{project}/{group}/{name}``, relative to the output root."""
        return f"{self.project}/{self.group}/{self.name}"

    @property
    def path_local(self) -> str:
        """The job directory; reads ``$IMAGINAIRE_OUTPUT_ROOT`` on every access, like Cosmos."""
        return os.path.join(output_root(), self.path)


@configclass
class DDPConfig:
    """Arguments of ``DistributedDataParallel``."""

    find_unused_parameters: bool = False
    #: False (Cosmos: True): a static graph turns ``no_sync`` during accumulation into a no-op;
    #: True is logged as ignored.
    static_graph: bool = False
    #: Kept for Cosmos; the nets' buffers (RoPE tables) are computed identically on every rank,
    #: so the trainer's DDP never broadcasts them.
    broadcast_buffers: bool = True


@configclass
class CuDNNConfig:
    """cuDNN flags set at trainer start."""

    deterministic: bool = False
    benchmark: bool = True


@configclass
class JITConfig:
    """Kept for Cosmos compatibility (``checkpoint.jit``); not used by this trainer."""

    enabled: bool = False
    input_shape: Optional[list[int]] = None
    device: str = "cuda"
    dtype: str = "bfloat16"
    strict: bool = True


@configclass
class CheckpointConfig:
    """Checkpoint cadence and resume policy (Cosmos's ``CheckpointConfig``).

    ``type`` is the checkpointer node selected by the ``ckpt_type`` group (``dcp`` by default);
    ``None`` (``ckpt_type=none``) saves nothing, and the launcher logs that.
    """

    type: Any = None
    dcp_async_mode_enabled: bool = False
    save_to_object_store: ObjectStoreConfig = attrs.field(factory=ObjectStoreConfig)
    save_iter: int = 999999999
    load_from_object_store: ObjectStoreConfig = attrs.field(factory=ObjectStoreConfig)
    #: A DCP checkpoint directory (``.../checkpoints/iter_000000200``) or an official consolidated
    #: ``.pt`` file (loaded into the model only, EMA included when the file has it).
    load_path: str = ""
    load_training_state: bool = False
    only_load_scheduler_state: bool = False
    strict_resume: bool = True
    jit: JITConfig = attrs.field(factory=JITConfig)
    verbose: bool = True
    keys_not_to_resume: list[str] = attrs.field(factory=list)
    broadcast_via_filesystem: bool = False
    load_ema_to_reg: bool = False
    dcp_allow_mismatched_size: bool = False
    #: Ours: keep only the last k checkpoints (0 keeps all).
    keep_last_k: int = 0
    #: Ours: config paths (fnmatch patterns) that may differ from the config saved with the
    #: checkpoint being resumed, on top of the checkpointer's defaults (``job.*``, cadences,
    #: ``max_iter``, ``checkpoint.*`` resume knobs); any other difference stops the resume.
    allowed_config_changes: list[str] = attrs.field(factory=list)


@configclass
class StragglerDetectionConfig:
    """Straggler detection: all-gather step times and flag ranks slower than ``max_diff`` x
    median."""

    enabled: bool = False
    report_freq: int = 100
    profile_freq: int = 1
    max_diff: float = 2.0
    raise_error: bool = True
    analyze_forward: bool = True
    analyze_backward: bool = True
    analyze_optimizer: bool = True
    analyze_dataloading: bool = True


@configclass
class Profiling:
    """Optional torch profiler window and CUDA memory snapshot."""

    enable_profiling: bool = False
    enable_memory_snapshot: bool = False
    save_s3: bool = False
    profile_freq: int = 1
    target_ranks: list[int] = attrs.field(factory=lambda: list(range(8)))
    record_shape: bool = False
    profile_memory: bool = False
    with_stack: bool = True
    with_modules: bool = True


@configclass
class ParallelismConfig:
    """Ours: how nets are materialised (no Cosmos equivalent; Cosmos hard-codes these in the model).

    Attributes:
        activation_checkpointing: ``none``, ``block`` (full recompute per block), ``selective``
            (keep attention outputs, recompute the rest), ``selective_mlp`` (also keep the
            non-square matmul outputs), ``selective_down`` (also keep down-projections),
            ``mm_only`` (keep every matmul + attention), or a Cosmos ``SACConfig.mode`` name
            (``predict2_2b_720_aggressive`` = ``selective``, ``block_wise`` = ``block``, ...).
        ac_every_n_blocks: checkpoint every n-th block only.
        compile_blocks: ``torch.compile`` each transformer block (CUDA; slow first step).
        param_dtype: FSDP2 mixed-precision dtype the parameters are all-gathered in; params stay
            fp32 (master). FSDP does not cast the inputs (compute precision comes from the model's
            autocast), so ``None`` (default) takes ``model.config.precision``: a float32 model
            then runs fp32 under FSDP exactly as in one process. ``float32`` (gather in fp32,
            autocast still computes in the model's precision) or the model's precision itself
            are the valid explicit values; ``validate()`` rejects any other.
        reduce_dtype: FSDP2 gradient reduce dtype.
    """

    #: ``none`` on the command line parses as null, which means the same.
    activation_checkpointing: Optional[str] = "none"
    ac_every_n_blocks: int = 1
    compile_blocks: bool = False
    param_dtype: Optional[str] = None
    reduce_dtype: str = "float32"


@configclass
class TrainerConfig:
    """The training loop's knobs (Cosmos's ``TrainerConfig``).

    ``type`` names the trainer class as a dotted string; its ``from_config`` maps this section
    onto its keyword arguments (a field named like a ``Trainer`` parameter passes through, so a
    new option is a field here plus that parameter). ``callbacks`` is a name -> lazy-node
    mapping filled by the ``callbacks`` group (dict order is call order).
    """

    type: str = "cosmos_train.trainer.trainer.Trainer"
    callbacks: Any = None
    distributed_parallelism: str = "ddp"
    ddp: DDPConfig = attrs.field(factory=DDPConfig)
    cudnn: CuDNNConfig = attrs.field(factory=CuDNNConfig)
    seed: int = 0
    grad_scaler_args: dict[str, Any] = attrs.field(factory=lambda: {"enabled": False})
    max_iter: int = 999999999
    max_val_iter: Optional[int] = None
    logging_iter: int = 100
    run_validation: bool = True
    validation_iter: int = 999999999
    #: Ours (Cosmos: 999999999, off): the watchdog, in seconds. A rank with no progress for this
    #: long (a step, a checkpoint save, a validation, a sampling callback) dumps its stacks and
    #: exits 124, so torchrun ends the job instead of waiting for the collective timeout; the
    #: first step (compilation, first validation) gets 4x. 0 or 999999999 turns it off.
    timeout_period: int = 900
    memory_format: str = "preserve_format"
    grad_accum_iter: int = 1
    straggler_detection: StragglerDetectionConfig = attrs.field(factory=StragglerDetectionConfig)
    profiling: Profiling = attrs.field(factory=Profiling)
    #: Ours: what a non-finite loss or gradient norm does: ``raise`` or ``skip`` the step.
    nonfinite: str = "raise"
    #: Ours: allow TF32 matmuls on CUDA (Cosmos forces it on).
    allow_tf32: bool = True
    #: Ours: activation checkpointing, per-block compile and FSDP2 dtypes.
    parallelism: ParallelismConfig = attrs.field(factory=ParallelismConfig)
    #: Ours: before building the model, refuse a run whose parameters, gradients and optimizer
    #: state cannot fit in the target device's free memory (cosmos_train.utils.memory_guard).
    memory_check: bool = True


@configclass
class ModelParallelConfig:
    """Megatron's model-parallel sizes, kept so Cosmos overrides parse; only 1/False is
    supported."""

    tensor_model_parallel_size: int = 1
    pipeline_model_parallel_size: int = 1
    context_parallel_size: int = 1
    sequence_parallel: bool = False


@configclass
class Config:
    """The whole training config (Cosmos's ``imaginaire.config.Config``).

    The five lazy nodes are ``None`` until ``make_config()`` selects the default group options.
    """

    model: Any = None
    optimizer: Any = None
    scheduler: Any = None
    dataloader_train: Any = None
    dataloader_val: Any = None
    job: JobConfig = attrs.field(factory=JobConfig)
    trainer: TrainerConfig = attrs.field(factory=TrainerConfig)
    model_parallel: ModelParallelConfig = attrs.field(factory=ModelParallelConfig)
    checkpoint: CheckpointConfig = attrs.field(factory=CheckpointConfig)
    upload_reproducible_setup: bool = False

    def validate(self, *, world_size: int | None = None) -> None:
        """Check the config before building anything; raises ``ConfigError`` naming the path.

        Args:
            world_size: the number of ranks (for ``fsdp_shard_size`` checks); skipped when None.
        """
        _validate(self, world_size=world_size)

    def freeze(self) -> Config:
        """Deep-freeze the config (``lazycfg.freeze``); returns ``self``."""
        import lazycfg

        lazycfg.freeze(self)
        return self

    def pretty_print(self, use_color: bool = False) -> str:
        """The config as readable indented text (one ``key: value`` line per leaf)."""
        from lazycfg import render_tree

        return render_tree(self, color=use_color)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts/lists/scalars; lazy nodes carry their dotted ``_target_``."""
        return _plain(self)


def make_config() -> Config:
    """Cosmos's video2world base config with every default group option selected."""
    from cosmos_train.configs.base import make_config as _make_config

    return _make_config()


# --------------------------------------------------------------------------------------------
# validate() and to_dict() helpers
# --------------------------------------------------------------------------------------------

_CHOICES: dict[str, tuple[str, ...]] = {
    "trainer.distributed_parallelism": ("ddp", "fsdp"),
    "trainer.memory_format": MEMORY_FORMATS,
    "trainer.nonfinite": ("raise", "skip"),
    "trainer.parallelism.activation_checkpointing": (None, *AC_MODES, *COSMOS_SAC_MODES),
    "trainer.parallelism.param_dtype": (None, "float32", "bfloat16", "float16"),
    "trainer.parallelism.reduce_dtype": ("float32", "bfloat16"),
    "job.wandb_mode": ("online", "offline", "disabled"),
}

_POSITIVE = (
    "trainer.max_iter",
    "trainer.logging_iter",
    "trainer.validation_iter",
    "trainer.grad_accum_iter",
    "trainer.parallelism.ac_every_n_blocks",
    "checkpoint.save_iter",
)


def _get(cfg: Any, path: str) -> Any:
    """Read a dotted path through attributes and mapping items (None when a step is missing)."""
    obj = cfg
    for part in path.split("."):
        if obj is None:
            return None
        try:
            obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
        except (AttributeError, KeyError, TypeError):
            try:
                obj = obj[part]
            except Exception:
                return None
    return obj


def _context_parallel_problems(cfg: Config, world_size: int | None) -> list[str]:
    """``model_parallel.context_parallel_size``: a positive divisor of the world size and of the
    net's heads (Ulysses attention, ``cosmos_train.distributed.context_parallel``)."""
    cp = cfg.model_parallel.context_parallel_size
    if not isinstance(cp, int) or isinstance(cp, bool) or cp < 1:
        return [f"model_parallel.context_parallel_size={cp!r} must be a positive integer (1: off)"]
    if cp == 1:
        return []
    problems = []
    if world_size is not None and world_size % cp:
        problems.append(
            f"model_parallel.context_parallel_size={cp} does not divide the world size "
            f"({world_size}): launch a multiple of {cp} ranks (torchrun --nproc_per_node) or set a "
            f"divisor of {world_size}"
        )
    frames = _get(cfg, "model.config.state_t")
    patch_t = _get(cfg, "model.config.net.patch_temporal") or 1
    if isinstance(frames, int) and isinstance(patch_t, int) and frames // patch_t < cp:
        problems.append(
            f"model_parallel.context_parallel_size={cp} exceeds the {frames // patch_t} latent "
            f"frames of a sample (model.config.state_t={frames}); each CP rank needs at least "
            f"one frame: use at most {frames // patch_t}"
        )
    heads = _get(cfg, "model.config.net.num_heads")
    if isinstance(heads, int) and heads % cp:
        divisors = [d for d in range(1, heads + 1) if heads % d == 0]
        problems.append(
            f"model_parallel.context_parallel_size={cp} must divide "
            f"model.config.net.num_heads={heads} (attention heads are split over the CP ranks); "
            f"use one of {divisors}"
        )
    return problems


def _validate(cfg: Config, *, world_size: int | None) -> None:
    """Implementation of :meth:`Config.validate` (collects every problem, raises once)."""
    problems: list[str] = []
    for key in ("project", "group", "name"):
        if not getattr(cfg.job, key):
            problems.append(f"job.{key} is empty: set it (e.g. job.{key}=my_{key})")
    for path, allowed in _CHOICES.items():
        value = _get(cfg, path)
        if value not in allowed:
            problems.append(f"{path}={value!r} is not one of {', '.join(str(a) for a in allowed)}")
    for path in _POSITIVE:
        value = _get(cfg, path)
        if not isinstance(value, int) or value < 1:
            problems.append(f"{path}={value!r} must be a positive integer")
    if not isinstance(cfg.trainer.timeout_period, int) or cfg.trainer.timeout_period < 0:
        problems.append(
            f"trainer.timeout_period={cfg.trainer.timeout_period!r} must be seconds >= 0 (0 turns "
            "the watchdog off)"
        )
    mp = cfg.model_parallel
    for key in ("tensor_model_parallel_size", "pipeline_model_parallel_size"):
        if getattr(mp, key) != 1:
            problems.append(
                f"model_parallel.{key}={getattr(mp, key)}: only 1 is supported (the field is kept "
                "for Cosmos compatibility; tensor/pipeline parallelism are not implemented)"
            )
    problems.extend(_context_parallel_problems(cfg, world_size))
    if mp.sequence_parallel:
        problems.append(
            "model_parallel.sequence_parallel=True: sequence parallelism is not implemented"
        )
    for key in ("save_to_object_store", "load_from_object_store"):
        store = getattr(cfg.checkpoint, key)
        if store.enabled:
            problems.append(_object_store_problem(f"checkpoint.{key}", store))
    for key in ("model", "optimizer", "scheduler", "dataloader_train"):
        if getattr(cfg, key) is None:
            group = {
                "model": "model",
                "optimizer": "optimizer",
                "scheduler": "scheduler",
                "dataloader_train": "data_train",
            }[key]
            problems.append(f"{key} is not set: select an option with {group}=<option>")
    if (
        cfg.model is not None
        and _get(cfg, "model.config.net") is None
        and _get(cfg, "model.config") is not None
    ):
        problems.append(
            "model.config.net is not set: select a net with net=<option> (e.g. net=cosmos_v1_2B)"
        )
    shard = _get(cfg, "model.config.fsdp_shard_size")
    if isinstance(shard, int) and cfg.trainer.distributed_parallelism == "fsdp":
        if shard < 1:
            problems.append(f"model.config.fsdp_shard_size={shard} must be >= 1")
        elif world_size is not None and shard > world_size:
            problems.append(
                f"model.config.fsdp_shard_size={shard} is larger than the world size "
                f"({world_size}): set model.config.fsdp_shard_size={world_size} (or launch more "
                "ranks)"
            )
        elif world_size is not None and world_size % shard:
            problems.append(
                f"model.config.fsdp_shard_size={shard} does not divide the world size "
                f"({world_size})"
            )
    precision_problem = _param_dtype_problem(cfg)
    if precision_problem:
        problems.append(precision_problem)
    _find_unresolved(cfg, "", problems)
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def model_precision(cfg: Any) -> str | None:
    """The model's compute dtype name (``model.config.precision``, else ``model.precision``), or
    None."""
    for path in ("model.config.precision", "model.precision"):
        value = _get(cfg, path)
        if isinstance(value, str):
            return value
    return None


def _param_dtype_problem(cfg: Config) -> str | None:
    """Why ``trainer.parallelism.param_dtype`` contradicts the model's precision, or None.

    FSDP all-gathers parameters in ``param_dtype`` and does not cast inputs, so a bf16 gather
    under a float32 model would run the net in bf16 without autocast, while the same config in
    one process (no FSDP) runs fp32: the two must agree.
    """
    param_dtype = cfg.trainer.parallelism.param_dtype
    precision = model_precision(cfg)
    if param_dtype in (None, "float32") or precision is None or param_dtype == precision:
        return None
    return (
        f"trainer.parallelism.param_dtype={param_dtype} contradicts "
        f"model.config.precision={precision}: FSDP would run the net in {param_dtype} without "
        f"autocast while one process runs {precision}. Set trainer.parallelism.param_dtype=null "
        f"(follow the model) or model.config.precision={param_dtype}"
    )


def _object_store_problem(path: str, store: ObjectStoreConfig) -> str:
    """Why an enabled object store cannot be used: it is not implemented (credentials or not).

    The message never asks for the credentials file first: providing it would only lead to
    this same refusal.
    """
    return (
        f"{path}.enabled=True: object-store checkpoints (checkpoint=s3/pbss/gcp) are not "
        f"implemented in cosmos_train; use checkpoint=local (or {path}.enabled=false) and copy the "
        "job directory to the object store yourself"
    )


def _children(obj: Any) -> list[tuple[str, Any]]:
    """(key, child) pairs of attrs instances, mappings, lists, tuples and lazy nodes."""
    if isinstance(obj, (str, bytes, int, float, bool, type(None))):
        return []
    if attrs.has(type(obj)):
        return [(f.name, getattr(obj, f.name)) for f in attrs.fields(type(obj))]
    if isinstance(obj, (list, tuple)):
        return [(str(i), v) for i, v in enumerate(obj)]
    if _is_node(obj):
        out = [(str(k), obj[k]) for k in obj]
        out += [(f"_args_.{i}", v) for i, v in enumerate(getattr(obj, "_args_", ()) or ())]
        return out
    if hasattr(obj, "items"):
        return [(str(k), v) for k, v in obj.items()]
    return []


def _is_node(obj: Any) -> bool:
    """True for a lazycfg lazy node (duck-typed on ``_target_`` so this module imports nothing
    heavy)."""
    try:
        from lazycfg import LazyNode
    except ImportError:  # pragma: no cover - the core is always present once integrated
        return False
    return isinstance(obj, LazyNode)


def _find_unresolved(obj: Any, path: str, problems: list[str]) -> None:
    """Report strings still holding ``${...}`` (the launcher resolves before validating)."""
    if isinstance(obj, str):
        if "${" in obj:
            problems.append(
                f"{path or '<root>'}={obj!r} is an unresolved interpolation (run lazycfg.resolve "
                "first)"
            )
        return
    for key, child in _children(obj):
        _find_unresolved(child, f"{path}.{key}" if path else key, problems)


def _target_name(target: Any) -> str:
    """Dotted import name of a node target (strings pass through)."""
    if isinstance(target, str):
        return target
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None) or getattr(target, "__name__", None)
    return f"{module}.{qualname}" if module and qualname else str(target)


def _plain(obj: Any) -> Any:
    """Implementation of :meth:`Config.to_dict` (``PLACEHOLDER`` becomes the string
    ``"PLACEHOLDER"``)."""
    if isinstance(obj, (str, bytes, int, float, bool, type(None))):
        return obj
    if obj is PLACEHOLDER:
        return "PLACEHOLDER"
    if _is_node(obj):
        out: dict[str, Any] = {"_target_": _target_name(obj._target_)}
        args = getattr(obj, "_args_", ()) or ()
        if args:
            out["_args_"] = [_plain(a) for a in args]
        for key in obj:
            out[str(key)] = _plain(obj[key])
        return out
    if attrs.has(type(obj)):
        return {f.name: _plain(getattr(obj, f.name)) for f in attrs.fields(type(obj))}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "items"):
        return {k: _plain(v) for k, v in obj.items()}
    return obj
