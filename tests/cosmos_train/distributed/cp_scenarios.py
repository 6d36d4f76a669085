"""Context-parallel scenarios under ``torchrun`` (gloo, CPU); ``test_context_parallel.py`` asserts.

Usage: ``torchrun --nproc_per_node=N cp_scenarios.py OUT_DIR CP_SIZE SCENARIO [...]``. Each
scenario writes ``OUT_DIR/<scenario>.rank<r>.pt``: what the CP run computed (full tensors) and,
on rank 0, the same computation by one unsplit process (same init, same per-sample draws).
"""

from __future__ import annotations

import faulthandler
import os
import sys
import traceback
from pathlib import Path

import torch
import torch.distributed as dist

from cosmos_train.distributed.context_parallel import (
    data_parallel_rank_world,
    enable_model_context_parallel,
    init_context_parallel,
)
from cosmos_train.distributed.env import init_distributed
from cosmos_train.distributed.parallelize import make_net_builder
from cosmos_train.model.config import Video2WorldRectifiedFlowConfig
from cosmos_train.model.video2world import Video2WorldModelRectifiedFlow
from cosmos_train.nets.presets import tiny
from cosmos_train.tokenizers.standin import PoolingTokenizer

STEPS, LR = 3, 0.5
# Pixel frames for the PoolingTokenizer: 13 -> 4 latent frames, 9 -> 3 (uneven over CP=2).
FRAMES = {4: 13, 3: 9}


def make_batch(b: int, start: int, frames: int = 13) -> dict:
    """Deterministic videos ``[b, 3, frames, 64, 64]`` for samples ``start..start+b``."""
    t = torch.linspace(0, 1, frames).view(1, 1, frames, 1, 1)
    y = torch.linspace(-1, 1, 64).view(1, 1, 1, 64, 1)
    x = torch.linspace(-1, 1, 64).view(1, 1, 1, 1, 64)
    phase = torch.arange(start, start + b, dtype=torch.float32).view(b, 1, 1, 1, 1)
    video = torch.sin(
        3 * x + 2 * t + phase + torch.tensor([0.0, 1.0, 2.0]).view(1, 3, 1, 1, 1)
    ) * torch.cos(2 * y)
    text = torch.randn(start + b, 8, 32, generator=torch.Generator().manual_seed(123))[start:]
    return {
        "video": ((video + 1) * 127.5).round().to(torch.uint8),
        "t5_text_embeddings": text,
        "fps": torch.full((b,), 24.0),
        "padding_mask": torch.zeros(b, 1, 64, 64),
        "sample_idx": torch.arange(start, start + b),
    }


def _full(t: torch.Tensor) -> torch.Tensor:
    return (t.full_tensor() if hasattr(t, "full_tensor") else t).detach().clone()


def _model(state_t: int, **builder) -> Video2WorldModelRectifiedFlow:
    # conditional frames on: the condition mask must split consistently with the latent.
    cfg = Video2WorldRectifiedFlowConfig(
        net=tiny,
        tokenizer=PoolingTokenizer,
        precision="float32",
        state_t=state_t,
        min_num_conditional_frames=1,
        max_num_conditional_frames=1,
        # Per-frame timesteps ([B, T]): the AdaLN modulation differs per frame and must be
        # sliced with the frames.
        conditional_frame_timestep=1.0,
    )
    return Video2WorldModelRectifiedFlow(
        cfg, net_builder=make_net_builder(device="cpu", param_dtype=None, **builder)
    )


def _mean_over_ranks(value: torch.Tensor) -> float:
    """The logged loss: the mean over all ranks (CP peers hold the same value)."""
    value = value.detach().clone()
    dist.all_reduce(value)
    return value.item() / dist.get_world_size()


def _train(model, batch, *, distributed: bool) -> dict:
    """``STEPS`` SGD steps; the loss and gradients of each step, the final params.

    SGD keeps the comparison linear in the gradients (Adam's first step divides by sqrt(v) and
    turns ulp-level noise on near-zero gradients into O(lr) differences).
    """
    opt = torch.optim.SGD([p for _, p in model.optimizer_parameters()], lr=LR)
    names = [n for n, _ in model.net.named_parameters()]
    out: dict = {"losses": []}
    for it in range(STEPS):
        _, loss = model.training_step(batch, it)
        opt.zero_grad()
        loss.backward()
        # Every step: at step 0 the zero-initialised AdaLN gates leave many gradients exactly 0.
        out.setdefault("grads", []).append(
            {n: _full(p.grad) for n, p in zip(names, model.net.parameters())}
        )
        opt.step()
        out["losses"].append(_mean_over_ranks(loss) if distributed else loss.item())
    out["params"] = {n: _full(p) for n, p in zip(names, model.net.parameters())}
    return out


class _FrameProbe:
    """Records the frame count the first block sees (proves the sequence is really split)."""

    def __init__(self, net: torch.nn.Module) -> None:
        self.frames: list[int] = []
        net.blocks[0].register_forward_pre_hook(
            lambda _m, args: self.frames.append(int(args[0].shape[1]))
        )


def _train_scenario(
    cp_size: int, state_t: int, batch_per_dp: int, mode: str, shard_size: int | None = None
) -> dict:
    cp = init_context_parallel(cp_size, shard_size=shard_size)
    dp_rank, dp_size = data_parallel_rank_world()
    frames = FRAMES[state_t]
    model = _model(state_t, mode=mode, context_parallel=cp, shard_size=shard_size)
    probe = _FrameProbe(model.net)
    result = {"dp": [dp_rank, dp_size], "cp": repr(cp), "block_frames": probe.frames}
    result.update(
        _train(
            model,
            make_batch(batch_per_dp, start=dp_rank * batch_per_dp, frames=frames),
            distributed=True,
        )
    )
    if dist.get_rank() == 0:
        ref = _model(state_t, mode="none")
        result["ref"] = _train(
            ref, make_batch(batch_per_dp * dp_size, start=0, frames=frames), distributed=False
        )
    return result


def scenario_train_fsdp(out: Path, cp_size: int) -> dict:
    """FSDP2 over all ranks x CP (4 latent frames, 2 per rank at CP=2)."""
    return _train_scenario(cp_size, 4, 1, "fsdp")


def scenario_train_hsdp(out: Path, cp_size: int) -> dict:
    """HSDP (replicate x shard of 2) x CP."""
    return _train_scenario(cp_size, 4, 1, "fsdp", shard_size=2)


def scenario_train_uneven(out: Path, cp_size: int) -> dict:
    """3 latent frames over CP=2: padded to 4, exact."""
    return _train_scenario(cp_size, 3, 1, "fsdp")


def scenario_sample(out: Path, cp_size: int) -> dict:
    """One video sampled with the sequence split over the CP group, vs one process."""
    model = _model(4, mode="none")  # built unsplit, as tools/generate.py loads a run
    cp = enable_model_context_parallel(model, cp_size)
    assert model.net.context_parallel is cp and model.net_ema.context_parallel is cp
    probe = _FrameProbe(model.net)
    batch = make_batch(1, start=0)
    video = model.generate_samples(batch, num_steps=4, guidance=1.5, seed=7)
    result = {"video": video, "block_frames": probe.frames}
    with torch.no_grad():
        result["latent_out"] = _net_out(model, batch)
    if dist.get_rank() == 0:
        ref = _model(4, mode="none")
        result["ref_video"] = ref.generate_samples(batch, num_steps=4, guidance=1.5, seed=7)
        with torch.no_grad():
            result["ref_latent_out"] = _net_out(ref, batch)
    return result


def _net_out(model, batch) -> torch.Tensor:
    """One raw net forward on a fixed input (velocity of the first training draw)."""
    x0, condition, idx, _ = model._prepare(batch, 0, 0, dropout=False)
    eps = model._noise(x0, 0, 0, idx, 3)
    return model.velocity(eps, 0.5 * (x0 + eps), torch.full((x0.shape[0],), 500.0), condition)


def scenario_refuse_uneven(out: Path, cp_size: int) -> dict:
    """``pad_uneven=False``: a clear error naming the config key."""
    cp = init_context_parallel(cp_size, pad_uneven=False)
    model = _model(3, mode="none", context_parallel=cp)
    try:
        model.training_step(make_batch(1, 0, frames=FRAMES[3]), 0)
    except ValueError as exc:
        return {"error_text": str(exc)}
    return {"error_text": None}


def scenario_loader(out: Path, cp_size: int) -> dict:
    """The data loader shards by DP rank: CP peers read the same sample indices."""
    from cosmos_train.data.loader import build_dataloader
    from cosmos_train.model.toy import ToyVideoDataset

    init_context_parallel(cp_size)
    loader = build_dataloader(dataset=ToyVideoDataset(length=8, seed=1), batch_size=1, shuffle=True)
    return {"sample_idx": [int(b["sample_idx"][0]) for _, b in zip(range(3), loader)]}


SCENARIOS = {
    name[len("scenario_") :]: fn for name, fn in globals().items() if name.startswith("scenario_")
}


def main() -> int:
    faulthandler.dump_traceback_later(
        float(os.environ.get("DIST_SCENARIO_TIMEOUT_S", "240")), exit=True
    )
    out, cp_size = Path(sys.argv[1]), int(sys.argv[2])
    env = init_distributed(backend="gloo")
    torch.set_num_threads(1)
    status = 0
    for name in sys.argv[3:]:
        try:
            result = SCENARIOS[name](out, cp_size)
        except Exception:  # report and keep the other scenarios running
            result = {"error": traceback.format_exc()}
            status = 1
        torch.save(result, out / f"{name}.rank{env.rank}.pt")
    dist.barrier()
    dist.destroy_process_group()
    return status


if __name__ == "__main__":
    sys.exit(main())
