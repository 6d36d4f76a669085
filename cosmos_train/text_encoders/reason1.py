"""Cosmos-Reason1 caption embeddings on transformers' Qwen2.5-VL text decoder.

What Cosmos-Predict2.5 computes (``shared/reference/reason1/README.md`` holds the facts with
Cosmos file:line references; ``text_encoder.py`` in cosmos-predict2.5 is the original):

1. the caption goes into a fixed chat: a ``system`` turn (:data:`SYSTEM_PROMPT`) and a ``user``
   turn with the caption, rendered with the tokenizer's chat template, no generation prompt;
2. the ids are right-padded with the tokenizer's pad id, or truncated, to ``max_length`` (512);
   no attention mask is passed (pads are ordinary, causally attending tokens);
3. the decoder runs with ``output_hidden_states``; states 1..N (the last one after the final
   RMSNorm) are each normalised per token, ``(h - mean) / (std + 1e-8)`` with the unbiased std,
   in the compute dtype, and concatenated in layer order: ``[B, 512, 28 * 3584 = 100352]``.

Weights load **strictly**: Cosmos loads with ``strict=False``, so a misnamed key stays random
there; here a missing, unexpected or misshapen decoder key is a :class:`WeightsLoadError` that
lists them. The vision tower and ``lm_head`` are not used for text and are skipped by name.

Supported transformers: ``>=5.0,<6`` (``Qwen2_5_VLTextModel``; tested with 5.25). The same code
runs the tiny fixture model and the real 7B folder (``nvidia/Cosmos-Reason1-7B``).
"""

from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from cosmos_train.utils.dtypes import parse_dtype

__all__ = [
    "DEFAULT_NEGATIVE_PROMPT",
    "REASON1_7B_TEXT_CONFIG",
    "REASON1_WEIGHTS",
    "Reason1TextEncoder",
    "SYSTEM_PROMPT",
    "WeightsLoadError",
    "chat_messages",
    "decoder_key",
    "mean_normalize",
]

log = logging.getLogger(__name__)

#: The system turn of every caption (Cosmos ``text_encoder.py``).
SYSTEM_PROMPT = "You are a helpful assistant who will provide prompts to an image generator."
#: Cosmos's default negative prompt for classifier-free guidance (``cosmos_predict2/config.py``).
DEFAULT_NEGATIVE_PROMPT = (
    "The video captures a series of frames showing ugly scenes, static with no motion, motion "
    "blur, "
    "over-saturation, shaky footage, low resolution, grainy texture, pixelated images, poorly "
    "lit areas, "
    "underexposed and overexposed scenes, poor color balance, washed out colors, choppy "
    "sequences, jerky "
    "movements, low frame rate, artifacting, color banding, unnatural transitions, outdated "
    "special effects, "
    "fake elements, unconvincing visuals, poorly edited content, jump cuts, visual noise, and "
    "flickering. "
    "Overall, the video is of poor quality."
)
#: The catalogue name of the weights the released Predict2.5 recipes use.
REASON1_WEIGHTS = "nvidia/Cosmos-Reason1.1-7B"
#: Reason1's decoder sizes (for a random-init timing run without weights).
REASON1_7B_TEXT_CONFIG: dict[str, Any] = dict(
    vocab_size=152064,
    hidden_size=3584,
    intermediate_size=18944,
    num_hidden_layers=28,
    num_attention_heads=28,
    num_key_value_heads=4,
    rms_norm_eps=1e-6,
    max_position_embeddings=128000,
    rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]},
    use_cache=False,
)

#: Checkpoint key prefixes of the decoder, in the forms Cosmos (``model.``) and transformers 5
#: (``model.language_model.``) save; bare names are Qwen2_5_VLTextModel's own.
_DECODER_PREFIXES = ("model.language_model.", "model.")
#: Parts of a Qwen2.5-VL checkpoint that text embedding does not use.
_UNUSED_PREFIXES = ("visual.", "model.visual.", "lm_head.")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


class WeightsLoadError(RuntimeError):
    """Weights that do not match the model (missing/unexpected/misshapen keys) or are missing."""


def mean_normalize(hidden: torch.Tensor) -> torch.Tensor:
    """Per-token ``(h - mean) / (std + 1e-8)`` unbiased std, in ``hidden``'s dtype."""
    return (hidden - hidden.mean(dim=-1, keepdim=True)) / (hidden.std(dim=-1, keepdim=True) + 1e-8)


def chat_messages(caption: str) -> list[dict[str, Any]]:
    """The two chat turns Cosmos builds for one caption (no assistant turn)."""
    return [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]},
        {"role": "user", "content": [{"type": "text", "text": caption}]},
    ]


def _expected_chat_text(caption: str) -> str:
    """The rendering Cosmos's Qwen2.5-VL template gives (used to flag an unexpected template)."""
    return f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n{caption}<|im_end|>\n"


def decoder_key(key: str) -> str | None:
    """The Qwen2_5_VLTextModel key of a checkpoint key; ``None`` for the vision tower, lm_head."""
    if key.startswith(_UNUSED_PREFIXES):
        return None
    for prefix in _DECODER_PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def _list(keys: Sequence[str], n: int = 20) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:n]) + (f", ... ({len(keys)} in all)" if len(keys) > n else "")


def _weight_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise WeightsLoadError(
            f"{folder} has no *.safetensors weight files; point the text encoder's weights at a "
            f"Qwen2.5-VL / Cosmos-Reason1 folder (e.g. the catalogue name {REASON1_WEIGHTS!r})"
        )
    return files


def _load_chat_template(folder: Path, tokenizer: Any) -> str:
    """The processor's chat template (what Cosmos renders with), else the tokenizer's."""
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    as_json = folder / "chat_template.json"
    if as_json.is_file():
        return json.loads(as_json.read_text(encoding="utf-8"))["chat_template"]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.chat_template
    raise WeightsLoadError(
        f"{folder} has no chat template (chat_template.jinja, chat_template.json or "
        "tokenizer_config.json's "
        "chat_template); the Reason1 embedding needs Qwen2.5-VL's template"
    )


class Reason1TextEncoder:
    """Cosmos-Reason1 "full_concat" caption embeddings ``[B, max_length, layers * hidden]``.

    Args:
        weights: a catalogue name (default: Reason1.1-7B), ``hf://ORG/REPO[@REV]``, or a local
            folder holding ``config.json``, ``*.safetensors`` and the tokenizer files. ``None``
            only with ``allow_random=True`` (random 7B-sized decoder, for timing; no tokenizer:
            use :meth:`encode_ids`).
        tokenizer: folder or spec of the tokenizer files when they are not beside the weights.
        max_length: tokens per caption after padding/truncation (Cosmos: 512).
        device: where the decoder runs.
        dtype: compute and weight dtype (Cosmos: ``bfloat16``; ``float32`` for exact tests).
        attn_implementation: transformers attention backend (``sdpa`` or ``eager``).
        offload_to_cpu: keep the weights on the CPU between calls and move them to ``device`` for
            each :meth:`encode` (saves their memory on the GPU, costs a host-to-device copy).
        cache_size: captions whose embeddings are kept (on ``device``) for reuse; 0 disables.
        allow_random: permit ``weights=None`` (logged as a warning).
    """

    semantic = True

    def __init__(
        self,
        *,
        weights: str | os.PathLike | None = REASON1_WEIGHTS,
        tokenizer: str | os.PathLike | None = None,
        max_length: int = 512,
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype = "bfloat16",
        attn_implementation: str = "sdpa",
        offload_to_cpu: bool = False,
        cache_size: int = 0,
        allow_random: bool = False,
    ) -> None:
        if not isinstance(max_length, int) or max_length <= 0:
            raise ValueError(f"text_encoder.max_length must be a positive int, got {max_length!r}")
        self.max_length = max_length
        self.device = torch.device(device)
        self.dtype = parse_dtype(dtype, "model.config.text_encoder.dtype")
        self.offload_to_cpu = bool(offload_to_cpu)
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._warned_template = False
        home = self.device if not self.offload_to_cpu else torch.device("cpu")
        if weights is None or str(weights) == "":
            if not allow_random:
                raise WeightsLoadError(
                    "model.config.text_encoder.weights is not set: the text encoder would be "
                    "random. Set it to "
                    f"{REASON1_WEIGHTS!r} (or a local Reason1 folder), or set "
                    "model.config.text_encoder.allow_random=True for a timing run"
                )
            log.warning(
                "Reason1 text encoder with RANDOM weights (allow_random=True): embeddings carry "
                "no meaning"
            )
            self.weights = None
            self.model = self._random_model(home, attn_implementation)
            self.tokenizer = (
                None
                if tokenizer is None
                else self._load_tokenizer(self._folder(tokenizer, "tokenizer"))
            )
        else:
            folder = self._folder(weights, "weights")
            self.weights = str(weights)
            self.model = self._load_model(folder, home, attn_implementation)
            self.tokenizer = self._load_tokenizer(
                self._folder(tokenizer, "tokenizer") if tokenizer else folder
            )
        cfg = self.model.config
        self.num_layers = int(cfg.num_hidden_layers)
        self.hidden_size = int(cfg.hidden_size)
        self.embed_dim = self.num_layers * self.hidden_size
        self.model.eval().requires_grad_(False)

    # ------------------------------------------------------------------ loading
    @staticmethod
    def _folder(spec: str | os.PathLike, role: str) -> Path:
        from cosmos_train.checkpoint.hub import resolve_weights

        path = resolve_weights(spec, what=f"model.config.text_encoder.{role}")
        if not path.is_dir():
            raise WeightsLoadError(
                f"model.config.text_encoder.{role}={str(spec)!r} resolved to {path}, which is "
                "not a folder; "
                "the Reason1 encoder needs a folder with config.json, *.safetensors and the "
                "tokenizer files"
            )
        return path

    def _text_config(self, folder: Path, attn_implementation: str) -> Any:
        from transformers import AutoConfig

        if not (folder / "config.json").is_file():
            raise WeightsLoadError(
                f"{folder} has no config.json (a Qwen2.5-VL or Qwen2.5-VL text config)"
            )
        config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
        config = getattr(config, "text_config", config)  # the full VL config holds the decoder's
        if config.model_type != "qwen2_5_vl_text":
            raise WeightsLoadError(
                f"{folder}/config.json describes a {config.model_type!r} model, not Qwen2.5-VL; "
                "Reason1 is a Qwen2.5-VL-7B fine-tune"
            )
        config._attn_implementation = attn_implementation
        config.use_cache = False
        return config

    def _random_model(self, device: torch.device, attn_implementation: str) -> Any:
        from transformers import Qwen2_5_VLTextConfig
        from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLTextModel

        config = Qwen2_5_VLTextConfig(**REASON1_7B_TEXT_CONFIG)
        config._attn_implementation = attn_implementation
        previous = torch.get_default_dtype()
        torch.set_default_dtype(
            self.dtype
        )  # build in the compute dtype: no fp32 copy of 7B weights
        try:
            with torch.device(device):
                model = Qwen2_5_VLTextModel(config)
        finally:
            torch.set_default_dtype(previous)
        model.rotary_emb = self._rotary(config, device)
        return model

    @staticmethod
    def _rotary(config: Any, device: torch.device) -> Any:
        """RoPE frequencies, computed in fp32 on the CPU, then moved (not cast) to ``device``."""
        from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLRotaryEmbedding

        with torch.device("cpu"):
            return Qwen2_5_VLRotaryEmbedding(config=config).to(device)

    def _load_model(self, folder: Path, device: torch.device, attn_implementation: str) -> Any:
        from safetensors import safe_open
        from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLTextModel

        config = self._text_config(folder, attn_implementation)
        with torch.device("meta"):
            model = Qwen2_5_VLTextModel(config)
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        files = _weight_files(folder)
        where: dict[str, tuple[Path, str]] = {}
        unexpected: list[str] = []
        for file in files:
            with safe_open(str(file), framework="pt") as f:
                for key in f.keys():
                    if key.endswith("._extra_state"):
                        continue
                    name = decoder_key(key)
                    if name is None:
                        continue
                    if name not in expected:
                        unexpected.append(key)
                    elif name in where:
                        raise WeightsLoadError(
                            f"{folder}: {name} is stored twice ({where[name][1]} and {key})"
                        )
                    else:
                        where[name] = (file, key)
        missing = sorted(set(expected) - set(where))
        if missing or unexpected:
            raise WeightsLoadError(
                f"the Reason1 weights in {folder} do not match a Qwen2.5-VL decoder of config.json "
                f"({config.num_hidden_layers} layers x {config.hidden_size}); strict loading "
                "refuses them.\n"
                f"  missing keys ({len(missing)}): {_list(missing)}\n"
                f"  unexpected keys ({len(unexpected)}): {_list(unexpected)}"
            )
        state: dict[str, torch.Tensor] = {}
        bad_shapes: list[str] = []
        by_file: dict[Path, list[tuple[str, str]]] = {}
        for name, (file, key) in where.items():
            by_file.setdefault(file, []).append((name, key))
        for file, entries in by_file.items():
            with safe_open(str(file), framework="pt", device=str(device)) as f:
                for name, key in entries:
                    tensor = f.get_tensor(key)
                    if tuple(tensor.shape) != expected[name]:
                        bad_shapes.append(f"{key}: {tuple(tensor.shape)} != {expected[name]}")
                        continue
                    state[name] = tensor.to(self.dtype)
        if bad_shapes:
            raise WeightsLoadError(f"{folder}: tensors of the wrong shape: {_list(bad_shapes)}")
        model.load_state_dict(state, strict=True, assign=True)
        # Non-persistent buffers (RoPE frequencies) are not in the checkpoint: compute them.
        model.rotary_emb = self._rotary(config, device)
        left = [
            n for n, t in list(model.named_parameters()) + list(model.named_buffers()) if t.is_meta
        ]
        if left:
            raise WeightsLoadError(
                f"{folder}: tensors left uninitialised after loading: {_list(left)}"
            )
        log.info("loaded Reason1 decoder from %s (%d tensors, %s)", folder, len(state), self.dtype)
        return model

    @staticmethod
    def _load_tokenizer(folder: Path) -> Any:
        from transformers import AutoTokenizer

        missing = [f for f in _TOKENIZER_FILES if not (folder / f).is_file()]
        if missing:
            raise WeightsLoadError(
                f"{folder} lacks the tokenizer files {missing}; set "
                "model.config.text_encoder.tokenizer "
                "to the folder of Qwen2.5-VL's tokenizer (catalogue name "
                "'Qwen/Qwen2.5-VL-7B-Instruct')"
            )
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        if tokenizer.pad_token_id is None:
            raise WeightsLoadError(
                f"the tokenizer in {folder} has no pad token (Qwen2.5-VL: <|endoftext|>)"
            )
        tokenizer._cosmos_chat_template = _load_chat_template(folder, tokenizer)
        return tokenizer

    # ------------------------------------------------------------------ encoding
    def chat_text(self, caption: str) -> str:
        """The rendered chat for ``caption`` (the tokenizer's template, as Cosmos renders it)."""
        if self.tokenizer is None:
            raise RuntimeError(
                "this Reason1 encoder has no tokenizer (weights=None); use encode_ids"
            )
        text = self.tokenizer.apply_chat_template(
            chat_messages(caption),
            chat_template=self.tokenizer._cosmos_chat_template,
            tokenize=False,
            add_generation_prompt=False,
            add_vision_id=False,
        )
        if text != _expected_chat_text(caption) and not self._warned_template:
            log.warning(
                "the tokenizer's chat template renders %r, not Cosmos's documented layout",
                text[:200],
            )
            self._warned_template = True
        return text

    def tokenize(self, captions: Sequence[str]) -> torch.Tensor:
        """Ids ``[B, max_length]`` int64: the chat, right-padded with the pad id or truncated."""
        if isinstance(captions, str):
            raise TypeError("encode/tokenize take a sequence of captions, not one string")
        pad = int(self.tokenizer.pad_token_id) if self.tokenizer is not None else 0
        rows = []
        for caption in captions:
            ids = list(self.tokenizer(self.chat_text(str(caption)))["input_ids"])[: self.max_length]
            rows.append(ids + [pad] * (self.max_length - len(ids)))
        return torch.tensor(rows, dtype=torch.int64).reshape(len(rows), self.max_length)

    @torch.no_grad()
    def encode_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Embeddings ``[B, L, layers * hidden]`` in ``dtype`` for ids ``[B, L]`` (no mask)."""
        if self.offload_to_cpu:
            self.model.to(self.device)
        try:
            out = self.model(
                input_ids=input_ids.to(self.device),
                attention_mask=None,
                output_hidden_states=True,
                use_cache=False,
            )
            # [0] is the token embedding; the last is post final norm
            states = out.hidden_states[1:]
            return torch.cat([mean_normalize(h) for h in states], dim=-1)
        finally:
            if self.offload_to_cpu:
                self.model.to("cpu")

    def encode(self, captions: Sequence[str]) -> torch.Tensor:
        """Embeddings ``[B, max_length, embed_dim]`` in ``dtype`` on ``device``."""
        captions = [str(c) for c in captions]
        rows = {c: self._cache[c] for c in captions if c in self._cache}
        todo = list(dict.fromkeys(c for c in captions if c not in rows))
        if todo:
            rows.update(zip(todo, self.encode_ids(self.tokenize(todo)).unbind(0)))
        if self.cache_size > 0:
            for caption in dict.fromkeys(captions):
                self._cache[caption] = rows[caption]
                self._cache.move_to_end(caption)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return torch.stack([rows[c] for c in captions])

    def __repr__(self) -> str:
        return (
            f"Reason1TextEncoder(weights={self.weights!r}, layers={self.num_layers}, "
            f"hidden={self.hidden_size}, "
            f"max_length={self.max_length}, dtype={self.dtype}, device={self.device})"
        )
