#!/usr/bin/env python
"""Score a run trained on the synthetic moving shapes: where the generated shapes are, and how much is left.

    python tools/eval_synthetic.py experiments/tiny_cpu.py     # that experiment's run
    python tools/eval_synthetic.py /tmp/imaginaire4-output/cosmos_train/cpu/tiny_cpu
    python tools/eval_synthetic.py JOB_DIR --checkpoint JOB_DIR/checkpoints/iter_000000300

For held-out clips (the run's validation set, else its training set with ``--data-seed``), the
model generates every frame after the conditioning frame from the clip's caption embedding and
first latent frame, with the EMA weights (``--regular`` for the others). Per clip and frame it
reports the colour-mass centroid error in pixels against the shape's true centre, the fraction of
the shape's colour mass kept and the video PSNR (definitions: ``cosmos_train.data.synthetic_metrics``),
and the same for the tokenizer's round trip of the ground truth (the best any model can do).
It writes ``eval_synthetic.json`` and ``contact_sheet.png`` (per clip: ground truth, then generated;
frames left to right) to ``--output-dir`` (default ``<job>/eval/<checkpoint name>``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import lazycfg  # noqa: E402
from lazycfg import ConfigError  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="tools/eval_synthetic.py", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "job_dir",
        help="job directory of a run trained on data_train=synthetic, or its experiment file "
        "(experiments/tiny_cpu.py: the job directory under $IMAGINAIRE_OUTPUT_ROOT)",
    )
    p.add_argument("--checkpoint", help="iter_* directory to evaluate (default: the job's latest)")
    p.add_argument("--num-clips", type=int, default=8, help="held-out clips to generate")
    p.add_argument("--steps", type=int, default=35, help="sampling steps")
    p.add_argument("--guidance", type=float, default=0.0, help="classifier-free guidance scale")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument(
        "--data-seed", type=int, help="dataset seed of the clips (default: the validation set's)"
    )
    p.add_argument(
        "--num-conditional-frames", type=int, default=1, help="latent frames given from the clip"
    )
    p.add_argument(
        "--regular", action="store_true", help="use the regular weights instead of the EMA weights"
    )
    p.add_argument(
        "--output-dir", help="where the JSON and PNG go (default: <job>/eval/<checkpoint>)"
    )
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    return p.parse_args(argv)


def _eval_loader(config: Any) -> tuple[str, Any]:
    """(config key, loader node) of the clips to evaluate: validation when the run validates."""
    if config.dataloader_val is not None and config.trainer.run_validation:
        return "dataloader_val", config.dataloader_val
    return "dataloader_train", config.dataloader_train


def check_synthetic(config: Any) -> None:
    """A clear error, before anything is built, when the run did not train on the synthetic set."""
    key, loader = _eval_loader(config)
    target = getattr(getattr(loader, "dataset", None), "_target_", None)
    name = getattr(target, "__qualname__", None) or str(target)
    if not name.endswith("SyntheticVideoDataset"):
        raise ConfigError(
            f"{key}.dataset is {name}: eval_synthetic scores runs trained on SyntheticVideoDataset "
            "(data_train=synthetic, as experiments/tiny_cpu.py)"
        )


def held_out_dataset(config: Any, data_seed: int | None) -> Any:
    """The run's validation dataset (else its training dataset) rebuilt, optionally with another seed."""
    check_synthetic(config)
    key, loader = _eval_loader(config)
    dataset = lazycfg.instantiate(loader.dataset)
    if data_seed is not None:
        dataset.seed = int(data_seed)
    elif key == "dataloader_train":
        raise ConfigError(
            "the run has no validation set: pass --data-seed N with clips it never trained on"
        )
    return dataset


def _stack(batches: list[dict[str, Any]]) -> dict[str, Any]:
    """One batch from one-sample batches (tensors concatenated; each sample its own noise index)."""
    import torch

    out: dict[str, Any] = {}
    for key, value in batches[0].items():
        out[key] = (
            torch.cat([b[key] for b in batches]) if isinstance(value, torch.Tensor) else value
        )
    out["sample_idx"] = torch.arange(len(batches))
    return out


def evaluate(
    model: Any,
    dataset: Any,
    *,
    num_clips: int,
    steps: int,
    guidance: float,
    seed: int,
    num_conditional_frames: int,
    ema: bool,
) -> dict[str, Any]:
    """Generates ``num_clips`` clips and scores them and the tokenizer's round trip of the truth."""
    import torch

    from cosmos_train.data.synthetic_metrics import clip_metrics
    from cosmos_train.inference import generate, make_batch

    if not 1 <= num_clips <= len(dataset):
        raise ConfigError(
            f"--num-clips must be in 1..{len(dataset)} (the held-out set's length), got {num_clips}"
        )
    items = [dataset[i] for i in range(num_clips)]
    truths = [dataset.ground_truth(i) for i in range(num_clips)]
    t, h, w = items[0]["video"].shape[1:]
    batch = _stack(
        [
            make_batch(
                text_embedding=it["t5_text_embeddings"],
                num_frames=t,
                height=h,
                width=w,
                video=it["video"],
                num_conditional_frames=num_conditional_frames,
                fps=float(it["fps"]),
            )
            for it in items
        ]
    )
    generated = generate(model, batch, num_steps=steps, guidance=guidance, seed=seed, ema=ema)
    tok = model.tokenizer
    with torch.no_grad():
        pixels = (
            batch["video"]
            .float()
            .div(127.5)
            .sub(1.0)
            .to(next(iter(tok.buffers()), batch["video"]).device)
        )
        roundtrip = (
            ((tok.decode(tok.encode(pixels)).float().clamp(-1, 1) + 1) * 127.5)
            .round()
            .to(torch.uint8)
            .cpu()
        )
    # Pixel frames copied from the conditioning latent frames: 1 for the first, then 4x per latent.
    first = (
        0
        if num_conditional_frames == 0
        else 1 + (num_conditional_frames - 1) * tok.temporal_compression_factor
    )
    clips = []
    for i, (item, truth) in enumerate(zip(items, truths)):
        clips.append(
            {
                "index": i,
                "caption": item["ai_caption"],
                "shape": truth["shape"],
                "generated": clip_metrics(
                    generated[i], item["video"], truth, first_generated=first
                ),
                "tokenizer_roundtrip": clip_metrics(
                    roundtrip[i], item["video"], truth, first_generated=first
                ),
            }
        )
    return {
        "first_generated_frame": first,
        "num_frames": t,
        "clips": clips,
        "summary": {
            key: summarize(clips, key, first) for key in ("generated", "tokenizer_roundtrip")
        },
        "videos": {"truth": [it["video"] for it in items], "generated": list(generated)},
    }


def summarize(clips: list[dict[str, Any]], key: str, first: int) -> dict[str, Any]:
    """Medians over clips and generated frames (the targets' form), plus per-frame and per-shape medians."""
    errors = [e for c in clips for e in c[key]["centroid_error_px"][first:]]
    last_kept = [c[key]["mass_kept"][-1] for c in clips]
    num_frames = len(clips[0][key]["centroid_error_px"])
    per_shape = {}
    for shape in sorted({c["shape"] for c in clips}):
        mine = [c for c in clips if c["shape"] == shape]
        per_shape[shape] = {
            "centroid_error_px_median": statistics.median(
                e for c in mine for e in c[key]["centroid_error_px"][first:]
            ),
            "mass_kept_last_median": statistics.median(c[key]["mass_kept"][-1] for c in mine),
        }
    return {
        "centroid_error_px_median": statistics.median(errors),
        "centroid_error_px_p90": sorted(errors)[int(0.9 * (len(errors) - 1))],
        "mass_kept_last_median": statistics.median(last_kept),
        "mass_kept_last_min": min(last_kept),
        "psnr_db_mean": statistics.fmean(c[key]["psnr_db"] for c in clips),
        "per_frame_centroid_error_px_median": [
            statistics.median(c[key]["centroid_error_px"][f] for c in clips)
            for f in range(num_frames)
        ],
        "per_frame_mass_kept_median": [
            statistics.median(c[key]["mass_kept"][f] for c in clips) for f in range(num_frames)
        ],
        "per_shape": per_shape,
    }


def format_report(result: dict[str, Any], source: str) -> str:
    """The console table: per-frame medians, per clip, and the summary lines."""
    first = result["first_generated_frame"]
    gen, ref = result["summary"]["generated"], result["summary"]["tokenizer_roundtrip"]
    lines = [
        f"eval_synthetic: {source}",
        f"frames {first}..{result['num_frames'] - 1} generated "
        f"(frame{'s 0..' + str(first - 1) if first > 1 else ' 0'} given)"
        if first
        else "all frames generated",
        "",
    ]
    lines.append("frame  centroid err px (median)  mass kept (median)")
    for f in range(first, result["num_frames"]):
        lines.append(
            f"{f:>5}  {gen['per_frame_centroid_error_px_median'][f]:>24.2f}  {gen['per_frame_mass_kept_median'][f]:>18.0%}"
        )
    lines.append("")
    lines.append(
        "clip  caption                        centroid err px (median)  mass kept (last)  PSNR dB"
    )
    for c in result["clips"]:
        m = c["generated"]
        err = statistics.median(m["centroid_error_px"][first:])
        lines.append(
            f"{c['index']:>4}  {c['caption']:<30} {err:>24.2f}  {m['mass_kept'][-1]:>16.0%}  {m['psnr_db']:>7.2f}"
        )
    lines.append("")
    for name, s in (("generated", gen), ("tokenizer round trip (ceiling)", ref)):
        shapes = ", ".join(
            f"{k} {v['centroid_error_px_median']:.2f} px / {v['mass_kept_last_median']:.0%}"
            for k, v in s["per_shape"].items()
        )
        lines.append(
            f"{name}: median centroid error {s['centroid_error_px_median']:.2f} px (p90 {s['centroid_error_px_p90']:.2f}), "
            f"mass kept at the last frame {s['mass_kept_last_median']:.0%} (min {s['mass_kept_last_min']:.0%}), "
            f"PSNR {s['psnr_db_mean']:.2f} dB; per shape: {shapes}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from cosmos_train.launch import run_cli

    return run_cli(lambda: _run(args))


def _run(args: argparse.Namespace) -> None:
    from cosmos_train.data.synthetic_metrics import contact_sheet
    from cosmos_train.inference import load_run
    from cosmos_train.utils.png import write_png

    job_dir = Path(args.job_dir)
    if job_dir.suffix == ".py":  # an experiment file: its run's job directory
        job_dir = Path(lazycfg.load(str(job_dir)).job.path_local)
    if not job_dir.is_dir():
        raise ConfigError(
            f"{job_dir} is not a directory: pass the job directory of a trained run, or the "
            "experiment file it was trained from (train it first: python tools/train.py EXPERIMENT.py)"
        )
    saved = job_dir / "config.yaml"
    if saved.is_file():  # check the data before building the model (a 2B net takes a while)
        check_synthetic(lazycfg.load(str(saved)))
    config, model = load_run(job_dir, checkpoint=args.checkpoint, device=args.device)
    dataset = held_out_dataset(config, args.data_seed)
    result = evaluate(
        model,
        dataset,
        num_clips=args.num_clips,
        steps=args.steps,
        guidance=args.guidance,
        seed=args.seed,
        num_conditional_frames=args.num_conditional_frames,
        ema=not args.regular,
    )
    videos = result.pop("videos")
    tag = Path(args.checkpoint).name if args.checkpoint else "latest"
    out_dir = Path(args.output_dir) if args.output_dir else job_dir / "eval" / tag
    out_dir.mkdir(parents=True, exist_ok=True)
    result["settings"] = {k: v for k, v in vars(args).items()}
    (out_dir / "eval_synthetic.json").write_text(json.dumps(result, indent=1))
    rows = [clip for pair in zip(videos["truth"], videos["generated"]) for clip in pair]
    write_png(out_dir / "contact_sheet.png", contact_sheet(rows))
    print(
        format_report(result, f"{job_dir} ({tag}, {'regular' if args.regular else 'EMA'} weights)")
    )
    print(
        f"\nwrote {out_dir / 'eval_synthetic.json'} and {out_dir / 'contact_sheet.png'} "
        "(per clip: ground truth row, then generated row)"
    )


if __name__ == "__main__":
    sys.exit(main())
