"""torchrun worker for test_video2world_fsdp.py: FSDP2 training of the tiny RF model on 2 ranks.

Rank r trains on samples (2r, 2r+1); rank 0 also trains an unsharded reference model on all four
samples (same init, same per-sample draws). Results go to ``<out>/rank{r}.pt``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_video2world import make_batch  # noqa: E402

from cosmos_train.distributed.parallelize import make_net_builder  # noqa: E402
from cosmos_train.model.config import Video2WorldRectifiedFlowConfig  # noqa: E402
from cosmos_train.model.video2world import Video2WorldModelRectifiedFlow  # noqa: E402
from cosmos_train.nets.presets import tiny  # noqa: E402
from cosmos_train.tokenizers.standin import PoolingTokenizer  # noqa: E402

STEPS = 3


def train(model, batch, momentum: float = 0.0) -> tuple[torch.optim.Optimizer, list[float]]:
    # SGD keeps the sharded/unsharded comparison linear in the gradients (Adam amplifies ulp noise).
    params = [p for _, p in model.optimizer_parameters()]
    opt = torch.optim.SGD(params, lr=0.5, momentum=momentum)
    losses = []
    for it in range(STEPS):
        _, loss = model.training_step(batch, it)
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.on_before_zero_grad(opt, None, it)
        losses.append(loss.item())
    return opt, losses


def full(t: torch.Tensor) -> torch.Tensor:
    """A detached copy of the whole tensor (gathered from the ranks for a DTensor)."""
    return (t.full_tensor() if hasattr(t, "full_tensor") else t).detach().clone()


def main(out: Path) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    cfg = Video2WorldRectifiedFlowConfig(
        net=tiny, tokenizer=PoolingTokenizer, precision="float32", state_t=4
    )
    model = Video2WorldModelRectifiedFlow(
        cfg, net_builder=make_net_builder(device="cpu", mode="fsdp", param_dtype=None)
    )
    _, losses = train(model, make_batch(2, start=2 * rank))
    before = [full(p) for p in model.net.parameters()]
    with model.ema_scope():
        swapped = [full(p) for p in model.net.parameters()]
    after = [full(p) for p in model.net.parameters()]
    result = {
        "losses": losses,
        "net": before,
        "ema": [full(p) for p in model.net_ema.parameters()],
        "swapped": swapped,
        "restored": all(torch.equal(a, b) for a, b in zip(before, after)),
    }
    if rank == 0:
        ref = Video2WorldModelRectifiedFlow(
            cfg, net_builder=make_net_builder(device="cpu", mode="none")
        )
        _, result["ref_losses"] = train(ref, make_batch(4))
        result["ref_net"] = [p.detach().clone() for p in ref.net.parameters()]
        result["ref_ema"] = [p.detach().clone() for p in ref.net_ema.parameters()]
    torch.save(result, out / f"rank{rank}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
