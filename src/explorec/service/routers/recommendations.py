"""``/v1/recommendations/{recommendation_id}``: a logged impression, as stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from explorec.service.auth import Principal, require
from explorec.service.deps import StoreDep
from explorec.service.errors import ApiError
from explorec.service.routers import COMMON, errors
from explorec.service.schemas import Id, Impression

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
