"""Exceptions raised on caller input. Each message names the file, line, field, id or parameter."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

import numpy as np

T = TypeVar("T")


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


def check_choice(name: str, value: T, choices: Iterable[object]) -> T:
    """Return ``value`` if it is one of ``choices``, else raise ``ConfigError`` naming ``name``.

    >>> check_choice("loss", "full", ("full", "sampled"))
    'full'
    """
    allowed = tuple(choices)
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def check_indices(name: str, values: object, n: int) -> np.ndarray:
    """int64[m] internal indices from ``values``, each in ``[0, n)``; else ``ConfigError`` naming ``name``.

    Floats are refused unless they are whole numbers (a truncated ``1.7`` would silently be user 1),
    and so are strings and booleans.

    >>> check_indices("users", [0, 2.0], 3).tolist()
    [0, 2]
    """
    array = np.asarray(values)
    if array.dtype.kind == "f":
        fractional = ~np.isfinite(array) | (array != np.round(array))
        if fractional.any():
            bad = array[fractional].reshape(-1)[0].item()
            raise ConfigError(f"{name}: indices must be whole numbers in [0, {n}), got {bad!r}")
    elif array.size and array.dtype.kind not in "iu":
        bad = array.reshape(-1)[0].item()
        raise ConfigError(
            f"{name}: internal indices must be integers in [0, {n}), got {bad!r} "
            "(map external ids with user_index / item_index)"
        )
    out = array.astype(np.int64).reshape(-1)
    if out.size and (out.min() < 0 or out.max() >= n):
        bad = out[(out < 0) | (out >= n)][0]
        raise ConfigError(f"{name}: index {bad} outside [0, {n})")
    return out
