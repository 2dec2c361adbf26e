"""The background trainer: refit the configured model on the store's events and register the result.

One refit (:func:`refit`) reads every event and item from the store, holds out each user's last event
(users with at least two events), fits the configured model on the rest, evaluates it on the held-out
events by full ranking (``trainer_metric``, e.g. ``ndcg@10``) and writes it as a new immutable
version of the registry with its metrics and metadata. It is swapped in (the registry's pointer moves)
only when

- no version is pinned, and
- its metric is not below the serving version's by more than ``trainer_margin``.

Otherwise the version is kept, marked ``rejected`` or ``not-swapped``, with the reason, in
``/v1/models`` and in the log. A refit that fails (too few events, a model that refuses its
parameters, any exception) writes no version; its reason is recorded the same way.

:func:`run_trainer` repeats refits every ``trainer_interval_s`` and whenever ``POST /v1/models/retrain``
asked for one; ``explorec serve`` runs it in a separate process (:func:`start_trainer_process`) when
``trainer = true``, and ``explorec train --from-service --config FILE`` runs one refit.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import threading
import time
import traceback
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np

from explorec.data.interactions import Interactions
from explorec.errors import ConfigError, DataError
from explorec.online.registry import ModelRegistry
from explorec.service.settings import ServiceSettings

logger = logging.getLogger(__name__)

#: models the service can serve from a registry version: they score a user from the user's history
#: alone, so a served user needs no row in the model's own user vocabulary
SERVABLE_MODELS = ("popularity", "itemknn", "ease", "ease-ipw", "textknn", "lm-adapter", "fusion")
#: the ones that also read the items' texts: fitted with the store's catalogue and the service's
#: encoder; their item vectors (textknn: the encoded texts; lm-adapter: its frozen text table and
#: trained head) are part of the version, so a text changed later does not change a version
TEXT_MODELS = ("textknn", "lm-adapter")
#: fusions: fitted with the store's catalogue; their text components get the service's encoder too
FUSION_MODELS = ("fusion", "fusion-weighted", "fusion-rrf", "fusion-learned")


def trainer_params(settings: ServiceSettings) -> dict[str, Any]:
    """``trainer_params`` with the service's encoder and the store's ``{text}`` template filled in for
    a text model, or for every text component of a fusion (a parameter given explicitly wins)."""
    from explorec.models.fusion import parse_components
    from explorec.models.registry import model_class

    params = dict(settings.trainer_params)
    text = {"encoder": settings.encoder, "template": "{text}"}
    if settings.trainer_model in TEXT_MODELS:
        return {**text, **params}
    if settings.trainer_model in FUSION_MODELS:
        components = params.get("components")
        if components is None:  # the class default, made explicit so that its text parts get the encoder
            components = model_class(settings.trainer_model)().get_params()["components"]
        params["components"] = [
            [name, {**text, **p} if name in TEXT_MODELS else p] for name, p in parse_components(components)
        ]
    return params


def store_catalog(store: Any, item_ids: np.ndarray) -> Any:
    """The store's items as a Catalog aligned with ``item_ids`` (the store's item indices), with the
    ``text`` field and, when any item has some, ``categories`` (``|``-joined)."""
    from explorec.data.interactions import Catalog

    rows = {int(r.index): r for r in store.items(after_index=-1)}
    texts = np.array([rows[j].text if j in rows else "" for j in range(len(item_ids))], dtype=object)
    fields = {"text": texts}
    cats = [("|".join(rows[j].categories) if j in rows else "") for j in range(len(item_ids))]
    if any(cats):
        fields["categories"] = np.array(cats, dtype=object)
    return Catalog(np.asarray(item_ids, dtype=object), fields)


_METRIC_RE = re.compile(r"^[a-z_]+@(\d+)$")


def store_interactions(store: Any) -> tuple[Interactions, int, int]:
    """Every stored event as Interactions over the store's item indices.

    Returns the interactions (item column ``j`` is the store's item index ``j``, so a model fitted on
    them scores the served catalogue's first ``n_items`` items without a mapping), the cursor (the
    largest event ``seq`` read) and the number of events.
    """
    items = store.items(after_index=-1)
    n_items = max((int(r.index) for r in items), default=-1) + 1
    item_ids = np.array([""] * n_items, dtype=object)
    for row in items:
        item_ids[int(row.index)] = row.item_id
    users: dict[str, int] = {}
    u: list[int] = []
    i: list[int] = []
    t: list[float] = []
    cursor = 0
    while True:
        rows = store.read_events(after=cursor, limit=10_000)
        for row in rows:
            cursor = max(cursor, int(row.seq))
            if not 0 <= int(row.item) < n_items:
                continue  # an item written after the catalogue was read: the next refit has it
            u.append(users.setdefault(row.user_id, len(users)))
            i.append(int(row.item))
            t.append(float(row.timestamp))
        if len(rows) < 10_000:
            break
    data = Interactions(
        np.array(u, dtype=np.int64),
        np.array(i, dtype=np.int64),
        np.array(t, dtype=np.float64),
        np.ones(len(u), dtype=np.float32),
        np.array(list(users), dtype=object),
        item_ids,
    )
    return data, cursor, len(u)


def holdout_last(data: Interactions) -> tuple[Interactions, Interactions]:
    """Each user's last event (by time, then arrival) held out, for users with two or more events."""
    n = len(data)
    order = np.lexsort((np.arange(n), data.timestamp, data.user))  # by user, time, arrival
    users = data.user[order]
    last = np.ones(n, dtype=bool)
    last[:-1] = users[1:] != users[:-1]
    counts = np.bincount(data.user, minlength=data.n_users)
    test_rows = order[last & (counts[users] >= 2)]
    mask = np.zeros(n, dtype=bool)
    mask[test_rows] = True
    return _subset(data, ~mask), _subset(data, mask)


def _subset(data: Interactions, rows: np.ndarray) -> Interactions:
    return Interactions(
        data.user[rows],
        data.item[rows],
        data.timestamp[rows],
        data.weight[rows],
        data.user_ids,
        data.item_ids,
    )


def metric_cutoff(metric: str) -> int:
    match = _METRIC_RE.match(metric)
    if match is None:
        raise ConfigError(f"trainer_metric must look like 'ndcg@10' or 'recall@20', got {metric!r}")
    return int(match.group(1))


def refit(settings: ServiceSettings, store: Any, registry: ModelRegistry | None = None) -> dict[str, Any]:
    """One refit on the store's events; returns the attempt recorded in the registry.

    The attempt is ``{time, status, reason, version, metrics}`` with status ``promoted``,
    ``rejected`` (worse than the serving version by more than the margin), ``not-swapped`` (a version
    is pinned) or ``failed`` (no version written).
    """
    from explorec.evaluation import evaluate
    from explorec.models.registry import make_model

    if registry is None:
        registry = registry_of(settings)
    started = time.time()
    attempt: dict[str, Any] = {"time": started, "model": settings.trainer_model}
    metric = settings.trainer_metric
    try:
        k = metric_cutoff(metric)
        data, cursor, n_events = store_interactions(store)
        if n_events < settings.trainer_min_events:
            raise DataError(
                f"the store holds {n_events} usable events; "
                f"trainer_min_events is {settings.trainer_min_events}"
            )
        train, test = holdout_last(data)
        if len(test) == 0:
            raise DataError("no user has two events, so nothing can be held out to evaluate a refit")
        catalog = None
        if settings.trainer_model in TEXT_MODELS + FUSION_MODELS:
            catalog = store_catalog(store, data.item_ids)
        model = make_model(settings.trainer_model, **trainer_params(settings))
        tic = time.perf_counter()
        model.fit(train, catalog)
        fit_seconds = time.perf_counter() - tic
        result = evaluate(model, test, history=train, k=[k])
        metrics = {key: float(value) for key, value in result.metrics.items()}
        if metric not in metrics:
            raise ConfigError(f"trainer_metric {metric!r} is not computed; computed: {sorted(metrics)}")
        value = metrics[metric]
        if not np.isfinite(value):
            raise DataError(f"the refit's {metric} is {value}")
        serving = registry.serving()
        version = registry.add(
            model,
            meta={
                "created_at": started,
                "model": settings.trainer_model,
                "params": model.get_params(),
                "n_events": n_events,
                "cursor": cursor,
                "n_items": data.n_items,
                "parent": serving,
                "metrics": metrics,
                "fit_seconds": fit_seconds,
            },
        )
    except Exception as exc:  # any failure of a refit must leave the serving version alone
        reason = f"{type(exc).__name__}: {exc}"
        logger.error("retrain failed, nothing swapped in: %s\n%s", reason, traceback.format_exc())
        attempt.update(status="failed", reason=reason, version=None, metrics=None)
        registry.record_attempt(attempt)
        return attempt

    attempt.update(version=version, metrics=metrics, parent=serving)
    pinned = registry.state().pinned
    baseline = registry.info(serving).metrics.get(metric) if serving is not None else None
    if pinned is not None:
        attempt.update(status="not-swapped", reason=f"version {pinned} is pinned")
    elif baseline is not None and value < baseline - settings.trainer_margin:
        attempt.update(
            status="rejected",
            reason=f"{metric} {value:.4f} is below the serving version's {baseline:.4f} by more than "
            f"trainer_margin {settings.trainer_margin}",
        )
    elif registry.promote(version, unless_pinned=True):
        attempt.update(status="promoted", reason=None)
    else:  # pinned while this refit ran
        attempt.update(status="not-swapped", reason=f"version {registry.state().pinned} is pinned")
    if attempt["status"] == "promoted":
        logger.info(
            "retrain: %s serves (%s %.4f, %d events up to seq %d)", version, metric, value, n_events, cursor
        )
    else:
        logger.warning("retrain: %s not swapped in: %s", version, attempt["reason"])
    registry.record_attempt(attempt)
    return attempt


def registry_of(settings: ServiceSettings) -> ModelRegistry:
    if settings.registry_dir is None:
        raise ConfigError("registry_dir is not set; the trainer needs a model registry folder")
    return ModelRegistry(settings.registry_dir)


def run_trainer(
    settings: ServiceSettings, stop: threading.Event | None = None, parent_pid: int | None = None
) -> None:
    """Refit every ``trainer_interval_s`` (the first at start) and on each retrain request, until ``stop``.

    With ``parent_pid``, also stop when that process is gone (the trainer of ``explorec serve`` must
    not outlive the server, even one killed with SIGKILL).
    """
    from explorec.store import Store

    registry = registry_of(settings)
    store = Store.open(settings.database_url)
    stop = stop or threading.Event()
    last = float("-inf")
    try:
        store.migrate()
        while not stop.is_set():
            if parent_pid is not None and os.getppid() != parent_pid:
                logger.info("the server (pid %d) is gone; the trainer stops", parent_pid)
                return
            due = time.monotonic() - last >= settings.trainer_interval_s
            if registry.take_retrain_request() or due:
                last = time.monotonic()
                refit(settings, store, registry)
            stop.wait(settings.trainer_poll_s)
    finally:
        store.close()


def _trainer_main(settings_json: str, parent_pid: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = ServiceSettings.model_validate_json(settings_json)
    run_trainer(settings, parent_pid=parent_pid)


def start_trainer_process(settings: ServiceSettings) -> BaseProcess:
    """Start :func:`run_trainer` in a separate process (spawned: no state shared with the server)."""
    registry_of(settings)  # a missing registry_dir fails here, in the parent, with a clear message
    context = multiprocessing.get_context("spawn")
    process = context.Process(
        target=_trainer_main,
        # the trainer reads only pseudonyms from the store: it gets no pseudonymise_secret
        args=(settings.model_dump_json(exclude={"pseudonymise_secret"}), os.getpid()),
        name="explorec-trainer",
        daemon=True,
    )
    process.start()
    logger.info("background trainer started (pid %s, every %.0f s)", process.pid, settings.trainer_interval_s)
    return process
