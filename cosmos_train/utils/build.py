"""Building config nodes with errors that name their place in the run config.

``lazycfg.instantiate(node)`` only knows the node it was handed, so a failure is reported at
``'<root>'``. Components built from the run config (``model``, ``model.config.net``,
``trainer.callbacks.x``, ...) go through :func:`instantiate_at`, which puts the real path there.
"""

from __future__ import annotations

import inspect
from typing import Any

import attrs

import lazycfg

__all__ = ["instantiate_at", "same_named_fields"]

_ROOT_NAMES = (None, "", "<root>")


def instantiate_at(node: Any, path: str, *args: Any, **kwargs: Any) -> Any:
    """``lazycfg.instantiate(node, *args, **kwargs)``; an ``InstantiationError`` names ``path``.

    Args:
        node: a lazy node (or anything ``instantiate`` accepts).
        path: where ``node`` sits in the run config, e.g. ``"model.config.net"``.
    """
    try:
        return lazycfg.instantiate(node, *args, **kwargs)
    except lazycfg.InstantiationError as exc:
        placed = _placed(exc, path)
        raise placed from (placed.__cause__ or exc.__cause__)


def same_named_fields(cls: type, section: Any, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The fields of a typed config ``section`` named like ``cls.__init__`` parameters.

    The pass-through half of a component's ``config_kwargs``: a new option is a config field and a
    constructor parameter of the same name, with no mapping code in between.

    Args:
        cls: the component class.
        section: an attrs config instance (``config.trainer``, ``config.checkpoint``).
        exclude: fields the component maps itself (other name or shape).
    """
    params = inspect.signature(cls.__init__).parameters
    return {
        f.name: getattr(section, f.name)
        for f in attrs.fields(type(section))
        if f.name in params and f.name not in exclude
    }


def _placed(exc: lazycfg.InstantiationError, path: str) -> lazycfg.InstantiationError:
    inner = exc.__cause__
    if isinstance(inner, lazycfg.InstantiationError) and inner.path not in _ROOT_NAMES:
        # A nested build (the model building its net) already named the more precise path.
        return inner
    local = exc.path
    full = path if local in _ROOT_NAMES else f"{path}.{local}"
    quoted = f"'{local if local not in (None, '') else '<root>'}'"
    if quoted in exc.message:
        message = exc.message.replace(quoted, f"'{full}'", 1)
    else:
        message = f"failed to build '{full}': {exc.message}"
    placed = lazycfg.InstantiationError(message, full)
    placed.__cause__ = exc.__cause__
    return placed
