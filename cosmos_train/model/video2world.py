"""Video2World diffusion models: rectified flow (Predict2.5) and EDM (the older objective).

Both models implement :class:`~cosmos_train.model.base.TrainModel`:

- the batch video (uint8 ``[B,3,T,H,W]``, or ``images`` ``[B,3,H,W]``) is normalised to ``[-1,1]``
  and encoded by the frozen tokenizer (EDM scales latents by ``sigma_data``); a batch with
  ``latents`` (a latent cache) skips the encoder, and with ``lazy_tokenizer=True`` the tokenizer is
  only built when first needed (sample videos), so a cached run never loads it otherwise;
- the conditioner gives text (with CFG dropout), fps and padding mask; the first ``n`` latent
  frames of each sample are conditioning frames (replaced by the clean latents in the net input,
  and excluded from the loss via ``denoise_replace_gt_frames``);
- every random draw comes from generators seeded by ``(seed, iteration, sample_idx)``, so DDP,
  gradient accumulation and one big batch see the same draws;
- ``net_ema`` is an fp32, frozen copy updated with the power EMA in ``on_before_zero_grad``;
  ``state_dict()`` holds ``net.*`` and ``net_ema.*`` only (the tokenizer is not registered).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from cosmos_train.data._items import LATENTS_KEY
from cosmos_train.model.base import Batch, NetBuilder, TrainModel, default_net_builder
from cosmos_train.model.conditioner import Video2WorldCondition, Video2WorldConditioner
from cosmos_train.model.config import Video2WorldConfig, Video2WorldRectifiedFlowConfig
from cosmos_train.model.noise import (
    EDMNoise,
    EDMScaling,
    RectifiedFlowNoise,
    RectifiedFlowScaling,
    karras_sigmas,
    per_sample_randn,
    sample_generators,
)
from cosmos_train.model.sampler import (
    SamplerSettings,
    cfg_combine,
    cosmos_noise,
    default_solver,
    edm_euler_sample,
    sample_flow,
)
from cosmos_train.optim.ema import PowerEMA
from cosmos_train.text_encoders.base import build_text_encoder
from cosmos_train.utils.dtypes import parse_dtype

__all__ = ["Video2WorldModel", "Video2WorldModelRectifiedFlow", "build_component"]

log = logging.getLogger(__name__)

# Independent random streams per sample (see sample_generators).
_STREAM_COND, _STREAM_TIME, _STREAM_NOISE, _STREAM_SAMPLE = 1, 2, 3, 4
# Validation draws depend on the sample index only.
_VALIDATION_SEED, _VALIDATION_ITER = 0x5EED, -1
NUM_CONDITIONAL_FRAMES_KEY = "num_conditional_frames"


def build_component(spec: Any, what: str) -> Any:
    """Builds a config entry: a lazycfg node (``instantiate``), a zero-arg factory, or an instance.

    Args:
        spec: the config value (``model.config.net`` and friends).
        what: its config path, for error messages.
    """
    if spec is None:
        raise ValueError(
            f"{what} is not set; select an option for it (e.g. net=tiny) or assign a LazyCall node"
        )
    if hasattr(spec, "_target_"):
        # Imported lazily: lazycfg must not be needed to import models.
        from cosmos_train.utils.build import instantiate_at

        return instantiate_at(spec, what)
    if isinstance(spec, (nn.Module, Video2WorldConditioner)):
        return spec
    if callable(spec):
        return spec()
    raise TypeError(
        f"{what} must be a LazyCall node or a zero-argument factory, got {type(spec).__name__}"
    )


class _Video2WorldBase(TrainModel):
    """Shared data path, conditioning, EMA and sampling plumbing of both objectives."""

    config_cls: type = Video2WorldConfig

    def __init__(
        self,
        config: Video2WorldConfig | Video2WorldRectifiedFlowConfig,
        *,
        device: torch.device | str = "cpu",
        net_builder: NetBuilder | None = None,
        seed: int = 0,
        base_checkpoint: str | None = None,
        lazy_tokenizer: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(config, self.config_cls):
            raise TypeError(
                f"{type(self).__name__} needs a {self.config_cls.__name__}, got "
                f"{type(config).__name__}; select the matching model option "
                "(model=fsdp_rectified_flow for rectified flow)"
            )
        self.config = config
        self.device = torch.device(device)
        self.seed = int(seed)
        self.precision = parse_dtype(config.precision, "model.config.precision")

        # Not registered as a submodule: the frozen tokenizer stays out of state_dict, parameters
        # and FSDP.
        object.__setattr__(self, "_tokenizer", None)
        if not lazy_tokenizer:
            self._build_tokenizer()
        # Frozen and unregistered like the tokenizer: no grads, no optimizer, EMA or checkpoint
        # entries.
        object.__setattr__(
            self, "text_encoder", build_text_encoder(config.text_encoder, device=self.device)
        )
        self._warned_text_override = False
        self.conditioner = (
            Video2WorldConditioner()
            if config.conditioner is None
            else build_component(config.conditioner, "model.config.conditioner")
        )
        if isinstance(self.conditioner, nn.Module) and any(
            p.requires_grad for p in self.conditioner.parameters()
        ):
            raise ValueError("the conditioner must not have trainable parameters")

        if isinstance(config.net, nn.Module):
            raise TypeError(
                "model.config.net must be a LazyCall node or a zero-argument factory, not a built "
                "module: the model builds both net and net_ema from it (e.g. L(MiniTrainDiT)(...) "
                "or nets.presets.tiny)"
            )
        builder = net_builder if net_builder is not None else default_net_builder(self.device)
        make_net: Callable[[], nn.Module] = lambda: build_component(config.net, "model.config.net")  # noqa: E731
        if (
            config.use_lora
        ):  # build -> load base -> inject -> freeze (cosmos_train.model.lora), then shard
            from cosmos_train.model.lora import LoraSetup

            self.lora = LoraSetup.from_config(config, base_checkpoint)
            self.net = builder(make_net, role="net", prepare=self.lora.prepare)
        else:
            self.net = builder(make_net, role="net")
        for name in ("in_channels", "out_channels"):
            channels = getattr(self.net, name, config.state_ch)
            if channels != config.state_ch:
                raise ValueError(
                    f"model.config.net.{name}={channels} but "
                    f"model.config.state_ch={config.state_ch} (the tokenizer's latent channels); "
                    f"set model.config.net.{name}={config.state_ch}"
                )
        ema = (
            PowerEMA(s=config.ema.rate, iteration_shift=config.ema.iteration_shift)
            if config.ema.enabled
            else None
        )
        if self.lora is not None and ema is not None:
            from cosmos_train.model.lora import build_adapter_ema

            self.ema, self.net_ema = ema, build_adapter_ema(self.net)  # adapters only, not the base
        else:
            self._build_ema(builder, make_net, ema)
        self._warned_no_sample_idx = False

    def _build_tokenizer(self) -> Any:
        config = self.config
        tokenizer = build_component(config.tokenizer, "model.config.tokenizer")
        if getattr(tokenizer, "latent_ch", config.state_ch) != config.state_ch:
            raise ValueError(
                f"tokenizer latent_ch={tokenizer.latent_ch} but "
                f"model.config.state_ch={config.state_ch}; make them equal"
            )
        object.__setattr__(self, "_tokenizer", tokenizer.to(self.device))
        return self._tokenizer

    @property
    def tokenizer(self) -> Any:
        """The frozen tokenizer, built on first use when the model was made with
        ``lazy_tokenizer``."""
        return self._tokenizer if self._tokenizer is not None else self._build_tokenizer()

    @property
    def tokenizer_built(self) -> bool:
        """Whether the tokenizer exists (a cached run without samples never builds it)."""
        return self._tokenizer is not None

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        """Loads ``net.*`` / ``net_ema.*``; Transformer Engine ``*._extra_state`` entries in Cosmos
        checkpoints are dropped when this model has no such key."""
        own = set(super().state_dict().keys())
        kept = {
            k: v
            for k, v in state_dict.items()
            if not (k.endswith("._extra_state") and k not in own)
        }
        return super().load_state_dict(kept, strict=strict, assign=assign)

    # EMA hooks (on_train_start, on_before_zero_grad, ema_scope) come from TrainModel.

    # ------------------------------------------------------------------ data
    def _sample_idx(self, batch: Batch, b: int) -> list[int]:
        idx = batch.get("sample_idx")
        if idx is None:
            if not self._warned_no_sample_idx:
                log.warning(
                    "batch has no 'sample_idx'; drawing noise by position in the batch (not "
                    "split-invariant)"
                )
                self._warned_no_sample_idx = True
            return list(range(b))
        idx = torch.as_tensor(idx).reshape(-1).tolist()
        if len(idx) != b:
            raise ValueError(f"batch['sample_idx'] has {len(idx)} entries for a batch of {b}")
        return [int(i) for i in idx]

    def _pixels(self, batch: Batch) -> tuple[torch.Tensor, bool]:
        """Video in ``[-1, 1]`` as ``[B, 3, T, H, W]`` float32 and whether it is a video batch."""
        vkey, ikey = self.config.input_data_key, self.config.input_image_key
        has_v, has_i = vkey in batch, ikey in batch
        if has_v == has_i:
            raise KeyError(
                f"batch must hold exactly one of {vkey!r} (video, model.config.input_data_key) or "
                f"{ikey!r} (images, model.config.input_image_key); it has keys {sorted(batch)}. "
                "Set those config keys to the dataset's key"
            )
        x = batch[vkey] if has_v else batch[ikey]
        if not has_v:
            if x.ndim != 4:
                raise ValueError(f"batch[{ikey!r}] must be [B, 3, H, W], got {tuple(x.shape)}")
            x = x.unsqueeze(2)
        if x.ndim != 5:
            raise ValueError(f"batch[{vkey!r}] must be [B, 3, T, H, W], got {tuple(x.shape)}")
        if x.dtype == torch.uint8:
            x = x.float() / 127.5 - 1.0
        elif x.is_floating_point():
            x = x.float()
        else:
            raise TypeError(f"video must be uint8 in [0, 255] or float in [-1, 1], got {x.dtype}")
        return x, has_v

    def _encode(
        self, pixels: torch.Tensor, is_video: bool, *, any_length: bool = False
    ) -> torch.Tensor:
        """Clean latents of ``pixels``; training clips must have ``state_t`` latent frames
        (sampling,
        with ``any_length``, takes any length the tokenizer codes)."""
        latent = self.tokenizer.encode(pixels.to(self._tokenizer_device())).to(
            device=self.device, dtype=torch.float32
        )
        if is_video and not any_length and latent.shape[2] != self.config.state_t:
            t_px = self.tokenizer.get_pixel_num_frames(self.config.state_t)
            raise ValueError(
                f"the batch video has {pixels.shape[2]} frames = {latent.shape[2]} latent frames, "
                f"but model.config.state_t={self.config.state_t} expects {t_px} frames; set "
                f"model.config.state_t={latent.shape[2]} or the dataset's num_frames={t_px}"
            )
        ps, pt = getattr(self.net, "patch_spatial", 1), getattr(self.net, "patch_temporal", 1)
        if latent.shape[-2] % ps or latent.shape[-1] % ps or latent.shape[2] % pt:
            s = self.tokenizer.spatial_compression_factor
            raise ValueError(
                f"the batch video is {pixels.shape[-2]}x{pixels.shape[-1]} pixels = "
                f"{latent.shape[-2]}x{latent.shape[-1]} latent cells ({latent.shape[2]} frames), "
                f"not a multiple of the net's patch (spatial={ps}, temporal={pt}); use a height "
                f"and width that are multiples of {s * ps} (the dataset's height/width or "
                "video_size)"
            )
        return latent

    def _cached_latents(self, batch: Batch) -> torch.Tensor:
        """``batch["latents"]`` (a latent cache) checked against the model's latent shape."""
        latent = batch[LATENTS_KEY]
        cfg = self.config
        if latent.ndim != 5 or latent.shape[1] != cfg.state_ch:
            raise ValueError(
                f"batch[{LATENTS_KEY!r}] must be [B, {cfg.state_ch}, T, H, W] "
                f"(model.config.state_ch), got {tuple(latent.shape)}; rebuild the cache with this "
                "experiment's tokenizer"
            )
        if latent.shape[2] > 1 and latent.shape[2] != cfg.state_t:
            raise ValueError(
                f"the cached latents have {latent.shape[2]} frames but "
                f"model.config.state_t={cfg.state_t}; rebuild the cache with this run's num_frames "
                "or set model.config.state_t"
            )
        return latent.to(device=self.device, dtype=torch.float32)

    def _clean_latents(
        self, batch: Batch, *, any_length: bool = False
    ) -> tuple[torch.Tensor, bool]:
        """``(x0 before scaling, is_video)`` from cached latents or by encoding the batch's pixels
        (``any_length``: see :meth:`_encode`)."""
        if LATENTS_KEY in batch:
            latent = self._cached_latents(batch)
            return latent, latent.shape[2] > 1
        pixels, is_video = self._pixels(batch)
        return self._encode(pixels, is_video, any_length=any_length), is_video

    def _with_text_embeddings(self, batch: Batch) -> Batch:
        """``batch`` plus the online text encoder's embeddings of its captions (when one is set).

        ``neg_<caption key>`` (the negative prompt's text) becomes ``neg_<text key>`` the same way.
        """
        if self.text_encoder is None:
            return batch
        key, caption_key = self.conditioner.text_key, self.config.input_caption_key
        if caption_key not in batch and key in batch:
            # Embeddings without captions: already encoded (tools/generate.py encodes once).
            return batch
        if caption_key not in batch:
            raise KeyError(
                f"model.config.text_encoder computes embeddings online from batch[{caption_key!r}] "
                f"(model.config.input_caption_key), but the batch has keys {sorted(batch)}"
            )
        if key in batch and not self._warned_text_override:
            log.warning(
                "the batch carries %r but model.config.text_encoder is set: using the online "
                "embeddings (select text_encoder=precomputed to use the dataset's)",
                key,
            )
            self._warned_text_override = True
        out = {**batch, key: self.text_encoder.encode(self._captions(batch[caption_key]))}
        neg_caption = batch.get("neg_" + caption_key)  # the negative prompt's text (sampling)
        if neg_caption is not None and "neg_" + key not in batch:
            out["neg_" + key] = self.text_encoder.encode(self._captions(neg_caption))
        return out

    @staticmethod
    def _captions(value: Any) -> list[str]:
        return [value] if isinstance(value, str) else [str(c) for c in value]

    def _expected_text_dim(self) -> tuple[int, str] | None:
        """The text width the net takes and its config path (None when the net does not say)."""
        if getattr(self.net, "use_crossattn_projection", False):
            return int(
                self.net.crossattn_proj_in_channels
            ), "model.config.net.crossattn_proj_in_channels"
        dim = getattr(self.net, "crossattn_emb_channels", None)
        return (int(dim), "model.config.net.crossattn_emb_channels") if dim is not None else None

    def _check_text_dim(self, condition: Video2WorldCondition) -> None:
        """Catches a dataset/net text-width mismatch here, where both config keys can be named."""
        expected = self._expected_text_dim()
        got = int(condition.crossattn_emb.shape[-1])
        if expected is not None and got != expected[0]:
            want, path = expected
            raise ValueError(
                f"batch[{self.conditioner.text_key!r}] has text width {got} but the net takes "
                f"{want} ({path}); make the dataset's text_dim and {path} equal (T5-XXL: 1024; the "
                "Reason1 embeddings of the predict2_5 nets: 100352 with use_crossattn_projection)"
            )

    def _latent_scale(self) -> float:
        """Factor applied to tokenizer latents (EDM: ``sigma_data``)."""
        return 1.0

    def _prepare(
        self, batch: Batch, seed: int, iteration: int, *, dropout: bool
    ) -> tuple[torch.Tensor, Video2WorldCondition, list[int], bool]:
        x0, is_video = self._clean_latents(batch)
        idx = self._sample_idx(batch, x0.shape[0])
        x0 = x0 * self._latent_scale()
        batch = self._with_text_embeddings(batch)
        gens = sample_generators(seed, iteration, idx, _STREAM_COND)
        condition = self.conditioner(batch, gens, device=self.device, dropout=dropout)
        self._check_text_dim(condition)
        cfg = self.config
        condition = self.conditioner.set_video_condition(
            condition,
            gt_frames=x0,
            num_conditional_frames=batch.get(NUM_CONDITIONAL_FRAMES_KEY),
            generators=gens,
            min_frames=cfg.min_num_conditional_frames,
            max_frames=cfg.max_num_conditional_frames,
            probs=cfg.conditional_frames_probs,
        )
        return x0, condition, idx, is_video

    def _noise(
        self, x0: torch.Tensor, seed: int, iteration: int, idx: list[int], stream: int
    ) -> torch.Tensor:
        gens = sample_generators(seed, iteration, idx, stream, device=x0.device)
        return per_sample_randn(x0.shape[1:], gens, x0.device)

    # ------------------------------------------------------------------ net
    def _net_forward(
        self, x: torch.Tensor, timesteps_B_T: torch.Tensor, condition: Video2WorldCondition
    ) -> torch.Tensor:
        """The net under autocast to ``config.precision``; output in fp32."""
        autocast = self.precision != torch.float32
        with torch.autocast(device_type=self.device.type, dtype=self.precision, enabled=autocast):
            out = self.net(x, timesteps_B_T.float(), **condition.net_kwargs())
        return out.float()

    @staticmethod
    def _gt_input(condition: Video2WorldCondition) -> torch.Tensor:
        """Ground-truth frames for the net input, zeroed where ``use_video_condition`` is off."""
        gt = condition.gt_frames
        use = condition.use_video_condition.to(gt.dtype).view(-1, 1, 1, 1, 1)
        return gt * use

    # ------------------------------------------------------------------ steps
    def _objective(
        self,
        x0: torch.Tensor,
        eps: torch.Tensor,
        condition: Video2WorldCondition,
        time_gens: list,
        is_video: bool,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def _step(
        self, batch: Batch, seed: int, iteration: int, *, dropout: bool
    ) -> tuple[dict[str, Any], torch.Tensor]:
        x0, condition, idx, is_video = self._prepare(batch, seed, iteration, dropout=dropout)
        eps = self._noise(x0, seed, iteration, idx, _STREAM_NOISE)
        time_gens = sample_generators(seed, iteration, idx, _STREAM_TIME)
        per_sample, extra = self._objective(x0, eps, condition, time_gens, is_video)
        outputs = {
            "loss_per_sample": per_sample.detach(),
            "num_conditional_frames": condition.num_conditional_frames,
            "text_dropped": condition.text_dropped,
            **{k: v.detach() for k, v in extra.items()},
        }
        return outputs, per_sample.mean()

    def training_step(self, batch: Batch, iteration: int) -> tuple[dict[str, Any], torch.Tensor]:
        """Loss of one micro-batch with draws seeded by ``(seed, iteration, sample_idx)``."""
        return self._step(batch, self.seed, iteration, dropout=True)

    @torch.no_grad()
    def validation_step(self, batch: Batch, iteration: int) -> tuple[dict[str, Any], torch.Tensor]:
        """Deterministic loss: time, noise and conditioning frames depend on ``sample_idx`` only; no
        text dropout."""
        return self._step(batch, _VALIDATION_SEED, _VALIDATION_ITER, dropout=False)

    # ------------------------------------------------------------------ sampling
    def _guided(
        self,
        fn: Callable[[torch.Tensor, torch.Tensor, Video2WorldCondition], torch.Tensor],
        cond: Video2WorldCondition,
        uncond: Video2WorldCondition,
        guidance: float,
    ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        def guided(x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
            out_c = fn(x, level, cond)
            out_u = fn(x, level, uncond) if guidance != 0.0 else None
            return cfg_combine(out_c, out_u, guidance)

        return guided

    def _sample_latents(
        self,
        noise: torch.Tensor,
        cond: Video2WorldCondition,
        uncond: Video2WorldCondition,
        settings: SamplerSettings,
    ) -> torch.Tensor:
        raise NotImplementedError

    def sampler_settings(self, **overrides: Any) -> SamplerSettings:
        """Cosmos's inference defaults for this model, with ``overrides`` applied.

        UniPC (Euler, with a warning, when diffusers is not installed), 35 steps, shift 5,
        guidance 7, seed 1; the rectified-flow model adds its config's Karras switch
        (``use_kerras_sigma_at_inference``) and ``conditional_frame_timestep``, as Cosmos does.
        """
        values: dict[str, Any] = {"solver": default_solver()}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return SamplerSettings(**values)

    @torch.no_grad()
    def sample_latents(
        self, batch: Batch, gt_latents: torch.Tensor, settings: SamplerSettings
    ) -> torch.Tensor:
        """The sampler's final latents for ``batch`` (text, negative prompt, fps, padding mask).

        Args:
            batch: conditioning batch; ``neg_<text_key>`` is the negative prompt's embedding
                (zeros without it); ``num_conditional_frames`` latent frames of ``gt_latents``
                condition the sample (default 1 for videos, 0 for images).
            gt_latents: ``[B, C, T, H, W]`` clean latents (tokenizer output, scaled).
            settings: solver, schedule, guidance, seed.
        """
        batch = self._with_text_embeddings(batch)
        cond, uncond = self.conditioner.get_condition_uncondition(batch, device=self.device)
        self._check_text_dim(cond)
        n = batch.get(NUM_CONDITIONAL_FRAMES_KEY, 1 if gt_latents.shape[2] > 1 else 0)
        cond = self.conditioner.set_video_condition(
            cond, gt_frames=gt_latents, num_conditional_frames=n
        )
        uncond = self.conditioner.set_video_condition(
            uncond, gt_frames=gt_latents, num_conditional_frames=n
        )
        noise = cosmos_noise(tuple(gt_latents.shape), settings.seed, self.device)
        return self._sample_latents(noise, cond, uncond, settings)

    @torch.no_grad()
    def generate_samples(
        self,
        batch: Batch,
        *,
        num_steps: int = 35,
        guidance: float = 0.0,
        seed: int = 0,
        sampler: SamplerSettings | None = None,
    ) -> torch.Tensor:
        """Samples conditioned like ``batch`` (see :meth:`sample_latents`); uint8 ``[B, 3, T, H,
        W]`` on the CPU.

        ``sampler`` gives every setting; without it, :meth:`sampler_settings` with ``num_steps``,
        ``guidance`` and ``seed``.
        """
        settings = sampler or self.sampler_settings(
            num_steps=num_steps, guidance=guidance, seed=seed
        )
        x0, _ = self._clean_latents(batch, any_length=True)
        x0 = x0 * self._latent_scale()
        latents = self.sample_latents(batch, x0, settings)
        video = self.tokenizer.decode((latents / self._latent_scale()).to(self._tokenizer_device()))
        return ((video.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).cpu()

    def _tokenizer_device(self) -> torch.device:
        for t in list(self.tokenizer.buffers()) + list(self.tokenizer.parameters()):
            return t.device
        return self.device

    # ------------------------------------------------------------------ throughput
    def _latent_thw(self, batch: Batch) -> tuple[int, int, int]:
        if LATENTS_KEY in batch:
            t, h, w = batch[LATENTS_KEY].shape[-3:]
            return int(t), int(h), int(w)
        pixels_key = (
            self.config.input_data_key
            if self.config.input_data_key in batch
            else self.config.input_image_key
        )
        shape = batch[pixels_key].shape
        t = shape[2] if len(shape) == 5 else 1
        s = self.tokenizer.spatial_compression_factor
        return self.tokenizer.get_latent_num_frames(t), shape[-2] // s, shape[-1] // s

    def _text_len(self, batch: Batch) -> int:
        emb = batch.get(self.conditioner.text_key)
        if emb is not None:
            return int(emb.shape[1])
        return int(self.text_encoder.max_length) if self.text_encoder is not None else 512

    def tokens_per_sample(self, batch: Batch) -> int:
        """Net tokens per sample: latent frames and cells divided by the patch sizes."""
        t, h, w = self._latent_thw(batch)
        pt = getattr(self.net, "patch_temporal", 1)
        ps = getattr(self.net, "patch_spatial", 1)
        return (t // pt) * (h // ps) * (w // ps)

    def flops_per_sample(self, batch: Batch) -> float:
        """Training FLOPs (3x forward, attention included; trainer_spec §2.5) for one sample."""
        latent_thw, text_len = self._latent_thw(batch), self._text_len(batch)
        try:
            from cosmos_train.utils.flops import dit_train_flops_per_sample
        except ImportError:
            return _fallback_train_flops(self.net, self.tokens_per_sample(batch), text_len)
        return float(dit_train_flops_per_sample(self.net, latent_thw, text_len=text_len))


def _fallback_train_flops(net: nn.Module, tokens: int, text_len: int) -> float:
    """3x forward FLOPs from the net's attributes: block matmuls (14 D^2) plus attention."""
    d = getattr(net, "model_channels", None)
    blocks = getattr(net, "num_blocks", None)
    if d is None or blocks is None:
        return 0.0
    per_token = 2 * blocks * 14 * d * d + 4 * blocks * tokens * d + 4 * blocks * text_len * d
    return 3.0 * per_token * tokens


class Video2WorldModelRectifiedFlow(_Video2WorldBase):
    """Predict2.5's rectified-flow Video2World model (trainer_spec §2.2).

    Args:
        config: the model config (``model.config``).
        device: where the net, tokenizer and batches live.
        net_builder: materialises nets (meta init, AC, compile, FSDP); default builds on ``device``.
        seed: base seed of the per-sample draws.
        base_checkpoint: with ``config.use_lora``, the base weights loaded before the adapters are
            injected (``checkpoint.load_path``: a consolidated ``.pt`` or a DCP checkpoint).
        lazy_tokenizer: build the tokenizer on first use (runs from a latent cache).
    """

    config_cls = Video2WorldRectifiedFlowConfig

    def __init__(
        self,
        config: Video2WorldRectifiedFlowConfig,
        *,
        device: torch.device | str = "cpu",
        net_builder: NetBuilder | None = None,
        seed: int = 0,
        base_checkpoint: str | None = None,
        lazy_tokenizer: bool = False,
    ) -> None:
        super().__init__(
            config,
            device=device,
            net_builder=net_builder,
            seed=seed,
            base_checkpoint=base_checkpoint,
            lazy_tokenizer=lazy_tokenizer,
        )
        self.noise = RectifiedFlowNoise(
            shift=config.shift,
            num_train_timesteps=config.num_train_timesteps,
            train_time_distribution=config.train_time_distribution,
            train_time_weight=config.train_time_weight,
            use_high_sigma_strategy=config.use_high_sigma_strategy,
            high_sigma_ratio=config.high_sigma_ratio,
            high_sigma_timesteps_min=config.high_sigma_timesteps_min,
            high_sigma_timesteps_max=config.high_sigma_timesteps_max,
        )

    def velocity(
        self,
        noise: torch.Tensor,
        xt: torch.Tensor,
        timestep_B: torch.Tensor,
        condition: Video2WorldCondition,
    ) -> torch.Tensor:
        """Velocity prediction with frame replacement on input and (optionally) output.

        Args:
            noise: the ``eps`` of this trajectory (conditioning frames' velocity is ``eps - gt``).
            xt: noisy latents ``[B, C, T, H, W]``.
            timestep_B: ``1000 * sigma`` per sample ``[B]``.
            condition: with video condition set.
        """
        mask = condition.frame_mask()
        xt = self._gt_input(condition) * mask + xt * (1.0 - mask)
        b, t = xt.shape[0], xt.shape[2]
        timesteps = timestep_B.to(xt.device, torch.float32).view(b, 1)
        if self.config.conditional_frame_timestep >= 0:
            mask_bt = mask.view(b, t) > 0
            timesteps = torch.where(
                mask_bt,
                torch.full_like(
                    mask_bt, self.config.conditional_frame_timestep, dtype=torch.float32
                ),
                timesteps.expand(b, t),
            )
        v = self._net_forward(xt, timesteps, condition)
        if self.config.denoise_replace_gt_frames:
            v = (noise - condition.gt_frames) * mask + v * (1.0 - mask)
        return v

    def _objective(self, x0, eps, condition, time_gens, is_video):
        sigma, timestep = self.noise.sample(time_gens)
        sigma, timestep = sigma.to(x0.device), timestep.to(x0.device)
        xt = self.noise.interpolate(x0, eps, sigma)
        target = self.noise.velocity_target(x0, eps)
        v = self.velocity(eps, xt, timestep, condition)
        per_sample = (v - target).square().mean(dim=(1, 2, 3, 4)) * self.noise.weight(sigma)
        return per_sample, {"sigma": sigma, "timestep": timestep}

    def sampler_settings(self, **overrides: Any) -> SamplerSettings:
        cfg = self.config
        defaults = {
            "karras": cfg.use_kerras_sigma_at_inference,
            "conditional_frame_timestep": cfg.conditional_frame_timestep,
        }
        return super().sampler_settings(
            **{**defaults, **{k: v for k, v in overrides.items() if v is not None}}
        )

    def _sample_latents(self, noise, cond, uncond, settings):
        """Cosmos's loop (:func:`~cosmos_train.model.sampler.sample_flow`) on the net; returns
        ``x_N``
        unchanged on the conditioning frames too, as Cosmos decodes it."""

        def net_fn(
            x_in: torch.Tensor, timesteps_B_T: torch.Tensor, condition: Video2WorldCondition
        ) -> torch.Tensor:
            return self._net_forward(x_in, timesteps_B_T, condition)

        return sample_flow(
            net_fn,
            noise,
            settings,
            cond=cond,
            uncond=uncond,
            gt=self._gt_input(cond),
            mask=cond.frame_mask(),
        )


class Video2WorldModel(_Video2WorldBase):
    """The EDM Video2World model (trainer_spec §2.3): x0 prediction with EDM preconditioning.

    Args:
        config: the model config (``model.config``).
        device: where the net, tokenizer and batches live.
        net_builder: materialises nets (meta init, AC, compile, FSDP); default builds on ``device``.
        seed: base seed of the per-sample draws.
        base_checkpoint: with ``config.use_lora``, the base weights loaded before the adapters are
            injected (``checkpoint.load_path``: a consolidated ``.pt`` or a DCP checkpoint).
        lazy_tokenizer: build the tokenizer on first use (runs from a latent cache).
    """

    config_cls = Video2WorldConfig

    def __init__(
        self,
        config: Video2WorldConfig,
        *,
        device: torch.device | str = "cpu",
        net_builder: NetBuilder | None = None,
        seed: int = 0,
        base_checkpoint: str | None = None,
        lazy_tokenizer: bool = False,
    ) -> None:
        super().__init__(
            config,
            device=device,
            net_builder=net_builder,
            seed=seed,
            base_checkpoint=base_checkpoint,
            lazy_tokenizer=lazy_tokenizer,
        )
        sde = config.sde
        self.noise = EDMNoise(
            p_mean=sde.p_mean,
            p_std=sde.p_std,
            sigma_min=sde.sigma_min,
            sigma_max=sde.sigma_max,
            adjust_video_noise=config.adjust_video_noise,
            high_sigma_strategy=config.high_sigma_strategy,
            high_sigma_ratio=config.high_sigma_ratio,
            low_sigma_ratio=config.low_sigma_ratio,
        )
        self.scaling = (
            EDMScaling(config.sigma_data)
            if config.scaling == "edm"
            else RectifiedFlowScaling(config.sigma_data)
        )

    def _latent_scale(self) -> float:
        return float(self.config.sigma_data)

    def denoise(
        self, xt: torch.Tensor, sigma_B: torch.Tensor, condition: Video2WorldCondition
    ) -> torch.Tensor:
        """``x0`` prediction: ``c_skip x_t + c_out F(c_in x_t, c_noise)`` with conditioning frames
        fed as ``gt / sigma_data`` at ``c_noise(sigma_conditional)`` and written back as ``gt``."""
        b, t = xt.shape[0], xt.shape[2]
        sigma = sigma_B.to(xt.device, torch.float32).view(b, 1, 1, 1, 1)
        c_skip, c_out, c_in, c_noise = self.scaling(sigma)
        mask = condition.frame_mask()
        net_in = xt * c_in
        net_in = self._gt_input(condition) / self.config.sigma_data * mask + net_in * (1.0 - mask)
        c_noise_cond = self.scaling(
            torch.tensor(self.config.sigma_conditional, dtype=torch.float32)
        )[3]
        mask_bt = mask.view(b, t) > 0
        timesteps = torch.where(
            mask_bt, c_noise_cond.to(xt.device), c_noise.view(b, 1).expand(b, t)
        )
        f = self._net_forward(net_in, timesteps, condition)
        x0_pred = c_skip * xt + c_out * f
        if self.config.denoise_replace_gt_frames:
            x0_pred = condition.gt_frames * mask + x0_pred * (1.0 - mask)
        return x0_pred

    def _objective(self, x0, eps, condition, time_gens, is_video):
        sigma = self.noise.sample(time_gens, state_t=x0.shape[2], is_video=is_video).to(x0.device)
        s = sigma.view(-1, 1, 1, 1, 1)
        xt = x0 + s * eps
        x0_pred = self.denoise(xt, sigma, condition)
        weight = self.scaling.loss_weight(sigma)
        per_sample = (
            self.config.loss_scale * weight * (x0 - x0_pred).square().mean(dim=(1, 2, 3, 4))
        )
        return per_sample, {"sigma": sigma}

    def _sample_latents(self, noise, cond, uncond, settings):
        """EDM Euler on Karras sigmas; the conditioning frames are written back exactly."""
        sde = self.config.sde
        sigmas = torch.cat(
            [
                karras_sigmas(sde.sigma_min, sde.sigma_max, settings.num_steps),
                torch.zeros(1, dtype=torch.float64),
            ]
        )
        latents = edm_euler_sample(
            self._guided(self.denoise, cond, uncond, settings.guidance), noise, sigmas
        )
        mask = cond.frame_mask()
        return cond.gt_frames * mask + latents * (1.0 - mask)
