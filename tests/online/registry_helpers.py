"""A small store with a known structure for the registry and trainer tests.

Two groups of 12 users: group ``a`` uses only items ``a0..a5``, group ``b`` only ``b0..b5``; each user
has 4 events on a user-specific rotation of the group's items. A model that learns co-occurrence
(EASE) ranks a user's held-out item among the 6 items of the user's group; popularity ranks the same
12 items for everyone, so EASE has the clearly higher ndcg@10 on the held-out last events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from explorec.store import Store
from explorec.store.base import EventIn, ItemIn, UserIn


def seeded_store(where: Path | str) -> Any:
    """The seeded store at a SQLite file ``where`` (a path) or at a database URL (a str)."""
    store = Store.open(where if isinstance(where, str) else f"sqlite:///{where}")
    store.migrate()
    items = [ItemIn(item_id=f"{g}{j}", text=f"group {g} item {j}") for g in "ab" for j in range(6)]
    store.upsert_items(items)
    # the service serves a history only to users with a profile (a user erased elsewhere has none)
    store.upsert_users([UserIn(user_id=f"{g}user{u}") for g in "ab" for u in range(12)])
    events = []
    for g in "ab":
        for u in range(12):
            for step in range(4):
                j = (u + step * (1 + u % 2)) % 6
                events.append(
                    EventIn(
                        event_id=f"{g}-{u}-{step}",
                        user_id=f"{g}user{u}",
                        item_id=f"{g}{j}",
                        type="click",
                        timestamp=1000.0 + step,
                    )
                )
    store.append_events(events)
    return store
