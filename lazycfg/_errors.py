"""Error hierarchy of lazycfg.

Every error raised by the library derives from :class:`ConfigError` and names the config path
it is about (``trainer.max_iter``), so a user can find the offending value and knows what to
type next. ``path`` is also kept as an attribute for programmatic use.

Subclasses that correspond to a Python built-in error also derive from it (``ConfigKeyError`` is
an ``AttributeError`` and a ``KeyError``; ``ConfigTypeError`` is a ``TypeError``;
``ConfigFileNotFoundError`` is a ``FileNotFoundError``), so ``hasattr``/``getattr`` defaults and
generic ``except`` clauses keep working.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConfigKeyError",
    "ConfigTypeError",
    "OverrideError",
    "InstantiationError",
    "FrozenConfigError",
    "SerializationError",
    "RegistryError",
    "ResolveError",
    "ConfigFileNotFoundError",
    "ConfigImportError",
]


class ConfigError(Exception):
    """Base class of every lazycfg error.

    Args:
        message: the full, human-readable message (it should already name the path).
        path: the dotted config path the error is about ("" for the root, None if unknown).
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return self.message


class ConfigKeyError(ConfigError, AttributeError, KeyError):
    """A key/attribute that does not exist (typo on a config class, unknown kwarg, ...)."""

    def __str__(self) -> str:  # KeyError would repr() the message otherwise
        return self.message


class ConfigTypeError(ConfigError, TypeError):
    """A value whose type contradicts the annotation of the field or parameter it goes to.

    Attributes:
        expected: the expected type, as written in the annotation.
        value: the rejected value.
    """

    def __init__(self, message: str, path: str | None = None, expected: object = None,
                 value: object = None) -> None:
        super().__init__(message, path)
        self.expected = expected
        self.value = value


class OverrideError(ConfigError):
    """A malformed override, or one that cannot be applied (unknown key, unknown option, ...)."""


class InstantiationError(ConfigError):
    """Building a lazy node failed; the original exception is chained as ``__cause__``."""


class FrozenConfigError(ConfigError, AttributeError):
    """A set or delete on a frozen config (use ``with lazycfg.unfreeze(cfg):``)."""


class SerializationError(ConfigError):
    """A value that cannot be saved losslessly (lambda, local function, ...)."""


class RegistryError(ConfigError):
    """Registering or selecting a group option failed (duplicate, unknown group/option)."""


class ResolveError(ConfigError):
    """An interpolation (``${...}``) that cannot be resolved."""


class ConfigImportError(ConfigError, ImportError):
    """A relative import in a config file that names no sibling config file."""

    def __str__(self) -> str:
        return self.message


class ConfigFileNotFoundError(ConfigError, FileNotFoundError):
    """A config file given to ``load``/``load_rel`` does not exist."""

    def __str__(self) -> str:
        return self.message
