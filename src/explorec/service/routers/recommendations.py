"""``/v1/recommendations/{recommendation_id}``: a logged impression, as stored, and its explanation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from explorec.impressions import ImpressionRecord
from explorec.service.auth import Principal, require
from explorec.service.deps import StateDep, StoreDep
from explorec.service.errors import ApiError
from explorec.service.routers import COMMON, errors
from explorec.service.schemas import Explanation, Id, Impression, ItemExplanationOut
from explorec.service.served import ServedState

router = APIRouter(prefix="/v1/recommendations", tags=["recommendations"])


@router.get("/{recommendation_id}", response_model=Impression, responses=errors(*COMMON, 404))
def get_impression(
    recommendation_id: Id, store: StoreDep, key: Annotated[Principal, Depends(require("read"))]
) -> Impression:
    """The impression record of a shown slate (items, positions, propensities, stages, model)."""
    record = store.get_impression(recommendation_id)
    if record is None:
        raise ApiError(
            404, "not_found", f"unknown recommendation_id {recommendation_id!r}", "recommendation_id"
        )
    return Impression.model_validate(record.to_dict())


def explanation_items(state: ServedState, store: Any, record: ImpressionRecord) -> list[ItemExplanationOut]:
    """The explanation of every slot of ``record``, as response items."""
    from explorec.service.explanations import explain_impression

    out = []
    for exp in explain_impression(state, store, record):
        data = exp.to_dict()
        del data["item"]
        for ev in data["evidence"]:
            del ev["item"]
        out.append(ItemExplanationOut.model_validate(data))
    return out


@router.get("/{recommendation_id}/explanation", response_model=Explanation, responses=errors(*COMMON, 404))
def get_explanation(
    recommendation_id: Id,
    store: StoreDep,
    state: StateDep,
    key: Annotated[Principal, Depends(require("read"))],
) -> Explanation:
    """Why each item of a shown slate was shown: the history items that support it (text-vector
    similarity), the words and categories they share, the fallback stage, and for explored slots the
    policy's reason with the propensity."""
    record = store.get_impression(recommendation_id)
    if record is None:
        raise ApiError(
            404, "not_found", f"unknown recommendation_id {recommendation_id!r}", "recommendation_id"
        )
    return Explanation(
        recommendation_id=record.recommendation_id,
        user_id=record.user_id,
        model_version=record.model_version,
        policy=record.policy,
        items=explanation_items(state, store, record),
    )
