"""Whether long loops show a tqdm progress bar.

Bars are shown on a terminal (stderr is a TTY) and hidden otherwise; :func:`disable` (the CLI's
``--quiet``) hides every bar for the rest of the process, including the bars of loops that pass
``disable=None`` to tqdm (through tqdm's own ``TQDM_DISABLE`` setting).
"""

from __future__ import annotations

import os
import sys

_disabled = False


def disable() -> None:
    """Hide every progress bar from now on."""
    global _disabled
    _disabled = True
    os.environ["TQDM_DISABLE"] = "1"


def enabled() -> bool:
    """True when progress bars should be shown: not disabled, and stderr is a terminal."""
    return not _disabled and sys.stderr.isatty()


def resolve(progress: bool | None) -> bool:
    """An explicit ``progress`` flag (False always wins over a terminal), or :func:`enabled` for None."""
    if _disabled:
        return False
    return enabled() if progress is None else bool(progress)
