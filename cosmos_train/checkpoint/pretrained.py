"""Never silently random: released net weights need real VAE and text-encoder weights too.

A released Predict2.5 net only makes sense with the Wan2.1 VAE it was trained with and with
Reason1 caption embeddings. Before anything is built, :func:`check_pretrained_parts` looks at the
config: when the net loads released weights (``checkpoint.load_path`` is a catalogue name, an
``hf://`` spec or a consolidated ``.pt``), every pretrained part must name its weights, or the run
stops with a ``ConfigError`` naming the key to set. ``<part>.allow_random=True`` is the only way
past, and it is logged as a warning. Training and inference (``tools/generate.py``) both call it.
"""

from __future__ import annotations

import logging
from typing import Any

from cosmos_train.checkpoint.hub import is_released_spec
from lazycfg import ConfigError

__all__ = ["check_pretrained_parts", "random_parts"]

log = logging.getLogger(__name__)

_WAN = "Wan21VAE"
_REASON1 = "Reason1TextEncoder"
_T5 = "T5TextEncoder"
_HASH = "HashTextEncoder"
_VAE_NAME = "Wan2.1/vae"
_WEIGHTS = {"Reason1TextEncoder": "nvidia/Cosmos-Reason1.1-7B", "T5TextEncoder": "google-t5/t5-11b"}


def _get(node: Any, key: str) -> Any:
    if node is None:
        return None
    try:
        return node[key] if key in node else getattr(node, key, None)
    except TypeError:
        return getattr(node, key, None)


def _target_name(node: Any) -> str:
    target = _get(node, "_target_")
    if target is None:
        return type(node).__name__ if node is not None else ""
    return str(getattr(target, "__qualname__", target)).rsplit(".", 1)[-1]


def random_parts(config: Any) -> list[tuple[str, str, bool]]:
    """The pretrained parts of ``config`` that would be random: ``(config key, advice, allowed)``.

    ``allowed`` is the part's ``allow_random`` flag. Weight-free stand-ins (the pooling tokenizer)
    are not listed; ``text_encoder=precomputed`` is not either (its files are checked by the data).
    """
    model = config.model.config
    found: list[tuple[str, str, bool]] = []
    tokenizer = model.tokenizer
    if _target_name(tokenizer) == _WAN and not (_get(tokenizer, "ckpt_path") or ""):
        found.append(
            (
                "model.config.tokenizer.ckpt_path",
                f"set model.config.tokenizer.ckpt_path={_VAE_NAME} (the released Wan2.1 VAE) or "
                "a local Wan2.1_VAE.pth",
                bool(_get(tokenizer, "allow_random")),
            )
        )
    encoder = _get(model, "text_encoder")
    kind = _target_name(encoder)
    if kind in (_REASON1, _T5) and not (_get(encoder, "weights") or ""):
        found.append(
            (
                "model.config.text_encoder.weights",
                f"set model.config.text_encoder.weights={_WEIGHTS[kind]} or a local folder",
                bool(_get(encoder, "allow_random")),
            )
        )
    elif kind == _HASH:
        found.append(
            (
                "model.config.text_encoder",
                "text_encoder=hash gives non-semantic word hashes; select "
                "text_encoder=reason1_online (or "
                "precomputed with Reason1 files from tools/compute_text_embeddings.py --encoder "
                "reason1)",
                bool(_get(encoder, "allow_random")),
            )
        )
    return found


def check_pretrained_parts(
    config: Any, *, net_weights: str | None = None, context: str = "training"
) -> None:
    """Stops a run that loads released net weights next to a random VAE or text encoder.

    Args:
        config: the run's config (``model.config.tokenizer`` / ``text_encoder`` are read).
        net_weights: the net weights being loaded (default: ``checkpoint.load_path``).
        context: ``"training"`` or ``"inference"``, for the messages.

    Raises:
        ConfigError: a part would be random and its ``allow_random`` is not set; the message names
            the config key to set.
    """
    if net_weights is None:
        net_weights = getattr(getattr(config, "checkpoint", None), "load_path", "") or ""
    if not is_released_spec(net_weights):
        return
    problems = random_parts(config)
    refused = [(key, advice) for key, advice, allowed in problems if not allowed]
    for key, _, allowed in problems:
        if allowed:
            part = key.rsplit(".", 1)[0] if key.endswith((".ckpt_path", ".weights")) else key
            log.warning(
                "%s: %s is RANDOM although released net weights load from %s "
                "(%s.allow_random=True)",
                context,
                part,
                net_weights,
                part,
            )
    if refused:
        lines = "\n".join(f"  {key}: {advice}" for key, advice in refused)
        first = refused[0][0]
        part = first.rsplit(".", 1)[0] if first.endswith((".ckpt_path", ".weights")) else first
        raise ConfigError(
            f"{context} loads released net weights ({net_weights}) but these pretrained parts "
            "would be random:\n"
            f"{lines}\nA random part makes the released net's output meaningless. To run anyway "
            "(timing only), "
            f"set {part}.allow_random=True.",
            first,
        )
    if _get(config.model.config, "text_encoder") is None:
        log.info(
            "%s: released net weights with text_encoder=precomputed: the embedding files must be "
            "Reason1 embeddings (tools/compute_text_embeddings.py --encoder reason1)",
            context,
        )
