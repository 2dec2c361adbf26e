"""Prometheus metrics of the service (prometheus-client): one registry per app, or, with several
worker processes, one view over every worker (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import os
import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

#: latency buckets in seconds: fine below 25 ms, where the service aims to answer
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

#: the directory through which worker processes share their metrics (prometheus-client reads it when it
#: is first imported, so ``explorec serve --workers N`` sets it before the workers start)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The shared metrics directory when this process is one of several workers, else None."""
    return os.environ.get(MULTIPROC_ENV) or None


class ServiceMetrics:
    """The counters, gauges and histograms that ``/metrics`` exposes.

    The metrics are registered on a registry of their own (not the global one) so that several apps in
    one process, as in the tests, never share or clash. :attr:`registry` is what ``/metrics`` and the
    dashboard read: that same registry in one process, or, when ``PROMETHEUS_MULTIPROC_DIR`` is set (every
    worker of ``explorec serve --workers N``), a collector over the files of every worker, so that any
    worker answers with the service's totals rather than its own share.
    """

    def __init__(self) -> None:
        own = CollectorRegistry()
        self.latency = Histogram(
            "explorec_request_seconds",
            "Request latency by route template, method and status code",
            ("route", "method", "status"),
            buckets=LATENCY_BUCKETS,
            registry=own,
        )
        self.events = Counter(
            "explorec_events_ingested", "Feedback events stored (duplicates excluded)", registry=own
        )
        self.duplicates = Counter(
            "explorec_events_duplicate", "Feedback events already stored (replays)", registry=own
        )
        self.impressions = Counter(
            "explorec_impressions_logged", "Slates written to the impression log", registry=own
        )
        self.items = Counter("explorec_items_upserted", "Items written through the API", registry=own)
        self.store_errors = Counter(
            "explorec_store_errors", "Store calls that failed (store unreachable)", registry=own
        )
        self.stages = Counter(
            "explorec_slots_by_stage",
            "Shown slots by the fallback stage that produced them",
            ("stage",),
            registry=own,
        )
        # gauges: every worker serves the same catalogue and model, so the view over workers takes the
        # largest value (a worker that has not yet caught up on a swap still shows its old version)
        self.catalogue = Gauge(
            "explorec_catalogue_items",
            "Items served (deleted included)",
            registry=own,
            multiprocess_mode="max",
        )
        # a gauge set to 1 for the served version and 0 for those served before (an Info metric has the
        # same text form, but prometheus-client's multiprocess mode does not support Info)
        self.model = Gauge(
            "explorec_model_info",
            "Version of the served model (1: served now, 0: served before)",
            ("version",),
            registry=own,
            multiprocess_mode="max",
        )
        self._version: str | None = None
        self._version_lock = threading.Lock()
        shared = multiprocess_dir()
        if shared is None:
            self.registry = own
        else:
            self.registry = CollectorRegistry()
            MultiProcessCollector(self.registry, path=shared)

    def set_model_version(self, version: str) -> None:
        """Record that ``version`` is the model served now."""
        with self._version_lock:
            if version == self._version:
                return
            if self._version is not None:
                self.model.labels(version=self._version).set(0)
            self.model.labels(version=version).set(1)
            self._version = version
