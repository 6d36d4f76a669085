"""Callbacks: the Cosmos hook list, a dispatching group, and the standard training callbacks.

Hook signatures and call points follow Cosmos's ``ImaginaireTrainer`` (see
``reference/trainer_spec.md`` §1.2-1.3): ``on_before_optimizer_step`` and ``on_before_zero_grad``
receive the pre-increment (0-based) iteration, ``on_training_step_end`` the post-increment one.
Every callback gets ``self.trainer`` (and ``self.config`` when the trainer has one) before
``on_train_start``.
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from cosmos_train.data.video_io import write_mp4
from cosmos_train.distributed.env import get_rank, is_dist

__all__ = [
    "HOOKS",
    "Callback",
    "EveryN",
    "CallbackGroup",
    "CallbackError",
    "GradClip",
    "LoggedRowCallback",
    "IterSpeed",
    "ProgressBar",
    "format_duration",
    "progress_log",
    "MemoryStats",
    "ManualGC",
    "EveryNDrawSample",
    "RecordingCallback",
    "WandbLogger",
    "total_grad_norm",
    "ema_net",
    "PEAK_FLOPS",
    "peak_flops",
]

log = logging.getLogger(__name__)

#: Every hook a callback may implement, in the order Cosmos declares them.
HOOKS: tuple[str, ...] = (
    "on_train_start",
    "on_training_step_start",
    "on_training_step_batch_start",
    "on_before_forward",
    "on_after_forward",
    "on_before_backward",
    "on_after_backward",
    "on_before_dataloading",
    "on_after_dataloading",
    "on_optimizer_init_start",
    "on_optimizer_init_end",
    "on_before_optimizer_step",
    "on_before_zero_grad",
    "on_training_step_batch_end",
    "on_training_step_end",
    "on_validation_start",
    "on_validation_step_start",
    "on_validation_step_end",
    "on_validation_end",
    "on_load_checkpoint_start",
    "on_load_checkpoint",
    "on_load_checkpoint_end",
    "on_save_checkpoint_start",
    "on_save_checkpoint",
    "on_save_checkpoint_end",
    "on_save_checkpoint_success",
    "on_train_end",
    "on_app_end",
)


def ema_net(model: Any) -> Any:
    """``model.net_ema``, or ``None`` for a model without EMA (or one that is not a
    ``TrainModel``)."""
    return getattr(model, "net_ema", None)


class Callback:
    """Base class: every hook is a no-op. ``trainer`` and ``config`` are set by the trainer."""

    trainer: Any = None
    config: Any = None

    def on_train_start(self, model, iteration: int = 0) -> None: ...
    def on_training_step_start(self, model, data_batch, iteration: int = 0) -> None: ...
    def on_training_step_batch_start(self, model, data_batch, iteration: int = 0) -> None: ...
    def on_before_forward(self, iteration: int = 0) -> None: ...
    def on_after_forward(self, iteration: int = 0) -> None: ...
    def on_before_backward(self, model_ddp, loss, iteration: int = 0) -> None: ...
    def on_after_backward(self, model_ddp, iteration: int = 0) -> None: ...
    def on_before_dataloading(self, iteration: int = 0) -> None: ...
    def on_after_dataloading(self, iteration: int = 0) -> None: ...
    def on_optimizer_init_start(self) -> None: ...
    def on_optimizer_init_end(self) -> None: ...
    def on_before_optimizer_step(
        self, model_ddp, optimizer, scheduler, grad_scaler, iteration: int = 0
    ) -> None: ...
    def on_before_zero_grad(self, model_ddp, optimizer, scheduler, iteration: int = 0) -> None: ...
    def on_training_step_batch_end(
        self, model, data_batch, output_batch, loss, iteration: int = 0
    ) -> None: ...
    def on_training_step_end(
        self, model, data_batch, output_batch, loss, iteration: int = 0
    ) -> None: ...
    def on_validation_start(self, model, dataloader_val, iteration: int = 0) -> None: ...
    def on_validation_step_start(self, model, data_batch, iteration: int = 0) -> None: ...
    def on_validation_step_end(
        self, model, data_batch, output_batch, loss, iteration: int = 0
    ) -> None: ...
    def on_validation_end(self, model, iteration: int = 0) -> None: ...
    def on_load_checkpoint_start(self, model) -> None: ...
    def on_load_checkpoint(self, model, state_dict) -> None: ...
    def on_load_checkpoint_end(
        self, model, iteration: int = 0, checkpoint_path: str | None = None
    ) -> None: ...
    def on_save_checkpoint_start(self, model, iteration: int = 0) -> None: ...
    def on_save_checkpoint(self, model, state_dict) -> None: ...
    def on_save_checkpoint_end(self, model, iteration: int = 0) -> None: ...
    def on_save_checkpoint_success(self, iteration: int = 0, elapsed_time: float = 0.0) -> None: ...
    def on_train_end(self, model, iteration: int = 0) -> None: ...
    def on_app_end(self) -> None: ...


class EveryN(Callback):
    """Runs :meth:`every_n_impl` on ``on_training_step_end`` when ``iteration % every_n == 0``.

    Args:
        every_n: cadence in optimizer steps (post-increment iterations, so 1-based).
        barrier_after: synchronise ranks after the run (Cosmos's default), so a slow rank-0
            action does not skew the next step's timing on the other ranks.
    """

    def __init__(self, *, every_n: int = 1, barrier_after: bool = False) -> None:
        if every_n < 1:
            raise ValueError(f"{type(self).__name__}: every_n must be >= 1, got {every_n}")
        self.every_n = int(every_n)
        self.barrier_after = barrier_after

    def on_training_step_end(
        self, model, data_batch, output_batch, loss, iteration: int = 0
    ) -> None:
        if iteration % self.every_n == 0:
            self.every_n_impl(model, data_batch, output_batch, loss, iteration)
            if self.barrier_after and is_dist():
                torch.distributed.barrier()

    def every_n_impl(self, model, data_batch, output_batch, loss, iteration: int) -> None:
        raise NotImplementedError


class CallbackError(RuntimeError):
    """A callback failed; the message names it."""


class CallbackGroup:
    """Dispatches each hook to every callback in dict order; errors name the failing callback.

    Args:
        callbacks: ``{name: Callback}``; ``None`` entries are skipped (a disabled option).
        trainer: set as ``cb.trainer`` on each callback.
    """

    def __init__(self, callbacks: dict[str, Callback] | None = None, trainer: Any = None) -> None:
        self._callbacks: dict[str, Callback] = {}
        for name, cb in (callbacks or {}).items():
            if cb is None:
                continue
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"trainer.callbacks.{name} is a {type(cb).__name__}, not a Callback; "
                    "its target must subclass cosmos_train.trainer.callbacks.Callback"
                )
            cb.trainer = trainer
            cb.config = getattr(trainer, "config", None)
            self._callbacks[name] = cb
        # Only hooks some callback overrides are dispatched: an empty hook costs nothing per step.
        self._active: dict[str, list[tuple[str, Any]]] = {}
        for hook in HOOKS:
            impls = []
            for name, cb in self._callbacks.items():
                fn = getattr(type(cb), hook, None)
                if fn is not None and fn is not getattr(Callback, hook):
                    impls.append((name, getattr(cb, hook)))
            self._active[hook] = impls
            # Bound once here (an instance attribute wins over __getattr__): a hook nobody
            # implements is a no-op call, and no per-step closure is created.
            setattr(self, hook, _dispatcher(self, hook, impls))

    def __getitem__(self, name: str) -> Callback:
        return self._callbacks[name]

    def __contains__(self, name: str) -> bool:
        return name in self._callbacks

    def __iter__(self):
        return iter(self._callbacks.items())

    def __len__(self) -> int:
        return len(self._callbacks)

    def get(self, name: str, default: Any = None) -> Any:
        return self._callbacks.get(name, default)

    def find(self, cls: type) -> list[Callback]:
        """All callbacks that are instances of ``cls``."""
        return [cb for cb in self._callbacks.values() if isinstance(cb, cls)]

    def call(self, hook: str, *args: Any, **kwargs: Any) -> None:
        """Calls ``hook`` on every callback that implements it."""
        for name, fn in self._active[hook]:
            try:
                fn(*args, **kwargs)
            except Exception as exc:
                raise CallbackError(
                    f"callback {name!r} ({type(self._callbacks[name]).__name__}) failed in {hook}: "
                    f"{exc}"
                ) from exc

    def __getattr__(self, hook: str):
        # Only reached for names that are not hooks (hooks are instance attributes, see __init__).
        raise AttributeError(f"CallbackGroup has no hook {hook!r}; hooks are: {', '.join(HOOKS)}")


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


def _dispatcher(group: CallbackGroup, hook: str, impls: list[tuple[str, Any]]) -> Any:
    """The callable behind ``group.<hook>``: a no-op when no callback implements the hook."""
    if not impls:
        return _noop

    def dispatch(*args: Any, **kwargs: Any) -> None:
        group.call(hook, *args, **kwargs)

    return dispatch


# ---- gradient clipping -----------------------------------------------------------------------


def _grads(params: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    return [p.grad for p in params if p.grad is not None]


@torch.no_grad()
def total_grad_norm(params: Iterable[torch.Tensor]) -> torch.Tensor:
    """Total L2 norm of the gradients, DTensor-aware (the full-tensor norm on every rank).

    FSDP2 gradients are sharded DTensors; ``torch.nn.utils.get_total_norm`` reduces them to a
    DTensor whose ``full_tensor()`` all-reduces the partial norms.
    """
    grads = _grads(params)
    if not grads:
        return torch.zeros(())
    norm = torch.nn.utils.get_total_norm(grads, norm_type=2.0, foreach=None)
    full = getattr(norm, "full_tensor", None)
    return full() if callable(full) else norm


class GradClip(Callback):
    """Clips the total gradient norm of ``model.net`` before the optimizer step and records it.

    Non-finite gradients are never zeroed here (Cosmos's ``force_finite`` silently hid NaNs):
    the trainer's ``nonfinite`` policy decides to raise or skip using the norm this reports.

    Args:
        clip_norm: max total L2 norm; ``None`` or ``<= 0`` only measures.
    """

    def __init__(self, *, clip_norm: float | None = 1.0) -> None:
        self.clip_norm = clip_norm

    def on_before_optimizer_step(
        self, model_ddp, optimizer, scheduler, grad_scaler, iteration: int = 0
    ) -> None:
        params = [p for p in self.trainer.model.net.parameters() if p.grad is not None]
        norm = total_grad_norm(params)
        if self.clip_norm is not None and self.clip_norm > 0 and params:
            # Same formula as torch.nn.utils.clip_grads_with_norm_, applied to local shards.
            coef = torch.clamp(self.clip_norm / (norm + 1e-6), max=1.0)
            grads = [_local(p.grad) for p in params]
            torch._foreach_mul_(grads, coef.to(grads[0].device))
        self.trainer.report_grad_norm(norm)


def _local(t: torch.Tensor) -> torch.Tensor:
    to_local = getattr(t, "to_local", None)
    return to_local() if callable(to_local) else t


# ---- throughput, MFU, memory -------------------------------------------------------------------

#: Dense bf16 peak FLOP/s by device-name substring (first match wins).
PEAK_FLOPS: tuple[tuple[str, float], ...] = (
    ("H200", 989e12),
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),
    ("H800", 989e12),
    ("GH200", 989e12),
    ("B200", 2250e12),
    ("A100", 312e12),
    ("A800", 312e12),
    ("L40S", 362e12),
    ("A10G", 125e12),
    ("L4", 121e12),
)


def peak_flops(device: torch.device) -> float | None:
    """Peak bf16 FLOP/s of ``device`` from :data:`PEAK_FLOPS`, ``None`` when unknown (e.g. CPU)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, value in PEAK_FLOPS:
        if key in name:
            return value
    return None


class LoggedRowCallback(Callback):
    """Base for callbacks that add fields to the metrics row of each logging step.

    Subclasses implement :meth:`add_metrics`; it runs in ``on_training_step_end`` on the steps
    where the trainer writes a row (``iteration % logging_iter == 0``), before the row is written.
    """

    def on_training_step_end(
        self, model, data_batch, output_batch, loss, iteration: int = 0
    ) -> None:
        if self.trainer.is_log_step(iteration):
            self.add_metrics(model, data_batch, self.trainer.pending_metrics)

    def add_metrics(self, model, data_batch, metrics: dict[str, Any]) -> None:
        raise NotImplementedError


class IterSpeed(LoggedRowCallback):
    """Adds ``tokens_per_s``, ``tflops_per_s_per_device`` and ``mfu`` to each logged row.

    Uses the trainer's ``samples_per_s`` (global) and ``model.tokens_per_sample`` /
    ``model.flops_per_sample`` (attention included) for the last batch seen.
    """

    def __init__(self, *, peak_flops_per_s: float | None = None) -> None:
        self.peak = peak_flops_per_s

    def on_train_start(self, model, iteration: int = 0) -> None:
        if self.peak is None:
            self.peak = peak_flops(self.trainer.device)

    def add_metrics(self, model, data_batch, metrics: dict[str, Any]) -> None:
        m = metrics
        sps = m.get("samples_per_s")
        if not sps:
            return
        tokens = model.tokens_per_sample(data_batch)
        flops = model.flops_per_sample(data_batch)
        world = self.trainer.world_size
        if tokens:
            m["tokens_per_s"] = sps * tokens
        if flops:
            per_device = sps * flops / world
            m["tflops_per_s_per_device"] = per_device / 1e12
            if self.peak:
                m["mfu"] = per_device / self.peak


class MemoryStats(LoggedRowCallback):
    """Adds peak memory (GiB) to logged rows: CUDA allocated/reserved, else the process max RSS."""

    def add_metrics(self, model, data_batch, metrics: dict[str, Any]) -> None:
        m = metrics
        if self.trainer.device.type == "cuda":
            m["mem_peak_alloc_gib"] = torch.cuda.max_memory_allocated(self.trainer.device) / 2**30
            m["mem_peak_reserved_gib"] = torch.cuda.max_memory_reserved(self.trainer.device) / 2**30
            torch.cuda.reset_peak_memory_stats(self.trainer.device)
        else:
            import resource

            m["mem_max_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


class ManualGC(Callback):
    """Disables automatic GC after ``warm_up`` steps and collects every ``every_n`` steps.

    Automatic collections land at random points on different ranks and stall collectives;
    collecting on a fixed cadence keeps ranks in step (Cosmos ``ManualGarbageCollection``).
    """

    def __init__(self, *, every_n: int = 200, warm_up: int = 5, generation: int = 1) -> None:
        if int(every_n) < 1 or int(warm_up) < 0 or int(generation) not in (0, 1, 2):
            raise ValueError(
                "ManualGC: need every_n >= 1, warm_up >= 0 and generation in (0, 1, 2), got "
                f"{every_n}, {warm_up}, {generation}; fix trainer.callbacks.<name>.every_n / "
                "warm_up / generation"
            )
        self.every_n, self.warm_up, self.generation = int(every_n), int(warm_up), int(generation)
        self._was_enabled = gc.isenabled()

    def on_training_step_end(
        self, model, data_batch, output_batch, loss, iteration: int = 0
    ) -> None:
        if iteration == self.warm_up:
            gc.disable()
        if iteration > self.warm_up and iteration % self.every_n == 0:
            gc.collect(self.generation)

    def on_train_end(self, model, iteration: int = 0) -> None:
        if self._was_enabled:
            gc.enable()


#: Logger of the progress lines (one per ``logging_iter``, per validation, and the run summary).
progress_log = logging.getLogger("cosmos_train.progress")


def format_duration(seconds: float) -> str:
    """``1:02:03`` / ``2:03`` style duration (``?`` when unknown)."""
    if seconds is None or not seconds == seconds or seconds in (float("inf"), float("-inf")):
        return "?"
    seconds = int(round(max(seconds, 0.0)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _last_rows(metrics_path: Path, max_bytes: int = 1 << 16) -> tuple[dict | None, dict | None]:
    """The last train and validation rows of a ``metrics.jsonl`` (read from its tail)."""
    import json

    if not metrics_path.is_file():
        return None, None
    with open(metrics_path, "rb") as f:
        f.seek(0, 2)
        f.seek(max(0, f.tell() - max_bytes))
        lines = f.read().decode("utf-8", "replace").splitlines()
    train = val = None
    for line in reversed(lines):
        try:
            row = json.loads(line)
        except ValueError:
            continue  # the first line of the tail may be cut
        if train is None and row.get("split") == "train" and "loss" in row:
            train = row
        if val is None and row.get("split") == "val":
            val = row
        if train is not None and val is not None:
            break
    return train, val


class ProgressBar(Callback):
    """Shows training progress on rank 0 and ends with a summary of the run.

    * In a terminal (``sys.stderr`` is a TTY): a tqdm bar with loss, lr, it/s and ETA. The rows
      also go to ``<job>/stdout.log`` (file only), so the log holds what the bar showed.
    * Otherwise (piped, redirected, CI): one plain log line per ``logging_iter`` (iteration, loss,
      lr, it/s, ETA) and one per validation; never a carriage return.
    * At the end: iterations, final train and validation loss, wall time, and where config.yaml,
      metrics, checkpoints and samples are. A job that is already complete says so, and how to
      continue it (``trainer.max_iter=...``) or start a new one (``job.name=...``).

    Lines go through the ``cosmos_train.progress`` logger (``tools/train.py`` sends it to the
    console and ``<job>/stdout.log``).

    Args:
        disable: no bar, no lines, no summary.
        mode: ``"auto"`` (bar in a terminal, lines otherwise), ``"bar"`` or ``"lines"``.
    """

    def __init__(self, *, disable: bool = False, mode: str = "auto") -> None:
        if mode not in ("auto", "bar", "lines"):
            raise ValueError(
                f"ProgressBar mode={mode!r}: use 'auto', 'bar' or 'lines' "
                "(trainer.callbacks.progress_bar.mode)"
            )
        self.disable = disable
        self.mode = mode
        self._bar = None
        self._active = False
        self._t0 = 0.0
        self._start_iter = 0
        self._last_t = 0.0
        self._last_iter = 0

    # ---- helpers -------------------------------------------------------------------------------
    def _use_bar(self) -> bool:
        if self.mode != "auto":
            return self.mode == "bar"
        isatty = getattr(sys.stderr, "isatty", None)
        return bool(callable(isatty) and isatty())

    def _emit(self, message: str, *, console: bool = True) -> None:
        """One progress line; ``console=False`` keeps it out of the terminal (the bar shows it)."""
        progress_log.info(message, extra={"console": console})

    def _job_dir(self) -> Path:
        return Path(self.trainer.job_dir)

    def _job_name(self) -> str:
        job = getattr(self.config, "job", None)
        return str(getattr(job, "name", None) or self._job_dir().name)

    # ---- hooks ---------------------------------------------------------------------------------
    def on_train_start(self, model, iteration: int = 0) -> None:
        if self.disable or get_rank() != 0:
            return
        if progress_log.level == logging.NOTSET:
            progress_log.setLevel(logging.INFO)  # shown even where the root logger is at WARNING
        self._active = True
        self._t0 = self._last_t = time.perf_counter()
        self._start_iter = self._last_iter = iteration
        max_iter = self.trainer.max_iter
        if iteration >= max_iter:
            return  # on_train_end says the job is complete
        self._emit(
            f"training {self._job_name()} from iteration {iteration} to {max_iter} (job directory "
            f"{self._job_dir()})"
        )
        if self._use_bar():
            from tqdm import tqdm

            self._bar = tqdm(
                total=max_iter, initial=iteration, desc="train", dynamic_ncols=True, file=sys.stderr
            )

    def on_training_step_end(
        self, model, data_batch, output_batch, loss, iteration: int = 0
    ) -> None:
        if not self._active:
            return
        if self._bar is not None:
            self._bar.update(1)
        if not self.trainer.is_log_step(iteration):
            return
        row = self.trainer.last_logged or {}
        now = time.perf_counter()
        rate = (iteration - self._last_iter) / max(now - self._last_t, 1e-9)
        overall = (iteration - self._start_iter) / max(now - self._t0, 1e-9)
        self._last_t, self._last_iter = now, iteration
        eta = (self.trainer.max_iter - iteration) / overall if overall > 0 else float("inf")
        loss_value, lr = row.get("loss", float("nan")), row.get("lr", float("nan"))
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{loss_value:.4g}", lr=f"{lr:.3g}", refresh=False)
        self._emit(
            f"iter {iteration}/{self.trainer.max_iter}  loss {loss_value:.4g}  lr {lr:.3g}  "
            f"{rate:.1f} it/s  ETA {format_duration(eta)}",
            console=self._bar is None,
        )

    def on_validation_end(self, model, iteration: int = 0) -> None:
        if not self._active:
            return
        history = getattr(self.trainer, "val_history", None) or []
        row = history[-1] if history and history[-1].get("iteration") == iteration else None
        if row is None:
            return
        parts = [
            f"{k} {v:.4g}" for k, v in row.items() if k.startswith("val_") and isinstance(v, float)
        ]
        self._emit(f"validation at iter {iteration}: " + "  ".join(parts))

    def on_train_end(self, model, iteration: int = 0) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if not self._active:
            return
        self._active = False
        for line in self._summary(iteration):
            self._emit(line)

    def _summary(self, iteration: int) -> list[str]:
        job_dir, max_iter = self._job_dir(), self.trainer.max_iter
        trained = iteration - self._start_iter
        lines = []
        if trained == 0 and iteration >= max_iter:
            name = self._job_name()
            lines += [
                f"job {name} is already complete: it is at iteration {iteration} and "
                f"trainer.max_iter={max_iter}, so there is nothing to train.",
                "  to continue it, run the same command with "
                f"trainer.max_iter={2 * max(max_iter, 1)} (any value above {iteration}); to start "
                f"a new run, add job.name={name}_2 (any unused name)",
            ]
        else:
            lines.append(
                f"training done: iteration {iteration}/{max_iter} ({trained} this run) in "
                f"{format_duration(time.perf_counter() - self._t0)}"
            )
        train_row, val_row = self.trainer.last_logged, None
        history = getattr(self.trainer, "val_history", None) or []
        if history:
            val_row = history[-1]
        if train_row is None or val_row is None:
            file_train, file_val = _last_rows(job_dir / "metrics.jsonl")
            train_row, val_row = train_row or file_train, val_row or file_val
        losses = []
        if train_row is not None and "loss" in train_row:
            losses.append(
                f"train loss {float(train_row['loss']):.4g} (iter {train_row['iteration']})"
            )
        if val_row is not None:
            vals = ", ".join(
                f"{k} {float(v):.4g}"
                for k, v in val_row.items()
                if k.startswith("val_") and isinstance(v, (int, float))
            )
            losses.append(f"validation {vals} (iter {val_row['iteration']})")
        if losses:
            lines.append("  final " + "; ".join(losses))
        lines.append(f"  config:      {job_dir / 'config.yaml'}")
        lines.append(
            f"  metrics:     {job_dir / 'metrics.jsonl'}"
            + (
                f" (TensorBoard: {job_dir / 'tensorboard'})"
                if (job_dir / "tensorboard").is_dir()
                else ""
            )
        )
        ckpt = job_dir / "checkpoints"
        latest = ckpt / "latest_checkpoint.txt"
        if latest.is_file():
            lines.append(f"  checkpoints: {ckpt} (latest {latest.read_text().strip()})")
        else:
            lines.append("  checkpoints: none saved")
        samples = (
            sorted((job_dir / "samples").glob("*.mp4")) if (job_dir / "samples").is_dir() else []
        )
        if samples:
            lines.append(
                f"  samples:     {job_dir / 'samples'} ({len(samples)} videos, latest "
                f"{samples[-1].name})"
            )
        else:
            lines.append("  samples:     none written")
        lines.append(f"  log:         {job_dir / 'stdout.log'}")
        return lines


# ---- samples --------------------------------------------------------------------------------


def tile_videos(videos_B_3_T_H_W: torch.Tensor) -> torch.Tensor:
    """Places a batch of uint8 videos side by side: ``[3, T, H, B*W]`` (``write_mp4``'s layout)."""
    if (
        videos_B_3_T_H_W.dtype != torch.uint8
        or videos_B_3_T_H_W.dim() != 5
        or videos_B_3_T_H_W.shape[1] != 3
    ):
        raise ValueError(
            f"generate_samples must return uint8 [B, 3, T, H, W]; got {videos_B_3_T_H_W.dtype} "
            f"{tuple(videos_B_3_T_H_W.shape)}"
        )
    b, c, t, h, w = videos_B_3_T_H_W.shape
    return videos_B_3_T_H_W.permute(1, 2, 3, 0, 4).reshape(c, t, h, b * w)


class EveryNDrawSample(EveryN):
    """Every ``every_n`` steps, samples videos for the current batch and writes mp4 files.

    All ranks run ``model.generate_samples`` (a sharded net needs every rank); rank 0 writes
    ``<job>/samples/iter_000000200_{reg,ema}.mp4``.

    Args:
        every_n: cadence; is_ema: sample with the EMA weights (``model.ema_scope``) too;
        num_samples: first samples of the batch to draw; num_steps, guidance, seed: sampler
        arguments; fps: of the written video; regular: also sample the regular weights.
    """

    def __init__(
        self,
        *,
        every_n: int = 200,
        is_ema: bool = True,
        regular: bool = True,
        num_samples: int = 1,
        num_steps: int = 35,
        guidance: float = 0.0,
        seed: int = 0,
        fps: int = 8,
    ) -> None:
        super().__init__(every_n=every_n)
        self.is_ema, self.regular = is_ema, regular
        self.num_samples, self.num_steps, self.guidance, self.seed, self.fps = (
            num_samples,
            num_steps,
            guidance,
            seed,
            fps,
        )
        self.written: list[Path] = []

    def _slice(self, batch: dict[str, Any]) -> dict[str, Any]:
        n = self.num_samples
        return {
            k: (v[:n] if isinstance(v, (torch.Tensor, list, tuple)) else v)
            for k, v in batch.items()
        }

    def every_n_impl(self, model, data_batch, output_batch, loss, iteration: int) -> None:
        batch = self._slice(data_batch)
        variants = ([("reg", False)] if self.regular else []) + (
            [("ema", True)] if self.is_ema and ema_net(model) is not None else []
        )
        was_training = model.training
        model.eval()
        try:
            for tag, use_ema in variants:
                with model.ema_scope(enabled=use_ema):
                    video = model.generate_samples(
                        batch, num_steps=self.num_steps, guidance=self.guidance, seed=self.seed
                    )
                if get_rank() == 0:
                    path = (
                        Path(self.trainer.job_dir) / "samples" / f"iter_{iteration:09d}_{tag}.mp4"
                    )
                    # x264 at its default CRF: samples are for eyes, not for exact pixels.
                    self.written.append(
                        write_mp4(
                            path,
                            tile_videos(video),
                            fps=self.fps,
                            codec="libx264",
                            quality=23,
                            pad_odd=True,
                        )
                    )
        finally:
            model.train(was_training)


# ---- tests -----------------------------------------------------------------------------------


_WANDB_MODES = ("online", "offline", "disabled")


class WandbLogger(Callback):
    """Logs the rows of ``metrics.jsonl`` (train and validation) to Weights & Biases on rank 0.

    W&B is optional: without an importable ``wandb`` this logs one warning and does nothing
    (``metrics.jsonl`` and TensorBoard still hold every row). The run is named after the job
    (project/group/name) and its directory is the job directory, so offline runs sync later with
    ``wandb sync <job>/wandb/offline-run-*``.

    A train row is complete only after every callback's ``on_training_step_end`` (other callbacks
    add fields to it), so each row is sent at the next hook instead of in place: callback order
    does not matter. Rows are keyed ``train/<field>`` and ``val/<field>`` at ``step=iteration``.

    Args:
        mode: ``online``, ``offline`` or ``disabled``; ``None`` reads ``job.wandb_mode`` from the
            trainer's config (``online`` when there is none).
        project, group, name: override the job's names.
    """

    def __init__(
        self,
        *,
        mode: str | None = None,
        project: str | None = None,
        group: str | None = None,
        name: str | None = None,
    ) -> None:
        if mode is not None and mode not in _WANDB_MODES:
            raise ValueError(f"WandbLogger mode={mode!r}: use one of {', '.join(_WANDB_MODES)}")
        self.mode, self.project, self.group, self.name = mode, project, group, name
        self.run: Any = None
        self._pending: dict[str, Any] | None = None
        self._val_seen = 0

    def _job(self, key: str) -> Any:
        config = getattr(self, "config", None) or getattr(self.trainer, "config", None)
        return getattr(getattr(config, "job", None), key, None)

    def on_train_start(self, model, iteration: int = 0) -> None:
        env = getattr(self.trainer, "env", None)
        mode = self.mode or self._job("wandb_mode") or "online"
        if mode == "disabled" or (env is not None and not env.is_main) or get_rank() != 0:
            return
        try:
            import wandb
        except ImportError:
            log.warning(
                "callbacks=wandb: the wandb package is not installed, so nothing goes to W&B "
                "(pip install wandb; metrics.jsonl and TensorBoard still have every row)"
            )
            return
        config = getattr(self.trainer, "config", None)
        to_dict = getattr(config, "to_dict", None)
        self.run = wandb.init(
            project=self.project or self._job("project") or None,
            group=self.group or self._job("group") or None,
            name=self.name or self._job("name") or None,
            mode=mode,
            dir=str(self.trainer.job_dir),
            config=to_dict() if callable(to_dict) else None,
            resume="allow",
        )
        self._val_seen = len(getattr(self.trainer, "val_history", []))

    def on_training_step_end(
        self, model, data_batch, output_batch, loss, iteration: int = 0
    ) -> None:
        if self.run is not None and self.trainer.is_log_step(iteration):
            # The trainer writes this very dict after all callbacks ran, then starts a new one.
            self._pending = self.trainer.pending_metrics

    def on_training_step_start(self, model, data_batch, iteration: int = 0) -> None:
        self._flush()

    def on_validation_start(self, model, dataloader_val, iteration: int = 0) -> None:
        self._flush()

    def on_train_end(self, model, iteration: int = 0) -> None:
        self._flush()
        if self.run is not None:
            self.run.finish()
            self.run = None

    def _flush(self) -> None:
        """Sends the last train row and any validation rows written since the last flush."""
        if self.run is None:
            return
        if self._pending is not None:
            self._log(self._pending, "train")
            self._pending = None
        history = getattr(self.trainer, "val_history", [])
        for row in history[self._val_seen :]:
            self._log(row, "val")
        self._val_seen = len(history)

    def _log(self, row: dict[str, Any], prefix: str) -> None:
        values = {}
        for key, value in row.items():
            item = getattr(value, "item", None)
            value = item() if callable(item) else value
            if (
                key not in ("iteration", "split")
                and isinstance(value, (int, float))
                and not isinstance(value, bool)
            ):
                values[f"{prefix}/{key}"] = value
        if values:
            self.run.log(values, step=int(row["iteration"]))


class RecordingCallback(Callback):
    """Records ``(hook, iteration)`` for every hook call (iteration ``None`` where a hook has
    none)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int | None]] = []


def _make_recorder(hook: str):
    def record(self, *args: Any, **kwargs: Any) -> None:
        it = kwargs.get("iteration")
        if it is None:
            ints = [a for a in args if isinstance(a, int) and not isinstance(a, bool)]
            it = ints[0] if ints else None
        self.events.append((hook, it))

    record.__name__ = hook
    return record


for _hook in HOOKS:
    setattr(RecordingCallback, _hook, _make_recorder(_hook))
del _hook
