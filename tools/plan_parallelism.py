#!/usr/bin/env python
"""Plan FSDP shard size and context-parallel (CP) size for an experiment on a cluster, on paper.

    python tools/plan_parallelism.py experiments/14b_nemo.py --gpus 32
    python tools/plan_parallelism.py experiments/2b_nemo.py --gpus 8 --shard 8 --cp 2
    python tools/plan_parallelism.py --check        # the model against docs/gpu_runs/*.json

For a layout (world = shard groups x replicas = data-parallel groups x CP) it prints memory per
GPU, FLOPs per step, FSDP and CP communication per step and a predicted step time, and it ranks
every valid layout that fits in memory. The model (each term is printed):

- **Memory** per GPU: fp32 parameters, gradients, AdamW moments and (with EMA) the fp32 EMA copy,
  all sharded over ``fsdp_shard_size`` ranks (16 or 20 bytes/param / shard); bf16 all-gathered
  parameters of two blocks (the running one and the prefetched one) when sharded; activations
  ``u(ac_mode) x L x (N/cp) x D x 2`` bytes, where ``u`` counts the ``[tokens, D]`` bf16 tensors a
  block keeps under each checkpointing mode (``block`` keeps its fp32 input = 2; ``selective``
  adds the attention output = 3; ``selective_down`` the MLP down-projection = 4;
  ``selective_mlp`` also the 4D-wide MLP up-projection = 8; ``mm_only`` also q/k/v/o and the
  cross-attention q/o = 14; ``none`` ~30, a rough count); plus the working set of the block being
  recomputed, ``W x (N/cp) x D x 2`` bytes, with ``W`` fitted to the H100 peaks in docs/gpu_runs.
- **FLOPs** from :mod:`cosmos_train.utils.flops` (model FLOPs, attention included, 3x forward).
  Under CP each rank does ``1/cp`` of them (Ulysses: all tokens, ``heads/cp`` heads).
- **Communication** per GPU and step. FSDP (``reshard_after_forward``): all-gather bf16 params in
  forward and again in backward, reduce-scatter fp32 gradients: ``(2 + 2 + 4) P (s-1)/s`` bytes;
  HSDP adds the all-reduce of the gradient shard over ``r`` replicas: ``2 (4P/s)(r-1)/r``. CP
  (Ulysses, bf16): per self-attention layer ``(N/cp) D 2 (cp-1)/cp`` bytes times 4 (q, k, v, out)
  in forward, 4 in backward and 3 more when activation checkpointing recomputes q/k/v.
  Bandwidth: ``--intra-node-gbps`` when the group fits in a node, else ``--inter-node-gbps``.
- **Step time** = compute (FLOPs at the *measured* single-GPU model TFLOP/s of the same AC mode
  on an H100, from docs/gpu_runs) + CP all-to-all time (on the critical path) + the part of the
  FSDP time that compute cannot hide (``max(0, t_fsdp - t_compute)``, FSDP2 prefetches).

Caveats: the throughput is the measured 2B rate; for other nets it is a proxy (a wider net's
GEMMs are usually faster, so this errs slow). Attention per rank under CP was not measured on a
GPU (``tools/bench_cp_attention_gpu.py`` measures it; not run yet).
"""

from __future__ import annotations

import argparse
import functools
import glob
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

GIB = 2**30
#: ``[tokens, D]`` bf16 tensors kept per block by each activation-checkpointing mode (docstring).
AC_UNITS: dict[str, float] = {
    "block": 2,
    "selective": 3,
    "selective_down": 4,
    "selective_mlp": 8,
    "mm_only": 14,
    "none": 30,
}
#: Extra q/k/v all-to-alls when AC recomputes the attention inputs.
_RECOMPUTE_A2A = {"none": 0, "mm_only": 0}
#: Resolutions of the measured runs and Cosmos's 16:9 clips: pixel (height, width).
RESOLUTIONS = {"480": (480, 832), "720": (704, 1280)}
GPU_RUNS = _ROOT / "docs" / "gpu_runs"


@dataclass(frozen=True)
class Cluster:
    """GPUs and links. Bandwidths are achievable bus bandwidth per GPU in GB/s (1e9 bytes/s)."""

    gpus: int
    gpus_per_node: int = 8
    mem_gib: float = 80.0
    intra_node_gbps: float = 360.0  # H100 SXM NVLink4: 450 GB/s per direction, ~80% achievable
    inter_node_gbps: float = 45.0  # one 400 Gb/s NDR InfiniBand link per GPU, ~90% achievable
    peak_tflops: float = 989.0  # H100 SXM dense bf16


@dataclass(frozen=True)
class Workload:
    """What one training step computes: the net's shape and the batch's token grid."""

    name: str
    params: int
    block_params: int
    model_channels: int
    num_blocks: int
    num_heads: int
    token_frames: int
    tokens: int
    flops_per_sample: float
    batch: int = 1
    ema: bool = True
    ac_mode: str = "selective"


@dataclass(frozen=True)
class Layout:
    shard: int
    cp: int

    def replicas(self, world: int) -> int:
        return world // self.shard

    def dp(self, world: int) -> int:
        return world // self.cp


# --------------------------------------------------------------------------------------------
# workload from an experiment
# --------------------------------------------------------------------------------------------
def workload_from_net(
    name: str,
    net_kwargs: Any,
    latent_thw: tuple[int, int, int],
    *,
    text_len: int = 512,
    batch: int = 1,
    ema: bool = True,
    ac_mode: str = "selective",
) -> Workload:
    """A :class:`Workload` from DiT kwargs (or a lazy net node) and a latent grid (meta build)."""
    import torch

    from cosmos_train.nets.dit import MiniTrainDiT
    from cosmos_train.utils.flops import _shape, dit_tokens_per_sample, dit_train_flops_per_sample

    kwargs = {k: net_kwargs[k] for k in net_kwargs}
    kwargs.pop("_target_", None)
    with torch.device("meta"):
        net = MiniTrainDiT(**kwargs)
    shape = _shape(net)
    return Workload(
        name=name,
        params=sum(p.numel() for p in net.parameters()),
        block_params=sum(p.numel() for p in net.blocks[0].parameters()),
        model_channels=shape["model_channels"],
        num_blocks=shape["num_blocks"],
        num_heads=net.num_heads,
        token_frames=latent_thw[0] // shape["patch_temporal"],
        tokens=dit_tokens_per_sample(shape, latent_thw),
        flops_per_sample=dit_train_flops_per_sample(shape, latent_thw, text_len=text_len),
        batch=batch,
        ema=ema,
        ac_mode=ac_mode,
    )


def workload_from_experiment(
    path: str,
    overrides: list[str] = (),
    *,
    resolution: str | None = None,
    ac_mode: str | None = None,
) -> Workload:
    """Reads the net, clip size, batch, EMA and AC mode of an experiment file."""
    import lazycfg
    from cosmos_train.nets.checkpointing import normalize_ac_mode

    cfg = lazycfg.load(path, list(overrides))
    model = cfg.model.config
    ds = cfg.dataloader_train.dataset
    if resolution is not None:
        h, w = RESOLUTIONS[resolution]
    elif "video_size" in ds:
        h, w = ds.video_size
    else:
        h, w = ds.height, ds.width
    latent = (int(model.state_t), int(h) // 8, int(w) // 8)  # Wan2.1 VAE: 8x spatial
    mode = normalize_ac_mode(ac_mode or cfg.trainer.parallelism.activation_checkpointing or "none")
    return workload_from_net(
        Path(path).stem,
        model.net,
        latent,
        batch=int(cfg.dataloader_train.batch_size),
        ema=bool(model.ema.enabled),
        ac_mode=mode,
    )


# --------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------
def memory_gib(work: Workload, layout: Layout, *, working_units: float) -> dict[str, float]:
    """Memory per GPU by part (GiB); see the module docstring."""
    P, s = work.params, layout.shard
    act_unit = (
        work.batch
        * (math.ceil(work.token_frames / layout.cp) * work.tokens / work.token_frames)
        * work.model_channels
        * 2
    )
    parts = {
        "params_fp32": 4 * P / s,
        "grads_fp32": 4 * P / s,
        "adamw_fp32": 8 * P / s,
        "ema_fp32": 4 * P / s if work.ema else 0.0,
        "gathered_bf16": 2 * 2 * work.block_params if s > 1 else 0.0,
        "activations": AC_UNITS[work.ac_mode] * work.num_blocks * act_unit,
        "working_set": working_units * act_unit,
    }
    out = {k: v / GIB for k, v in parts.items()}
    out["total"] = sum(out.values())
    return out


def comm_bytes(work: Workload, layout: Layout, world: int) -> dict[str, float]:
    """Bytes each GPU sends per step: FSDP (all-gather, reduce-scatter, HSDP all-reduce) and CP."""
    P, s, r, cp = work.params, layout.shard, layout.replicas(world), layout.cp
    a2a_unit = work.batch * (work.tokens / cp) * work.model_channels * 2 * (cp - 1) / cp
    per_layer = 4 + 4 + _RECOMPUTE_A2A.get(work.ac_mode, 3)
    return {
        "fsdp_all_gather": 2 * 2 * P * (s - 1) / s,
        "fsdp_reduce_scatter": 4 * P * (s - 1) / s,
        "hsdp_all_reduce": 2 * (4 * P / s) * (r - 1) / r,
        "cp_all_to_all": per_layer * work.num_blocks * a2a_unit,
    }


def step_time(
    work: Workload, layout: Layout, cluster: Cluster, *, tflops: float
) -> dict[str, float]:
    """Predicted seconds per step: compute + CP all-to-all + FSDP time compute cannot hide."""
    comm = comm_bytes(work, layout, cluster.gpus)
    intra = lambda group: group <= cluster.gpus_per_node  # noqa: E731
    bw = lambda group: (cluster.intra_node_gbps if intra(group) else cluster.inter_node_gbps) * 1e9  # noqa: E731
    compute = work.batch * work.flops_per_sample / layout.cp / (tflops * 1e12)
    t_fsdp = (comm["fsdp_all_gather"] + comm["fsdp_reduce_scatter"]) / bw(layout.shard)
    # Replicas of a shard are ranks i, i+s, i+2s, ...: one node only when the whole world is one
    # node.
    t_fsdp += comm["hsdp_all_reduce"] / bw(cluster.gpus)
    t_cp = comm["cp_all_to_all"] / bw(layout.cp)
    return {
        "compute": compute,
        "cp": t_cp,
        "fsdp": t_fsdp,
        "step": compute + t_cp + max(0.0, t_fsdp - compute),
    }


def valid_layouts(work: Workload, cluster: Cluster) -> list[Layout]:
    """Every (shard, cp) with shard | world, cp | world, cp | heads and cp <= token frames."""
    n = cluster.gpus
    return [
        Layout(shard, cp)
        for shard in range(1, n + 1)
        if n % shard == 0
        for cp in range(1, n + 1)
        if n % cp == 0 and work.num_heads % cp == 0 and cp <= work.token_frames
    ]


def plan(
    work: Workload, cluster: Cluster, *, tflops: float, working_units: float, headroom: float = 0.92
) -> list[dict]:
    """Every valid layout with its memory, step time and throughput; fitting ones first, fastest
    first."""
    rows = []
    for lay in valid_layouts(work, cluster):
        mem = memory_gib(work, lay, working_units=working_units)
        t = step_time(work, lay, cluster, tflops=tflops)
        samples = lay.dp(cluster.gpus) * work.batch
        rows.append(
            {
                "layout": lay,
                "mem": mem,
                "time": t,
                "fits": mem["total"] <= headroom * cluster.mem_gib,
                "samples_per_s": samples / t["step"],
                "global_batch": samples,
            }
        )
    # Fitting first; then throughput; ties: smaller shard (less traffic), smaller CP.
    rows.sort(
        key=lambda r: (
            not r["fits"],
            -round(r["samples_per_s"], 6),
            r["layout"].shard,
            r["layout"].cp,
        )
    )
    return rows


def suggest(rows: list[dict], cluster: Cluster, tolerance: float = 0.02) -> dict | None:
    """The fitting layout to use, among those within ``tolerance`` of the best throughput.

    The smallest CP (least attention traffic, most data parallelism); then, as the shard size
    costs no time inside a node, the largest shard within a node (most memory headroom); across
    nodes the smallest shard that leaves 20% of memory free, else the one using least memory.
    """
    fitting = [r for r in rows if r["fits"]]
    if not fitting:
        return None
    best = max(r["samples_per_s"] for r in fitting)
    near = [r for r in fitting if r["samples_per_s"] >= (1 - tolerance) * best]
    cp = min(r["layout"].cp for r in near)
    near = [r for r in near if r["layout"].cp == cp]
    in_node = [r for r in near if r["layout"].shard <= cluster.gpus_per_node]
    if in_node:
        return min(in_node, key=lambda r: r["mem"]["total"])
    roomy = [r for r in near if r["mem"]["total"] <= 0.8 * cluster.mem_gib]
    if roomy:
        return min(roomy, key=lambda r: r["layout"].shard)
    return min(near, key=lambda r: r["mem"]["total"])


# --------------------------------------------------------------------------------------------
# measurements (docs/gpu_runs)
# --------------------------------------------------------------------------------------------
_ROW = re.compile(r"^(?P<res>\d+)p_(?P<mode>.+)_(?P<how>eager|compiled)(?P<ema>_ema)?$")


def measured_runs(folder: Path = GPU_RUNS) -> list[dict]:
    """Single-H100 rows of the 2B net from ``nets_bench_*.json``: resolution, mode, step, TFLOP/s,
    peak."""
    rows = []
    for path in sorted(glob.glob(str(folder / "nets_bench_*.json"))):
        for key, val in json.loads(Path(path).read_text()).items():
            m = _ROW.match(key)
            if m and isinstance(val, dict) and "step_s" in val:
                rows.append(
                    {
                        "key": key,
                        "file": Path(path).name,
                        "resolution": m["res"],
                        "ac_mode": m["mode"],
                        "compiled": m["how"] == "compiled",
                        "ema": bool(m["ema"]),
                        **val,
                    }
                )
    return rows


def fit_working_units(work_for: Any, rows: list[dict]) -> float:
    """Least-squares ``W`` (working-set units) from measured peaks: the rest of the model fixed."""
    num = den = 0.0
    for r in rows:
        work = work_for(r)
        lay = Layout(1, 1)
        base = memory_gib(work, lay, working_units=0.0)["total"]
        unit = memory_gib(work, lay, working_units=1.0)["working_set"]
        num += (r["peak_gib"] - base) * unit
        den += unit * unit
    return max(num / den, 0.0) if den else 0.0


def throughput_for(
    rows: list[dict],
    ac_mode: str,
    resolution: str | None = None,
    *,
    compiled: bool = True,
    other_resolution: bool = False,
) -> float:
    """Measured model TFLOP/s for ``ac_mode`` (else ``selective``): same compile setting first, then
    the same resolution (or, with ``other_resolution``, a different one: an extrapolation)."""
    cands = [r for r in rows if r["ac_mode"] == ac_mode] or [
        r for r in rows if r["ac_mode"] == "selective"
    ]
    if not cands:
        raise ValueError("no measured throughput in docs/gpu_runs; pass --tflops")
    cands.sort(
        key=lambda r: (
            r["compiled"] != compiled,
            (r["resolution"] == resolution) == other_resolution,
            not r["ema"],
        )
    )
    return float(cands[0]["tflops"])


@functools.cache
def _work_2b_cached(resolution: str, ema: bool, ac_mode: str) -> Workload:
    from cosmos_train.nets.presets import preset_kwargs

    h, w = RESOLUTIONS[resolution]
    return workload_from_net(
        f"2B {resolution}p",
        preset_kwargs("predict2_5_2B"),
        (24, h // 8, w // 8),
        ema=ema,
        ac_mode=ac_mode,
    )


def _work_2b(r: dict) -> Workload:
    """The measured runs' workload: Predict2.5-2B, 93 frames (24 latent), batch 1."""
    return _work_2b_cached(r["resolution"], r["ema"], r["ac_mode"])


def check_against_runs(rows: list[dict]) -> list[dict]:
    """Leave-one-out: predict each measured row from the *other* rows (throughput and ``W``).

    The throughput comes from the same AC mode at the *other* resolution when one was measured
    (so the FLOP model's scaling with tokens is what is checked), else from a sibling row.
    """
    out = []
    for r in rows:
        others = [o for o in rows if o["key"] != r["key"]]
        work = _work_2b(r)
        W = fit_working_units(_work_2b, others)
        tf = throughput_for(
            others, r["ac_mode"], r["resolution"], compiled=r["compiled"], other_resolution=True
        )
        mem = memory_gib(work, Layout(1, 1), working_units=W)["total"]
        t = step_time(work, Layout(1, 1), Cluster(gpus=1), tflops=tf)["step"]
        out.append(
            {
                "key": r["key"],
                "file": r["file"],
                "step_measured": r["step_s"],
                "step_predicted": t,
                "peak_measured": r["peak_gib"],
                "peak_predicted": mem,
                "tflops_used": tf,
            }
        )
    return out


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
def _fmt_bytes(b: float) -> str:
    return f"{b / 1e9:8.2f} GB"


def report(
    work: Workload,
    cluster: Cluster,
    rows: list[dict],
    *,
    chosen: Layout | None,
    tflops: float,
    W: float,
) -> str:
    lines = [
        f"# {work.name}: {work.params / 1e9:.2f}B params, {work.num_blocks} blocks x "
        f"D={work.model_channels}, {work.num_heads} heads; {work.tokens:,} tokens/sample "
        f"({work.token_frames} frames); batch {work.batch}/DP group; AC {work.ac_mode}; EMA "
        f"{'on' if work.ema else 'off'}",
        f"# cluster: {cluster.gpus} GPUs ({cluster.gpus_per_node}/node, {cluster.mem_gib:g} GiB), "
        f"links {cluster.intra_node_gbps:g} GB/s in a node, {cluster.inter_node_gbps:g} GB/s "
        f"across nodes; compute at {tflops:.0f} model TFLOP/s per GPU (measured single-H100 rate), "
        f"working set W={W:.1f}",
        f"# FLOPs: {work.flops_per_sample / 1e15:.2f} PFLOP per sample (model FLOPs, 3x forward); "
        f"a step is global batch (dp x {work.batch}) x that; per GPU: {work.batch} x that / cp",
        "",
        f"{'shard':>5} {'cp':>3} {'dp':>4} | {'params':>6} {'grads':>6} {'optim':>6} {'ema':>5} "
        f"{'gath':>5} {'act':>6} {'work':>5} {'TOTAL':>6} | {'FSDP/step':>11} {'CP/step':>11} | "
        f"{'compute':>7} {'cp':>6} {'fsdp':>6} {'STEP s':>7} {'smpl/s':>7} fits",
    ]
    pick = [r for r in rows if chosen is None or r["layout"] == chosen]
    for r in pick[: (None if chosen else 12)]:
        lay, m, t = r["layout"], r["mem"], r["time"]
        c = comm_bytes(work, lay, cluster.gpus)
        fsdp = c["fsdp_all_gather"] + c["fsdp_reduce_scatter"] + c["hsdp_all_reduce"]
        lines.append(
            f"{lay.shard:>5} {lay.cp:>3} {lay.dp(cluster.gpus):>4} | {m['params_fp32']:6.1f} "
            f"{m['grads_fp32']:6.1f} {m['adamw_fp32']:6.1f} {m['ema_fp32']:5.1f} "
            f"{m['gathered_bf16']:5.1f} {m['activations']:6.1f} {m['working_set']:5.1f} "
            f"{m['total']:6.1f} | {_fmt_bytes(fsdp)} {_fmt_bytes(c['cp_all_to_all'])} | "
            f"{t['compute']:7.2f} {t['cp']:6.2f} {t['fsdp']:6.2f} {t['step']:7.2f} "
            f"{r['samples_per_s']:7.3f} {'yes' if r['fits'] else 'NO'}"
        )
    if chosen is None:
        best = suggest(rows, cluster)
        if best is not None:
            lines.append(
                f"\nsuggestion: model.config.fsdp_shard_size={best['layout'].shard} "
                f"model_parallel.context_parallel_size={best['layout'].cp} (predicted "
                f"{best['time']['step']:.2f} s/step, {best['samples_per_s']:.3f} samples/s, "
                f"{best['mem']['total']:.1f} GiB/GPU)"
            )
        else:
            lines.append(
                "\nsuggestion: nothing fits; use more GPUs, a leaner AC mode (block/selective) or "
                "shorter clips"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="tools/plan_parallelism.py", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("experiment", nargs="?", help="experiment .py file")
    p.add_argument("overrides", nargs="*", help="key=value overrides of the experiment")
    p.add_argument("--gpus", type=int, default=8)
    p.add_argument("--gpus-per-node", type=int, default=8)
    p.add_argument("--mem-gib", type=float, default=80.0, help="memory per GPU (GiB)")
    p.add_argument(
        "--intra-node-gbps",
        type=float,
        default=Cluster.intra_node_gbps,
        help="GB/s per GPU inside a node",
    )
    p.add_argument(
        "--inter-node-gbps",
        type=float,
        default=Cluster.inter_node_gbps,
        help="GB/s per GPU across nodes",
    )
    p.add_argument(
        "--tflops",
        type=float,
        help="model TFLOP/s per GPU (default: measured H100 rate of the AC mode)",
    )
    p.add_argument(
        "--resolution", choices=sorted(RESOLUTIONS), help="override the clip size (480 or 720)"
    )
    p.add_argument("--ac", help="override the activation-checkpointing mode")
    p.add_argument("--shard", type=int, help="report this fsdp_shard_size only (with --cp)")
    p.add_argument("--cp", type=int, help="report this context_parallel_size only (with --shard)")
    p.add_argument("--check", action="store_true", help="leave-one-out check against docs/gpu_runs")
    args = p.parse_intermixed_args(argv)

    runs = measured_runs()
    if args.check:
        print(
            f"{'run':<36} {'step meas':>9} {'step pred':>9} {'err':>6} | {'peak meas':>9} "
            f"{'peak pred':>9} {'err':>6}  (TFLOP/s used)"
        )
        for c in check_against_runs(runs):
            es = c["step_predicted"] / c["step_measured"] - 1
            em = c["peak_predicted"] / c["peak_measured"] - 1
            print(
                f"{c['key']:<36} {c['step_measured']:9.2f} {c['step_predicted']:9.2f} {es:+6.1%} | "
                f"{c['peak_measured']:9.1f} {c['peak_predicted']:9.1f} {em:+6.1%}  "
                f"({c['tflops_used']:.0f})"
            )
        return 0
    if not args.experiment:
        p.error("give an experiment file (or --check)")
    if (args.shard is None) != (args.cp is None):
        p.error("--shard and --cp go together")
    work = workload_from_experiment(
        args.experiment, args.overrides, resolution=args.resolution, ac_mode=args.ac
    )
    res = args.resolution or ("720" if work.tokens > 60_000 else "480")
    tflops = args.tflops or throughput_for(runs, work.ac_mode, res)
    W = fit_working_units(_work_2b, runs)
    cluster = Cluster(
        gpus=args.gpus,
        gpus_per_node=args.gpus_per_node,
        mem_gib=args.mem_gib,
        intra_node_gbps=args.intra_node_gbps,
        inter_node_gbps=args.inter_node_gbps,
    )
    rows = plan(work, cluster, tflops=tflops, working_units=W)
    chosen = Layout(args.shard, args.cp) if args.shard else None
    if chosen and chosen not in [r["layout"] for r in rows]:
        p.error(
            f"shard={args.shard} cp={args.cp} is not a valid layout for {args.gpus} GPUs and "
            f"{work.num_heads} heads"
        )
    print(report(work, cluster, rows, chosen=chosen, tflops=tflops, W=W))
    return 0


__all__ = [
    "AC_UNITS",
    "Cluster",
    "Layout",
    "Workload",
    "comm_bytes",
    "memory_gib",
    "plan",
    "step_time",
    "valid_layouts",
    "suggest",
    "workload_from_experiment",
    "workload_from_net",
    "measured_runs",
    "check_against_runs",
]

if __name__ == "__main__":
    sys.exit(main())
