"""lazycfg: a pure-Python, detectron2-style lazy configuration library (no Hydra).

See DESIGN.md section 3 for the public contract. Importing this package imports none of torch,
numpy, hydra, omegaconf or yaml (heavy modules are imported lazily where needed).
"""

from __future__ import annotations

from ._errors import (
    ConfigError,
    ConfigFileNotFoundError,
    ConfigKeyError,
    ConfigTypeError,
    FrozenConfigError,
    InstantiationError,
    OverrideError,
    RegistryError,
    ResolveError,
    SerializationError,
)
from ._node import PLACEHOLDER, ConfigDict, ConfigList, L, LazyCall, LazyNode, LazyRef
from ._provenance import Record, explain

__all__ = [
    "ConfigDict",
    "ConfigError",
    "ConfigFileNotFoundError",
    "ConfigKeyError",
    "ConfigList",
    "ConfigTypeError",
    "FrozenConfigError",
    "InstantiationError",
    "L",
    "LazyCall",
    "LazyNode",
    "LazyRef",
    "OverrideError",
    "PLACEHOLDER",
    "Record",
    "RegistryError",
    "ResolveError",
    "SerializationError",
    "explain",
]
