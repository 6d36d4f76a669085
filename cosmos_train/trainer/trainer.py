"""The training loop: Cosmos's ``ImaginaireTrainer`` semantics, minus its bugs.

Per optimizer step (``grad_accum_iter`` micro-batches), in order (reference/trainer_spec.md §1.2):

    on_before_dataloading(i) -> batch -> on_after_dataloading(i)
    on_training_step_start(model, batch, i) -> on_training_step_batch_start(model, batch, i)
    on_before_forward(i) -> training_step -> on_after_forward(i)
    on_before_backward(model_ddp, loss, i) -> backward(loss / accum) -> on_after_backward(model_ddp,
    i)
    [last micro-batch] on_before_optimizer_step(model_ddp, opt, sched, None, i)   # GradClip
                       non-finite check -> optimizer.step() -> scheduler.step()
                       on_before_zero_grad(model_ddp, opt, sched, i) -> model.on_before_zero_grad  #
                       EMA
                       zero_grad
    on_training_step_batch_end(model, batch, out, loss, i)
    i += 1  (post-increment from here)
    checkpoint if i % save_iter == 0 -> on_training_step_end(model, batch, out, loss, i)
    -> metrics row if i % logging_iter == 0 -> validation if i % validation_iter == 0

Deliberate differences from Cosmos: the loop stops before fetching a batch it would not use;
gradient sync is really skipped on non-final micro-batches (DDP ``no_sync``, FSDP2
``set_requires_gradient_sync``); non-finite losses/gradients raise or skip the step, never get
zeroed; ``set_epoch`` is called; RNG and data position are checkpointed; the timeout is a thread.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import logging
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import lazycfg
from cosmos_train.distributed.context_parallel import data_parallel_rank_world
from cosmos_train.distributed.env import all_gather_object, get_env, is_dist
from cosmos_train.trainer.callbacks import Callback, CallbackGroup, ema_net, total_grad_norm
from cosmos_train.trainer.data_stream import DataStream
from cosmos_train.trainer.metrics import MetricsWriter
from cosmos_train.trainer.profiling import ProfilerConfig, maybe_profile
from cosmos_train.trainer.straggler import StragglerMonitor
from cosmos_train.trainer.watchdog import Watchdog
from cosmos_train.utils.build import instantiate_at, same_named_fields

__all__ = [
    "CONFIG_FIELDS_USED_ELSEWHERE",
    "NonFiniteError",
    "TrainStep",
    "Trainer",
    "capture_rng_state",
    "locate_trainer",
    "restore_rng_state",
]

log = logging.getLogger(__name__)

_NONFINITE = ("raise", "skip")
_PARALLELISM = ("ddp", "fsdp", "none")

#: ``trainer.timeout_period`` at or above this means "no watchdog" (Cosmos's 999999999 default).
_NO_TIMEOUT = 999999999
#: The watchdog's first period (start to the end of the first step) is this many periods long.
FIRST_STEP_TIMEOUT_FACTOR = 4

#: ``trainer.*`` fields that are not :class:`Trainer` arguments, and what uses them instead.
CONFIG_FIELDS_USED_ELSEWHERE: dict[str, str] = {
    "type": "names the trainer class (locate_trainer)",
    "parallelism": "the net builder (cosmos_train.launch.make_builder)",
    "grad_scaler_args": "accepted for Cosmos; logged as ignored by the launcher",
    "memory_format": "accepted for Cosmos; logged as ignored by the launcher",
    "memory_check": "the launcher's memory guard, before the model is built",
}


class NonFiniteError(FloatingPointError):
    """The loss or the gradient norm was NaN/Inf and ``nonfinite="raise"``."""


class TrainStep(nn.Module):
    """Routes ``forward`` to ``model.training_step`` so DDP's hooks run around it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, Any], iteration: int) -> tuple[dict[str, Any], torch.Tensor]:
        return self.model.training_step(batch, iteration)


def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy, torch CPU and (when present) CUDA generator states of this process."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def locate_trainer(dotted: str) -> type:
    """Imports the trainer class ``trainer.type`` names; a ``ConfigError`` when it does not
    exist."""
    module_name, _, attr = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise lazycfg.ConfigError(
            f"trainer.type={dotted!r} cannot be imported ({exc})", "trainer.type"
        ) from exc


def _kick(watchdog: Watchdog | None, what: str) -> None:
    if watchdog is not None:
        watchdog.kick(what)


def _batch_size(batch: Any) -> int:
    if isinstance(batch, dict):
        if "sample_idx" in batch:
            return len(batch["sample_idx"])
        for v in batch.values():
            if isinstance(v, torch.Tensor) and v.dim() > 0:
                return int(v.shape[0])
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0])
    return 1


def _to_device(batch: Any, device: torch.device) -> Any:
    if device.type == "cpu":
        return batch
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


def _fsdp_modules(module: nn.Module) -> list[nn.Module]:
    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:  # pragma: no cover
        return []
    return [m for m in module.modules() if isinstance(m, FSDPModule)]


class Trainer:
    """Runs training with Cosmos's hooks and cadences.

    Args:
        max_iter: optimizer steps to train to (a resumed run continues up to it).
        logging_iter: write a metrics row every this many steps.
        run_validation, validation_iter, max_val_iter: validation cadence and batch limit;
            validation also runs at iteration 0 of a fresh run, as in Cosmos.
        grad_accum_iter: micro-batches per optimizer step.
        nonfinite: ``"raise"`` (:class:`NonFiniteError`) or ``"skip"`` (no optimizer, scheduler
            or EMA step; logged and counted) when the loss or gradient norm is NaN/Inf.
        seed: base seed; each data-parallel rank seeds ``seed + rank`` (different noise per rank;
            nets are initialised identically by the net builder).
        deterministic, allow_tf32: backend flags.
        callbacks: ``{name: Callback}``, called in dict order.
        timeout_s: watchdog period in seconds (``None``: off): no step, checkpoint save,
            validation or step-end callback may take longer; the first step may take
            ``FIRST_STEP_TIMEOUT_FACTOR`` times as long.
        profiling: a :class:`ProfilerConfig` (or its kwargs) for a profiler window.
        straggler: a :class:`StragglerMonitor` (or its kwargs).
        job_dir: where ``metrics.jsonl``, TensorBoard events, samples and traces go.
        distributed_parallelism: ``"ddp"`` (wrap in DDP when world size > 1), ``"fsdp"`` (the net
            is already sharded by the net builder) or ``"none"``.
        ddp_find_unused_parameters: forwarded to DDP.
        tensorboard: also write TensorBoard events when the package is installed.
        config: the resolved run config, kept as ``trainer.config`` for callbacks.
        checkpointer: saves and resumes (a :class:`~cosmos_train.checkpoint.dcp.DCPCheckpointer`);
            ``fit``'s ``checkpointer`` argument, when given, takes its place.

    :meth:`from_config` builds a trainer (callbacks and checkpointer included) from a run config.
    """

    def __init__(
        self,
        *,
        max_iter: int,
        job_dir: str | os.PathLike,
        logging_iter: int = 100,
        run_validation: bool = False,
        validation_iter: int = 100,
        max_val_iter: int | None = None,
        grad_accum_iter: int = 1,
        nonfinite: str = "raise",
        seed: int = 0,
        deterministic: bool = False,
        allow_tf32: bool = True,
        callbacks: dict[str, Callback] | None = None,
        timeout_s: float | None = None,
        profiling: ProfilerConfig | dict | None = None,
        straggler: StragglerMonitor | dict | None = None,
        distributed_parallelism: str = "ddp",
        ddp_find_unused_parameters: bool = False,
        tensorboard: bool = True,
        config: Any = None,
        checkpointer: Any = None,
    ) -> None:
        for name, value in (
            ("max_iter", max_iter),
            ("logging_iter", logging_iter),
            ("validation_iter", validation_iter),
            ("grad_accum_iter", grad_accum_iter),
        ):
            if int(value) < 1 and not (name == "max_iter" and int(value) == 0):
                raise ValueError(f"trainer.{name} must be >= 1, got {value}")
        if nonfinite not in _NONFINITE:
            raise ValueError(
                f"trainer.nonfinite={nonfinite!r} is not a policy; set trainer.nonfinite='raise' "
                "(stop with NonFiniteError on a NaN/Inf loss or gradient norm) or 'skip' (skip "
                "that optimizer step and go on); non-finite gradients are never zeroed"
            )
        if distributed_parallelism not in _PARALLELISM:
            raise ValueError(
                f"trainer.distributed_parallelism must be one of {_PARALLELISM}, got "
                f"{distributed_parallelism!r}; 'ddp' replicates the net, 'fsdp' shards it (the net "
                "builder must use mode='fsdp'), 'none' is one process"
            )
        if job_dir is None or not str(job_dir).strip():
            raise ValueError(
                "Trainer needs job_dir, the directory for metrics.jsonl, TensorBoard events, "
                "samples and traces; from a config it is job.path_local = "
                "$IMAGINAIRE_OUTPUT_ROOT/{job.project}/{job.group}/{job.name}: set job.name (and "
                "IMAGINAIRE_OUTPUT_ROOT), or pass job_dir=... when calling Trainer directly"
            )
        self.max_iter = int(max_iter)
        self.job_dir = Path(job_dir)
        self.logging_iter = int(logging_iter)
        self.run_validation = bool(run_validation)
        self.validation_iter = int(validation_iter)
        self.max_val_iter = max_val_iter
        self.grad_accum_iter = int(grad_accum_iter)
        self.nonfinite = nonfinite
        self.seed = int(seed)
        self.deterministic = deterministic
        self.allow_tf32 = allow_tf32
        self.timeout_s = timeout_s
        self.profiling = profiling
        self.straggler = StragglerMonitor(**straggler) if isinstance(straggler, dict) else straggler
        self.distributed_parallelism = distributed_parallelism
        self.ddp_find_unused_parameters = ddp_find_unused_parameters
        self.tensorboard = tensorboard
        self.config = config
        self.checkpointer = checkpointer
        self.callbacks = CallbackGroup(callbacks, trainer=self)
        # Runtime state (set in fit).
        self.model: Any = None
        self.model_ddp: Any = None
        self.optimizer: Any = None
        self.scheduler: Any = None
        self.iteration = 0
        self.skipped_steps = 0
        self.pending_metrics: dict[str, Any] = {}
        self.last_logged: dict[str, Any] | None = None
        self.val_history: list[dict[str, Any]] = []
        self.env = get_env()
        self._data: DataStream | None = None
        self._grad_norm: torch.Tensor | None = None
        self._val_start: dict[int, Any] = {}
        self._fsdp: list[nn.Module] = []
        self._writer: MetricsWriter | None = None

    # ---- construction from a config -----------------------------------------------------------
    #: ``trainer.*`` fields read by :meth:`config_kwargs` under another name or shape. Every
    #: other field whose name is an ``__init__`` parameter is passed through unchanged, so a new
    #: trainer option is a ``TrainerConfig`` field plus a same-named parameter here.
    CONFIG_DERIVED: tuple[str, ...] = (
        "callbacks",
        "cudnn",
        "ddp",
        "profiling",
        "straggler_detection",
        "timeout_period",
    )

    @classmethod
    def config_kwargs(cls, config: Any) -> dict[str, Any]:
        """``trainer.*`` and ``job.*`` of a run config as this class's keyword arguments.

        Same-named fields pass through; the others are mapped here. Callbacks and the
        checkpointer (``checkpoint.*``, see ``DCPCheckpointer.config_kwargs``) are built.
        """
        from cosmos_train.checkpoint.dcp import build_checkpointer

        tr = config.trainer
        kwargs = same_named_fields(cls, tr, exclude=cls.CONFIG_DERIVED)
        prof = tr.profiling
        profiling = None
        if prof.enable_profiling:
            profiling = dict(
                start_iter=5,
                warmup=1,
                active=max(1, prof.profile_freq),
                ranks=tuple(prof.target_ranks),
                record_shapes=prof.record_shape,
                with_stack=prof.with_stack,
                profile_memory=prof.profile_memory,
            )
        sd = tr.straggler_detection
        straggler = None
        if sd.enabled:
            straggler = dict(
                report_every=sd.report_freq,
                max_ratio=sd.max_diff,
                raise_after=1 if sd.raise_error else None,
            )
        callbacks = {
            name: instantiate_at(node, f"trainer.callbacks.{name}")
            for name, node in (tr.callbacks or {}).items()
            if node is not None
        }
        timeout = tr.timeout_period
        kwargs.update(
            job_dir=config.job.path_local,
            deterministic=tr.cudnn.deterministic,
            callbacks=callbacks,
            timeout_s=float(timeout) if 0 < timeout < _NO_TIMEOUT else None,
            profiling=profiling,
            straggler=straggler,
            ddp_find_unused_parameters=tr.ddp.find_unused_parameters,
            tensorboard=config.job.wandb_mode != "disabled",
            config=config,
            checkpointer=build_checkpointer(config),
        )
        return kwargs

    @classmethod
    def from_config(cls, config: Any, **overrides: Any) -> Trainer:
        """The trainer a run config describes (``overrides`` replace mapped arguments)."""
        return cls(**{**cls.config_kwargs(config), **overrides})

    # ---- small public helpers used by callbacks -------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.env.device

    @property
    def world_size(self) -> int:
        return self.env.world_size

    def is_log_step(self, iteration: int) -> bool:
        return iteration % self.logging_iter == 0

    def report_grad_norm(self, norm: torch.Tensor) -> None:
        """Called by the gradient-clipping callback with the (pre-clip) total norm."""
        self._grad_norm = norm

    # ---- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Trainer state for checkpoints: iteration, data position and every rank's RNG states.

        Collective (all ranks call it): the RNG states are gathered so rank 0's copy of this
        dict holds them all.
        """
        return {
            "iteration": self.iteration,
            "skipped_steps": self.skipped_steps,
            "data": self._data.state_dict() if self._data is not None else None,
            "rng": all_gather_object(capture_rng_state()),
            "world_size": self.world_size,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores the iteration, data position and this rank's RNG state (when saved for it)."""
        self.iteration = int(state["iteration"])
        self.skipped_steps = int(state.get("skipped_steps", 0))
        if state.get("data") is not None and self._data is not None:
            self._data.load_state_dict(state["data"])
        rngs = state.get("rng") or []
        if self.env.rank < len(rngs) and int(state.get("world_size", len(rngs))) == self.world_size:
            restore_rng_state(rngs[self.env.rank])
        elif rngs:
            log.warning(
                "checkpoint was written by %s ranks, this run has %s: RNG states are not restored "
                "(training continues, but is not bit-identical to an uninterrupted run)",
                state.get("world_size"),
                self.world_size,
            )

    # ---- setup ----------------------------------------------------------------------------------
    def _seed_and_flags(self) -> None:
        rank_seed = self.seed + self.env.rank
        random.seed(rank_seed)
        np.random.seed(rank_seed % 2**32)
        torch.manual_seed(rank_seed)
        torch.backends.cudnn.deterministic = self.deterministic
        torch.backends.cudnn.benchmark = not self.deterministic
        torch.backends.cuda.matmul.allow_tf32 = self.allow_tf32
        torch.backends.cudnn.allow_tf32 = self.allow_tf32

    def _wrap(self, model: nn.Module) -> Any:
        if self.distributed_parallelism == "ddp" and self.world_size > 1:
            from cosmos_train.distributed.parallelize import wrap_ddp

            return wrap_ddp(
                TrainStep(model), find_unused_parameters=self.ddp_find_unused_parameters
            )
        if (
            self.distributed_parallelism == "fsdp"
            and self.world_size > 1
            and not _fsdp_modules(model.net)
        ):
            raise RuntimeError(
                "trainer.distributed_parallelism='fsdp' but model.net has no fully_shard modules; "
                "build the model with "
                "cosmos_train.distributed.parallelize.make_net_builder(mode='fsdp', ...) "
                "(tools/train.py does this for trainer.distributed_parallelism='fsdp'), or set "
                "trainer.distributed_parallelism='ddp'"
            )
        return TrainStep(model)

    @contextlib.contextmanager
    def _grad_sync(self, sync: bool) -> Iterator[None]:
        """Skips the gradient all-reduce / reduce-scatter on non-final micro-batches."""
        if sync or self.grad_accum_iter == 1:
            yield
            return
        if isinstance(self.model_ddp, nn.parallel.DistributedDataParallel):
            with self.model_ddp.no_sync():
                yield
            return
        fsdp = self._fsdp
        for m in fsdp:
            m.set_requires_gradient_sync(False, recurse=False)
        try:
            yield
        finally:
            for m in fsdp:
                m.set_requires_gradient_sync(True, recurse=False)

    # ---- main entry ---------------------------------------------------------------------------
    def fit(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer | Callable[..., torch.optim.Optimizer],
        scheduler: Any = None,
        train_loader: Iterable[Any] | None = None,
        val_loader: Iterable[Any] | None = None,
        checkpointer: Any = None,
    ) -> dict[str, Any]:
        """Trains ``model`` up to ``max_iter``; returns a summary (final iteration, last metrics).

        ``optimizer`` may be a built optimizer or a factory called with
        ``params=model.optimizer_parameters()``; ``scheduler`` likewise with ``optimizer=``.
        ``checkpointer`` defaults to the one given at construction.
        """
        if checkpointer is None:
            checkpointer = self.checkpointer
        self.checkpointer = checkpointer
        if train_loader is None:
            raise ValueError(
                "Trainer.fit needs train_loader (from a config: dataloader_train, e.g. "
                "data_train=mock)"
            )
        self.env = get_env()
        self.model = model
        self._seed_and_flags()
        cb = self.callbacks
        model.on_train_start()
        cb.on_optimizer_init_start()
        if not isinstance(optimizer, torch.optim.Optimizer):
            optimizer = optimizer(params=model.optimizer_parameters())
        if scheduler is not None and callable(scheduler) and not hasattr(scheduler, "step"):
            scheduler = scheduler(optimizer=optimizer)
        self.optimizer, self.scheduler = optimizer, scheduler
        cb.on_optimizer_init_end()
        self._data = DataStream(train_loader)
        self.iteration = 0
        if checkpointer is not None:
            if callable(getattr(checkpointer, "check_writable", None)):
                # An unwritable checkpoints/ fails now, not at the first save.
                checkpointer.check_writable()
            checkpointer.load(model, optimizer, scheduler, trainer=self, callbacks=cb)
        self._fsdp = _fsdp_modules(model)
        self.model_ddp = self._wrap(model)
        self._writer = MetricsWriter(
            self.job_dir, enabled=self.env.is_main, tensorboard=self.tensorboard
        )
        watchdog = None
        if self.timeout_s:
            # The first period also covers on_train_start, the iteration-0 validation and the
            # first step's compilation.
            first = self.timeout_s * FIRST_STEP_TIMEOUT_FACTOR
            watchdog = Watchdog(timeout_s=self.timeout_s, first_timeout_s=first).start()
        try:
            cb.on_train_start(model, self.iteration)
            if self.run_validation and val_loader is not None and self.iteration == 0:
                self.validate(val_loader)
            with maybe_profile(self.profiling, self.job_dir / "torch_trace") as prof:
                self._loop(val_loader, checkpointer, watchdog, prof)
            if checkpointer is not None and checkpointer.should_save_final(self.iteration):
                _kick(watchdog, f"final checkpoint save at iteration {self.iteration}")
                self._save(checkpointer)
            _kick(watchdog, "end of training")
            cb.on_train_end(model, self.iteration)
            if checkpointer is not None:
                checkpointer.finalize(callbacks=cb)
            if is_dist():
                torch.distributed.barrier()
            cb.on_app_end()
        finally:
            if watchdog is not None:
                watchdog.stop()
            self._writer.close()
        return {
            "iteration": self.iteration,
            "skipped_steps": self.skipped_steps,
            "last_logged": self.last_logged,
        }

    def _save(self, checkpointer: Any) -> None:
        checkpointer.save(
            self.model,
            self.optimizer,
            self.scheduler,
            self.iteration,
            trainer=self,
            callbacks=self.callbacks,
        )

    # ---- the loop -------------------------------------------------------------------------------
    def _loop(
        self, val_loader: Any, checkpointer: Any, watchdog: Watchdog | None, prof: Any
    ) -> None:
        cb, model, model_ddp = self.callbacks, self.model, self.model_ddp
        accum = self.grad_accum_iter
        window_loss = torch.zeros((), dtype=torch.float64, device=self.device)
        window_norm, window_steps, window_samples = 0.0, 0, 0
        window_t0 = time.perf_counter()
        model.train()
        while self.iteration < self.max_iter:
            it = self.iteration
            if self.straggler is not None:
                self.straggler.step_start()
            step_loss = torch.zeros((), dtype=torch.float64, device=self.device)
            step_samples = 0
            for micro in range(accum):
                last = micro == accum - 1
                cb.on_before_dataloading(it)
                batch = self._data.next()
                cb.on_after_dataloading(it)
                batch = _to_device(batch, self.device)
                step_samples += _batch_size(batch)
                cb.on_training_step_start(model, batch, it)
                cb.on_training_step_batch_start(model, batch, it)
                with self._grad_sync(last):
                    cb.on_before_forward(it)
                    output, loss = model_ddp(batch, it)
                    cb.on_after_forward(it)
                    cb.on_before_backward(model_ddp, loss, it)
                    (loss / accum).backward()
                    after = getattr(model, "on_after_backward", None)
                    if callable(after):
                        after()
                    cb.on_after_backward(model_ddp, it)
                step_loss += loss.detach().to(torch.float64) / accum
                if last:
                    norm = self._optimizer_step(step_loss, it)
                cb.on_training_step_batch_end(model, batch, output, loss, it)
            self.iteration = it + 1
            if norm is not None:
                window_loss += step_loss
                window_norm += norm
                window_steps += 1
            window_samples += step_samples
            # Kicked around the long phases too, so the period only covers the longest one.
            _kick(watchdog, f"iteration {self.iteration}")
            if checkpointer is not None and checkpointer.should_save(self.iteration):
                self._save(checkpointer)
                _kick(watchdog, f"checkpoint save at iteration {self.iteration}")
            log_step = self.is_log_step(self.iteration)
            if log_step:
                self.pending_metrics = self._window_metrics(
                    window_loss, window_norm, window_steps, window_samples, window_t0
                )
                # The row callbacks read (and add fields to) in on_training_step_end.
                self.last_logged = self.pending_metrics
            cb.on_training_step_end(model, batch, output, loss, self.iteration)
            _kick(watchdog, f"step-end callbacks at iteration {self.iteration}")
            if log_step:
                self._writer.write(self.pending_metrics)
                self.pending_metrics = {}
                window_loss.zero_()
                window_norm, window_steps, window_samples = 0.0, 0, 0
                window_t0 = time.perf_counter()
            if (
                self.run_validation
                and val_loader is not None
                and self.iteration % self.validation_iter == 0
            ):
                self.validate(val_loader)
                _kick(watchdog, f"validation at iteration {self.iteration}")
            if self.straggler is not None:
                self.straggler.step_end(self.iteration, self.device)
            if prof is not None:
                prof.step()
            if checkpointer is not None:
                checkpointer.poll(callbacks=cb)

    def _optimizer_step(self, step_loss: torch.Tensor, it: int) -> float | None:
        """Clip (callbacks), check finiteness, step; returns the grad norm or None when skipped."""
        cb, model, opt, sched = self.callbacks, self.model, self.optimizer, self.scheduler
        self._grad_norm = None
        cb.on_before_optimizer_step(self.model_ddp, opt, sched, None, it)
        norm = (
            self._grad_norm
            if self._grad_norm is not None
            else total_grad_norm(model.net.parameters())
        )
        flags = torch.stack([step_loss.float().to(norm.device), norm.float()])
        finite = torch.isfinite(flags).all().to(torch.float32)
        if self.world_size > 1 and self.nonfinite == "skip":
            # Every rank must take the same decision, or their optimizers drift apart.
            torch.distributed.all_reduce(finite, op=torch.distributed.ReduceOp.MIN)
        # One device-to-host copy per step (loss, norm and the decision together).
        loss_value, norm_value, finite_value = torch.cat([flags, finite.view(1)]).tolist()
        if not finite_value:
            msg = (
                f"non-finite training step at iteration {it}: loss={loss_value}, "
                f"grad_norm={norm_value} (rank {self.env.rank})"
            )
            if self.nonfinite == "raise":
                lr = opt.param_groups[0].get("lr") if opt.param_groups else None
                raise NonFiniteError(
                    msg + "; trainer.nonfinite='raise' stopped the run. Try: lower optimizer.lr "
                    f"(the step used {lr:g}), clip gradients with "
                    "trainer.callbacks.grad_clip.clip_norm, or skip such steps with "
                    "trainer.nonfinite='skip'"
                )
            self.skipped_steps += 1
            log.warning(
                "%s; skipped (no optimizer, scheduler or EMA update), %d skipped so far",
                msg,
                self.skipped_steps,
            )
            if self.env.is_main:
                self._writer.write(
                    {
                        "iteration": it + 1,
                        "split": "train",
                        "skipped_nonfinite": 1,
                        "skipped_total": self.skipped_steps,
                    }
                )
            opt.zero_grad(set_to_none=True)
            return None
        opt.step()
        if sched is not None:
            sched.step()
        cb.on_before_zero_grad(self.model_ddp, opt, sched, it)
        model.on_before_zero_grad(opt, sched, it)
        opt.zero_grad(set_to_none=True)
        return norm_value

    def _window_metrics(
        self, loss_sum: torch.Tensor, norm_sum: float, steps: int, samples: int, t0: float
    ) -> dict[str, Any]:
        elapsed = max(time.perf_counter() - t0, 1e-9)
        stats = torch.stack(
            [loss_sum, torch.tensor(float(steps), dtype=torch.float64, device=loss_sum.device)]
        )
        if is_dist():
            torch.distributed.all_reduce(stats)  # mean loss over data-parallel ranks
        loss_total, steps_total = stats.tolist()
        n = max(steps, 1)
        return {
            "iteration": self.iteration,
            "split": "train",
            "loss": loss_total / steps_total if steps_total else float("nan"),
            "lr": self.optimizer.param_groups[0]["lr"],
            "grad_norm": norm_sum / n if steps else float("nan"),
            "samples_per_s": samples
            * data_parallel_rank_world()[1]
            / elapsed,  # CP peers share samples
            "step_time_s": elapsed / max(self.logging_iter, 1),
            "skipped_total": self.skipped_steps,
        }

    # ---- validation -----------------------------------------------------------------------------
    def _rewind(self, val_loader: Any) -> None:
        """Puts a stateful validation loader back at its first position.

        A resumable loader continues where the last iteration stopped (after ``max_val_iter``
        batches) and advances its epoch after a full pass; validation must see the same samples
        every time so its curves compare across steps, runs and resumes.
        """
        if not (
            callable(getattr(val_loader, "state_dict", None))
            and callable(getattr(val_loader, "load_state_dict", None))
        ):
            return
        key = id(val_loader)
        if key not in self._val_start:
            self._val_start[key] = copy.deepcopy(val_loader.state_dict())
        else:
            val_loader.load_state_dict(copy.deepcopy(self._val_start[key]))

    @torch.no_grad()
    def validate(self, val_loader: Iterable[Any]) -> dict[str, Any]:
        """Deterministic validation loss with the regular and (if present) EMA weights."""
        cb, model, it = self.callbacks, self.model, self.iteration
        cb.on_validation_start(model, val_loader, it)
        was_training = model.training
        model.eval()
        row: dict[str, Any] = {"iteration": it, "split": "val"}
        variants = [("val_loss", False)] + (
            [("val_loss_ema", True)] if ema_net(model) is not None else []
        )
        for key, use_ema in variants:
            total = torch.zeros(2, dtype=torch.float64, device=self.device)
            self._rewind(val_loader)
            with model.ema_scope(enabled=use_ema):
                for i, batch in enumerate(val_loader):
                    if self.max_val_iter is not None and i >= self.max_val_iter:
                        break
                    batch = _to_device(batch, self.device)
                    cb.on_validation_step_start(model, batch, it)
                    output, loss = model.validation_step(batch, it)
                    cb.on_validation_step_end(model, batch, output, loss, it)
                    bs = _batch_size(batch)
                    total[0] += loss.detach().to(torch.float64) * bs
                    total[1] += bs
            if is_dist():
                torch.distributed.all_reduce(total)
            row[key] = (total[0] / total[1]).item() if total[1] > 0 else float("nan")
        model.train(was_training)
        # Recorded before on_validation_end, so callbacks see this validation's row.
        self.val_history.append(row)
        self._writer.write(row, prefix="val")
        cb.on_validation_end(model, it)
        return row
