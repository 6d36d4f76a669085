"""H100 check for cosmos_train.nets: CUDA parity of the fixtures, then 2B/480p step time and MFU per AC mode.

Usage (GPU machine, from the repo root): `MODES=selective,selective_mlp M720=selective python tools/bench_dit_gpu.py`;
`SMOKE=1` runs a tiny CPU version. Results go to `$OUT/nets_bench.json` (runs of 2026-11-27 are in docs/gpu_runs/).
"""
import os, sys, time, json, glob
import torch
sys.path.insert(0, os.getcwd())
from cosmos_train.nets import MiniTrainDiT, presets, apply_activation_checkpointing
from cosmos_train.utils.flops import dit_train_flops_per_sample

T0 = time.time()
import torch._dynamo
torch._dynamo.config.cache_size_limit = 64
torch._dynamo.config.accumulated_cache_size_limit = 512
OUT = os.environ.get("OUT", "/tmp")
SMOKE = os.environ.get("SMOKE") == "1"
res = {"torch": torch.__version__, "device": "cpu" if SMOKE else torch.cuda.get_device_name()}
print(res, flush=True)
dev = torch.device("cpu" if SMOKE else "cuda")

# 1) parity on CUDA, fp32, TF32 off
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
for f in [] if SMOKE or os.environ.get("PARITY") == "0" else sorted(glob.glob("tests/cosmos_train/nets/golden/tiny_*.pt")):
    fx = torch.load(f, weights_only=True)
    net = MiniTrainDiT(**fx["kwargs"]).to(dev)
    net.load_state_dict(fx["state_dict"])
    inp = {k: v.to(dev) for k, v in fx["inputs"].items()}
    with torch.no_grad():
        out = net(**inp)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            ob = net(**inp)
    d = (out.cpu() - fx["output"]).abs().max().item()
    db = (ob.float().cpu() - fx["output"]).abs().max().item()
    res[os.path.basename(f)] = {"fp32_maxabs": d, "bf16_maxabs": db, "out_absmax": fx["output"].abs().max().item()}
    print(f, res[os.path.basename(f)], flush=True)
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True

# 2) 2B Predict2.5 at 480p: fp32 master weights, bf16 autocast, fused AdamW, clip
kw = presets.preset_kwargs("predict2_5_2B", **(dict(model_channels=64, num_blocks=2, num_heads=4, adaln_lora_dim=16, crossattn_proj_in_channels=96) if SMOKE else {}))
with torch.device("meta"):
    net = MiniTrainDiT(**kw)
net.to_empty(device=dev)
torch.manual_seed(0)
net.init_weights()
with torch.no_grad():
    for p in net.parameters():
        if p.abs().sum() == 0:
            p.normal_(std=0.01)
opt = torch.optim.AdamW(net.parameters(), lr=1e-5, fused=not SMOKE)
params = [p for p in net.parameters()]
ema = [p.detach().clone() for p in params]
T, H, W = (2, 8, 8) if SMOKE else (24, 60, 104)
flops = dit_train_flops_per_sample(kw, (T, H, W), text_len=512)
res["train_flops_480p"] = flops
g = torch.Generator(device=dev).manual_seed(0)
x = torch.randn(1, 16, T, H, W, device=dev, generator=g)
batch = dict(
    x_B_C_T_H_W=x, timesteps_B_T=torch.rand(1, T, device=dev) * 1000,
    crossattn_emb=torch.randn(1, 512, kw["crossattn_proj_in_channels"], device=dev, generator=g),
    condition_video_input_mask_B_C_T_H_W=torch.zeros(1, 1, T, H, W, device=dev),
    fps=torch.full((1,), 16.0, device=dev), padding_mask=torch.zeros(1, 1, 8 * H, 8 * W, device=dev))
target = torch.randn_like(x)

def step():
    with torch.autocast(dev.type, dtype=torch.bfloat16):
        out = net(**batch)
    loss = (out.float() - target).square().mean()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0, foreach=True)
    opt.step(); opt.zero_grad(set_to_none=True)
    with torch.no_grad():
        torch._foreach_lerp_(ema, params, 0.01)

def measure(name, warm=2, n=3):
    try:
        SMOKE or torch.cuda.reset_peak_memory_stats(); t = time.time()
        for _ in range(warm): step()
        SMOKE or torch.cuda.synchronize(); tw = time.time() - t; t = time.time()
        for _ in range(n): step()
        SMOKE or torch.cuda.synchronize(); dt = (time.time() - t) / n
        r = {"step_s": round(dt, 3), "tflops": round(flops / dt / 1e12, 1), "mfu": round(flops / dt / 989e12, 4),
             "peak_gib": 0 if SMOKE else round(torch.cuda.max_memory_allocated() / 2**30, 1), "warm_s": round(tw, 1)}
    except Exception as e:
        r = {"error": repr(e)[:400]}
        opt.zero_grad(set_to_none=True); torch.cuda.empty_cache()
    res[name] = r
    print(name, r, "elapsed", round(time.time() - T0), flush=True)

MODES = [m for m in os.environ.get("MODES", "selective,selective_down,selective_mlp").split(",") if m]
for b in net.blocks:
    b.compile(fullgraph=True)
net.final_layer.compile(fullgraph=True)
for m in MODES:
    if time.time() - T0 > float(os.environ.get("BUDGET", "230")):
        break
    apply_activation_checkpointing(net, m); measure(f"480p_{m}_compiled_ema", warm=3, n=3)
M720 = os.environ.get("M720", "")
if M720 and time.time() - T0 < float(os.environ.get("BUDGET", "230")):
    apply_activation_checkpointing(net, M720)
    T, H, W = (2, 8, 8) if SMOKE else (24, 88, 160)
    x = torch.randn(1, 16, T, H, W, device=dev)
    batch.update(x_B_C_T_H_W=x, timesteps_B_T=torch.rand(1, T, device=dev) * 1000,
                 condition_video_input_mask_B_C_T_H_W=torch.zeros(1, 1, T, H, W, device=dev),
                 padding_mask=torch.zeros(1, 1, 8 * H, 8 * W, device=dev))
    target = torch.randn_like(x)
    flops = dit_train_flops_per_sample(kw, (T, H, W), text_len=512)
    measure(f"720p_{M720}_compiled_ema", warm=1, n=1)
json.dump(res, open(os.path.join(OUT, "nets_bench.json"), "w"), indent=1)
print(json.dumps(res), flush=True)
