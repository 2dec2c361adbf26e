"""``/v1/models``: the model registry's versions, which one serves, pin, rollback and retrain (issue 13).

Every route answers 409 ``registry_not_configured`` when the service runs without ``registry_dir``.
Pin and rollback move the registry's atomic pointer (every replica follows it within ``model_poll_s``;
the replica that answered swaps at once); retrain asks the background trainer for a refit.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from explorec.errors import ConfigError
from explorec.online.registry import ModelRegistry, RegistryFollower
from explorec.service.auth import Principal, require
from explorec.service.errors import ApiError
from explorec.service.routers import COMMON, errors
from explorec.service.schemas import ErrorResponse, Id, Strict

router = APIRouter(prefix="/v1/models", tags=["models"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **errors(*COMMON),
    404: {"model": ErrorResponse, "description": "unknown model version"},
    409: {"model": ErrorResponse, "description": "no model registry configured, or nothing to roll back to"},
}


class ModelVersion(Strict):
    """One immutable version with its offline metrics and what it was trained on."""

    version: str
    created_at: float
    model: str
    params: dict[str, Any]
    n_events: int
    cursor: int
    n_items: int
    parent: str | None
    metrics: dict[str, float]
    fit_seconds: float
    serving: bool
    pinned: bool
    status: str
    reason: str | None


class ModelsReport(Strict):
    """The registry: versions, the serving and pinned ones, the trainer's recent attempts."""

    serving: str | None
    pinned: str | None
    loaded: str | None
    swaps: int
    load_error: str | None
    versions: list[ModelVersion]
    attempts: list[dict[str, Any]]
    retrain_requested: float | None


class RetrainAnswer(Strict):
    requested_at: float


def _registry(request: Request) -> tuple[ModelRegistry, RegistryFollower]:
    follower: RegistryFollower | None = getattr(request.app.state, "registry_follower", None)
    if follower is None:
        raise ApiError(
            409,
            "registry_not_configured",
            "this service runs without a model registry; set registry_dir in its configuration",
        )
    return follower.registry, follower


def _report(registry: ModelRegistry, follower: RegistryFollower) -> ModelsReport:
    described = registry.describe()
    return ModelsReport(
        loaded=follower.loaded,
        swaps=follower.swaps,
        load_error=follower.last_error,
        **described,
    )


@router.get("", response_model=ModelsReport, responses=_RESPONSES)
def list_models(request: Request, key: Annotated[Principal, Depends(require("read"))]) -> ModelsReport:
    """Every version with its offline metrics, which one serves (and which this replica loaded)."""
    registry, follower = _registry(request)
    return _report(registry, follower)


@router.post("/{version}/pin", response_model=ModelsReport, responses=_RESPONSES)
def pin_model(
    version: Id, request: Request, key: Annotated[Principal, Depends(require("admin"))]
) -> ModelsReport:
    """Serve ``version`` and keep it serving (the trainer swaps nothing in until ``unpin``)."""
    registry, follower = _registry(request)
    try:
        registry.pin(version)
    except ConfigError as exc:
        raise ApiError(404, "not_found", str(exc), "version") from None
    follower.step()
    return _report(registry, follower)


@router.post("/unpin", response_model=ModelsReport, responses=_RESPONSES)
def unpin_model(request: Request, key: Annotated[Principal, Depends(require("admin"))]) -> ModelsReport:
    """Let the trainer swap better versions in again."""
    registry, follower = _registry(request)
    registry.unpin()
    return _report(registry, follower)


@router.post("/rollback", response_model=ModelsReport, responses=_RESPONSES)
def rollback_model(request: Request, key: Annotated[Principal, Depends(require("admin"))]) -> ModelsReport:
    """Serve the version that served before the current one (it is then pinned)."""
    registry, follower = _registry(request)
    try:
        registry.rollback()
    except ConfigError as exc:
        raise ApiError(409, "nothing_to_roll_back", str(exc)) from None
    follower.step()
    return _report(registry, follower)


@router.post("/retrain", response_model=RetrainAnswer, status_code=202, responses=_RESPONSES)
def retrain_model(request: Request, key: Annotated[Principal, Depends(require("write"))]) -> RetrainAnswer:
    """Ask the background trainer for a refit; its outcome appears under ``attempts``."""
    registry, _ = _registry(request)
    return RetrainAnswer(requested_at=registry.request_retrain())
