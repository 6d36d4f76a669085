"""Distributed checkpoints with ``torch.distributed.checkpoint`` in Cosmos's layout.

Layout (reference/trainer_spec.md §3.3)::

    <job>/checkpoints/iter_000000200/{model,optim,scheduler,trainer}/   DCP directories
    <job>/checkpoints/iter_000000200/config.yaml                        the resolved config
    <job>/checkpoints/iter_000000200/model_info.json                    LoRA runs: base reference
    <job>/checkpoints/latest_checkpoint.txt                             "iter_000000200"

Writes are atomic: every rank writes into ``iter_X.tmp-<pid of rank 0>``; rank 0 renames it to
``iter_X`` and then replaces ``latest_checkpoint.txt`` through a temporary file. A process killed
mid-save leaves only a stale ``.tmp-`` directory (removed by the next run) and the previous
checkpoint still named in ``latest_checkpoint.txt``.

Resume priority (Cosmos): this job's latest checkpoint (all keys) > ``load_path`` (``model``,
plus ``optim``/``scheduler``/``trainer`` with ``load_training_state``, or ``scheduler`` alone
with ``only_load_scheduler_state``) > a fresh start; ``keys_not_to_resume`` removes keys.
Unlike Cosmos, ``strict_resume`` is enforced: keys and shapes are compared with the checkpoint's
metadata before loading and a mismatch fails with a diff. DCP reshards on load, so a checkpoint
written by N ranks loads on M ranks.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import json
import logging
import os
import pickle
import shutil
import time
import warnings
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint import FileSystemReader
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.metadata import TensorStorageMetadata
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from cosmos_train.checkpoint.verify import verify_checkpoint, write_manifest
from cosmos_train.distributed.env import barrier, broadcast_object, get_rank, is_dist

__all__ = [
    "DCPCheckpointer",
    "CheckpointError",
    "CheckpointSaveError",
    "ConfigChangedError",
    "KEYS",
    "DEFAULT_ALLOWED_CONFIG_CHANGES",
    "CONFIG_FIELDS_USED_ELSEWHERE",
    "build_checkpointer",
    "checkpoint_name",
    "load_weights_file",
    "latest_checkpoint",
    "disallowed_config_changes",
]

log = logging.getLogger(__name__)

#: The DCP sub-directories of one checkpoint, in save order.
KEYS: tuple[str, ...] = ("model", "optim", "scheduler", "trainer")
LATEST_FILE = "latest_checkpoint.txt"
CONFIG_FILE = "config.yaml"
#: Facts the model records with its weights (a LoRA run: its base path and fingerprint).
MODEL_INFO_FILE = "model_info.json"
_OPTIM_OPTIONS = StateDictOptions(flatten_optimizer_state_dict=True)

#: Config paths (fnmatch patterns) that may differ between a checkpoint and the resuming run:
#: the job's identity, cadences, the iteration budget and how checkpoints are loaded.
DEFAULT_ALLOWED_CONFIG_CHANGES: tuple[str, ...] = (
    "job.*",
    "trainer.max_iter",
    "trainer.logging_iter",
    "trainer.validation_iter",
    "trainer.max_val_iter",
    "trainer.run_validation",
    "trainer.timeout_s",
    "trainer.timeout_period",
    "trainer.memory_check",
    "trainer.profiling*",
    "trainer.straggler*",
    "trainer.callbacks.*.every_n",
    "checkpoint.save_iter",
    "checkpoint.keep_last_k",
    "checkpoint.async_mode",
    "checkpoint.dcp_async_mode_enabled",
    "checkpoint.load_path",
    "checkpoint.load_training_state",
    "checkpoint.only_load_scheduler_state",
    "checkpoint.keys_not_to_resume",
    "checkpoint.strict_resume",
    "checkpoint.allowed_config_changes",
    # Layout only: DCP reshards on load and context parallelism does not touch the saved state.
    "model_parallel.context_parallel_size",
    "model.config.fsdp_shard_size",
)


#: ``checkpoint.*`` fields that are not checkpointer arguments, and what uses them instead.
CONFIG_FIELDS_USED_ELSEWHERE: dict[str, str] = {
    "type": "the checkpointer node itself (build_checkpointer)",
    "save_to_object_store": "Config.validate (object stores are not implemented)",
    "load_from_object_store": "Config.validate (object stores are not implemented)",
    "verbose": "accepted for Cosmos; saves and loads are always logged",
    "jit": "accepted for Cosmos; logged as ignored by the launcher",
    "broadcast_via_filesystem": "accepted for Cosmos; logged as ignored by the launcher",
    "load_ema_to_reg": "accepted for Cosmos; logged as ignored by the launcher",
    "dcp_allow_mismatched_size": "accepted for Cosmos; logged as ignored by the launcher",
}


class CheckpointError(RuntimeError):
    """A checkpoint cannot be loaded as asked (missing files, key/shape mismatch)."""


class ConfigChangedError(CheckpointError):
    """The resuming run's config differs from the checkpoint's outside the allowed paths."""


class CheckpointSaveError(CheckpointError):
    """A checkpoint could not be written (disk full, no permission, a file in the way)."""


@contextlib.contextmanager
def _quiet_single_process() -> Iterator[None]:
    """Silences DCP's "assuming the intent is to save in a single process" warning (it is)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.distributed is disabled.*")
        yield


def checkpoint_name(iteration: int) -> str:
    """``iter_000000200`` for iteration 200."""
    return f"iter_{int(iteration):09d}"


def latest_checkpoint(checkpoints_dir: str | os.PathLike) -> Path | None:
    """The directory named by ``latest_checkpoint.txt``, or None when there is none."""
    latest = Path(checkpoints_dir) / LATEST_FILE
    if not latest.is_file():
        return None
    name = latest.read_text().strip()
    if not name:
        raise CheckpointError(
            f"{latest} is empty (an interrupted write?); write the name of an existing iter_* "
            "directory into it, delete it to start fresh, or use a new job directory "
            "(job.name=...)"
        )
    path = Path(checkpoints_dir) / name
    if not path.is_dir():
        raise CheckpointError(
            f"{latest} names {name!r}, but {path} does not exist; write the name of an existing "
            f"iter_* directory into {latest}, delete it to start fresh, or use a new job directory "
            "(job.name=...)"
        )
    return path


def _override_path(entry: Any) -> str:
    """The dotted path of a ``lazycfg.diff`` entry (its ``path`` or the left side of its override
    line)."""
    path = getattr(entry, "path", None)
    if isinstance(path, str):
        return path
    if isinstance(path, (tuple, list)):
        return ".".join(str(p) for p in path)
    line = str(entry).strip()
    line = line.lstrip("+~")
    return line.split("=", 1)[0].strip()


def disallowed_config_changes(entries: Iterable[Any], allowed: Iterable[str]) -> list[str]:
    """The diff lines whose path matches none of the ``allowed`` fnmatch patterns."""
    patterns = tuple(allowed)
    out = []
    for entry in entries:
        path = _override_path(entry)
        if not any(
            fnmatch.fnmatchcase(path, pat)
            or path.startswith(pat.rstrip("*") + ".")
            and pat.endswith(".*")
            for pat in patterns
        ):
            out.append(str(entry))
    return out


def _model_state(model: torch.nn.Module) -> tuple[dict[str, Any], bool]:
    """The model state a checkpoint holds and whether some entries were left out.

    A model may exclude entries it rebuilds from elsewhere (``frozen_state_keys``: a LoRA run's
    base weights, reloaded from the base reference in ``model_info.json``).
    """
    sd = get_model_state_dict(model)
    frozen_keys = getattr(model, "frozen_state_keys", None)
    skip = frozen_keys(sd.keys()) if callable(frozen_keys) else frozenset()
    return ({k: v for k, v in sd.items() if k not in skip} if skip else sd), bool(skip)


def _model_info(model: torch.nn.Module) -> dict[str, Any]:
    meta = getattr(model, "checkpoint_metadata", None)
    return meta() if callable(meta) else {}


def _damage_hint(keys: list[str]) -> str:
    """What to do about a checkpoint that does not verify."""
    return (
        "Point checkpoint.load_path at an intact iter_* directory, leave a damaged key out with "
        f"checkpoint.keys_not_to_resume (loading {keys}), or start a new job (job.name=...)."
    )


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message`` (DCP and torch messages carry whole tracebacks)."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe_failure(exc: CheckpointException) -> str:
    """The root cause per rank of a DCP ``CheckpointException``."""
    failures = getattr(exc, "failures", None) or {}
    parts = []
    for rank, failure in sorted(failures.items()):
        cause = failure[0] if isinstance(failure, tuple) else failure
        parts.append(f"rank {rank}: {_one_line(cause)}")
    return "; ".join(parts) or _one_line(exc)


def _blob(obj: Any) -> io.BytesIO:
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return buf


def _unblob(buf: io.BytesIO) -> Any:
    buf.seek(0)
    return torch.load(buf, weights_only=False)


def _shape_of(value: Any) -> tuple[int, ...] | None:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def _compare_with_metadata(
    template: dict[str, Any], path: Path, what: str
) -> tuple[list[str], list[str], list[str]]:
    """(missing in checkpoint, unexpected in checkpoint, shape mismatches) for ``template``."""
    meta = FileSystemReader(str(path)).read_metadata().state_dict_metadata
    missing = sorted(k for k in template if k not in meta)
    unexpected = sorted(k for k in meta if k not in template)
    mismatched = []
    for key, value in template.items():
        md = meta.get(key)
        shape = _shape_of(value)
        if md is None or shape is None or not isinstance(md, TensorStorageMetadata):
            continue
        if tuple(md.size) != shape:
            mismatched.append(f"{key}: checkpoint {tuple(md.size)} vs {what} {shape}")
    return missing, unexpected, mismatched


def _format_mismatch(
    what: str,
    path: Path,
    missing: list[str],
    unexpected: list[str],
    mismatched: list[str],
    limit: int = 20,
) -> str:
    lines = [f"strict_resume: {what} state in {path} does not match the {what} being trained:"]
    for title, items in (
        ("missing in checkpoint", missing),
        ("unexpected in checkpoint", unexpected),
        ("shape mismatch", mismatched),
    ):
        if items:
            lines.append(f"  {title} ({len(items)}):")
            lines += [f"    {item}" for item in items[:limit]]
            if len(items) > limit:
                lines.append(f"    ... {len(items) - limit} more")
    key = "optim" if what == "optimizer" else what
    lines.append(
        "  Fix the config so the net matches the checkpoint (or point checkpoint.load_path at a "
        "checkpoint of this net), leave this key out with "
        f"checkpoint.keys_not_to_resume=[{key!r}], or set checkpoint.strict_resume=False to load "
        "only the matching entries."
    )
    return "\n".join(lines)


def _local_load_path(load_path: str) -> Path:
    """``checkpoint.load_path`` as a local path; catalogue names and ``hf://`` specs resolve via the
    hub cache."""
    from cosmos_train.checkpoint.hub import (
        WeightsNotFoundError,
        parse_weights_spec,
        resolve_weights,
    )

    try:
        if parse_weights_spec(load_path) is None:
            return Path(load_path)
        return resolve_weights(load_path, what="checkpoint.load_path")
    except (ValueError, WeightsNotFoundError) as err:
        raise CheckpointError(str(err)) from None


class DCPCheckpointer:
    """Saves and loads ``model`` / ``optim`` / ``scheduler`` / ``trainer`` with DCP.

    Args:
        job_dir: the job directory; checkpoints go to ``<job_dir>/checkpoints``.
        save_iter: save when ``iteration % save_iter == 0`` (post-increment); the trainer also
            saves at the end of training unless that iteration was just saved.
        load_path: an ``iter_X`` directory, a ``checkpoints`` directory (its latest), or a
            consolidated ``.pt`` (model weights only, via ``checkpoint.consolidated``).
        load_training_state: with ``load_path``, also load optimizer, scheduler and trainer state.
        only_load_scheduler_state: with ``load_path``, load the scheduler but not the optimizer.
        strict_resume: fail on key or shape mismatches (else load the matching entries).
        keys_not_to_resume: subset of ``("model", "optim", "scheduler", "trainer")`` never loaded.
        async_mode: save in a background thread (DCP ``async_save``) after staging a CPU copy.
        keep_last_k: keep only the last k checkpoints (0: keep all).
        allowed_config_changes: fnmatch patterns of config paths that may change on resume.
        config: the resolved config saved with each checkpoint and compared on resume.
        save_on_finish: save at the end of training if the last iteration was not saved.
    """

    def __init__(
        self,
        *,
        job_dir: str | os.PathLike,
        save_iter: int = 1000,
        load_path: str = "",
        load_training_state: bool = False,
        only_load_scheduler_state: bool = False,
        strict_resume: bool = True,
        keys_not_to_resume: Iterable[str] = (),
        async_mode: bool = False,
        keep_last_k: int = 0,
        allowed_config_changes: Iterable[str] = DEFAULT_ALLOWED_CONFIG_CHANGES,
        config: Any = None,
        save_on_finish: bool = True,
    ) -> None:
        if save_iter < 1:
            raise ValueError(f"checkpoint.save_iter must be >= 1, got {save_iter}")
        bad = set(keys_not_to_resume) - set(KEYS)
        if bad:
            raise ValueError(
                f"checkpoint.keys_not_to_resume has unknown keys {sorted(bad)}; valid keys are "
                f"{list(KEYS)}"
            )
        if keep_last_k < 0:
            raise ValueError(f"checkpoint.keep_last_k must be >= 0, got {keep_last_k}")
        if job_dir is None or not str(job_dir).strip():
            raise ValueError(
                "DCPCheckpointer needs job_dir (checkpoints go to <job_dir>/checkpoints); from a "
                "config it is job.path_local = "
                "$IMAGINAIRE_OUTPUT_ROOT/{job.project}/{job.group}/{job.name}: set job.name"
            )
        self.job_dir = Path(job_dir)
        self.save_dir = self.job_dir / "checkpoints"
        self.save_iter = int(save_iter)
        self.load_path = str(load_path or "")
        self.load_training_state = load_training_state
        self.only_load_scheduler_state = only_load_scheduler_state
        self.strict_resume = strict_resume
        self.keys_not_to_resume = tuple(keys_not_to_resume)
        self.async_mode = bool(async_mode)
        self.keep_last_k = int(keep_last_k)
        self.allowed_config_changes = tuple(allowed_config_changes)
        self.config = config
        self.save_on_finish = save_on_finish
        self.last_saved_iteration: int | None = None
        self.loaded_from: Path | None = None
        #: Checkpoints that failed verification on resume (never deleted; see _publish).
        self.rejected: list[Path] = []
        self._pending: dict[str, Any] | None = None
        self._async_pgs: dict[str, Any] = {}
        self._cleaned = False

    # ---- construction from a config ------------------------------------------------------------
    #: ``checkpoint.*`` fields read by :meth:`config_kwargs` under another name or shape; every
    #: other field named like an ``__init__`` parameter passes through unchanged.
    CONFIG_DERIVED: tuple[str, ...] = ("allowed_config_changes", "dcp_async_mode_enabled")

    @classmethod
    def config_kwargs(cls, config: Any) -> dict[str, Any]:
        """``checkpoint.*`` (and the job directory) of a run config as keyword arguments."""
        from cosmos_train.utils.build import same_named_fields

        ck = config.checkpoint
        kwargs = same_named_fields(cls, ck, exclude=cls.CONFIG_DERIVED)
        kwargs.update(
            allowed_config_changes=(*DEFAULT_ALLOWED_CONFIG_CHANGES, *ck.allowed_config_changes),
            async_mode=ck.dcp_async_mode_enabled,
            job_dir=config.job.path_local,
            config=config,
        )
        if getattr(getattr(config.model, "config", None), "use_lora", False):
            kwargs["load_path"] = (
                ""  # a LoRA run's load_path is its base, loaded by the model itself
            )
        return kwargs

    @classmethod
    def from_config(cls, config: Any, **overrides: Any) -> DCPCheckpointer:
        """The checkpointer a run config describes (``overrides`` replace mapped arguments)."""
        return cls(**{**cls.config_kwargs(config), **overrides})

    # ---- cadence ----------------------------------------------------------------------------
    def should_save(self, iteration: int) -> bool:
        return iteration % self.save_iter == 0

    def should_save_final(self, iteration: int) -> bool:
        return self.save_on_finish and iteration > 0 and self.last_saved_iteration != iteration

    # ---- save ---------------------------------------------------------------------------------
    def _write_key(self, state: dict[str, Any], path: Path) -> Future | None:
        """Writes one DCP directory; returns a future in async mode. Tests override this."""
        if self.async_mode and is_dist():
            # One gloo group per key: the four background saves run their planning collectives
            # concurrently, and collectives of different saves must never share a group (ranks
            # would pair up different saves and deadlock), nor interleave with training's.
            if path.name not in self._async_pgs:
                self._async_pgs[path.name] = torch.distributed.new_group(backend="gloo")
            return dcp.async_save(
                state, checkpoint_id=str(path), process_group=self._async_pgs[path.name]
            )
        with _quiet_single_process():
            if self.async_mode:
                return dcp.async_save(state, checkpoint_id=str(path), no_dist=True)
            dcp.save(state, checkpoint_id=str(path), no_dist=not is_dist())
        return None

    def _clean_stale(self) -> None:
        """Removes ``.tmp-`` directories left by killed runs (rank 0, once per process)."""
        if self._cleaned or get_rank() != 0 or not self.save_dir.is_dir():
            self._cleaned = True
            return
        for entry in self.save_dir.iterdir():
            if ".tmp-" in entry.name or ".old-" in entry.name:
                log.warning("removing incomplete checkpoint %s left by an interrupted save", entry)
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(
                    missing_ok=True
                )
        self._cleaned = True

    def save(
        self,
        model: torch.nn.Module,
        optimizer: Any,
        scheduler: Any,
        iteration: int,
        *,
        trainer: Any = None,
        callbacks: Any = None,
    ) -> None:
        """Saves a checkpoint for ``iteration`` (collective: every rank calls it)."""
        t0 = time.perf_counter()
        if callbacks is not None:
            callbacks.on_save_checkpoint_start(model, iteration)
        self.wait(callbacks=callbacks)  # one checkpoint in flight at a time
        self._clean_stale()
        state: dict[str, dict[str, Any]] = {
            "model": _model_state(model)[0],
            "optim": get_optimizer_state_dict(model, optimizer, options=_OPTIM_OPTIONS),
            "scheduler": {
                "state": _blob(scheduler.state_dict() if scheduler is not None else None)
            },
            "trainer": {
                "iteration": int(iteration),
                "state": _blob(
                    trainer.state_dict() if trainer is not None else {"iteration": int(iteration)}
                ),
            },
        }
        if callbacks is not None:
            callbacks.on_save_checkpoint(model, state_dict=state)
        name = checkpoint_name(iteration)
        tmp = self.save_dir / f"{name}.tmp-{broadcast_object(os.getpid())}"
        error = None
        if get_rank() == 0:
            try:
                tmp.mkdir(parents=True, exist_ok=True)
                if self.config is not None:
                    import lazycfg

                    lazycfg.save(self.config, tmp / CONFIG_FILE)
                info = _model_info(model)
                if info:  # a LoRA run: the base reference its adapters need
                    (tmp / MODEL_INFO_FILE).write_text(json.dumps(info, indent=2, sort_keys=True))
            except OSError as exc:
                error = self._save_failure(name, exc)
        # Also the barrier: no rank writes before rank 0 has created the directory.
        error = broadcast_object(error)
        if error is not None:
            self._discard(tmp)
            raise CheckpointSaveError(error)
        try:
            futures = [self._write_key(state[key], tmp / key) for key in KEYS]
        except (CheckpointException, OSError, RuntimeError) as exc:
            # A synchronous DCP save raises the same exception on every rank.
            self._discard(tmp)
            raise CheckpointSaveError(self._save_failure(name, exc)) from None
        self.last_saved_iteration = int(iteration)
        if callbacks is not None:
            callbacks.on_save_checkpoint_end(model, iteration)
        pending = {
            "futures": futures,
            "tmp": tmp,
            "name": name,
            "iteration": int(iteration),
            "t0": t0,
        }
        if self.async_mode:
            self._pending = pending
            return
        barrier()
        self._publish(pending, callbacks, collective=True)

    def _discard(self, tmp: Path) -> None:
        """Rank 0 removes a failed save's temporary directory (no stray ``.tmp-`` left)."""
        if get_rank() == 0:
            shutil.rmtree(tmp, ignore_errors=True)

    def _save_failure(self, name: str, exc: BaseException) -> str:
        """One line: what failed, why, what is still safe and what to do."""
        import errno
        import resource

        cause = _describe_failure(exc) if isinstance(exc, CheckpointException) else _one_line(exc)
        code = getattr(exc, "errno", None)
        if code in (errno.EEXIST, errno.ENOTDIR) or (
            self.save_dir.exists() and not self.save_dir.is_dir()
        ):
            fix = (
                f"a file is in the way: {self.save_dir} (or a folder above it) must be a "
                "directory; move that file away"
            )
        elif code in (errno.EACCES, errno.EPERM, errno.EROFS):
            fix = (
                f"make {self.save_dir} writable (chmod, chattr -i, a read-write mount) or write "
                "the job elsewhere (IMAGINAIRE_OUTPUT_ROOT=..., job.name=...)"
            )
        else:
            fix = "free disk space (or write the job elsewhere: IMAGINAIRE_OUTPUT_ROOT=...)"
            with contextlib.suppress(OSError):
                probe = self.save_dir if self.save_dir.is_dir() else self.job_dir
                fix += f"; {shutil.disk_usage(probe).free / 2**30:.1f} GiB free on that file system"
            limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
            if limit != resource.RLIM_INFINITY:
                fix += f"; this process has a file-size limit of {limit} bytes (ulimit -f)"
        previous = None
        with contextlib.suppress(CheckpointError, OSError):
            previous = latest_checkpoint(self.save_dir)
        previous_note = (
            f"the previous checkpoint {previous} is untouched and a rerun resumes from it"
            if previous is not None
            else "no earlier checkpoint of this job exists"
        )
        return (
            f"cannot save checkpoint {name} in {self.save_dir}: {cause}; {previous_note}. "
            f"Fix: {fix}"
        )

    def check_writable(self) -> None:
        """Fails now, not at the first save, when ``checkpoints/`` cannot be written (rank 0
        checks)."""
        error = None
        if get_rank() == 0:
            try:
                self.save_dir.mkdir(parents=True, exist_ok=True)
                probe = self.save_dir / f".write-test-{os.getpid()}"
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as exc:
                error = self._save_failure("(write test)", exc)
        error = broadcast_object(error)
        if error is not None:
            raise CheckpointSaveError(error)

    def _publish(
        self, pending: dict[str, Any], callbacks: Any, *, collective: bool = False
    ) -> None:
        """Rank 0: manifest, rename the temporary directory, update ``latest_checkpoint.txt``,
        prune.

        With ``collective``, every rank learns whether rank 0 succeeded (and raises with it).
        """
        error = None
        if get_rank() == 0:
            try:
                self._publish_here(pending)
            except OSError as exc:
                self._discard(pending["tmp"])
                error = self._save_failure(pending["name"], exc)
        if collective:
            error = broadcast_object(error)
        if error is not None:
            raise CheckpointSaveError(error)
        if callbacks is not None:
            callbacks.on_save_checkpoint_success(
                pending["iteration"], time.perf_counter() - pending["t0"]
            )

    def _publish_here(self, pending: dict[str, Any]) -> None:
        write_manifest(pending["tmp"], pending["iteration"])
        final = self.save_dir / pending["name"]
        if final in self.rejected:
            # Never delete a checkpoint that failed verification: keep it for inspection.
            kept = final.with_name(f"{final.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
            os.replace(final, kept)
            log.warning("kept the damaged checkpoint %s as %s", final, kept)
            os.replace(pending["tmp"], final)
        elif final.exists():
            old = final.with_name(f"{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(pending["tmp"], final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(pending["tmp"], final)
        latest_tmp = self.save_dir / f"{LATEST_FILE}.tmp-{os.getpid()}"
        try:
            with open(latest_tmp, "w") as f:
                f.write(pending["name"])
                f.flush()
                os.fsync(f.fileno())
            os.replace(latest_tmp, self.save_dir / LATEST_FILE)
        finally:
            latest_tmp.unlink(missing_ok=True)
        self._prune(keep=pending["name"])
        log.info("saved checkpoint %s in %.2fs", final, time.perf_counter() - pending["t0"])

    def _prune(self, keep: str) -> None:
        if self.keep_last_k <= 0:
            return
        done = sorted(p for p in self.save_dir.glob("iter_*") if p.is_dir() and "." not in p.name)
        for path in done[: max(len(done) - self.keep_last_k, 0)]:
            if path.name != keep and path not in self.rejected:
                shutil.rmtree(path, ignore_errors=True)

    def poll(self, callbacks: Any = None) -> None:
        """Publishes a finished async save (cheap; the trainer calls it every step)."""
        if self._pending is None:
            return
        if all(f is None or f.done() for f in self._pending["futures"]):
            self._finish_pending(callbacks)

    def wait(self, callbacks: Any = None) -> None:
        """Blocks until an in-flight async save is written and published."""
        if self._pending is not None:
            self._finish_pending(callbacks)

    def _finish_pending(self, callbacks: Any) -> None:
        pending, self._pending = self._pending, None
        # Wait for every background write before judging: a failed key must not leave others
        # still writing into the directory that is about to be removed.
        failures = [f.exception() for f in pending["futures"] if f is not None]
        failure = next((exc for exc in failures if exc is not None), None)
        if failure is not None:
            self._discard(pending["tmp"])
            if not isinstance(failure, (CheckpointException, OSError, RuntimeError)):
                raise failure
            raise CheckpointSaveError(self._save_failure(pending["name"], failure)) from None
        # Rank 0 is DCP's coordinator: its futures finish after every rank's data and the
        # metadata are written, so it can publish without another collective.
        self._publish(pending, callbacks)

    def finalize(self, callbacks: Any = None) -> None:
        """Waits for async saves; call at the end of training."""
        self.wait(callbacks=callbacks)
        barrier()

    # ---- load ---------------------------------------------------------------------------------
    def _resolve_load(self) -> tuple[Path | None, set[str], bool]:
        """(checkpoint dir or .pt file, keys to load, resuming this job's own checkpoint).

        Rank 0 decides (verifying checkpoints reads files) and every rank adopts its answer, so
        all ranks load the same checkpoint or raise the same error.
        """
        answer: Any = None
        if get_rank() == 0:
            try:
                answer = ("ok", self._resolve_load_here(), self.rejected)
            except CheckpointError as exc:
                answer = ("error", str(exc), self.rejected)
        status, value, self.rejected = broadcast_object(answer)
        if status == "error":
            raise CheckpointError(value)
        return value

    def _resolve_load_here(self) -> tuple[Path | None, set[str], bool]:
        if (self.save_dir / LATEST_FILE).is_file():
            keys = set(KEYS) - set(self.keys_not_to_resume)
            return self._newest_verified(self.save_dir, keys), keys, True
        if not self.load_path:
            return None, set(), False
        path = _local_load_path(self.load_path)
        if path.suffix == ".pt":
            if not path.is_file():
                raise CheckpointError(
                    f"checkpoint.load_path={self.load_path!r} does not exist; set it to a "
                    "consolidated .pt file, an iter_XXXXXXXXX directory or a checkpoints "
                    "directory (or to '' to start fresh)"
                )
            return path, {"model"}, False
        keys = {"model"}
        if self.load_training_state:
            keys |= {"optim", "scheduler", "trainer"}
        elif self.only_load_scheduler_state:
            keys |= {"scheduler"}
        keys -= set(self.keys_not_to_resume)
        if (path / LATEST_FILE).is_file():
            return self._newest_verified(path, keys), keys, False
        if not path.is_dir():
            raise CheckpointError(
                f"checkpoint.load_path={self.load_path!r} is not a checkpoint directory "
                "(iter_XXXXXXXXX), a checkpoints directory with latest_checkpoint.txt, or a "
                "consolidated .pt file; fix the path (or set checkpoint.load_path='' to start "
                "fresh)"
            )
        problems = verify_checkpoint(path, keys)
        if problems:
            raise CheckpointError(
                f"checkpoint.load_path={self.load_path!r} does not verify: {'; '.join(problems)}. "
                + _damage_hint(sorted(keys))
            )
        return path, keys, False

    def _newest_verified(self, checkpoints_dir: Path, keys: set[str]) -> Path:
        """The checkpoint ``latest_checkpoint.txt`` names if it verifies, else the newest that does.

        A skipped checkpoint is logged loudly and kept on disk (:attr:`rejected`); when none
        verifies, a :class:`CheckpointError` lists every checkpoint's problems.
        """
        latest = checkpoints_dir / LATEST_FILE
        done = sorted(
            (p for p in checkpoints_dir.glob("iter_*") if p.is_dir() and "." not in p.name),
            reverse=True,
        )
        name = latest.read_text().strip()
        failures: list[str] = []
        named = checkpoints_dir / name if name else None
        if named is None:
            failures.append(f"{latest} is empty (an interrupted write?)")
            candidates = done
        elif not named.is_dir():
            failures.append(f"{latest} names {name!r}, but {named} does not exist")
            candidates = done
        else:
            candidates = [named] + [p for p in done if p.name < named.name]
        for path in candidates:
            problems = verify_checkpoint(path, keys)
            if not problems:
                if failures:
                    log.warning(
                        "\n%s\nCHECKPOINT FALLBACK: %s\nresuming from %s instead; the damaged "
                        "checkpoints are kept on disk for inspection (delete them yourself once "
                        "you know why they broke)\n%s",
                        "=" * 100,
                        "\n  ".join(["skipped:"] + failures),
                        path,
                        "=" * 100,
                    )
                return path
            failures.append(f"{path} does not verify: {'; '.join(problems)}")
            self.rejected.append(path)
        if not candidates:
            failures.append(f"there is no iter_* checkpoint in {checkpoints_dir}")
        raise CheckpointError(
            f"no checkpoint in {checkpoints_dir} can be resumed:\n  "
            + "\n  ".join(failures)
            + "\n"
            + _damage_hint(sorted(keys))
            + f" To start this job from scratch instead, move {checkpoints_dir} aside."
        )

    def _check_config(self, path: Path) -> None:
        saved = path / CONFIG_FILE
        if self.config is None or not saved.is_file() or "*" in self.allowed_config_changes:
            return
        import lazycfg

        try:
            previous = lazycfg.load(str(saved))
        except Exception as exc:
            raise ConfigChangedError(
                f"cannot read the config saved with {path} ({type(exc).__name__}: {exc}); to "
                "resume without comparing configs, set checkpoint.allowed_config_changes=['*']"
            ) from exc
        entries = lazycfg.diff(previous, self.config)
        bad = disallowed_config_changes(entries, self.allowed_config_changes)
        if bad:
            lines = "\n".join(f"  {line}" for line in bad)
            raise ConfigChangedError(
                f"the config differs from the one saved with {path} (lines turn the saved config "
                f"into this one):\n{lines}\nResume with the original config, start a new job "
                "(job.name=...), or allow these paths with checkpoint.allowed_config_changes."
            )

    def _require_dcp_dir(self, path: Path) -> None:
        if not (path / ".metadata").is_file():
            raise CheckpointError(
                f"{path} is not a DCP checkpoint directory (no .metadata); was the save "
                "interrupted? Point checkpoint.load_path at a complete iter_* directory, or leave "
                f"{path.name!r} out with checkpoint.keys_not_to_resume=[{path.name!r}]"
            )

    def _load_blob(self, path: Path, iteration: int | None = None) -> tuple[Any, int | None]:
        """A pickled ``{"state": ...}`` key (scheduler, trainer); with ``iteration``, also that
        int."""
        self._require_dcp_dir(path)
        box: dict[str, Any] = {"state": io.BytesIO()}
        if iteration is not None:
            box["iteration"] = iteration
        self._read(box, path)
        try:
            state = _unblob(box["state"])
        except (EOFError, RuntimeError, ValueError, pickle.UnpicklingError) as exc:
            raise CheckpointError(
                f"{path} holds no readable state ({_one_line(exc)}); " + _damage_hint([path.name])
            ) from None
        return state, (int(box["iteration"]) if iteration is not None else None)

    @staticmethod
    def _read(state: dict[str, Any], path: Path) -> None:
        """``dcp.load`` into ``state``; a damaged file is a :class:`CheckpointError` naming it."""
        try:
            with _quiet_single_process():
                dcp.load(state, checkpoint_id=str(path), no_dist=not is_dist())
        except CheckpointException as exc:
            raise CheckpointError(
                f"reading {path} failed: {_describe_failure(exc)}; " + _damage_hint([path.name])
            ) from None

    def _load_tensors(self, template: dict[str, Any], path: Path, what: str) -> dict[str, Any]:
        self._require_dcp_dir(path)
        missing, unexpected, mismatched = _compare_with_metadata(template, path, what)
        if (missing or unexpected or mismatched) and self.strict_resume:
            raise CheckpointError(_format_mismatch(what, path, missing, unexpected, mismatched))
        if missing or mismatched:
            skip = set(missing) | {m.split(":", 1)[0] for m in mismatched}
            log.warning(
                "strict_resume=False: not loading %d %s entries from %s: %s",
                len(skip),
                what,
                path,
                sorted(skip)[:10],
            )
            template = {k: v for k, v in template.items() if k not in skip}
        self._read(template, path)
        return template

    def load(
        self,
        model: torch.nn.Module,
        optimizer: Any = None,
        scheduler: Any = None,
        *,
        trainer: Any = None,
        callbacks: Any = None,
    ) -> int | None:
        """Loads per the resume priority; returns the restored iteration, or None (fresh start)."""
        path, keys, resuming = self._resolve_load()
        if path is None:
            return None
        if callbacks is not None:
            callbacks.on_load_checkpoint_start(model)
        if path.suffix == ".pt":
            from cosmos_train.trainer.callbacks import ema_net

            # model.pt holds net_ema.* too; EMA-only files seed the EMA from the net weights.
            load_weights_file(
                path, net=model.net, net_ema=ema_net(model), strict=self.strict_resume
            )
            self.loaded_from = path
            if callbacks is not None:
                callbacks.on_load_checkpoint_end(model, iteration=0, checkpoint_path=str(path))
            return 0
        if resuming:
            self._check_config(path)
        log.info("loading %s from %s", sorted(keys), path)
        strict = self.strict_resume
        loaded: dict[str, Any] = {}
        if "model" in keys:
            template, partial = _model_state(model)
            if partial or (path / MODEL_INFO_FILE).is_file():
                verify = getattr(model, "verify_checkpoint_metadata", None)
                info_file = path / MODEL_INFO_FILE
                if callable(verify):
                    verify(json.loads(info_file.read_text()) if info_file.is_file() else {}, path)
            sd = self._load_tensors(template, path / "model", "model")
            # Entries left out on purpose (a LoRA base) are already in place: not "missing".
            set_model_state_dict(model, sd, options=StateDictOptions(strict=strict and not partial))
            loaded["model"] = sd
        if "optim" in keys and optimizer is not None:
            osd = self._load_tensors(
                get_optimizer_state_dict(model, optimizer, options=_OPTIM_OPTIONS),
                path / "optim",
                "optimizer",
            )
            set_optimizer_state_dict(model, optimizer, osd, options=_OPTIM_OPTIONS)
            loaded["optim"] = osd
        if "scheduler" in keys and scheduler is not None:
            sched_state, _ = self._load_blob(path / "scheduler")
            if sched_state is not None:
                scheduler.load_state_dict(sched_state)
            loaded["scheduler"] = sched_state
        iteration = 0
        if "trainer" in keys:
            tstate, iteration = self._load_blob(path / "trainer", iteration=0)
            if trainer is not None:
                trainer.load_state_dict(tstate)
            loaded["trainer"] = tstate
        if callbacks is not None:
            callbacks.on_load_checkpoint(model, state_dict=loaded)
            callbacks.on_load_checkpoint_end(model, iteration=iteration, checkpoint_path=str(path))
        self.loaded_from = path
        if resuming:
            self.last_saved_iteration = iteration
        return iteration


def load_weights_file(
    path: str | os.PathLike,
    *,
    net: torch.nn.Module,
    net_ema: Any = None,
    strict: bool = True,
    ema: str | None = None,
) -> Any:
    """``load_consolidated`` for ``checkpoint.load_path``: an unreadable or foreign file is a
    :class:`CheckpointError`, never a raw ``torch.load`` traceback.

    Args:
        ema: as in ``load_consolidated``; None loads the file's ``net_ema.*`` when it has them and
            otherwise copies the loaded net.
    """
    from cosmos_train.checkpoint.consolidated import load_consolidated

    hint = (
        "checkpoint.load_path must be a consolidated model .pt (model.pt, model_ema_fp32.pt, a net "
        "state_dict) or a DCP iter_* directory"
    )
    try:
        if ema is None:
            keys = torch.load(path, map_location="cpu", mmap=True, weights_only=True).keys()
            ema = "load" if any(str(k).startswith("net_ema.") for k in keys) else "copy_from_net"
        return load_consolidated(path, net=net, net_ema=net_ema, strict=strict, ema=ema)
    except (
        OSError,
        EOFError,
        RuntimeError,
        ValueError,
        AttributeError,
        pickle.UnpicklingError,
    ) as exc:
        raise CheckpointError(
            f"checkpoint.load_path={str(path)!r} cannot be loaded: {_one_line(exc)}; {hint}"
        ) from None


def build_checkpointer(config: Any) -> Any:
    """Instantiates the ``checkpoint.type`` node with :meth:`DCPCheckpointer.config_kwargs`.

    Another checkpointer class named there takes the same keywords. ``checkpoint.type=None``
    (``ckpt_type=disabled``) returns None and logs a warning.
    """
    from cosmos_train.utils.build import instantiate_at

    node = config.checkpoint.type
    if node is None:
        log.warning(
            "checkpoint.type is None (ckpt_type=disabled): NO checkpoints will be saved and this "
            "run cannot be resumed; select ckpt_type=dcp to save"
        )
        return None
    return instantiate_at(node, "checkpoint.type", **DCPCheckpointer.config_kwargs(config))
