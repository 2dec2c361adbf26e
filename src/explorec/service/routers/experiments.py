"""``/v1/experiments/{name}``: define an experiment (PUT) and read its report (GET).

Users take part through ``GET /v1/users/{user_id}/recommendations?experiment=NAME``: the salted
hash of their id picks the variant, which builds the slate; the impression records experiment and
variant (see :mod:`explorec.service.experiment_slates`).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from explorec.errors import ConfigError, DataError
from explorec.impressions import ImpressionRecord
from explorec.service.auth import Principal, require
from explorec.service.deps import StoreDep
from explorec.service.errors import ApiError
from explorec.service.routers import COMMON, errors
from explorec.service.schemas import ExperimentIn, ExperimentOut, ExperimentReport

router = APIRouter(prefix="/v1/experiments", tags=["experiments"])

ExperimentName = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@+~-]*$")
]
#: model versions a variant may name (the registry's versions join them when it is configured)
SERVED_MODELS = ("serving", "textknn")


class ExperimentCache:
    """Definitions read from the store, trusted for ``ttl_s`` (a PUT through another replica
    reaches this one within it)."""

    def __init__(self, ttl_s: float = 1.0) -> None:
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, store: Any, name: str) -> Any:
        from explorec.online.experiments import load_experiment

        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(name)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        experiment = load_experiment(store, name)
        with self._lock:
            self._cache[name] = (now, experiment)
        return experiment

    def put(self, experiment: Any) -> None:
        with self._lock:
            self._cache[experiment.name] = (time.monotonic(), experiment)


def experiment_cache(request: Request) -> ExperimentCache:
    cache = getattr(request.app.state, "experiments", None)
    if cache is None:
        cache = request.app.state.experiments = ExperimentCache()
    return cache


def _out(experiment: Any) -> ExperimentOut:
    return ExperimentOut.model_validate(experiment.to_dict())


@router.put("/{name}", response_model=ExperimentOut, responses=errors(*COMMON, 400))
def put_experiment(
    name: ExperimentName,
    body: ExperimentIn,
    store: StoreDep,
    request: Request,
    key: Annotated[Principal, Depends(require("admin"))],
) -> ExperimentOut:
    """Define (or redefine) an experiment: variants with shares summing to 1, the control, the salt.

    Shares that do not sum to 1, an unknown model version (one that is not ``serving``, ``textknn``
    or a complete version of the registry) or policy, or a bad re-ranker answer 422 naming the field.
    Redefining keeps the impressions already logged; changing shares or salt moves users.
    """
    from explorec.online.experiments import Variant, make_experiment, save_experiment

    variants = [Variant(**v.model_dump()) for v in body.variants]
    follower = getattr(request.app.state, "registry_follower", None)
    models = (*SERVED_MODELS, *(follower.registry.names() if follower is not None else ()))
    try:
        experiment = make_experiment(
            name, variants, control=body.control, salt=body.salt, active=body.active, models=models
        )
    except ConfigError as exc:
        field = str(exc).split(":", 1)[0]
        raise ApiError(422, "invalid_experiment", str(exc), field) from None
    stored = save_experiment(store, experiment)
    experiment_cache(request).put(stored)
    return _out(stored)


def _clean(value: Any) -> Any:
    """NaN -> None, recursively (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


@router.get("/{name}", response_model=ExperimentReport, responses=errors(*COMMON, 404))
def get_experiment(
    name: ExperimentName,
    store: StoreDep,
    request: Request,
    key: Annotated[Principal, Depends(require("read"))],
) -> ExperimentReport:
    """Per variant: slates, impressions (shown slots), clicks, click rate with its Wilson interval,
    the difference to control with a p-value, and IPS/SNIPS/DR estimates of its click rate from the
    other variants' logs (with their logged propensities)."""
    from explorec.online.experiments import experiment_report, load_counterfactuals, load_experiment
    from explorec.service.log import slot_rewards

    experiment = load_experiment(store, name)
    if experiment is None:
        raise ApiError(404, "not_found", f"unknown experiment {name!r}; define it with PUT first", "name")
    records, rewards = slot_rewards(store)
    keep = [j for j, r in enumerate(records) if r.experiment == name]
    report = experiment_report(
        experiment,
        [records[j] for j in keep],
        [rewards[j] for j in keep],
        load_counterfactuals(store, name),
    )
    online = getattr(request.app.state, "online", None)
    for entry in report["variants"]:
        entry["state"] = online.summary(f"{name}/{entry['name']}") if online is not None else {}
    return ExperimentReport.model_validate(_clean(report))


class VersionCache:
    """Registry versions a variant names, loaded once per process (a version never changes)."""

    def __init__(self) -> None:
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, registry: Any, name: str) -> Any:
        with self._lock:
            found = self._loaded.get(name)
        if found is None:
            found = registry.load(name)  # verified against its manifest, registered classes only
            with self._lock:
                self._loaded[name] = found
        return found


def version_resolver(http: Request, state: Any) -> Any:
    """``resolve(model_version) -> LoadedVersion | None`` for one slate: ``serving`` is the version
    the replica serves now (read once), ``textknn`` the text model (None), any other name that
    registry version (404-free: PUT validated it; a version removed from disk answers 503)."""
    serving = state.served_version()
    follower = getattr(http.app.state, "registry_follower", None)

    def resolve(name: str) -> Any:
        if name == "serving":
            return serving
        if name == "textknn":
            return None
        if follower is None:
            raise ApiError(
                409, "registry_not_configured", f"model version {name!r} needs registry_dir", "experiment"
            )
        cache = getattr(http.app.state, "variant_versions", None)
        if cache is None:
            cache = http.app.state.variant_versions = VersionCache()
        try:
            return cache.get(follower.registry, name)
        except (ConfigError, DataError, OSError) as exc:
            raise ApiError(503, "model_unavailable", f"model version {name!r}: {exc}", "experiment") from None

    return resolve


def serve_experiment(
    http: Request, store: Any, state: Any, request: Any, name: str, seed: int
) -> ImpressionRecord:
    """The slate of the user's variant of experiment ``name``, logged with its counterfactuals.

    404 for an unknown experiment; an inactive one serves the plain request (no variant)."""
    from explorec.online.experiments import save_counterfactual
    from explorec.service.experiment_slates import build_experiment_slate
    from explorec.service.slates import build_slate

    experiment = experiment_cache(http).get(store, name)
    if experiment is None:
        raise ApiError(404, "not_found", f"experiment: unknown experiment {name!r}", "experiment")
    if not experiment.active:
        plain = build_slate(state, request, seed=seed)
        store.append_impression(plain)
        return plain
    record: ImpressionRecord
    record, cross, rows = build_experiment_slate(
        state, http.app.state.online, experiment, request, seed=seed, versions=version_resolver(http, state)
    )
    if rows is not None:
        from explorec.online.linear import save_slot_features

        # before the impression: a replica that replays the impression must find its rows
        save_slot_features(store, record.recommendation_id, record.user_id, rows, record.timestamp)
    store.append_impression(record)
    if cross:
        save_counterfactual(store, record, cross)
    return record
