"""Error hierarchy of lazycfg.

Every error derives from :class:`ConfigError`, says what to do and names the config path it is
about (also kept as ``path``). Errors matching a built-in one also derive from it
(``ConfigKeyError`` is an ``AttributeError`` and a ``KeyError``), so ``hasattr``/``getattr``
defaults and generic ``except`` clauses keep working.
"""

from __future__ import annotations


class ConfigError(Exception):
    """Base class of every lazycfg error: ``message`` (naming the path) and ``path`` ("" for the
    root, None if unknown)."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:  # precedes KeyError.__str__ (a repr) in the subclasses' MRO
        return self.message


class ConfigKeyError(ConfigError, AttributeError, KeyError):
    """A key/attribute that does not exist (typo on a config class, unknown kwarg, ...)."""


class ConfigTypeError(ConfigError, TypeError):
    """A value contradicting the annotation of its field or parameter (``expected``, ``value``)."""

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
    """A value that cannot be saved losslessly, or a malformed saved file."""


class RegistryError(ConfigError):
    """Registering or selecting a group option failed (duplicate, unknown group/option)."""


class ResolveError(ConfigError):
    """An interpolation (``${...}``) that cannot be resolved."""


class ConfigImportError(ConfigError, ImportError):
    """A relative import in a config file that names no sibling config file."""


class ConfigFileNotFoundError(ConfigError, FileNotFoundError):
    """A config file given to ``load``/``load_rel`` does not exist."""
