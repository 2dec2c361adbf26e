"""``/v1/items``: batch upsert, read, delete, similar items."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from explorec.service.auth import Principal, require
from explorec.service.deps import MetricsDep, SettingsDep, StateDep, StoreDep, check_batch
from explorec.service.errors import ApiError
from explorec.service.routers import COMMON, errors
from explorec.service.schemas import K_MAX, Deleted, Id, ItemBatch, ItemOut, ItemsUpserted, Neighbour, Similar
from explorec.service.served import ServedItem

router = APIRouter(prefix="/v1/items", tags=["items"])


@router.post("", response_model=ItemsUpserted, responses=errors(*COMMON, 400, 409, 413))
def upsert_items(
    body: ItemBatch,
    store: StoreDep,
    state: StateDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    key: Annotated[Principal, Depends(require("write"))],
) -> ItemsUpserted:
    """Insert or update items; a new item is embedded now and recommendable in the next request."""
    from explorec.store import ItemIn

    check_batch(len(body.items), settings, "items")
    seen: dict[str, int] = {}
    for j, item in enumerate(body.items):
        if item.item_id in seen:
            raise ApiError(
                409,
                "duplicate_id",
                f"items[{j}].item_id {item.item_id!r} repeats items[{seen[item.item_id]}]",
                f"items[{j}].item_id",
            )
        seen[item.item_id] = j
    now = time.time()
    rows = [
        ItemIn(
            item_id=i.item_id,
            text=i.text,
            fields=dict(i.fields),
            categories=tuple(i.categories),
            available=i.available,
            timestamp=now if i.timestamp is None else i.timestamp,
        )
        for i in body.items
    ]
    vectors = state.embed([r.text for r in rows])  # before the write: a failure leaves nothing half-served
    created = sum(1 for r in rows if r.item_id not in state.item_index)
    indices = store.upsert_items(rows)
    state.apply_written(
        store,
        [
            ServedItem(int(idx), r.item_id, r.text, r.categories, r.available, False, r.timestamp)
            for idx, r in zip(indices, rows, strict=True)
        ],
        vectors,
    )
    metrics.items.inc(len(rows))
    metrics.catalogue.set(state.n_items)
    metrics.model.info({"version": state.model_version})
    return ItemsUpserted(upserted=len(rows), created=created)


@router.get("/{item_id}", response_model=ItemOut, responses=errors(*COMMON, 404))
def get_item(item_id: Id, store: StoreDep, key: Annotated[Principal, Depends(require("read"))]) -> ItemOut:
    row = store.get_item(item_id)
    if row is None or row.deleted:
        raise ApiError(404, "not_found", f"unknown item_id {item_id!r}", "item_id")
    return ItemOut(
        item_id=row.item_id,
        text=row.text,
        fields=dict(row.fields),
        categories=list(row.categories),
        available=bool(row.available),
        timestamp=float(row.timestamp),
        created_at=float(row.created_at),
    )


@router.delete("/{item_id}", response_model=Deleted, responses=errors(*COMMON, 404))
def delete_item(
    item_id: Id, store: StoreDep, state: StateDep, key: Annotated[Principal, Depends(require("write"))]
) -> Deleted:
    """Mark the item deleted: it is never recommended again (its internal index stays reserved)."""
    if not store.delete_item(item_id):
        raise ApiError(404, "not_found", f"unknown item_id {item_id!r}", "item_id")
    state.delete_item(item_id)
    return Deleted(id=item_id, deleted=True)


@router.get("/{item_id}/similar", response_model=Similar, responses=errors(*COMMON, 404))
def similar_items(
    item_id: Id,
    state: StateDep,
    store: StoreDep,
    key: Annotated[Principal, Depends(require("read"))],
    k: Annotated[int, Query(ge=1, le=K_MAX, description="neighbours of each kind")] = 10,
) -> Similar:
    """Nearest items by the language model's text vectors, and by co-occurrence in user histories."""
    index = state.item_index.get(item_id)
    if index is None:  # written through another worker or replica since this one's last sync?
        state.catch_up_items(store)
        index = state.item_index.get(item_id)
    if index is None or not state.is_servable(index):
        raise ApiError(404, "not_found", f"unknown item_id {item_id!r}", "item_id")
    ids = state.item_id_array()
    near, sims = state.neighbours(state.vectors.view()[[index]], k, exclude=[index])
    return Similar(
        item_id=item_id,
        language_model=[
            Neighbour(item_id=str(ids[i]), score=float(s)) for i, s in zip(near, sims, strict=True)
        ],
        collaborative=[Neighbour(item_id=str(ids[i]), score=s) for i, s in state.collaborative(index, k)],
    )
