"""``/v1/items``: batch upsert, free-text search, read, delete, similar items."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.exceptions import HTTPException as StarletteHTTPException

from explorec.service.auth import Principal, require
from explorec.service.deps import MetricsDep, SettingsDep, StateDep, StoreDep, check_batch
from explorec.service.errors import ApiError
from explorec.service.routers import COMMON, errors
from explorec.service.schemas import (
    K_MAX,
    Deleted,
    Id,
    ItemBatch,
    ItemHit,
    ItemOut,
    ItemSearch,
    ItemsUpserted,
    Name,
    Neighbour,
    Similar,
)
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
        if item.item_id in RESERVED_IDS:
            raise ApiError(
                422,
                "validation_error",
                f"items[{j}].item_id: {item.item_id!r} is reserved (GET /v1/items/{item.item_id} is a "
                f"route); reserved ids: {', '.join(RESERVED_IDS)}",
                f"items[{j}].item_id",
            )
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
    metrics.set_model_version(state.model_version)
    return ItemsUpserted(upserted=len(rows), created=created)


#: item ids that name a route under /v1/items/ and so cannot be an item's id
RESERVED_IDS = ("search",)


# declared before /{item_id}: "search" matches the item id pattern, and the first matching route wins
@router.get("/search", response_model=ItemSearch, responses=errors(*COMMON))
def search(
    state: StateDep,
    store: StoreDep,
    key: Annotated[Principal, Depends(require("read"))],
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=1000,
            pattern=r"\S",
            description="free text, encoded by the language model",
        ),
    ],
    k: Annotated[int, Query(ge=1, le=K_MAX, description="how many items")] = 10,
    category: Annotated[Name | None, Query(description="only items of this category")] = None,
    newest: Annotated[bool, Query(description="order the k best matches newest first")] = False,
) -> ItemSearch:
    """The servable items whose text is nearest to ``q`` by the language model (cosine of the text
    vectors); ``category`` keeps one category's items, ``newest`` orders the matches newest first."""
    from explorec.service.catalogue import describe, search_items

    found = search_items(state, q, k=k, category=category, newest=newest)
    rows = describe(state, store, [(index, score) for index, score in found])
    return ItemSearch(
        query=q,
        category=category,
        newest=newest,
        items=[
            ItemHit(
                item_id=row.item_id,
                text=row.text,
                fields=row.fields,
                categories=list(row.categories),
                timestamp=row.timestamp,
                score=score,
            )
            for row, (_, score) in zip(rows, found, strict=True)
        ],
    )


@router.api_route("/search", methods=["DELETE"], include_in_schema=False)
def search_is_not_an_item() -> None:
    """``DELETE /v1/items/search`` is not the item route: 405, as the OpenAPI document says."""
    raise StarletteHTTPException(405, "method not allowed")


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
