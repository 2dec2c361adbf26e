"""Fill a store with the embedded generated shop (``explorec serve --demo``).

The catalogue, users and interactions of :func:`explorec.data.synthetic.load_synthetic` become the
store's items (text from the dataset's template; categories from its department path), users and
feedback events; seeding an already-seeded store adds nothing (events are idempotent on their id).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoCounts:
    items: int
    users: int
    events: int


def seed_demo(
    store: Any,
    *,
    n_users: int = 1000,
    n_items: int = 1500,
    seed: int = 0,
    user_key: Callable[[str], str] = str,
) -> DemoCounts:
    """Write the generated dataset into ``store``; returns how much of it the store holds.

    ``user_key`` maps a user id to the id stored (the service's pseudonym, see
    :func:`explorec.service.pseudonym.user_key`); the identity by default.
    """
    from explorec import progress
    from explorec.data.registry import load_dataset
    from explorec.encoders import item_texts
    from explorec.store import EventIn, ItemIn, UserIn

    dataset = load_dataset("synthetic", n_users=n_users, n_items=n_items, seed=seed)
    data, catalog = dataset.interactions, dataset.catalog
    texts = item_texts(catalog)
    departments = catalog.field("categories")
    arrival = catalog.arrival
    items = [
        ItemIn(
            item_id=str(catalog.item_ids[i]),
            text=texts[i],
            fields={"title": str(catalog.field("title")[i]), "brand": str(catalog.field("brand")[i])},
            categories=tuple(part.strip()[:64] for part in str(departments[i]).split("|") if part.strip()),
            available=True,
            timestamp=float(arrival[i]) if arrival is not None else 0.0,
        )
        for i in range(catalog.n_items)
    ]
    for start in range(0, len(items), 1000):
        store.upsert_items(items[start : start + 1000])
    store.upsert_users([UserIn(user_id=user_key(str(u))) for u in data.user_ids])
    events = [
        EventIn(
            event_id=f"demo-{row}",
            user_id=user_key(str(data.user_ids[data.user[row]])),
            item_id=str(data.item_ids[data.item[row]]),
            type="interaction",
            value=1.0,
            timestamp=float(data.timestamp[row]),
        )
        for row in range(len(data))
    ]
    accepted = 0
    for start in progress.bar(range(0, len(events), 5000), desc="demo events", unit="batch"):
        accepted += len(store.append_events(events[start : start + 5000]).accepted)
    logger.info("demo store: %d items, %d users, %d new events", len(items), data.n_users, accepted)
    return DemoCounts(len(items), data.n_users, len(events))
