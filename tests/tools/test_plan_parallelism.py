"""tools/plan_parallelism.py: its numbers follow the stated formulas; the check against the
measured H100 runs and the CLI work."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import plan_parallelism as pp  # noqa: E402

from cosmos_train.nets.presets import preset_kwargs  # noqa: E402
from cosmos_train.utils.flops import dit_train_flops_per_sample  # noqa: E402

GIB = 2**30


@pytest.fixture(scope="module")
def work_2b_720():
    return pp.workload_from_net(
        "2B", preset_kwargs("predict2_5_2B"), (24, 88, 160), ema=True, ac_mode="selective"
    )


def test_workload_counts_tokens_flops_and_params(work_2b_720):
    w = work_2b_720
    assert w.tokens == 24 * (88 // 2) * (160 // 2) == 84_480
    assert w.flops_per_sample == dit_train_flops_per_sample(
        preset_kwargs("predict2_5_2B"), (24, 88, 160)
    )
    assert 1.9e9 < w.params < 2.1e9 and w.num_blocks * w.block_params < w.params
    # The 480p FLOPs equal the number the H100 runs recorded.
    w480 = pp.workload_from_net("2B", preset_kwargs("predict2_5_2B"), (24, 60, 104))
    recorded = json.loads((ROOT / "docs" / "gpu_runs" / "nets_bench_h100_run1.json").read_text())[
        "train_flops_480p"
    ]
    assert w480.flops_per_sample == pytest.approx(recorded, rel=1e-9)


@pytest.mark.parametrize("shard", [1, 2, 8])
def test_memory_states_are_16_or_20_bytes_per_param_over_the_shard(work_2b_720, shard):
    m = pp.memory_gib(work_2b_720, pp.Layout(shard, 1), working_units=0.0)
    P = work_2b_720.params
    assert m["params_fp32"] * GIB == pytest.approx(4 * P / shard)
    assert (m["params_fp32"] + m["grads_fp32"] + m["adamw_fp32"]) * GIB == pytest.approx(
        16 * P / shard
    )
    assert m["ema_fp32"] * GIB == pytest.approx(4 * P / shard)
    assert (m["gathered_bf16"] > 0) == (shard > 1)
    assert m["total"] == pytest.approx(sum(v for k, v in m.items() if k != "total"))


def test_activations_scale_with_ac_units_and_split_over_cp(work_2b_720):
    def act(mode, cp):
        w = replace(work_2b_720, ac_mode=mode)
        return pp.memory_gib(w, pp.Layout(1, cp), working_units=1.0)

    one = act("selective", 1)
    N, D, L = work_2b_720.tokens, work_2b_720.model_channels, work_2b_720.num_blocks
    assert one["activations"] * GIB == pytest.approx(pp.AC_UNITS["selective"] * L * N * D * 2)
    assert act("selective_mlp", 1)["activations"] / one["activations"] == pytest.approx(8 / 3)
    for cp in (2, 4, 8):  # 24 frames divide evenly
        assert act("selective", cp)["activations"] == pytest.approx(one["activations"] / cp)
        assert act("selective", cp)["working_set"] == pytest.approx(one["working_set"] / cp)
    # 24 frames over 5 ranks: 5 frames each (padded), not 4.8.
    assert act("selective", 5)["activations"] == pytest.approx(one["activations"] * 5 / 24)


@pytest.mark.parametrize("shard, cp, world", [(1, 1, 1), (8, 1, 8), (4, 2, 16), (32, 8, 256)])
def test_comm_volumes_follow_the_collective_formulas(work_2b_720, shard, cp, world):
    w = work_2b_720
    c = pp.comm_bytes(w, pp.Layout(shard, cp), world)
    P, r = w.params, world // shard
    assert c["fsdp_all_gather"] + c["fsdp_reduce_scatter"] == pytest.approx(
        8 * P * (shard - 1) / shard
    )
    assert c["hsdp_all_reduce"] == pytest.approx(2 * (4 * P / shard) * (r - 1) / r)
    a2a_per_layer = w.tokens / cp * w.model_channels * 2 * (cp - 1) / cp
    assert c["cp_all_to_all"] == pytest.approx((4 + 4 + 3) * w.num_blocks * a2a_per_layer)


def test_step_time_is_flops_over_rate_plus_exposed_comm(work_2b_720):
    one = pp.step_time(work_2b_720, pp.Layout(1, 1), pp.Cluster(gpus=1), tflops=500.0)
    assert one["step"] == pytest.approx(work_2b_720.flops_per_sample / 500e12)
    cluster = pp.Cluster(gpus=8, intra_node_gbps=100.0)
    t = pp.step_time(work_2b_720, pp.Layout(8, 2), cluster, tflops=500.0)
    assert t["compute"] == pytest.approx(one["step"] / 2)
    c = pp.comm_bytes(work_2b_720, pp.Layout(8, 2), 8)
    assert t["cp"] == pytest.approx(c["cp_all_to_all"] / 100e9)
    assert t["step"] == pytest.approx(t["compute"] + t["cp"] + max(0.0, t["fsdp"] - t["compute"]))
    # Across nodes the same shard group is slower.
    slow = pp.step_time(
        work_2b_720, pp.Layout(16, 1), pp.Cluster(gpus=16, gpus_per_node=8), tflops=500.0
    )
    fast = pp.step_time(
        work_2b_720, pp.Layout(16, 1), pp.Cluster(gpus=16, gpus_per_node=16), tflops=500.0
    )
    assert slow["fsdp"] > fast["fsdp"]


def test_layouts_respect_divisibility_and_the_plan_fits(work_2b_720):
    w14 = pp.workload_from_net(
        "14B", preset_kwargs("predict2_5_14B"), (24, 88, 160), ac_mode="selective"
    )
    cluster = pp.Cluster(gpus=8)
    layouts = pp.valid_layouts(w14, cluster)
    assert all(
        8 % lay.shard == 0 and 8 % lay.cp == 0 and w14.num_heads % lay.cp == 0 for lay in layouts
    )
    assert pp.Layout(8, 8) in layouts and pp.Layout(8, 3) not in layouts
    rows = pp.plan(w14, cluster, tflops=450.0, working_units=10.0)
    best = pp.suggest(rows, cluster)
    assert best is not None and best["mem"]["total"] <= 0.92 * 80
    # The 14B at 720p does not fit one 80 GB GPU's worth of activations without CP.
    no_cp = [r for r in rows if r["layout"] == pp.Layout(8, 1)][0]
    assert not no_cp["fits"] and best["layout"].cp > 1
    assert best["samples_per_s"] == pytest.approx(best["global_batch"] / best["time"]["step"])


def test_check_against_the_measured_h100_runs():
    runs = pp.measured_runs()
    assert {"480p_selective_compiled_ema", "720p_selective_compiled_ema"} <= {
        r["key"] for r in runs
    }
    checks = pp.check_against_runs(runs)
    compiled = [c for c in checks if "compiled" in c["key"]]
    assert compiled
    for c in compiled:  # leave-one-out predictions of step time and peak memory
        assert abs(c["step_predicted"] / c["step_measured"] - 1) < 0.15, c
    for c in checks:
        assert abs(c["peak_predicted"] / c["peak_measured"] - 1) < 0.15, c


def test_cli_prints_a_suggestion(capsys):
    assert pp.main([str(ROOT / "experiments" / "2b_nemo.py"), "--gpus", "8"]) == 0
    out = capsys.readouterr().out
    assert "84,480 tokens/sample" in out and "suggestion: model.config.fsdp_shard_size=" in out
    assert (
        pp.main(
            [str(ROOT / "experiments" / "2b_nemo.py"), "--gpus", "8", "--shard", "8", "--cp", "2"]
        )
        == 0
    )
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip().startswith("8   2")]
    assert len(lines) == 1
    with pytest.raises(SystemExit):
        pp.main(
            [str(ROOT / "experiments" / "2b_nemo.py"), "--gpus", "8", "--shard", "8", "--cp", "3"]
        )
