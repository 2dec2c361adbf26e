"""One background thread that calls ``step()`` every ``interval_s`` seconds until stopped.

The service runs three of them per replica (served-state refresher, online learner, registry
follower); they share how they start, stop and survive an error in one round.
"""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger(__name__)


class Periodic:
    """Calls :meth:`step` every ``interval_s`` seconds on a daemon thread.

    A round that raises is logged with ``failure`` and the thread goes on: a replica whose thread
    died would silently stop following the store.
    """

    def __init__(self, interval_s: float, *, name: str, failure: str) -> None:
        self.interval_s = interval_s
        self._failure = failure
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def step(self) -> object:
        """One round (subclasses)."""
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.step()
            except Exception:  # the thread must survive anything, or the replica stops following
                logger.exception("%s; retrying", self._failure)
