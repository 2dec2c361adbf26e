"""Explanations of logged slates in the service: :func:`explorec.explain.explain_record` over the
served catalogue.

The evidence is the user's history as it stood when the slate was built (events up to the
impression's timestamp), weighed by what the model that built the slate uses: cosine similarity of
the served text vectors for the text model (``textknn`` scores exactly so), and the attention of a
sequential registry version (SASRec, the LM adapter: ``evidence_kind`` ``"attention"``, see
:mod:`explorec.explain`) when that version built the slate and still serves, over the history items
it knows, in time order. Shared words and categories come from the stored item texts. An explored
item is called new when it has no events in the served state at the time of the request.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from explorec.explain import ItemExplanation, explain_record, model_attention
from explorec.impressions import ImpressionRecord
from explorec.service.served import ServedState


def explain_impression(state: ServedState, store: Any, record: ImpressionRecord) -> list[ItemExplanation]:
    """Explanations of every slot of ``record`` (see the module docstring for their sources)."""
    events = sorted(
        ((item, ts) for item, ts in state.history(record.user_id) if ts <= record.timestamp),
        key=lambda pair: pair[1],
    )
    history = [item for item, _ in events]
    model, sequence = None, None
    version = state.served_version()
    if version is not None and state.version_label(version) == record.model_version:
        if model_attention(version.model) is not None:
            model = version.model  # it reads the store's first n_items_ items, as it scored them
            known = int(version.model.n_items_)
            sequence = [item for item in history if item < known]
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
        model=model,
        sequence=sequence,
    )
