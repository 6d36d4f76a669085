"""Export a DCP training checkpoint as Cosmos's release files, streaming, with a manifest.

Output directory (``scripts/convert_distcp_to_pt.py`` in Cosmos writes the three ``.pt`` files)::

    model.pt            every key of the DCP ``model`` directory (``net.*``, ``net_ema.*``)
    model_ema_fp32.pt   the ``net_ema.*`` keys renamed to ``net.*`` (only when the run has EMA)
    model_ema_bf16.pt   the same, float32 tensors cast to bfloat16 (int64 counters stay int64)
    config.yaml         the run's resolved config, as saved with the checkpoint
    manifest.json       source run, iteration, config fingerprint, key/param counts, SHA-256s

Memory stays bounded by ``chunk_bytes`` whatever the model size: each ``.pt`` file is first written
with its storage space reserved but empty (``torch.serialization.skip_data``), then the tensors
are read from the DCP shards a chunk at a time (``torch.distributed.checkpoint`` reassembles
FSDP-sharded tensors) and copied into the files through a shared memory map, so no process ever
holds the model, let alone two copies of it. Everything is written into a temporary directory
next to the output and renamed into place at the end; an existing output is only replaced with
``force=True``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import mmap
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint import FileSystemReader
from torch.distributed.checkpoint.metadata import TensorStorageMetadata

from cosmos_train.checkpoint.dcp import (
    CONFIG_FILE,
    LATEST_FILE,
    CheckpointError,
    _quiet_single_process,
    latest_checkpoint,
)

__all__ = ["ExportResult", "export_checkpoint", "is_lora_checkpoint", "resolve_checkpoint_dir"]

log = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "cosmos_train.export/1"
REGULAR_FILE, EMA_FP32_FILE, EMA_BF16_FILE = "model.pt", "model_ema_fp32.pt", "model_ema_bf16.pt"
DEFAULT_CHUNK_BYTES = 512 << 20
_HASH_BLOCK = 8 << 20


@dataclasses.dataclass
class ExportResult:
    """What :func:`export_checkpoint` wrote.

    Attributes:
        out_dir: the output directory.
        files: ``{file name: path}`` of every file written (manifest included).
        manifest: the manifest's content.
    """

    out_dir: Path
    files: dict[str, Path]
    manifest: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class _Entry:
    """One tensor of one output file: where it comes from and how it is stored."""

    out_key: str
    src_key: str
    shape: tuple[int, ...]
    dtype: torch.dtype


def resolve_checkpoint_dir(source: str | os.PathLike) -> Path:
    """The ``iter_*`` directory of a job directory, its ``checkpoints`` or an ``iter_*`` dir."""
    path = Path(source)
    if not path.exists():
        raise CheckpointError(
            f"{path} does not exist: pass a job directory, its checkpoints/ or an iter_* directory"
        )
    if (path / "model" / ".metadata").is_file():
        return path
    for checkpoints in (path, path / "checkpoints"):
        if (checkpoints / LATEST_FILE).is_file():
            found = latest_checkpoint(checkpoints)
            if found is not None and (found / "model" / ".metadata").is_file():
                return found
            raise CheckpointError(
                f"{checkpoints / LATEST_FILE} names {found}, which has no DCP model directory "
                "(model/.metadata)"
            )
    raise CheckpointError(
        f"{path} is not a checkpoint: expected an iter_* directory with model/.metadata, or a job "
        "directory "
        f"whose checkpoints/{LATEST_FILE} names one (train first, or pass the iter_* directory)"
    )


def is_lora_checkpoint(ckpt_dir: Path) -> bool:
    """Whether an ``iter_*`` directory holds a LoRA run (adapters only; its base is referenced)."""
    from cosmos_train.checkpoint.dcp import MODEL_INFO_FILE

    info = ckpt_dir / MODEL_INFO_FILE
    return info.is_file() and "lora" in json.loads(info.read_text())


def _iteration(ckpt_dir: Path) -> int | None:
    name = ckpt_dir.name
    return (
        int(name[len("iter_") :])
        if name.startswith("iter_") and name[len("iter_") :].isdigit()
        else None
    )


def _tensor_entries(model_dir: Path) -> dict[str, TensorStorageMetadata]:
    """The DCP model directory's tensors in saved (state_dict) order; anything else is an error."""
    metadata = FileSystemReader(str(model_dir)).read_metadata().state_dict_metadata
    bad = [k for k, v in metadata.items() if not isinstance(v, TensorStorageMetadata)]
    if bad:
        raise CheckpointError(
            f"{model_dir} holds non-tensor entries {bad[:5]}: not a model checkpoint directory"
        )
    outside = [k for k in metadata if not k.startswith(("net.", "net_ema."))]
    if outside:
        raise CheckpointError(
            f"{model_dir} has keys outside net.* / net_ema.* ({outside[:5]}); not written by "
            "this trainer's model"
        )
    return dict(metadata)


def _plan(metadata: dict[str, TensorStorageMetadata], ema: bool) -> dict[str, list[_Entry]]:
    """``{file name: entries}`` of the release files, keys and dtypes as Cosmos writes them."""
    entries = {k: _Entry(k, k, tuple(m.size), m.properties.dtype) for k, m in metadata.items()}
    plan = {REGULAR_FILE: list(entries.values())}
    ema_keys = [k for k in metadata if k.startswith("net_ema.")]
    if ema and ema_keys:
        net_shapes = {k[len("net.") :]: e.shape for k, e in entries.items() if k.startswith("net.")}
        ema_shapes = {k[len("net_ema.") :]: entries[k].shape for k in ema_keys}
        if net_shapes != ema_shapes:
            diff = sorted(set(net_shapes.items()) ^ set(ema_shapes.items()))[:5]
            raise CheckpointError(
                f"net.* and net_ema.* differ in keys or shapes (e.g. {diff}); the checkpoint is "
                "inconsistent"
            )
        fp32 = [
            _Entry("net." + k[len("net_ema.") :], k, entries[k].shape, entries[k].dtype)
            for k in ema_keys
        ]
        bf16 = [
            dataclasses.replace(e, dtype=torch.bfloat16 if e.dtype == torch.float32 else e.dtype)
            for e in fp32
        ]
        plan[EMA_FP32_FILE], plan[EMA_BF16_FILE] = fp32, bf16
    return plan


def _reserve(path: Path, entries: list[_Entry]) -> None:
    """Writes a loadable ``.pt`` with tensor bytes reserved, not written (no memory used)."""
    # torch.empty only reserves address space; skip_data never reads the bytes.
    placeholders = {e.out_key: torch.empty(e.shape, dtype=e.dtype) for e in entries}
    with torch.serialization.skip_data():
        torch.save(placeholders, path)


def _chunks(
    keys: list[str], metadata: dict[str, TensorStorageMetadata], budget: int
) -> list[list[str]]:
    chunks: list[list[str]] = [[]]
    size = 0
    for key in keys:
        m = metadata[key]
        nbytes = m.properties.dtype.itemsize * int(torch.Size(m.size).numel())
        if chunks[-1] and size + nbytes > budget:
            chunks.append([])
            size = 0
        chunks[-1].append(key)
        size += nbytes
    return [c for c in chunks if c]


def _fill(
    model_dir: Path,
    metadata: dict[str, TensorStorageMetadata],
    files: dict[Path, list[_Entry]],
    budget: int,
) -> None:
    """Reads the DCP tensors a chunk at a time and copies each into every file that holds it."""
    targets: dict[str, list[tuple[Path, _Entry]]] = {}
    for path, entries in files.items():
        for e in entries:
            targets.setdefault(e.src_key, []).append((path, e))
    reader_dir = str(model_dir)
    for chunk in _chunks(list(metadata), metadata, budget):
        state = {
            k: torch.empty(tuple(metadata[k].size), dtype=metadata[k].properties.dtype)
            for k in chunk
        }
        with _quiet_single_process():
            dcp.load(state, storage_reader=FileSystemReader(reader_dir), no_dist=True)
        for path in files:
            wanted = [(k, e) for k in chunk for p, e in targets.get(k, []) if p == path]
            if not wanted:
                continue
            # MAP_SHARED: writes into the loaded tensors land in the file; the map closes on del.
            with torch.serialization.set_default_mmap_options(mmap.MAP_SHARED):
                mapped = torch.load(path, mmap=True, weights_only=True)
            for key, entry in wanted:
                mapped[entry.out_key].copy_(state[key])
            del mapped
        del state


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _config_fingerprint(config_path: Path) -> str | None:
    """``lazycfg.fingerprint`` of the saved config (as the run logged it), or None."""
    try:
        import cosmos_train.config  # noqa: F401  (its config classes may load from the YAML)
        import lazycfg

        return lazycfg.fingerprint(lazycfg.load(str(config_path)))
    except (
        Exception
    ) as exc:  # the export does not depend on it; the manifest says why it is missing
        log.warning(
            "could not fingerprint %s (%s); the manifest records its SHA-256 only", config_path, exc
        )
        return None


def _param_count(config_path: Path | None, net_keys: dict[str, tuple[int, ...]]) -> int | None:
    """Parameters (buffers excluded, as in the golden lists) of the config's net, built on ``meta``.

    None when there is no config or its net cannot be built or does not match the checkpoint's keys.
    """
    if config_path is None:
        return None
    try:
        import cosmos_train.config  # noqa: F401  (its config classes may load from the YAML)
        import lazycfg
        from cosmos_train.model.video2world import build_component

        config = lazycfg.load(str(config_path))
        with torch.device("meta"):
            net = build_component(config.model.config.net, "model.config.net")
        params = {n: tuple(p.shape) for n, p in net.named_parameters()}
        shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    except Exception as exc:
        log.warning(
            "could not build the net of %s on the meta device (%s); no parameter count",
            config_path,
            exc,
        )
        return None
    if shapes != net_keys:
        log.warning(
            "the config's net does not match the checkpoint's net.* keys; no parameter count"
        )
        return None
    return int(sum(torch.Size(s).numel() for s in params.values()))


def export_checkpoint(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    force: bool = False,
    ema: bool = True,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> ExportResult:
    """Writes Cosmos's release files for a DCP checkpoint (one process, no process group needed).

    Args:
        source: a job directory (its latest checkpoint), its ``checkpoints`` directory, or an
            ``iter_*`` directory; FSDP-sharded checkpoints from any number of ranks work.
        out_dir: the directory to create.
        force: replace ``out_dir`` if it exists.
        ema: write ``model_ema_fp32.pt`` / ``model_ema_bf16.pt`` when the checkpoint has EMA.
        chunk_bytes: tensor bytes read from the checkpoint at a time (bounds the memory).

    Returns:
        An :class:`ExportResult`.
    """
    t0 = time.perf_counter()
    ckpt_dir = resolve_checkpoint_dir(source)
    out = Path(out_dir)
    if out.exists() and not force:
        raise CheckpointError(
            f"{out} already exists; pass --force (force=True) to replace it, or choose another "
            "directory"
        )
    if out.exists() and not out.is_dir():
        raise CheckpointError(
            f"{out} exists and is not a directory; remove it or choose another output directory"
        )
    if is_lora_checkpoint(ckpt_dir):
        raise CheckpointError(
            f"{ckpt_dir} is a LoRA run (adapters only): export it with tools/export_checkpoint.py "
            "--lora merged|adapter (cosmos_train.model.lora.export_lora_checkpoint)"
        )
    model_dir = ckpt_dir / "model"
    metadata = _tensor_entries(model_dir)
    plan = _plan(metadata, ema)
    config_src = ckpt_dir / CONFIG_FILE
    if not config_src.is_file():
        log.warning("%s has no %s: the export has no config", ckpt_dir, CONFIG_FILE)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        files = {tmp / name: entries for name, entries in plan.items()}
        for path, entries in files.items():
            _reserve(path, entries)
        _fill(model_dir, metadata, files, int(chunk_bytes))
        if config_src.is_file():
            shutil.copyfile(config_src, tmp / CONFIG_FILE)
        net_keys = {
            k[len("net.") :]: tuple(m.size) for k, m in metadata.items() if k.startswith("net.")
        }
        manifest = _manifest(
            ckpt_dir, tmp, plan, metadata, net_keys, config_src if config_src.is_file() else None
        )
        manifest["export_seconds"] = round(time.perf_counter() - t0, 3)
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
        for path in tmp.iterdir():
            _fsync(path)
        _publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    written = {p.name: out / p.name for p in sorted(out.iterdir())}
    return ExportResult(out_dir=out, files=written, manifest=manifest)


def _manifest(
    ckpt_dir: Path,
    tmp: Path,
    plan: dict[str, list[_Entry]],
    metadata: dict[str, TensorStorageMetadata],
    net_keys: dict[str, tuple[int, ...]],
    config_src: Path | None,
) -> dict[str, Any]:
    run_dir = ckpt_dir.parent.parent if ckpt_dir.parent.name == "checkpoints" else None
    files: dict[str, Any] = {}
    for name, entries in plan.items():
        dtypes = sorted({str(e.dtype).removeprefix("torch.") for e in entries})
        files[name] = {
            "sha256": _sha256(tmp / name),
            "bytes": (tmp / name).stat().st_size,
            "keys": len(entries),
            "numel": int(sum(torch.Size(e.shape).numel() for e in entries)),
            "dtypes": dtypes,
        }
    if config_src is not None:
        files[CONFIG_FILE] = {
            "sha256": _sha256(tmp / CONFIG_FILE),
            "bytes": (tmp / CONFIG_FILE).stat().st_size,
        }
    return {
        "format": MANIFEST_FORMAT,
        "source_run": str(run_dir.resolve()) if run_dir is not None else None,
        "source_checkpoint": str(ckpt_dir.resolve()),
        "iteration": _iteration(ckpt_dir),
        "config_fingerprint": _config_fingerprint(config_src) if config_src is not None else None,
        "has_ema": EMA_FP32_FILE in plan,
        "key_count": len(net_keys),
        "param_count": _param_count(config_src, net_keys),
        "net_numel": int(sum(torch.Size(s).numel() for s in net_keys.values())),
        "files": files,
    }


def _publish(tmp: Path, out: Path) -> None:
    """Renames ``tmp`` to ``out``; an existing ``out`` (``force``) is moved aside, then deleted."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
