"""Video2World conditioning: text (with CFG dropout), fps, padding mask and conditioning frames.

Mirrors Cosmos's ``Video2WorldConditioner`` / ``Video2WorldCondition`` (trainer_spec §2.1 item 4-5)
with one deliberate difference: every random choice is drawn per sample from an explicit
generator, including the ``use_video_condition`` flag (one flag per *batch* in Cosmos), so the
draws do not depend on how a batch is split across ranks or micro-batches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import torch

__all__ = ["Video2WorldCondition", "Video2WorldConditioner", "draw_num_conditional_frames"]


@dataclasses.dataclass(frozen=True)
class Video2WorldCondition:
    """Everything the net is conditioned on for one batch.

    Attributes:
        crossattn_emb: text embeddings ``[B, L, D]`` (zeroed where text was dropped).
        fps: frames per second ``[B]`` or ``None``.
        padding_mask: ``[B, 1, H, W]`` pixel padding mask or ``None``.
        use_video_condition: ``[B]`` bool; where False, conditioning frames are fed as zeros.
        text_dropped: ``[B]`` bool, which samples had their text dropped.
        gt_frames: clean latents ``[B, C, T, H, W]`` used for the conditioning frames, or ``None``.
        condition_video_input_mask_B_C_T_H_W: ``[B, 1, T, H, W]``, 1 on conditioning frames.
        num_conditional_frames: ``[B]`` int64 number of conditioning latent frames.
    """

    crossattn_emb: torch.Tensor
    fps: torch.Tensor | None = None
    padding_mask: torch.Tensor | None = None
    use_video_condition: torch.Tensor | None = None
    text_dropped: torch.Tensor | None = None
    gt_frames: torch.Tensor | None = None
    condition_video_input_mask_B_C_T_H_W: torch.Tensor | None = None
    num_conditional_frames: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return int(self.crossattn_emb.shape[0])

    def replace(self, **changes: Any) -> Video2WorldCondition:
        """A copy with some fields changed (the dataclass is frozen)."""
        return dataclasses.replace(self, **changes)

    def net_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``net(x, timesteps, **kwargs)``."""
        return {
            "crossattn_emb": self.crossattn_emb,
            "condition_video_input_mask_B_C_T_H_W": self.condition_video_input_mask_B_C_T_H_W,
            "fps": self.fps,
            "padding_mask": self.padding_mask,
        }

    def frame_mask(self) -> torch.Tensor:
        """``[B, 1, T, 1, 1]`` float mask of the conditioning frames (requires
        ``set_video_condition``)."""
        if self.condition_video_input_mask_B_C_T_H_W is None:
            raise RuntimeError(
                "condition has no video condition yet; call "
                "Video2WorldConditioner.set_video_condition"
            )
        return self.condition_video_input_mask_B_C_T_H_W[:, :, :, :1, :1]


def draw_num_conditional_frames(
    g: torch.Generator,
    *,
    min_frames: int,
    max_frames: int,
    probs: Mapping[int, float] | None,
) -> int:
    """Number of conditioning latent frames: from ``probs`` if given, else uniform in ``[min,
    max]``."""
    u = float(torch.rand((), generator=g, dtype=torch.float64))
    if probs:
        keys = sorted(int(k) for k in probs)
        weights = [float(probs[k]) for k in keys]
        total = sum(weights)
        acc = 0.0
        for k, w in zip(keys, weights):
            acc += w / total
            if u < acc:
                return k
        return keys[-1]
    return min_frames + min(int(u * (max_frames - min_frames + 1)), max_frames - min_frames)


class Video2WorldConditioner:
    """Builds a :class:`Video2WorldCondition` from a batch.

    Args:
        text_key: batch key of the text embeddings ``[B, L, D]``.
        text_dropout_rate: probability that a sample's text embedding is zeroed (CFG training).
        use_video_condition_dropout_rate: probability that a sample's conditioning frames are fed
            as zeros (Cosmos ``use_video_condition`` flag; 0.0 in the 2.5 recipes).
        fps_key: batch key of the fps ``[B]`` (missing key: no fps).
        padding_mask_key: batch key of the padding mask ``[B, 1, H, W]`` (missing key: none).
    """

    def __init__(
        self,
        *,
        text_key: str = "t5_text_embeddings",
        text_dropout_rate: float = 0.2,
        use_video_condition_dropout_rate: float = 0.0,
        fps_key: str = "fps",
        padding_mask_key: str = "padding_mask",
    ) -> None:
        for name, rate in (
            ("text_dropout_rate", text_dropout_rate),
            ("use_video_condition_dropout_rate", use_video_condition_dropout_rate),
        ):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"conditioner.{name} must be in [0, 1], got {rate}")
        self.text_key = text_key
        self.text_dropout_rate = float(text_dropout_rate)
        self.use_video_condition_dropout_rate = float(use_video_condition_dropout_rate)
        self.fps_key = fps_key
        self.padding_mask_key = padding_mask_key

    def _text(self, batch: Mapping[str, Any], device: torch.device | str) -> torch.Tensor:
        if self.text_key not in batch:
            raise KeyError(
                f"batch has no {self.text_key!r} (keys: {sorted(batch)}); the dataset must provide "
                "text embeddings (LocalVideoDataset: set text_embeddings_subdir, files from "
                "tools/compute_text_embeddings.py) or set model.config.conditioner.text_key to its "
                "key"
            )
        emb = batch[self.text_key]
        if not isinstance(emb, torch.Tensor) or emb.ndim != 3:
            raise ValueError(
                f"batch[{self.text_key!r}] must be a [B, L, D] tensor, got "
                f"{getattr(emb, 'shape', type(emb))}"
            )
        return emb.to(device=device, dtype=torch.float32)

    def __call__(
        self,
        batch: Mapping[str, Any],
        generators: Sequence[torch.Generator] | None,
        *,
        device: torch.device | str = "cpu",
        dropout: bool = True,
    ) -> Video2WorldCondition:
        """Condition for ``batch``; with ``dropout`` each sample draws from ``generators[i]``.

        Draw order per sample: text-dropout uniform, then video-condition uniform.
        """
        emb = self._text(batch, device)
        b = emb.shape[0]
        text_dropped = torch.zeros(b, dtype=torch.bool)
        use_video = torch.ones(b, dtype=torch.bool)
        if dropout:
            if generators is None or len(generators) != b:
                raise ValueError(
                    f"conditioner needs one generator per sample ({b}), got "
                    f"{None if generators is None else len(generators)}"
                )
            for i, g in enumerate(generators):
                u_text, u_video = torch.rand(2, generator=g, dtype=torch.float64).tolist()
                text_dropped[i] = u_text < self.text_dropout_rate
                use_video[i] = not (u_video < self.use_video_condition_dropout_rate)
        keep = (~text_dropped).to(device=device, dtype=emb.dtype).view(b, 1, 1)
        fps = batch.get(self.fps_key)
        if fps is not None:
            fps = torch.as_tensor(fps).to(device=device, dtype=torch.float32).reshape(b)
        padding_mask = batch.get(self.padding_mask_key)
        if padding_mask is not None:
            padding_mask = padding_mask.to(device=device, dtype=torch.float32)
        return Video2WorldCondition(
            crossattn_emb=emb * keep,
            fps=fps,
            padding_mask=padding_mask,
            use_video_condition=use_video.to(device),
            text_dropped=text_dropped.to(device),
        )

    def get_condition_uncondition(
        self, batch: Mapping[str, Any], *, device: torch.device | str = "cpu"
    ) -> tuple[Video2WorldCondition, Video2WorldCondition]:
        """CFG pair: the full condition and the unconditional one (video kept).

        The unconditional text is the negative-prompt embedding ``batch["neg_" + text_key]`` when
        the batch has one (Cosmos ``is_negative_prompt=True``, what inference uses), else zeros
        (Cosmos ``get_condition_uncondition``, what training-time samples use).
        """
        cond = self(batch, None, device=device, dropout=False)
        neg_key = "neg_" + self.text_key
        if neg_key in batch:
            negative = self._text({self.text_key: batch[neg_key]}, device)
            if (
                negative.shape[0] != cond.batch_size
                or negative.shape[-1] != cond.crossattn_emb.shape[-1]
            ):
                raise ValueError(
                    f"batch[{neg_key!r}] has shape {tuple(negative.shape)}; it must be [B, L, D] "
                    f"with the batch size and text width of batch[{self.text_key!r}] "
                    f"{tuple(cond.crossattn_emb.shape)}"
                )
            uncond_emb = negative
        else:
            uncond_emb = torch.zeros_like(cond.crossattn_emb)
        uncond = cond.replace(
            crossattn_emb=uncond_emb, text_dropped=torch.ones_like(cond.text_dropped)
        )
        return cond, uncond

    @staticmethod
    def set_video_condition(
        condition: Video2WorldCondition,
        *,
        gt_frames: torch.Tensor,
        num_conditional_frames: torch.Tensor | Sequence[int] | int | None = None,
        generators: Sequence[torch.Generator] | None = None,
        min_frames: int = 1,
        max_frames: int = 2,
        probs: Mapping[int, float] | None = None,
    ) -> Video2WorldCondition:
        """Adds the conditioning frames: the first ``n_i`` latent frames of sample ``i`` are given.

        ``n_i`` comes from ``num_conditional_frames`` if set, else from ``generators[i]`` via
        :func:`draw_num_conditional_frames`. Single-frame latents (images) get 0; otherwise ``n_i``
        is capped at ``T - 1`` so every sample keeps at least one frame to learn.
        """
        b, _, t, h, w = gt_frames.shape
        if num_conditional_frames is None:
            if generators is None or len(generators) != b:
                raise ValueError(
                    "set_video_condition needs num_conditional_frames or one generator per sample"
                )
            counts = [
                draw_num_conditional_frames(
                    g, min_frames=min_frames, max_frames=max_frames, probs=probs
                )
                for g in generators
            ]
        elif isinstance(num_conditional_frames, int):
            counts = [num_conditional_frames] * b
        else:
            counts = [int(n) for n in torch.as_tensor(num_conditional_frames).reshape(-1).tolist()]
            if len(counts) == 1:
                counts = counts * b
        if len(counts) != b:
            raise ValueError(f"num_conditional_frames has {len(counts)} entries for a batch of {b}")
        cap = 0 if t == 1 else t - 1
        n = torch.tensor([max(0, min(c, cap)) for c in counts], dtype=torch.long)
        frame_idx = torch.arange(t).view(1, t)
        mask_bt = (frame_idx < n.view(b, 1)).to(gt_frames.dtype)
        mask = mask_bt.view(b, 1, t, 1, 1).expand(b, 1, t, h, w).contiguous().to(gt_frames.device)
        return condition.replace(
            gt_frames=gt_frames,
            condition_video_input_mask_B_C_T_H_W=mask,
            num_conditional_frames=n.to(gt_frames.device),
        )
