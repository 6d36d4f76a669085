"""torchrun worker for test_lora_parallel.py: FSDP2 LoRA training on 2 gloo ranks.

Rank r trains on samples (2r, 2r+1) with a sharded, frozen base and sharded adapters; rank 0 also
trains the unsharded LoRA model on all four samples. Then a DCP save/load round trip into a fresh
sharded model. Results go to ``<out>/rank{r}.pt``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fsdp_worker import STEPS, full, train  # noqa: E402
from test_video2world import make_batch  # noqa: E402

from cosmos_train.checkpoint.dcp import DCPCheckpointer  # noqa: E402
from cosmos_train.distributed.parallelize import make_net_builder  # noqa: E402
from cosmos_train.model.config import Video2WorldRectifiedFlowConfig  # noqa: E402
from cosmos_train.model.video2world import Video2WorldModelRectifiedFlow  # noqa: E402
from cosmos_train.nets.presets import tiny  # noqa: E402
from cosmos_train.tokenizers.standin import PoolingTokenizer  # noqa: E402

def build(base: str, fsdp: bool) -> Video2WorldModelRectifiedFlow:
    cfg = Video2WorldRectifiedFlowConfig(
        net=tiny,
        tokenizer=PoolingTokenizer,
        precision="float32",
        state_t=4,
        use_lora=True,
        lora_rank=4,
        lora_alpha=8,
    )
    builder = make_net_builder(
        device="cpu", mode="fsdp" if fsdp else "none", param_dtype=None, seed=0
    )
    return Video2WorldModelRectifiedFlow(cfg, net_builder=builder, base_checkpoint=base)


def main(out: Path, base: str) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    model = build(base, fsdp=True)
    named = dict(model.net.named_parameters())
    result = {
        "all_dtensor": all(hasattr(p, "full_tensor") for p in named.values()),
        "ema_dtensor": all(hasattr(p, "full_tensor") for p in model.net_ema.parameters()),
        "trainable": sorted(n for n, p in named.items() if p.requires_grad),
        "base_before": {n: full(p) for n, p in named.items() if not p.requires_grad},
    }
    opt, result["losses"] = train(model, make_batch(2, start=2 * rank), momentum=0.9)
    result["net"] = {n: full(p) for n, p in model.net.named_parameters()}
    result["ema"] = {n: full(p) for n, p in model.net_ema.named_parameters()}
    if rank == 0:
        ref = build(base, fsdp=False)
        _, result["ref_losses"] = train(ref, make_batch(4), momentum=0.9)
        result["ref_net"] = {n: full(p) for n, p in ref.net.named_parameters()}
        result["ref_ema"] = {n: full(p) for n, p in ref.net_ema.named_parameters()}
    ckpt = DCPCheckpointer(job_dir=out / "job")
    ckpt.save(model, opt, None, STEPS)
    fresh = build(base, fsdp=True)
    fresh_opt = torch.optim.SGD([p for _, p in fresh.optimizer_parameters()], lr=0.5, momentum=0.9)
    result["loaded_iter"] = DCPCheckpointer(job_dir=out / "job").load(fresh, fresh_opt)
    result["loaded_net"] = {n: full(p) for n, p in fresh.net.named_parameters()}
    result["loaded_ema"] = {n: full(p) for n, p in fresh.net_ema.named_parameters()}
    result["loaded_momentum"] = [
        full(fresh_opt.state[p]["momentum_buffer"]) for p in fresh_opt.param_groups[0]["params"]
    ]
    result["momentum"] = [
        full(opt.state[p]["momentum_buffer"]) for p in opt.param_groups[0]["params"]
    ]
    torch.save(result, out / f"rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
