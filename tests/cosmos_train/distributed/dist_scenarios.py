"""Distributed scenarios run under ``torchrun --standalone --nproc_per_node=2`` (gloo, CPU).

Usage: ``torchrun ... dist_scenarios.py OUT_DIR SCENARIO [SCENARIO ...]``. Each scenario writes
``OUT_DIR/<scenario>.rank<r>.json`` (and tensors as ``.pt``); ``test_dist.py`` asserts on them.
One launch runs several scenarios because process start-up dominates on a 2-core machine.
"""

from __future__ import annotations

import faulthandler
import json
import os
import sys
import traceback
from pathlib import Path

import torch
import torch.distributed as dist

from cosmos_train.checkpoint.dcp import DCPCheckpointer
from cosmos_train.data.loader import build_dataloader
from cosmos_train.distributed.consistency import (
    RankMismatchError,
    broadcast_config,
    broadcast_text,
    check_config_consistency,
    check_same_on_all_ranks,
)
from cosmos_train.distributed.env import init_distributed
from cosmos_train.distributed.parallelize import make_net_builder
from cosmos_train.model.toy import ToyVideoDataset, toy_components
from cosmos_train.trainer.callbacks import Callback, GradClip
from cosmos_train.trainer.trainer import Trainer

STEPS, ACCUM = 3, 2


def _full(t: torch.Tensor) -> torch.Tensor:
    full = getattr(t, "full_tensor", None)
    return (full() if callable(full) else t).detach().clone()


def _params(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Full tensors by state_dict key (activation-checkpoint wrapper prefixes stripped)."""
    return {n: _full(p) for n, p in module.state_dict().items()}


def _gather_differs(t: torch.Tensor) -> bool:
    """True when ranks hold different values of ``t``."""
    out = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(out, t.contiguous())
    return not all(torch.equal(out[0], o) for o in out[1:])


class _SyncProbe(Callback):
    """Records, per micro-batch, whether gradients were synchronised after backward."""

    def __init__(self, fsdp: bool) -> None:
        self.fsdp, self.micro, self.records = fsdp, 0, []

    def on_after_backward(self, model_ddp, iteration: int = 0) -> None:
        last = self.micro % ACCUM == ACCUM - 1
        params = list(self.trainer.model.net.parameters())
        if self.fsdp:
            # FSDP2 only produces the sharded .grad when it reduce-scatters.
            self.records.append({"last": last, "synced": all(p.grad is not None for p in params)})
        else:
            # Ranks see different samples, so unsynchronised gradients differ somewhere.
            self.records.append(
                {"last": last, "synced": not any(_gather_differs(p.grad) for p in params)}
            )
        self.micro += 1


class _NoiseProbe(Callback):
    def on_train_start(self, model, iteration: int = 0) -> None:
        self.noise_differs = _gather_differs(torch.rand(4))


def _val_loader(batch_size: int, world_size: int | None = None):
    rank = 0 if world_size == 1 else None
    return build_dataloader(
        dataset=ToyVideoDataset(length=4, seed=1),
        batch_size=batch_size,
        shuffle=False,
        rank=rank,
        world_size=world_size,
    )


def _reference(
    job: Path, clip: float | None, validate: bool = True
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], list]:
    """Single-process training with the same global batch (2 per micro-batch), on every rank."""
    model, opt, sched, loader = toy_components(
        batch_size=2, dataset_length=16, rank=0, world_size=1
    )
    trainer = Trainer(
        max_iter=STEPS,
        job_dir=job,
        logging_iter=1,
        grad_accum_iter=ACCUM,
        tensorboard=False,
        distributed_parallelism="none",
        callbacks={"clip": GradClip(clip_norm=clip)},
        run_validation=validate,
        validation_iter=STEPS,
    )
    trainer.fit(
        model, opt, sched, loader, val_loader=_val_loader(2, world_size=1) if validate else None
    )
    return _params(model.net), _params(model.net_ema), trainer.val_history


def _val_diff(a: list, b: list) -> float:
    assert [r["iteration"] for r in a] == [r["iteration"] for r in b] == [0, STEPS]
    return max(abs(x[k] - y[k]) for x, y in zip(a, b) for k in ("val_loss", "val_loss_ema"))


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys(), (sorted(a)[:3], sorted(b)[:3])
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


def scenario_ddp(out: Path, rank: int) -> dict:
    model, opt, sched, loader = toy_components(batch_size=1, dataset_length=16)
    # Before DDP's broadcast: the net builder alone must give identical weights on every rank.
    init_differs = any(_gather_differs(p.detach().clone()) for p in model.net.parameters())
    probe, noise = _SyncProbe(fsdp=False), _NoiseProbe()
    trainer = Trainer(
        max_iter=STEPS,
        job_dir=out / "ddp",
        logging_iter=1,
        grad_accum_iter=ACCUM,
        tensorboard=False,
        distributed_parallelism="ddp",
        callbacks={"clip": GradClip(clip_norm=0.5), "probe": probe, "noise": noise},
        run_validation=True,
        validation_iter=STEPS,
    )
    trainer.fit(model, opt, sched, loader, val_loader=_val_loader(1))
    ref_net, ref_ema, ref_val = _reference(out / f"ddp_ref{rank}", clip=0.5)
    return {
        "val_diff": _val_diff(trainer.val_history, ref_val),
        "net_diff": _max_diff(_params(model.net), ref_net),
        "ema_diff": _max_diff(_params(model.net_ema), ref_ema),
        "sync": probe.records,
        "noise_differs": noise.noise_differs,
        "init_differs": init_differs,
        "ddp_wrapped": type(trainer.model_ddp).__name__,
    }


def scenario_fsdp_fp32(out: Path, rank: int) -> dict:
    builder = make_net_builder(device="cpu", mode="fsdp", param_dtype=None, reduce_dtype=None)
    model, opt, sched, loader = toy_components(batch_size=1, dataset_length=16, net_builder=builder)
    probe = _SyncProbe(fsdp=True)
    trainer = Trainer(
        max_iter=STEPS,
        job_dir=out / "fsdp32",
        logging_iter=1,
        grad_accum_iter=ACCUM,
        tensorboard=False,
        distributed_parallelism="fsdp",
        callbacks={"clip": GradClip(clip_norm=0.5), "probe": probe},
        run_validation=True,
        validation_iter=STEPS,
    )
    trainer.fit(model, opt, sched, loader, val_loader=_val_loader(1))
    ref_net, ref_ema, ref_val = _reference(out / f"fsdp_ref{rank}", clip=0.5)
    p = next(model.net.parameters())
    return {
        "val_diff": _val_diff(trainer.val_history, ref_val),
        "net_diff": _max_diff(_params(model.net), ref_net),
        "ema_diff": _max_diff(_params(model.net_ema), ref_ema),
        "sync": probe.records,
        "is_dtensor": type(p).__name__ == "DTensor",
        "local_numel": p.to_local().numel(),
        "full_numel": p.numel(),
    }


def scenario_hsdp(out: Path, rank: int) -> dict:
    """2D mesh (replicate=2, shard=1): HSDP's replicate all-reduce must equal unsharded training."""
    builder = make_net_builder(
        device="cpu", mode="fsdp", shard_size=1, param_dtype=None, reduce_dtype=None
    )
    model, opt, sched, loader = toy_components(batch_size=1, dataset_length=16, net_builder=builder)
    trainer = Trainer(
        max_iter=STEPS,
        job_dir=out / "hsdp",
        logging_iter=1,
        grad_accum_iter=ACCUM,
        tensorboard=False,
        distributed_parallelism="fsdp",
        callbacks={"clip": GradClip(clip_norm=0.5)},
        straggler={"report_every": 1, "max_ratio": 50.0},
    )
    trainer.fit(model, opt, sched, loader)
    ref_net, ref_ema, _ = _reference(out / f"hsdp_ref{rank}", clip=0.5, validate=False)
    p = next(model.net.parameters())
    return {
        "net_diff": _max_diff(_params(model.net), ref_net),
        "ema_diff": _max_diff(_params(model.net_ema), ref_ema),
        "mesh_dims": list(p.device_mesh.mesh_dim_names),
        "straggler": trainer.straggler.last_report,
    }


def _bf16_parts(out: Path, max_iter: int):
    builder = make_net_builder(
        device="cpu", mode="fsdp", param_dtype="bfloat16", reduce_dtype="float32", ac_mode="block"
    )
    model, opt, sched, loader = toy_components(batch_size=1, dataset_length=16, net_builder=builder)
    trainer = Trainer(
        max_iter=max_iter,
        job_dir=out / "bf16",
        logging_iter=1,
        tensorboard=False,
        distributed_parallelism="fsdp",
        callbacks={"clip": GradClip(clip_norm=1.0)},
    )
    # Async saves on a side gloo group: the resume scenario proves they were complete and published.
    return (
        model,
        opt,
        sched,
        loader,
        trainer,
        DCPCheckpointer(job_dir=out / "bf16", save_iter=2, async_mode=True),
    )


def scenario_fsdp_bf16_train(out: Path, rank: int) -> dict:
    model, opt, sched, loader, trainer, ckpt = _bf16_parts(out, max_iter=4)
    summary = trainer.fit(model, opt, sched, loader, checkpointer=ckpt)
    state = {"net": _params(model.net), "net_ema": _params(model.net_ema)}
    if rank == 0:
        torch.save(state, out / "bf16_params.pt")
    step = opt.state[next(iter(model.net.parameters()))]["step"].item()
    return {"loss": summary["last_logged"]["loss"], "step": step}


class _Capture(Callback):
    def on_train_start(self, model, iteration: int = 0) -> None:
        self.iteration = iteration
        self.params = {"net": _params(model.net), "net_ema": _params(model.net_ema)}
        self.step = self.trainer.optimizer.state[next(iter(model.net.parameters()))]["step"].item()


def scenario_fsdp_bf16_resume(out: Path, rank: int) -> dict:
    model, opt, sched, loader, trainer, ckpt = _bf16_parts(out, max_iter=5)
    cap = _Capture()
    trainer.callbacks = type(trainer.callbacks)(
        {"clip": GradClip(clip_norm=1.0), "cap": cap}, trainer=trainer
    )
    summary = trainer.fit(model, opt, sched, loader, checkpointer=ckpt)
    saved = torch.load(out / "bf16_params.pt", weights_only=True)
    diffs = [_max_diff(cap.params[k], saved[k]) for k in ("net", "net_ema")]
    return {
        "resumed_at": cap.iteration,
        "step_at_resume": cap.step,
        "max_diff": max(diffs),
        "final_iteration": summary["iteration"],
        "final_loss": summary["last_logged"]["loss"],
    }


class _DtypeProbe:
    """Forward pre-hooks (registered after ``fully_shard``, so they run after FSDP's own pre-forward
    and see exactly what the module's ``forward`` gets): floating-point argument dtypes per call."""

    def __init__(self, net: torch.nn.Module, block: torch.nn.Module) -> None:
        self.net: list[str] = []  # timesteps (positional argument 1) at the net boundary
        self.block: list[list[str]] = []  # every float tensor a block receives (tuples flattened)
        self.params: list[str] = []  # dtype of the root's unsharded params inside forward
        net.register_forward_pre_hook(self._on_net, with_kwargs=True)
        block.register_forward_pre_hook(self._on_block, with_kwargs=True)

    def _on_net(self, module, args, kwargs) -> None:
        self.net.append(str(args[1].dtype))
        self.params.append(str(next(p for p in module.parameters() if p.ndim > 1).dtype))

    def _on_block(self, module, args, kwargs) -> None:
        flat = [t for a in args for t in (a if isinstance(a, (tuple, list)) else (a,))]
        self.block.append(
            sorted(
                {
                    str(t.dtype)
                    for t in flat
                    if isinstance(t, torch.Tensor) and t.is_floating_point()
                }
            )
        )


def scenario_fsdp_bf16_autocast(out: Path, rank: int) -> dict:
    """bf16 FSDP (no input casting) + the model's bf16 autocast: fp32 timesteps, and it still
    trains."""
    builder = make_net_builder(
        device="cpu", mode="fsdp", param_dtype="bfloat16", reduce_dtype="float32"
    )
    model, opt, sched, loader = toy_components(
        batch_size=2,
        dataset_length=16,
        net_builder=builder,
        precision="bfloat16",
        lr=1e-2,
        warmup=1,
    )
    probe = _DtypeProbe(model.net, model.net.blocks[0])
    trainer = Trainer(
        max_iter=8,
        job_dir=out / "bf16_autocast",
        logging_iter=1,
        tensorboard=False,
        distributed_parallelism="fsdp",
        run_validation=True,
        validation_iter=8,
    )
    summary = trainer.fit(model, opt, sched, loader, val_loader=_val_loader(2))
    val = [r["val_loss"] for r in trainer.val_history]
    return {
        "net_t": sorted(set(probe.net)),
        "params": sorted(set(probe.params)),
        "val": val,
        "iteration": summary["iteration"],
        "skipped": summary["skipped_steps"],
        "dit": _dit_bf16_dtypes(),
    }


def _dit_bf16_dtypes() -> dict:
    """The tiny Video2World DiT under bf16 FSDP + autocast: what its root and first block
    receive."""
    from cosmos_train.model.config import Video2WorldRectifiedFlowConfig
    from cosmos_train.model.video2world import Video2WorldModelRectifiedFlow
    from cosmos_train.nets.presets import tiny
    from cosmos_train.tokenizers.standin import PoolingTokenizer

    cfg = Video2WorldRectifiedFlowConfig(
        net=tiny, tokenizer=PoolingTokenizer, precision="bfloat16", state_t=2
    )
    builder = make_net_builder(
        device="cpu", mode="fsdp", param_dtype="bfloat16", reduce_dtype="float32"
    )
    model = Video2WorldModelRectifiedFlow(cfg, net_builder=builder)
    probe = _DtypeProbe(model.net, model.net.blocks[0])
    g = torch.Generator().manual_seed(dist.get_rank())
    batch = {
        "video": torch.randint(0, 256, (1, 3, 5, 32, 32), generator=g, dtype=torch.uint8),
        "t5_text_embeddings": torch.randn(1, 8, 32, generator=g),
        "fps": torch.full((1,), 24.0),
        "padding_mask": torch.zeros(1, 1, 32, 32),
        "sample_idx": torch.tensor([dist.get_rank()]),
    }
    _, loss = model.training_step(batch, 0)
    loss.backward()
    grads = [p.grad for p in model.net.parameters() if p.grad is not None]
    return {
        "net_t": sorted(set(probe.net)),
        "block": probe.block[0],
        "params": sorted(set(probe.params)),
        "grad_dtypes": sorted({str(g.dtype) for g in grads}),
        "grads_finite": all(bool(torch.isfinite(g.to_local()).all()) for g in grads),
        "loss": loss.item(),
    }


def scenario_consistency(out: Path, rank: int) -> dict:
    check_same_on_all_ranks("same-fingerprint")
    try:
        check_same_on_all_ranks(f"fingerprint-of-rank-{rank}")
        mismatch = None
    except RankMismatchError as exc:
        mismatch = str(exc)
    from lazycfg import L

    def cfg(lr):
        return {"optimizer": L("torch.optim.AdamW")(lr=lr), "trainer": {"max_iter": 3}}

    same = check_config_consistency(cfg(1e-3))
    try:
        check_config_consistency(cfg(1e-3 * (rank + 1)))
        cfg_mismatch = None
    except RankMismatchError as exc:
        cfg_mismatch = str(exc)
    shipped = broadcast_config(cfg(1e-3 * (rank + 1)))
    return {
        "mismatch": mismatch,
        "broadcast": broadcast_text("from-rank-0" if rank == 0 else None),
        "fingerprint": same,
        "cfg_mismatch": cfg_mismatch,
        "shipped_lr": shipped["optimizer"]["lr"],
    }


SCENARIOS = {
    name[len("scenario_") :]: fn for name, fn in globals().items() if name.startswith("scenario_")
}


def main() -> int:
    # A hung collective dumps every thread's stack and exits instead of stalling the test run.
    faulthandler.dump_traceback_later(
        float(os.environ.get("DIST_SCENARIO_TIMEOUT_S", "240")), exit=True
    )
    out = Path(sys.argv[1])
    env = init_distributed(backend="gloo")
    torch.set_num_threads(1)
    status = 0
    for name in sys.argv[2:]:
        try:
            result = SCENARIOS[name](out, env.rank)
        except Exception:  # report and keep the other scenarios running
            result = {"error": traceback.format_exc()}
            status = 1
        (out / f"{name}.rank{env.rank}.json").write_text(json.dumps(result))
        dist.barrier()
    dist.destroy_process_group()
    return status


if __name__ == "__main__":
    sys.exit(main())
