"""lazycfg: a pure-Python, detectron2-style lazy configuration library (no Hydra).

See DESIGN.md section 3 for the public contract. Importing this package imports none of torch,
numpy, hydra, omegaconf or yaml (heavy modules are imported lazily where needed).

Main entry points::

    from lazycfg import L, instantiate, load, apply_overrides, configclass, freeze, select

    cfg = load("experiments/2b_nemo.py", ["optimizer=fused", "trainer.max_iter=10"])
    optimizer = instantiate(cfg.optimizer, params=model.parameters())

Result types to inspect: ``Problem`` (``check``), ``DiffEntry`` (``diff``), ``Record``
(``explain``); errors to catch: ``ConfigError`` and its subclasses (``CheckError`` from
``check(cfg, strict=True)``, ``OverrideError``, ``ConfigTypeError``, ...).
"""

from __future__ import annotations

from . import tree
from ._build import freeze, instantiate, is_frozen, unfreeze
from ._compare import CheckError, DiffEntry, Problem, check, diff, explain
from ._configclass import configclass
from ._display import render_tree
from ._errors import (
    ConfigError,
    ConfigFileNotFoundError,
    ConfigImportError,
    ConfigKeyError,
    ConfigTypeError,
    FrozenConfigError,
    InstantiationError,
    OverrideError,
    RegistryError,
    ResolveError,
    SerializationError,
)
from ._io import dumps, fingerprint, loads, save, to_py
from ._loader import lazy_imports, load, load_rel
from ._node import (
    PLACEHOLDER,
    ConfigDict,
    ConfigList,
    ConfigPartial,
    L,
    LazyCall,
    LazyNode,
    LazyRef,
    Record,
    trust,
)
from ._overrides import Registry, apply_overrides, choices, default_registry, register, select
from ._resolve import resolve

__all__ = [
    "PLACEHOLDER",
    "CheckError",
    "ConfigDict",
    "ConfigError",
    "ConfigFileNotFoundError",
    "ConfigImportError",
    "ConfigKeyError",
    "ConfigList",
    "ConfigPartial",
    "ConfigTypeError",
    "DiffEntry",
    "FrozenConfigError",
    "InstantiationError",
    "L",
    "LazyCall",
    "LazyNode",
    "LazyRef",
    "OverrideError",
    "Problem",
    "Record",
    "Registry",
    "RegistryError",
    "ResolveError",
    "SerializationError",
    "apply_overrides",
    "check",
    "choices",
    "configclass",
    "default_registry",
    "diff",
    "dumps",
    "explain",
    "fingerprint",
    "freeze",
    "instantiate",
    "is_frozen",
    "lazy_imports",
    "load",
    "load_rel",
    "loads",
    "register",
    "render_tree",
    "resolve",
    "save",
    "select",
    "to_py",
    "tree",
    "trust",
    "unfreeze",
]
