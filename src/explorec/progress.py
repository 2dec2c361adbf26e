"""Whether long loops show a tqdm progress bar, and the bars themselves.

Bars are shown on a terminal (stderr is a TTY) and hidden otherwise. ``EXPLOREC_PROGRESS=1`` shows
them on any stderr (a CI log, a file) and ``EXPLOREC_PROGRESS=0`` hides them; :func:`force` does the
same from Python (tests). :func:`disable` (the CLI's ``--quiet``) hides every bar for the rest of the
process, including the bars of loops that pass ``disable=None`` to tqdm (through tqdm's own
``TQDM_DISABLE`` setting); :func:`quiet` does it for one block and restores the previous state, which
is what :func:`explorec.cli.main` uses so that one ``--quiet`` call does not silence the next.

Every long loop of the library makes its bar with :func:`bar`, so these rules hold everywhere.

Examples
--------
>>> from explorec import progress
>>> with progress.quiet():
...     progress.enabled()
False
>>> sum(progress.bar(range(3), desc="demo", show=False))
3
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, overload

from tqdm.auto import tqdm

T = TypeVar("T")

#: environment variable that forces bars on (``1``) or off (``0``) whatever stderr is
ENV = "EXPLOREC_PROGRESS"

_disabled = False
_forced: bool | None = None


def disable() -> None:
    """Hide every progress bar from now on."""
    global _disabled
    _disabled = True
    os.environ["TQDM_DISABLE"] = "1"


@contextmanager
def quiet(on: bool = True) -> Iterator[None]:
    """Hide every bar inside the block (when ``on``), then restore the state found on entry."""
    global _disabled
    if not on:
        yield
        return
    before, env = _disabled, os.environ.get("TQDM_DISABLE")
    disable()
    try:
        yield
    finally:
        _disabled = before
        if env is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = env


def force(on: bool | None) -> None:
    """Show (True) or hide (False) bars whatever stderr is; None returns to the terminal rule."""
    global _forced
    _forced = on


def _env_forced() -> bool | None:
    value = os.environ.get(ENV, "").strip().lower()
    if value in ("1", "true", "yes", "on", "always"):
        return True
    if value in ("0", "false", "no", "off", "never"):
        return False
    return None


def enabled() -> bool:
    """True when progress bars should be shown: not disabled, and stderr a terminal (or forced on)."""
    if _disabled:
        return False
    forced = _forced if _forced is not None else _env_forced()
    if forced is not None:
        return forced
    return sys.stderr.isatty()


def resolve(progress: bool | None) -> bool:
    """An explicit ``progress`` flag (False always wins over a terminal), or :func:`enabled` for None."""
    if _disabled:
        return False
    return enabled() if progress is None else bool(progress)


@overload
def bar(
    iterable: Iterable[T],
    *,
    desc: str,
    total: int | None = None,
    unit: str = "it",
    show: bool = True,
    leave: bool = False,
    **kwargs: Any,
) -> tqdm[T]: ...


@overload
def bar(
    iterable: None = None,
    *,
    desc: str,
    total: int | None = None,
    unit: str = "it",
    show: bool = True,
    leave: bool = False,
    **kwargs: Any,
) -> tqdm[Any]: ...


def bar(
    iterable: Iterable[Any] | None = None,
    *,
    desc: str,
    total: int | None = None,
    unit: str = "it",
    show: bool = True,
    leave: bool = False,
    **kwargs: Any,
) -> tqdm[Any]:
    """A tqdm bar on stderr, shown when ``show`` and :func:`enabled` (hidden ones cost nothing).

    Parameters
    ----------
    iterable : iterable, optional
        What the loop runs over (or None and ``total`` with manual ``update`` calls).
    desc, unit : str
        The bar's label and the unit it counts.
    total : int, optional
        Number of steps (default: ``len(iterable)`` when it has one).
    show : bool
        The caller's own switch (a model's ``progress`` parameter); False always hides the bar.
    leave : bool
        Keep the finished bar on screen (default: erase it; the command's summary says what was done).
    """
    return tqdm(
        iterable,
        desc=desc,
        total=total,
        unit=unit,
        disable=not (show and enabled()),
        leave=leave,
        file=sys.stderr,
        dynamic_ncols=True,
        **kwargs,
    )
