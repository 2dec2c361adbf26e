"""Catalogue look-ups over the served state: free-text search and paged browsing.

Search encodes the query with the service's own text encoder (the one that embedded the items) and
ranks the servable items by cosine similarity to it. Without a category filter the candidates come
from the served retrieval index (exact below ``faiss_min_items``, FAISS above) and are rescored
exactly with the served vectors (a FAISS entry of an updated item may be stale); with a category
filter every servable item of the category is scored exactly. ``newest`` orders the hits newest
first (the ``k`` best matches, then by arrival time); browsing (no query) lists the servable items
in index order, or newest first.

Only servable items are listed: deleted or unavailable items are never shown, as in slates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from explorec.service.served import ServedState


@dataclass(frozen=True)
class CatalogueHit:
    """One listed item: its id, stored text, fields, categories, arrival time and match score."""

    item_id: str
    text: str
    fields: dict[str, Any]
    categories: tuple[str, ...]
    timestamp: float
    score: float | None


def _newest_first(state: ServedState, items: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    times = state.timestamps.view()[items]
    # ties (same arrival time) keep index order, so that paging is stable
    return items[np.lexsort((items, -times))]


def search_items(
    state: ServedState, query: str, *, k: int, category: str | None = None, newest: bool = False
) -> list[tuple[int, float]]:
    """The ``k`` servable items nearest to ``query`` in the text-vector space: ``(index, cosine)``.

    Best match first, or newest first with ``newest`` (the same ``k`` items).
    """
    vector = state.embed([query])[0]  # unit length, like the served item vectors
    if category is None and state.index is not None:
        near, _ = state.neighbours(vector[None, :], min(state.n_items, 2 * k + 10))
        candidates = near.astype(np.int64)
    else:
        candidates = state.servable_items(category)
    if candidates.size == 0:
        return []
    scores = state.vectors.view()[candidates] @ vector
    order = np.lexsort((candidates, -scores))[:k]  # ties by index: a fixed order
    hits = [(int(candidates[j]), float(scores[j])) for j in order]
    if newest:
        times = state.timestamps.view()
        hits.sort(key=lambda hit: (-times[hit[0]], hit[0]))
    return hits


def browse_items(
    state: ServedState, *, offset: int, limit: int, category: str | None = None, newest: bool = False
) -> tuple[list[int], int]:
    """One page of servable items (index order, or newest first) and how many there are in all."""
    items = state.servable_items(category)
    if newest:
        items = _newest_first(state, items)
    return [int(i) for i in items[offset : offset + limit]], int(items.size)


def describe(state: ServedState, store: Any, hits: list[tuple[int, float | None]]) -> list[CatalogueHit]:
    """The stored text and fields of each ``(index, score)``; items missing from the store are
    reported by the store's own error, never silently dropped."""
    ids = state.item_id_array()
    times = state.timestamps.view()
    out = []
    for index, score in hits:
        item_id = str(ids[index])
        row = store.get_item(item_id)
        if row is None:
            raise RuntimeError(f"served item {item_id!r} (index {index}) is not in the store")
        out.append(
            CatalogueHit(
                item_id=item_id,
                text=str(row.text),
                fields=dict(row.fields),
                categories=tuple(state.categories.get(index, ())),
                timestamp=float(times[index]),
                score=score,
            )
        )
    return out
