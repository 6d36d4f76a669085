"""Rank consistency: every rank must train on the identical resolved config.

``${now:...}`` interpolations, environment variables and edited files can make ranks resolve
different configs; training would then silently diverge (different shapes deadlock collectives,
different learning rates desynchronise weights). Rank 0's resolved config is shipped to every
rank (:func:`broadcast_config`) and a fingerprint of each rank's config is compared
(:func:`check_config_consistency`).
"""

from __future__ import annotations

from typing import Any

from cosmos_train.distributed.env import all_gather_object, broadcast_object, get_rank

__all__ = [
    "RankMismatchError",
    "check_same_on_all_ranks",
    "check_config_consistency",
    "broadcast_config",
    "broadcast_text",
]


class RankMismatchError(RuntimeError):
    """Ranks disagree on a value that must be identical (the resolved config)."""


def check_same_on_all_ranks(value: str, *, what: str = "resolved config fingerprint") -> str:
    """Raises :class:`RankMismatchError` (on every rank) unless all ranks pass the same
    ``value``."""
    values = all_gather_object(value)
    if len(set(values)) > 1:
        groups: dict[str, list[int]] = {}
        for rank, v in enumerate(values):
            groups.setdefault(v, []).append(rank)
        detail = "; ".join(f"ranks {ranks}: {v[:16]}" for v, ranks in groups.items())
        raise RankMismatchError(
            f"the {what} differs between ranks ({detail}). Every rank must resolve the same "
            "config: avoid per-rank environment variables and ${now:} in keys that matter, or let "
            "rank 0's config be broadcast (cosmos_train.distributed.consistency.broadcast_config)."
        )
    return value


def check_config_consistency(cfg: Any) -> str:
    """Fingerprints ``cfg`` with ``lazycfg.fingerprint`` and checks all ranks agree; returns it."""
    import lazycfg

    return check_same_on_all_ranks(lazycfg.fingerprint(cfg))


def broadcast_text(text: str | None) -> str:
    """Rank 0's ``text`` on every rank."""
    out = broadcast_object(text if get_rank() == 0 else None)
    if not isinstance(out, str):
        raise RankMismatchError("rank 0 has no config text to broadcast")
    return out


def broadcast_config(cfg: Any) -> Any:
    """Rank 0's resolved config on every rank (serialised with ``lazycfg.dumps``/``loads``).

    Rank 0 keeps its own object; the others get an equal config rebuilt from rank 0's text.
    """
    import lazycfg

    text = broadcast_text(lazycfg.dumps(cfg) if get_rank() == 0 else None)
    return cfg if get_rank() == 0 else lazycfg.loads(text)
