"""Explanations of logged slates in the service: :func:`explorec.explain.explain_record` over the
served catalogue.

The evidence is the user's history as it stood when the slate was built (events up to the
impression's timestamp), weighed by cosine similarity of the served text vectors (the served model,
``textknn``, scores exactly so); shared words and categories come from the stored item texts. An
explored item is called new when it has no events in the served state at the time of the request.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from explorec.explain import ItemExplanation, explain_record
from explorec.impressions import ImpressionRecord
from explorec.service.served import ServedState


def explain_impression(state: ServedState, store: Any, record: ImpressionRecord) -> list[ItemExplanation]:
    """Explanations of every slot of ``record`` (see the module docstring for their sources)."""
    history = [item for item, ts in state.history(record.user_id) if ts <= record.timestamp]
    needed = sorted(set(history) | set(record.items))
    ids = state.item_id_array()
    texts: dict[int, str] = {}
    for item in needed:
        row = store.get_item(str(ids[item]))
        texts[item] = "" if row is None else str(row.text)
    categories = {i: list(state.categories.get(i, ())) for i in needed}
    counts = np.asarray(state.popularity.view(), dtype=np.float64)
    return explain_record(
        record,
        history,
        item_ids=ids,
        texts=texts,
        categories=categories,
        item_vectors=state.vectors.view(),
        item_counts=counts,
    )
