"""The service's own impression log as off-policy evaluation input.

Every slate the service showed is an :class:`~explorec.impressions.ImpressionRecord` in the store;
feedback that quoted its ``recommendation_id`` was attributed there to the slot that showed the
item. Joining the two gives, per shown slot, the logging policy's propensity and a binary reward
(1 when an attributed event of a rewarded type hit the slot), which is what
:func:`explorec.impressions.to_bandit_log` turns into the estimators' :class:`BanditLog`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from explorec.errors import DataError
from explorec.impressions import ImpressionRecord, to_bandit_log

if TYPE_CHECKING:
    from explorec.evaluation.ope import BanditLog


def slot_rewards(
    store: Any, *, reward_types: Sequence[str] | None = None
) -> tuple[list[ImpressionRecord], list[np.ndarray]]:
    """The logged impressions and, per impression, float64[k] binary rewards by position.

    Parameters
    ----------
    store : explorec.store.Store
    reward_types : sequence of str, optional
        Event types that count as a reward (default: every attributed event).
    """
    records = [record for _, record in store.read_impressions()]
    where = {r.recommendation_id: j for j, r in enumerate(records)}
    rewards = [np.zeros(len(r), dtype=np.float64) for r in records]
    for event in store.read_events():
        if not event.attributed or event.position is None or event.recommendation_id not in where:
            continue
        if reward_types is not None and event.type not in reward_types:
            continue
        rewards[where[event.recommendation_id]][event.position] = 1.0
    return records, rewards


def read_service_log(
    database_url: str, *, reward_types: Sequence[str] | None = None, len_list: int | None = None
) -> BanditLog:
    """The bandit log of the service whose store is at ``database_url``.

    Actions are the store's internal item indices (``n_actions`` = the largest shown index + 1).
    """
    from explorec.store import Store

    store = Store.open(database_url)
    try:
        records, rewards = slot_rewards(store, reward_types=reward_types)
    finally:
        store.close()
    records_rewards = [(r, w) for r, w in zip(records, rewards, strict=True) if len(r)]
    if not records_rewards:
        raise DataError(f"{database_url}: the service has logged no impressions yet")
    kept, kept_rewards = zip(*records_rewards, strict=True)
    n_actions = max(max(r.items) for r in kept) + 1
    return to_bandit_log(
        list(kept),
        list(kept_rewards),
        n_actions=n_actions,
        len_list=len_list,
        source=f"service log {database_url} ({len(kept)} impressions)",
    )
