"""The one parser of ``KEY=VALUE`` options and ``NAME[:VALUE[:KEY=VALUE...]]`` specs.

Every text form of a component's parameters goes through here: the CLI's ``--param``,
``--policy-param`` and ``--split-param``; policy specs (``eps-greedy:0.1``,
:mod:`explorec.policies.spec`); re-ranker specs (``mmr:0.3:window=5``, :mod:`explorec.rerank.spec`);
fusion components (``ease:l2=50+textknn``); encoder specs (``hashing:256``).

* :func:`parse_value` reads one value: a JSON literal (number, ``true``/``false``, ``null``, list) or
  else the text itself. Nothing is evaluated as code, and ``NaN``/``Infinity`` stay text (so that a
  number parameter rejects them).
* :func:`parse_pairs` reads ``KEY=VALUE`` strings; :func:`parse_spec` splits ``NAME:VALUE:KEY=VALUE``.
* :func:`check_params` checks names and values against the target's signature and type hints: an
  unknown name lists the allowed ones, a value of the wrong type names the type expected and the
  value received, a non-finite number is refused. :func:`build` checks and then calls the target.

Examples
--------
>>> parse_pairs(["k=50", "similarity=cosine", "normalize=false"], what="--param")
{'k': 50, 'similarity': 'cosine', 'normalize': False}
>>> parse_spec("dpp:0.5:window=5", what="--rerank")
Spec(name='dpp', value='0.5', options={'window': '5'})
>>> def knob(*, epsilon: float = 0.1) -> float:
...     return epsilon
>>> check_params(knob, {"epsilon": "abc"}, what="--policy 'eps-greedy:abc'")
Traceback (most recent call last):
...
explorec.errors.ConfigError: --policy 'eps-greedy:abc': parameter 'epsilon' must be a finite number, got 'abc'
"""

from __future__ import annotations

import collections.abc
import difflib
import functools
import inspect
import json
import math
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from explorec.errors import ConfigError

T = TypeVar("T")

__all__ = ["Spec", "build", "check_params", "parse_pairs", "parse_spec", "parse_value", "signature_hints"]


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


def parse_value(raw: str) -> Any:
    """A JSON literal (numbers, true/false, null, lists, objects) or else the stripped text.

    ``NaN``, ``Infinity`` and ``-Infinity`` are kept as text, so a number parameter refuses them.

    >>> parse_value("0.5"), parse_value("true"), parse_value("[1, 2]"), parse_value("cosine")
    (0.5, True, [1, 2], 'cosine')
    >>> parse_value("NaN")
    'NaN'
    """
    text = raw.strip()
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except ValueError:  # JSONDecodeError is a ValueError, and so is a refused constant
        return text


def parse_pairs(pairs: Iterable[str], *, what: str) -> dict[str, Any]:
    """``KEY=VALUE`` strings -> ``{key: parse_value(value)}``; a malformed pair or repeated key is refused.

    Raises
    ------
    ConfigError
        ``"<what>: expected KEY=VALUE, got '...'"``, or a key given twice.
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{what}: expected KEY=VALUE, got {pair!r}")
        if key in out:
            raise ConfigError(f"{what}: {key!r} is given twice ({key}={out[key]!r} and {pair!r})")
        out[key] = parse_value(raw)
    return out


@dataclass(frozen=True)
class Spec:
    """A parsed ``NAME[:VALUE[:KEY=VALUE...]]`` spec; ``value`` and ``options`` are raw text."""

    name: str
    value: str | None = None
    options: dict[str, str] = field(default_factory=dict)


def parse_spec(text: str, *, what: str, lower: bool = False) -> Spec:
    """Split ``NAME[:VALUE[:KEY=VALUE...]]``; the first part after the name is ``VALUE`` unless it has ``=``.

    Raises
    ------
    ConfigError
        An empty name, an empty part, a part after the first that is not ``KEY=VALUE``, or a repeated key.
    """
    parts = [p.strip() for p in text.strip().split(":")]
    name = parts[0].lower() if lower else parts[0]
    if not name:
        raise ConfigError(f"{what}: expected NAME[:VALUE[:KEY=VALUE...]], got {text!r}")
    rest = parts[1:]
    value = None
    if rest and "=" not in rest[0]:
        value = rest.pop(0)
        if value == "":
            raise ConfigError(f"{what}: empty value after {name!r} in {text!r}")
    options: dict[str, str] = {}
    for option in rest:
        key, sep, raw = option.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{what}: expected KEY=VALUE after {name!r}, got {option!r} in {text!r}")
        if key in options:
            raise ConfigError(f"{what}: option {key!r} is given twice in {text!r}")
        options[key] = raw.strip()
    return Spec(name, value, options)


def signature_hints(target: Callable[..., Any]) -> tuple[dict[str, Any], bool]:
    """``({parameter: type hint}, accepts **kwargs)`` of a class's ``__init__`` or a function.

    ``self`` and ``*args`` are left out; a parameter without a usable hint maps to ``Any``.
    """
    hints, var_keyword = _signature_hints(target)
    return dict(hints), var_keyword


@functools.lru_cache(maxsize=512)
def _signature_hints(target: Callable[..., Any]) -> tuple[dict[str, Any], bool]:
    # cached: resolving string annotations (typing.get_type_hints) costs ~0.1 ms per call, and the
    # service parses a policy and a re-ranker spec on every request
    function = target.__init__ if isinstance(target, type) else target  # type: ignore[misc]
    parameters = inspect.signature(function).parameters
    try:
        resolved = typing.get_type_hints(function)
    except Exception:  # an annotation that does not resolve at run time: check names only
        resolved = {}
    hints: dict[str, Any] = {}
    var_keyword = False
    for name, param in parameters.items():
        if name == "self" or param.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            var_keyword = True
            continue
        hints[name] = resolved.get(name, Any)
    return hints, var_keyword


def check_params(
    target: Callable[..., Any],
    params: Mapping[str, Any],
    *,
    what: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Check ``params`` against ``target``'s parameters and type hints; return them, normalised.

    Parameters
    ----------
    target : class or callable
        Whose keyword parameters ``params`` are.
    params : mapping
        Values as :func:`parse_value` reads them, or Python values.
    what : str
        How the error message names the source (``"--param ease"``, ``"--policy 'ts:2'"``).
    extra : mapping, optional
        Further allowed parameters and their hints (options a caller handles itself).

    Returns
    -------
    dict
        The values; a ``float`` parameter given an integer gets the float, a ``str`` parameter given
        an integer (``cache_dir=123``) gets its text. Anything else is unchanged.

    Raises
    ------
    ConfigError
        ``"<what>: unknown parameter 'lamda'; allowed: l2"`` or
        ``"<what>: parameter 'l2' must be a finite number, got 'abc'"``.
    """
    hints, var_keyword = signature_hints(target)
    hints.update(extra or {})
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key not in hints:
            if var_keyword:
                out[key] = value
                continue
            close = difflib.get_close_matches(key, list(hints), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            allowed = ", ".join(hints) or "none"
            raise ConfigError(f"{what}: unknown parameter {key!r}{hint}; allowed: {allowed}")
        out[key] = _normalise(value, hints[key], key=key, what=what)
    return out


def build(target: Callable[..., T], params: Mapping[str, Any], *, what: str) -> T:
    """``target(**check_params(target, params))``; the target's own ``TypeError``/``ValueError`` become
    a ``ConfigError`` prefixed with ``what`` (a missing required parameter, a value out of range)."""
    checked = check_params(target, params, what=what)
    try:
        return target(**checked)
    except ConfigError as exc:
        raise ConfigError(f"{what}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: {exc}") from None


# ------------------------------------------------------------------------------------------- types
def _normalise(value: Any, hint: Any, *, key: str, what: str) -> Any:
    if _conforms(value, hint):
        if hint is float and not isinstance(value, float):
            return float(value)
        return value
    if _admits(hint, str) and isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # a text parameter whose value looks like a number (a folder called 123)
    raise ConfigError(f"{what}: parameter {key!r} must be {_describe(hint)}, got {value!r}")


def _members(hint: Any) -> tuple[Any, ...]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _admits(hint: Any, kind: type) -> bool:
    return any(member is kind for member in _members(hint))


def _is_number(value: Any) -> bool:
    numeric = isinstance(value, int | float | np.integer | np.floating)
    return numeric and not isinstance(value, bool | np.bool_)


def _conforms(value: Any, hint: Any) -> bool:
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, member) for member in typing.get_args(hint))
    if hint is type(None) or hint is None:
        return value is None
    if hint is bool:
        return isinstance(value, bool | np.bool_)
    if hint is int:
        return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    if hint is float:
        return _is_number(value) and math.isfinite(float(value))
    if hint is str:
        return isinstance(value, str)
    if origin is typing.Literal:
        return any(value == option and type(value) is type(option) for option in typing.get_args(hint))
    if origin in (list, tuple, collections.abc.Sequence, np.ndarray):
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple | np.ndarray):
            return False
        args = typing.get_args(hint)
        inner = args[0] if origin is not np.ndarray and args and args[-1] is not Ellipsis else None
        if origin is np.ndarray:
            return all(_is_number(v) and math.isfinite(float(v)) for v in np.asarray(value).reshape(-1))
        return inner is None or all(_conforms(v, inner) for v in value)
    if isinstance(hint, type):
        try:
            return isinstance(value, hint)
        except TypeError:
            return True
    return True  # a hint this checker does not model (protocols, array-likes): the target decides


def _describe(hint: Any) -> str:
    members = [m for m in _members(hint)]
    words = [_describe_one(m) for m in members]
    return " or ".join(dict.fromkeys(words))


def _describe_one(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if hint is type(None):
        return "null"
    if hint is bool:
        return "true or false"
    if hint is int:
        return "an integer"
    if hint is float:
        return "a finite number"
    if hint is str:
        return "a text"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(hint))
    if origin in (list, tuple, collections.abc.Sequence, np.ndarray):
        return "a list of numbers" if origin is np.ndarray else "a list like [1, 2]"
    return getattr(hint, "__name__", str(hint))
