"""From a typed :class:`~cosmos_train.config.Config` to a running trainer.

:func:`launch` is what ``tools/train.py`` calls (in one process or under ``torchrun``):

1. initialise the process group from the ``torchrun`` environment (nothing in one process);
2. resolve ``${...}`` interpolations once, on rank 0, and adopt rank 0's resolved config on every
   rank; then check that every rank holds the identical config (fingerprints), so ``${now:}`` and
   environment lookups can never differ between ranks;
3. ``lazycfg.check()`` and ``validate()`` (knowing the world size): any problem stops the run
   before anything is built, with the lines ``--dryrun`` prints; then ``freeze()``;
4. write ``config.yaml`` (the resolved config) and the log file into the job directory;
5. :func:`build_and_train`: data loaders first (a missing dataset fails in seconds, not after
   building a 2B net), then the model (``device``, ``net_builder`` and ``seed`` supplied at build
   time), the trainer, and ``trainer.fit`` with the optimizer and scheduler factories.

Who maps which part of the config:

* ``trainer.*`` and ``job.*`` -> ``Trainer.from_config`` (``trainer.type`` names the class),
  which also builds the callbacks and the checkpointer;
* ``checkpoint.*`` -> ``DCPCheckpointer.config_kwargs`` (via ``build_checkpointer``);
  ``checkpoint.type=None`` (``ckpt_type=disabled``) saves nothing and says so in the log; a
  consolidated ``.pt`` in ``checkpoint.load_path`` is loaded into the model (the DCP checkpointer
  does it itself, after resume checks; without a checkpointer the launcher does);
* ``trainer.parallelism.*``, ``trainer.distributed_parallelism`` and
  ``model.config.fsdp_shard_size`` -> :func:`make_builder` (here);
* ``optimizer`` / ``scheduler`` -> factories called by the trainer with ``params=`` /
  ``optimizer=``.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lazycfg
from cosmos_train.config import Config, model_precision
from cosmos_train.utils.build import instantiate_at
from lazycfg import ConfigError

__all__ = [
    "build_and_train",
    "build_trainer",
    "config_problems",
    "launch",
    "make_job_dir",
    "preflight_data",
    "resolve_on_all_ranks",
    "run_cli",
]

log = logging.getLogger("cosmos_train.launch")

_PREPARE_HINT = (
    "prepare it with: python tools/prepare_nemo_assets.py --videos-dir MP4_DIR "
    '--prompt "A video of sks teal robot." --output-dir {dir}'
)
_EMBED_HINT = (
    "compute them with: python tools/compute_text_embeddings.py --dataset-dir {dir} --subdir "
    "{sub} --encoder reason1 (see the dataset layout in README.md; --encoder hash writes "
    "non-semantic stand-ins for smoke tests), or compute them in the training step with "
    "text_encoder=reason1_online"
)


def run_cli(body: Callable[[], int | None]) -> int:
    """Runs a command-line tool's ``body`` and turns user errors into one ``error: ...`` line.

    A ``ConfigError`` (bad config, missing file, bad flag combination), a ``CheckpointError``
    (a refused resume, a damaged checkpoint, a failed save) or a ``NonFiniteError`` (a NaN/Inf
    loss under ``trainer.nonfinite='raise'``) prints its message to stderr and returns 2; any
    other exception is a bug and propagates with its traceback.

    Args:
        body: the tool's work; its return value (``None`` meaning 0) is the exit code.
    """
    try:
        return body() or 0
    except Exception as exc:
        if not _is_user_error(exc):
            raise
        _close_progress_bars()
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _close_progress_bars() -> None:
    """Ends open tqdm bars so the error starts its own line (a bar has no newline until closed)."""
    tqdm_module = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm_module, "tqdm", None), "_instances", ()) or ()):
        bar.close()


#: (module, class) of the errors that are the user's to fix; modules never imported never raised
#: them, so looking them up in ``sys.modules`` keeps this module torch-free.
_USER_ERRORS = (
    ("cosmos_train.checkpoint.dcp", "CheckpointError"),
    ("cosmos_train.checkpoint.hub", "WeightsNotFoundError"),
    ("cosmos_train.trainer.trainer", "NonFiniteError"),
)


def _is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a ConfigError, CheckpointError or NonFiniteError."""
    if isinstance(exc, ConfigError):
        return True
    for module_name, name in _USER_ERRORS:
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, getattr(module, name)):
            return True
    return False


def launch(config: Config) -> dict[str, Any]:
    """Initialise distributed, resolve once, validate, freeze, save the config and train.

    Args:
        config: an unresolved, unfrozen config (``lazycfg.load(...)`` output).

    Returns:
        The trainer's summary (``{"iteration": ..., "last_logged": ...}``).
    """
    from cosmos_train.distributed.env import init_distributed

    env = init_distributed()
    config = resolve_on_all_ranks(config)
    problems = config_problems(config, world_size=env.world_size)
    if problems:
        raise ConfigError(
            "the config has problems (tools/train.py --dryrun lists the same); nothing was "
            "built:\n  " + "\n  ".join(p.replace("\n", "\n  ") for p in problems)
        )
    config.freeze()
    job_dir = Path(config.job.path_local)
    error = None
    if env.rank == 0:
        try:
            make_job_dir(job_dir)
            lazycfg.save(config, job_dir / "config.yaml")
        except (ConfigError, OSError) as exc:
            error = str(exc) if isinstance(exc, ConfigError) else _job_dir_problem(job_dir, exc)
    from cosmos_train.distributed.env import broadcast_object

    error = broadcast_object(error)  # every rank stops, not only rank 0
    if error is not None:
        raise ConfigError(error)
    _setup_logging(job_dir, rank=env.rank)
    log.info("job directory: %s (world size %d, device %s)", job_dir, env.world_size, env.device)
    try:
        return build_and_train(config)
    finally:
        _shutdown_distributed()


def config_problems(config: Config, *, world_size: int | None = None) -> list[str]:
    """``lazycfg.check()`` and ``Config.validate()`` problems of a resolved config, as text.

    ``tools/train.py --dryrun`` prints them; :func:`launch` refuses to build anything while
    there are any.
    """
    problems = [str(p) for p in lazycfg.check(config)]
    try:
        config.validate(world_size=world_size)
    except ConfigError as exc:
        problems.append(str(exc))
    return problems


def make_job_dir(job_dir: str | os.PathLike) -> Path:
    """Creates the job directory; a file in the way or no permission is a ``ConfigError``."""
    path = Path(job_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(_job_dir_problem(path, exc), "job.path_local") from None
    return path


def _job_dir_problem(job_dir: Path, exc: OSError) -> str:
    blocker = next((p for p in (job_dir, *job_dir.parents) if p.exists() and not p.is_dir()), None)
    why = (
        f"{blocker} is a file, not a directory" if blocker is not None else f"{exc.strerror or exc}"
    )
    return (
        f"cannot create the job directory {job_dir} ({why}); it is "
        "$IMAGINAIRE_OUTPUT_ROOT/{job.project}/{job.group}/{job.name}: point "
        "IMAGINAIRE_OUTPUT_ROOT at a writable directory, or move the file away"
    )


def resolve_on_all_ranks(config: Config) -> Config:
    """Rank 0 resolves interpolations; every rank adopts its result and the fingerprints must agree.

    Before adopting rank 0's values, the *unresolved* configs of all ranks are compared too: a
    rank-dependent config (different overrides or code on one node) is an error, not a silent
    divergence.
    """
    from cosmos_train.distributed.env import all_gather_object, broadcast_object, get_rank, is_dist

    if not is_dist():
        return lazycfg.resolve(config)
    mine = lazycfg.fingerprint(config)
    prints = all_gather_object(mine)
    bad = [r for r, fp in enumerate(prints) if fp != prints[0]]
    if bad:
        raise ConfigError(
            f"ranks {bad} composed a different config than rank 0 before resolution (fingerprints "
            f"{[prints[r][:12] for r in bad]} vs {prints[0][:12]}): every rank must run the same "
            "experiment file, overrides and code"
        )
    text = lazycfg.dumps(lazycfg.resolve(config)) if get_rank() == 0 else None
    text = broadcast_object(text)
    resolved = lazycfg.loads(text)
    final = all_gather_object(lazycfg.fingerprint(resolved))
    if len(set(final)) != 1:
        raise ConfigError(
            f"resolved configs differ across ranks (fingerprints {[f[:12] for f in final]})"
        )
    return resolved


def build_and_train(config: Config) -> dict[str, Any]:
    """Builds every component from a validated, frozen ``config`` and runs ``Trainer.fit``."""
    from cosmos_train.distributed.context_parallel import init_context_parallel
    from cosmos_train.distributed.env import get_env

    env = get_env()
    from cosmos_train.checkpoint.pretrained import check_pretrained_parts

    check_pretrained_parts(config)  # never silently random: before any data or weights are touched
    from cosmos_train.model.lora import (
        check_lora_config,
        count_parameters,
        model_build_kwargs,
        uses_lora,
    )

    check_lora_config(config)  # LoRA: a base to load, target patterns that match the net
    # Before the loaders: they shard by data-parallel rank, which context parallelism defines.
    init_context_parallel(config.model_parallel.context_parallel_size, device=env.device)
    preflight_data(config)
    from cosmos_train.data.latent_cache import check_cache_against_config

    check_cache_against_config(config)
    if config.trainer.memory_check:
        check_memory(config, device=env.device)
    train_loader = instantiate_at(config.dataloader_train, "dataloader_train")
    val_loader = None
    if config.trainer.run_validation and config.dataloader_val is not None:
        val_loader = instantiate_at(config.dataloader_val, "dataloader_val")
    _warn_about_ignored_fields(config)
    lora = uses_lora(config)
    net_builder = make_builder(config, device=env.device)
    # A LoRA model loads checkpoint.load_path itself, as its base, before injecting adapters.
    extra = model_build_kwargs(config)
    # A latent cache feeds latents: the tokenizer is built only if something needs it (samples).
    if getattr(getattr(train_loader, "dataset", None), "provides_latents", False):
        extra["lazy_tokenizer"] = True
    model = instantiate_at(
        config.model,
        "model",
        device=env.device,
        net_builder=net_builder,
        seed=config.trainer.seed,
        **extra,
    )
    log.info("model.net: %s", count_parameters(model.net))
    trainer = build_trainer(config)
    if trainer.checkpointer is None and config.checkpoint.load_path and not lora:
        load_official_weights(model, config.checkpoint.load_path)
    return trainer.fit(
        model,
        _factory(config.optimizer, "optimizer"),
        _factory(config.scheduler, "scheduler") if config.scheduler is not None else None,
        train_loader,
        val_loader,
    )


def _factory(node: Any, path: str) -> Callable[..., Any]:
    """A callable building ``node`` with runtime keyword arguments (``params=``, ``optimizer=``)."""

    def build(**runtime: Any) -> Any:
        return instantiate_at(node, path, **runtime)

    return build


def _fsdp_shards(config: Config) -> int:
    """How many ranks share one copy of the model state (1 unless FSDP on several ranks)."""
    from cosmos_train.distributed.env import get_world_size

    world = get_world_size()
    if config.trainer.distributed_parallelism != "fsdp" or world == 1:
        return 1
    shard = getattr(getattr(config.model, "config", None), "fsdp_shard_size", None)
    return shard if isinstance(shard, int) and shard > 0 else world


def check_memory(config: Config, *, device: Any) -> None:
    """The memory guard (rank 0 decides, every rank stops): see
    ``cosmos_train.utils.memory_guard``."""
    import torch

    from cosmos_train.distributed.env import broadcast_object, get_rank
    from cosmos_train.utils.memory_guard import check_training_memory

    error = None
    if get_rank() == 0:
        sharing = (
            int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
            if torch.device(device).type == "cpu"
            else 1
        )
        try:
            estimate = check_training_memory(
                config, device=device, shards=_fsdp_shards(config), ranks_sharing=sharing
            )
            if estimate is not None:
                log.info("memory check: %s", estimate.describe())
        except ConfigError as exc:
            error = str(exc)
    error = broadcast_object(error)
    if error is not None:
        raise ConfigError(error, "trainer.memory_check")


def make_builder(config: Config, *, device: Any) -> Callable[..., Any]:
    """The net builder for ``config``: parallelism mode, FSDP shard size, AC, compile, dtypes,
    seed."""
    from cosmos_train.distributed.context_parallel import init_context_parallel
    from cosmos_train.distributed.env import get_world_size
    from cosmos_train.distributed.parallelize import make_net_builder

    par = config.trainer.parallelism
    if config.trainer.distributed_parallelism == "fsdp" and get_world_size() > 1:
        mode = "fsdp"
    elif get_world_size() > 1:
        mode = "ddp"
    else:
        # One process: nothing to shard; FSDP configs run unsharded (same math, fp32 master params).
        mode = "none"
    shard = getattr(getattr(config.model, "config", None), "fsdp_shard_size", None)
    cp = init_context_parallel(config.model_parallel.context_parallel_size, device=device)
    return make_net_builder(
        device=device,
        mode=mode,
        shard_size=shard if isinstance(shard, int) and shard > 0 else None,
        # None follows the model: FSDP gathers in the dtype the model's autocast computes in.
        param_dtype=par.param_dtype if par.param_dtype is not None else model_precision(config),
        reduce_dtype=par.reduce_dtype,
        ac_mode=par.activation_checkpointing or "none",
        ac_every_n_blocks=par.ac_every_n_blocks,
        compile_blocks=par.compile_blocks,
        seed=config.trainer.seed,
        context_parallel=cp,
    )


def build_trainer(config: Config) -> Any:
    """``trainer.type`` built by its ``from_config`` (callbacks and checkpointer included)."""
    from cosmos_train.trainer.trainer import locate_trainer

    return locate_trainer(config.trainer.type).from_config(config)


def load_official_weights(model: Any, path: str) -> None:
    """Loads a consolidated ``.pt`` (Cosmos's released format) into ``model.net`` /
    ``model.net_ema``.

    ``path`` may be a catalogue name or ``hf://`` spec
    (:func:`cosmos_train.checkpoint.hub.resolve_weights`).
    """
    from cosmos_train.checkpoint.hub import parse_weights_spec, resolve_weights

    if parse_weights_spec(path) is not None:
        path = str(resolve_weights(path, what="checkpoint.load_path"))
    if not str(path).endswith(".pt"):
        raise ConfigError(
            f"checkpoint.load_path={path!r}: without a checkpointer (ckpt_type=disabled) only a "
            "consolidated .pt file can be loaded; select ckpt_type=dcp to load a DCP checkpoint "
            "directory",
            "checkpoint.load_path",
        )
    if not os.path.isfile(path):
        raise ConfigError(f"checkpoint.load_path={path!r} does not exist", "checkpoint.load_path")
    from cosmos_train.checkpoint.dcp import load_weights_file

    report = load_weights_file(
        path, net=model.net, net_ema=getattr(model, "net_ema", None), ema="copy_from_net"
    )
    log.info("loaded official weights from %s: %s", path, report)


def preflight_data(config: Config) -> None:
    """Fails fast, with the command that fixes it, when a dataset folder or its embeddings are
    missing."""
    for key in ("dataloader_train", "dataloader_val"):
        if key == "dataloader_val" and not config.trainer.run_validation:
            continue
        loader = getattr(config, key)
        dataset = _kwarg(loader, "dataset")
        dataset_dir = _kwarg(dataset, "dataset_dir")
        if not isinstance(dataset_dir, str):
            continue
        path = Path(dataset_dir)
        if not path.is_dir():
            raise ConfigError(
                f"{key}.dataset.dataset_dir={dataset_dir!r} does not exist (cwd: {os.getcwd()}); "
                + _PREPARE_HINT.format(dir=dataset_dir),
                f"{key}.dataset.dataset_dir",
            )
        captions = (
            ("caption_json_subdir", "captions")
            if _kwarg(dataset, "caption_key")
            else ("captions_subdir", "metas")
        )
        for sub_key, default in (("videos_subdir", "videos"), captions):
            sub = _kwarg(dataset, sub_key) or default
            if not (path / sub).is_dir():
                raise ConfigError(
                    f"{key}.dataset: {path / sub} does not exist; "
                    + _PREPARE_HINT.format(dir=dataset_dir),
                    f"{key}.dataset.{sub_key}",
                )
        emb = _kwarg(dataset, "text_embeddings_subdir")
        if isinstance(emb, str) and emb and not (path / emb).is_dir():
            raise ConfigError(
                f"{key}.dataset.text_embeddings_subdir={emb!r}: {path / emb} does not exist; the "
                f"net needs precomputed text embeddings there ({_kwarg(dataset, 'text_len')} x "
                f"{_kwarg(dataset, 'text_dim')} per caption, one <stem>.pt per video); "
                + _EMBED_HINT.format(dir=dataset_dir, sub=emb),
                f"{key}.dataset.text_embeddings_subdir",
            )


def _kwarg(node: Any, name: str) -> Any:
    """A written kwarg of a lazy node or mapping (None when absent)."""
    if node is None:
        return None
    try:
        return node[name] if name in node else None
    except TypeError:
        return None


#: Cosmos fields accepted for compatibility but without effect here: (path, value that matters,
#: why).
_IGNORED: tuple[tuple[str, Any, str], ...] = (
    (
        "trainer.ddp.static_graph",
        True,
        "DDP runs without a static graph so accumulation can skip gradient sync",
    ),
    ("trainer.grad_scaler_args.enabled", True, "bf16 autocast needs no gradient scaler"),
    (
        "checkpoint.load_ema_to_reg",
        True,
        "load an EMA-only consolidated file (model_ema_fp32.pt) instead",
    ),
    (
        "checkpoint.dcp_allow_mismatched_size",
        True,
        "use checkpoint.strict_resume=false to skip mismatched entries",
    ),
    ("checkpoint.broadcast_via_filesystem", True, "every rank reads its own shards"),
    ("checkpoint.jit.enabled", True, "JIT export is not implemented"),
    ("trainer.profiling.enable_memory_snapshot", True, "CUDA memory snapshots are not implemented"),
)


def _warn_about_ignored_fields(config: Config) -> None:
    """Logs Cosmos fields that are accepted but have no effect here (never silently)."""
    from cosmos_train.config import _get

    for path, value, why in _IGNORED:
        if _get(config, path) == value:
            log.warning("%s=%s has no effect in cosmos_train: %s", path, value, why)
    if config.upload_reproducible_setup:
        log.info(
            "upload_reproducible_setup=True: there is no object store to upload to; config.yaml "
            "is in the job directory"
        )
    if config.trainer.memory_format != "preserve_format":
        log.warning(
            "trainer.memory_format=%s has no effect: the DiT works on token sequences",
            config.trainer.memory_format,
        )


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time (notebooks and test runners swap it).

    Records logged with ``extra={"console": False}`` go to the log file only (the progress bar
    shows them); while tqdm is loaded, lines go through ``tqdm.write`` so a bar is not broken.
    """

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "console", True) is False:
            return
        tqdm = sys.modules.get("tqdm")
        if tqdm is None:
            super().emit(record)
            return
        try:
            tqdm.tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)

    @property  # type: ignore[override]
    def stream(self):  # noqa: D102
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: D102 - StreamHandler.__init__ assigns it
        pass


def _setup_logging(job_dir: Path, *, rank: int) -> None:
    """INFO logs to stderr on rank 0 (warnings elsewhere) and to ``<job>/stdout.log`` (rank 0).

    Idempotent per process; a later launch in the same process (a notebook) moves the log file
    to its own job directory.
    """
    root = logging.getLogger()
    fmt = logging.Formatter(
        f"[%(asctime)s rank{rank} %(name)s %(levelname)s] %(message)s", "%H:%M:%S"
    )
    state = getattr(root, "_cosmos_train_logging", None)
    if state is None:
        console = _StderrHandler()
        console.setFormatter(fmt)
        console.setLevel(logging.INFO if rank == 0 else logging.WARNING)
        root.addHandler(console)
        root.setLevel(logging.INFO)
        state = root._cosmos_train_logging = {"file": None}  # type: ignore[attr-defined]
    if rank != 0:
        return
    path = (job_dir / "stdout.log").resolve()
    old = state["file"]
    if old is not None and Path(old.baseFilename) == path:
        return
    if old is not None:
        root.removeHandler(old)
        old.close()
    job_dir.mkdir(parents=True, exist_ok=True)
    file = logging.FileHandler(path)
    file.setFormatter(fmt)
    root.addHandler(file)
    state["file"] = file


def _shutdown_distributed() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
        # The trainer, DDP wrapper and callbacks form reference cycles that still hold the
        # ProcessGroupGloo; collect them now so its C++ threads are joined here, not during
        # interpreter shutdown (where their teardown can abort the process).
        gc.collect()
