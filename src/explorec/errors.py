"""Exceptions raised on caller input. Each message names the file, line, field, id or parameter."""

from __future__ import annotations

import numpy as np


class ExploreCError(Exception):
    """Base class of explorec's own errors."""


class DataError(ExploreCError, ValueError):
    """Malformed data: a file, a line, a column or an array that does not fit."""


class UnknownIdError(ExploreCError, KeyError):
    """An external user or item id that the vocabulary does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConfigError(ExploreCError, ValueError):
    """A parameter outside its allowed values."""


class NotFittedError(ExploreCError, RuntimeError):
    """A component used before ``fit``."""


def check_positive_int(name: str, value: int) -> int:
    """Return ``value`` if it is an int > 0, else raise ``ConfigError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_range(name: str, value: float, low: float, high: float) -> float:
    """Return ``value`` if ``low <= value <= high``, else raise ``ConfigError`` naming ``name``."""
    if not (low <= float(value) <= high):
        raise ConfigError(f"{name} must lie in [{low}, {high}], got {value!r}")
    return float(value)
