"""Prometheus metrics of one service process (prometheus-client, one registry per app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

#: latency buckets in seconds: fine below 25 ms, where the service aims to answer
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ServiceMetrics:
    """The counters, gauges and histograms that ``/metrics`` exposes.

    A registry per app (not the global one) so that several apps in one process, as in the tests,
    never share or clash on metrics.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "explorec_request_seconds",
            "Request latency by route template, method and status code",
            ("route", "method", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events = Counter(
            "explorec_events_ingested", "Feedback events stored (duplicates excluded)", registry=self.registry
        )
        self.duplicates = Counter(
            "explorec_events_duplicate", "Feedback events already stored (replays)", registry=self.registry
        )
        self.impressions = Counter(
            "explorec_impressions_logged", "Slates written to the impression log", registry=self.registry
        )
        self.items = Counter(
            "explorec_items_upserted", "Items written through the API", registry=self.registry
        )
        self.store_errors = Counter(
            "explorec_store_errors", "Store calls that failed (store unreachable)", registry=self.registry
        )
        self.stages = Counter(
            "explorec_slots_by_stage",
            "Shown slots by the fallback stage that produced them",
            ("stage",),
            registry=self.registry,
        )
        self.catalogue = Gauge(
            "explorec_catalogue_items", "Items served (deleted included)", registry=self.registry
        )
        self.model = Info("explorec_model", "Version of the served model", registry=self.registry)
