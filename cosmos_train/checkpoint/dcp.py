"""Distributed checkpoints with ``torch.distributed.checkpoint`` in Cosmos's layout.

Layout (reference/trainer_spec.md §3.3)::

    <job>/checkpoints/iter_000000200/{model,optim,scheduler,trainer}/   DCP directories
    <job>/checkpoints/iter_000000200/config.yaml                        the resolved config
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
import inspect
import io
import logging
import os
import shutil
import time
import warnings
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Iterable, Iterator

import attrs
import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint import FileSystemReader
from torch.distributed.checkpoint.metadata import TensorStorageMetadata
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from cosmos_train.distributed.env import barrier, broadcast_object, get_rank, is_dist

__all__ = [
    "DCPCheckpointer",
    "CheckpointError",
    "ConfigChangedError",
    "KEYS",
    "DEFAULT_ALLOWED_CONFIG_CHANGES",
    "CONFIG_FIELDS_USED_ELSEWHERE",
    "build_checkpointer",
    "checkpoint_name",
    "export_consolidated",
    "latest_checkpoint",
    "disallowed_config_changes",
]

log = logging.getLogger(__name__)

#: The DCP sub-directories of one checkpoint, in save order.
KEYS: tuple[str, ...] = ("model", "optim", "scheduler", "trainer")
LATEST_FILE = "latest_checkpoint.txt"
CONFIG_FILE = "config.yaml"
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
    path = Path(checkpoints_dir) / name
    if not path.is_dir():
        raise CheckpointError(
            f"{latest} names {name!r}, but {path} does not exist; write the name of an existing iter_* directory "
            f"into {latest}, delete it to start fresh, or use a new job directory (job.name=...)"
        )
    return path


def _override_path(entry: Any) -> str:
    """The dotted path of a ``lazycfg.diff`` entry (its ``path`` or the left side of its override line)."""
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
        if not any(fnmatch.fnmatchcase(path, pat) or path.startswith(pat.rstrip("*") + ".") and pat.endswith(".*") for pat in patterns):
            out.append(str(entry))
    return out


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


def _compare_with_metadata(template: dict[str, Any], path: Path, what: str) -> tuple[list[str], list[str], list[str]]:
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


def _format_mismatch(what: str, path: Path, missing: list[str], unexpected: list[str], mismatched: list[str], limit: int = 20) -> str:
    lines = [f"strict_resume: {what} state in {path} does not match the {what} being trained:"]
    for title, items in (("missing in checkpoint", missing), ("unexpected in checkpoint", unexpected), ("shape mismatch", mismatched)):
        if items:
            lines.append(f"  {title} ({len(items)}):")
            lines += [f"    {item}" for item in items[:limit]]
            if len(items) > limit:
                lines.append(f"    ... {len(items) - limit} more")
    key = "optim" if what == "optimizer" else what
    lines.append(
        "  Fix the config so the net matches the checkpoint (or point checkpoint.load_path at a checkpoint of this "
        f"net), leave this key out with checkpoint.keys_not_to_resume=[{key!r}], or set "
        "checkpoint.strict_resume=False to load only the matching entries."
    )
    return "\n".join(lines)


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
            raise ValueError(f"checkpoint.keys_not_to_resume has unknown keys {sorted(bad)}; valid keys are {list(KEYS)}")
        if keep_last_k < 0:
            raise ValueError(f"checkpoint.keep_last_k must be >= 0, got {keep_last_k}")
        if job_dir is None or not str(job_dir).strip():
            raise ValueError(
                "DCPCheckpointer needs job_dir (checkpoints go to <job_dir>/checkpoints); from a config it is "
                "job.path_local = $IMAGINAIRE_OUTPUT_ROOT/{job.project}/{job.group}/{job.name}: set job.name"
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
        ck = config.checkpoint
        params = inspect.signature(cls.__init__).parameters
        kwargs = {
            f.name: getattr(ck, f.name)
            for f in attrs.fields(type(ck))
            if f.name in params and f.name not in cls.CONFIG_DERIVED
        }
        kwargs.update(
            allowed_config_changes=(*DEFAULT_ALLOWED_CONFIG_CHANGES, *ck.allowed_config_changes),
            async_mode=ck.dcp_async_mode_enabled,
            job_dir=config.job.path_local,
            config=config,
        )
        return kwargs

    @classmethod
    def from_config(cls, config: Any, **overrides: Any) -> "DCPCheckpointer":
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
            return dcp.async_save(state, checkpoint_id=str(path), process_group=self._async_pgs[path.name])
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
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
        self._cleaned = True

    def save(self, model: torch.nn.Module, optimizer: Any, scheduler: Any, iteration: int, *, trainer: Any = None, callbacks: Any = None) -> None:
        """Saves a checkpoint for ``iteration`` (collective: every rank calls it)."""
        t0 = time.perf_counter()
        if callbacks is not None:
            callbacks.on_save_checkpoint_start(model, iteration)
        self.wait(callbacks=callbacks)  # one checkpoint in flight at a time
        self._clean_stale()
        state: dict[str, dict[str, Any]] = {
            "model": get_model_state_dict(model),
            "optim": get_optimizer_state_dict(model, optimizer, options=_OPTIM_OPTIONS),
            "scheduler": {"state": _blob(scheduler.state_dict() if scheduler is not None else None)},
            "trainer": {
                "iteration": int(iteration),
                "state": _blob(trainer.state_dict() if trainer is not None else {"iteration": int(iteration)}),
            },
        }
        if callbacks is not None:
            callbacks.on_save_checkpoint(model, state_dict=state)
        name = checkpoint_name(iteration)
        tmp = self.save_dir / f"{name}.tmp-{broadcast_object(os.getpid())}"
        if get_rank() == 0:
            tmp.mkdir(parents=True, exist_ok=True)
            if self.config is not None:
                import lazycfg

                lazycfg.save(self.config, tmp / CONFIG_FILE)
        barrier()
        futures = [self._write_key(state[key], tmp / key) for key in KEYS]
        self.last_saved_iteration = int(iteration)
        if callbacks is not None:
            callbacks.on_save_checkpoint_end(model, iteration)
        pending = {"futures": futures, "tmp": tmp, "name": name, "iteration": int(iteration), "t0": t0}
        if self.async_mode:
            self._pending = pending
            return
        barrier()
        self._publish(pending, callbacks)

    def _publish(self, pending: dict[str, Any], callbacks: Any) -> None:
        """Rank 0: rename the temporary directory, update ``latest_checkpoint.txt``, prune."""
        if get_rank() == 0:
            final = self.save_dir / pending["name"]
            if final.exists():
                old = final.with_name(f"{final.name}.old-{os.getpid()}")
                os.replace(final, old)
                os.replace(pending["tmp"], final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(pending["tmp"], final)
            latest_tmp = self.save_dir / f"{LATEST_FILE}.tmp-{os.getpid()}"
            with open(latest_tmp, "w") as f:
                f.write(pending["name"])
                f.flush()
                os.fsync(f.fileno())
            os.replace(latest_tmp, self.save_dir / LATEST_FILE)
            self._prune(keep=pending["name"])
            log.info("saved checkpoint %s in %.2fs", final, time.perf_counter() - pending["t0"])
        if callbacks is not None:
            callbacks.on_save_checkpoint_success(pending["iteration"], time.perf_counter() - pending["t0"])

    def _prune(self, keep: str) -> None:
        if self.keep_last_k <= 0:
            return
        done = sorted(p for p in self.save_dir.glob("iter_*") if p.is_dir() and "." not in p.name)
        for path in done[: max(len(done) - self.keep_last_k, 0)]:
            if path.name != keep:
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
        for f in pending["futures"]:
            if f is not None:
                f.result()  # re-raises a failed background write
        # Rank 0 is DCP's coordinator: its futures finish after every rank's data and the
        # metadata are written, so it can publish without another collective.
        self._publish(pending, callbacks)

    def finalize(self, callbacks: Any = None) -> None:
        """Waits for async saves; call at the end of training."""
        self.wait(callbacks=callbacks)
        barrier()

    # ---- load ---------------------------------------------------------------------------------
    def _resolve_load(self) -> tuple[Path | None, set[str], bool]:
        """(checkpoint dir or .pt file, keys to load, resuming this job's own checkpoint)."""
        own = latest_checkpoint(self.save_dir)
        if own is not None:
            keys, resuming = set(KEYS), True
            path: Path | None = own
        elif self.load_path:
            path = Path(self.load_path)
            if path.suffix == ".pt":
                if not path.is_file():
                    raise CheckpointError(
                        f"checkpoint.load_path={self.load_path!r} does not exist; set it to a consolidated .pt file, "
                        "an iter_XXXXXXXXX directory or a checkpoints directory (or to '' to start fresh)"
                    )
                return path, {"model"}, False
            if (path / LATEST_FILE).is_file():
                path = latest_checkpoint(path)
            if path is None or not path.is_dir():
                raise CheckpointError(
                    f"checkpoint.load_path={self.load_path!r} is not a checkpoint directory (iter_XXXXXXXXX), a "
                    "checkpoints directory with latest_checkpoint.txt, or a consolidated .pt file; fix the path "
                    "(or set checkpoint.load_path='' to start fresh)"
                )
            keys = {"model"}
            if self.load_training_state:
                keys |= {"optim", "scheduler", "trainer"}
            elif self.only_load_scheduler_state:
                keys |= {"scheduler"}
            resuming = False
        else:
            return None, set(), False
        return path, keys - set(self.keys_not_to_resume), resuming

    def _check_config(self, path: Path) -> None:
        saved = path / CONFIG_FILE
        if self.config is None or not saved.is_file() or "*" in self.allowed_config_changes:
            return
        import lazycfg

        try:
            previous = lazycfg.load(str(saved))
        except Exception as exc:
            raise ConfigChangedError(
                f"cannot read the config saved with {path} ({type(exc).__name__}: {exc}); to resume without comparing "
                "configs, set checkpoint.allowed_config_changes=['*']"
            ) from exc
        entries = lazycfg.diff(previous, self.config)
        bad = disallowed_config_changes(entries, self.allowed_config_changes)
        if bad:
            lines = "\n".join(f"  {line}" for line in bad)
            raise ConfigChangedError(
                f"the config differs from the one saved with {path} (lines turn the saved config into this one):\n{lines}\n"
                "Resume with the original config, start a new job (job.name=...), or allow these paths with "
                "checkpoint.allowed_config_changes."
            )

    def _require_dcp_dir(self, path: Path) -> None:
        if not (path / ".metadata").is_file():
            raise CheckpointError(
                f"{path} is not a DCP checkpoint directory (no .metadata); was the save interrupted? Point "
                f"checkpoint.load_path at a complete iter_* directory, or leave {path.name!r} out with "
                f"checkpoint.keys_not_to_resume=[{path.name!r}]"
            )

    def _load_blob(self, path: Path, iteration: int | None = None) -> tuple[Any, int | None]:
        """A pickled ``{"state": ...}`` key (scheduler, trainer); with ``iteration``, also that int."""
        self._require_dcp_dir(path)
        box: dict[str, Any] = {"state": io.BytesIO()}
        if iteration is not None:
            box["iteration"] = iteration
        with _quiet_single_process():
            dcp.load(box, checkpoint_id=str(path), no_dist=not is_dist())
        return _unblob(box["state"]), (int(box["iteration"]) if iteration is not None else None)

    def _load_tensors(self, template: dict[str, Any], path: Path, what: str) -> dict[str, Any]:
        self._require_dcp_dir(path)
        missing, unexpected, mismatched = _compare_with_metadata(template, path, what)
        if (missing or unexpected or mismatched) and self.strict_resume:
            raise CheckpointError(_format_mismatch(what, path, missing, unexpected, mismatched))
        if missing or mismatched:
            skip = set(missing) | {m.split(":", 1)[0] for m in mismatched}
            log.warning("strict_resume=False: not loading %d %s entries from %s: %s", len(skip), what, path, sorted(skip)[:10])
            template = {k: v for k, v in template.items() if k not in skip}
        with _quiet_single_process():
            dcp.load(template, checkpoint_id=str(path), no_dist=not is_dist())
        return template

    def load(self, model: torch.nn.Module, optimizer: Any = None, scheduler: Any = None, *, trainer: Any = None, callbacks: Any = None) -> int | None:
        """Loads per the resume priority; returns the restored iteration, or None (fresh start)."""
        path, keys, resuming = self._resolve_load()
        if path is None:
            return None
        if callbacks is not None:
            callbacks.on_load_checkpoint_start(model)
        if path.suffix == ".pt":
            from cosmos_train.checkpoint.consolidated import load_consolidated
            from cosmos_train.trainer.callbacks import ema_net

            # model.pt holds net_ema.* too; EMA-only files seed the EMA from the net weights.
            keys = torch.load(path, map_location="cpu", mmap=True, weights_only=True).keys()
            has_ema = any(str(k).startswith("net_ema.") for k in keys)
            load_consolidated(path, net=model.net, net_ema=ema_net(model), strict=self.strict_resume,
                              ema="load" if has_ema else "copy_from_net")
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
            sd = self._load_tensors(get_model_state_dict(model), path / "model", "model")
            set_model_state_dict(model, sd, options=StateDictOptions(strict=strict))
            loaded["model"] = sd
        if "optim" in keys and optimizer is not None:
            osd = self._load_tensors(get_optimizer_state_dict(model, optimizer, options=_OPTIM_OPTIONS), path / "optim", "optimizer")
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


def build_checkpointer(config: Any) -> Any:
    """Instantiates the ``checkpoint.type`` node with :meth:`DCPCheckpointer.config_kwargs`.

    Another checkpointer class named there takes the same keywords. ``checkpoint.type=None``
    (``ckpt_type=disabled``) returns None and logs a warning.
    """
    import lazycfg

    node = config.checkpoint.type
    if node is None:
        log.warning(
            "checkpoint.type is None (ckpt_type=disabled): NO checkpoints will be saved and this "
            "run cannot be resumed; select ckpt_type=dcp to save"
        )
        return None
    return lazycfg.instantiate(node, **DCPCheckpointer.config_kwargs(config))


# ---- export -------------------------------------------------------------------------------------


def export_consolidated(checkpoint_dir: str | os.PathLike, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Writes Cosmos's consolidated files from a DCP checkpoint (one process, no process group).

    Args:
        checkpoint_dir: an ``iter_X`` directory or a ``checkpoints`` directory (its latest).
        out_dir: receives ``model.pt`` (``net.*`` and ``net_ema.*``) and, when the checkpoint
            has an EMA net, ``model_ema_fp32.pt`` / ``model_ema_bf16.pt`` (``net_ema.*`` renamed
            to ``net.*``, as ``scripts/convert_distcp_to_pt.py`` writes them).

    Returns:
        ``{"model": path, "ema_fp32": path, "ema_bf16": path}`` for the files written.
    """
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    src = Path(checkpoint_dir)
    if (src / LATEST_FILE).is_file():
        src = latest_checkpoint(src)
    if not (src / "model" / ".metadata").is_file():
        raise CheckpointError(f"{checkpoint_dir} has no DCP model directory (expected {src / 'model' / '.metadata'})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    tmp = out / f"model.pt.tmp-{os.getpid()}"
    with _quiet_single_process():
        dcp_to_torch_save(str(src / "model"), str(tmp))
    os.replace(tmp, out / "model.pt")
    written["model"] = out / "model.pt"
    sd = torch.load(out / "model.pt", map_location="cpu", weights_only=True)
    ema = {"net." + k[len("net_ema.") :]: v for k, v in sd.items() if k.startswith("net_ema.")}
    if ema:
        for tag, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            path = out / f"model_ema_{tag}.pt"
            conv = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in ema.items()}
            torch.save(conv, f"{path}.tmp-{os.getpid()}")
            os.replace(f"{path}.tmp-{os.getpid()}", path)
            written[f"ema_{tag}"] = path
    return written
