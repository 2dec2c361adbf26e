"""Erasures reach every replica: what a process derived from an erased user is dropped.

``DELETE /v1/users/{user_id}`` deletes the user's profile, events, impressions and counterfactuals
in one store transaction and counts the erasure in the store (:meth:`Store.erasures`). The replica
that took the request applies it at once; every other replica notices the count change at its next
refresh (``refresh_interval_s``) and

* drops from its served state (histories, popularity, co-occurrence) every user it holds whose
  profile the store no longer has (:meth:`ServedState.forget_user`);
* replays its online policy state from the store without them (:meth:`OnlineState.rebuild`): the
  bandit counts are aggregates over users, so they are counted again.

Experiment assignment keeps no per-user cache (the variant is a hash of the user's id, recomputed
per request), and the next retrain reads the store, so neither holds anything to drop.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

logger = logging.getLogger(__name__)


class ErasureFollower:
    """Apply the store's erasures to one replica's served and online state.

    Parameters
    ----------
    store : explorec.store.Store
    served : explorec.service.served.ServedState
    online : explorec.online.OnlineState, optional
    """

    def __init__(self, store: Any, served: Any, online: Any = None) -> None:
        self.store = store
        self.served = served
        self.online = online
        self.seen: int | None = None
        self._lock = threading.Lock()

    def step(self) -> bool:
        """Apply erasures counted since the last step (the first step only reads the count).

        Returns True when something was applied.
        """
        with self._lock:
            count = int(self.store.erasures())
            if self.seen is None or count == self.seen:
                self.seen = count
                return False
            self.seen = count
            held = self.served.user_ids()
            gone = sorted(set(held) - self.store.known_users(held))
            for user_id in gone:
                self.served.forget_user(user_id)
            if self.online is not None:
                self.online.rebuild(self.store)
            logger.info("erasures applied: %d erased users dropped from the served state", len(gone))
            return True
