"""The numbers behind the dashboard's live-loop page.

Two sources:

* **the store** (every replica's slates and feedback): impressions and events are read incrementally
  from their ``seq`` cursors (impressions first: an event is committed after the slate it quotes) by
  :class:`LiveLog`. Over time buckets of the slates' timestamps it gives, per policy and per
  experiment variant, the click rate (slots that got attributed feedback / shown slots) with its
  Wilson interval; the exploration share (explored slots / shown slots); the catalogue coverage (the
  distinct items shown so far / the servable items now); and the cold-item exposure (shown slots
  whose item had no feedback event dated before the slate).
* **this process's Prometheus metrics** (:class:`~explorec.service.metrics.ServiceMetrics`), sampled
  at each poll by :class:`MetricSampler`: the ingestion rate (``explorec_events_ingested_total`` and
  ``explorec_impressions_logged_total`` per second between samples) and the latency percentiles of
  the ``/v1`` routes between samples (``explorec_request_seconds`` buckets, linear interpolation
  inside a bucket as Prometheus' ``histogram_quantile`` does).

The log keeps the most recent ``max_slates`` (200,000) slates in memory and forgets nothing else
until the process restarts: an erased user's slates stay in these charts until then (as in the
online policy state).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from explorec.service.metrics import LATENCY_BUCKETS, ServiceMetrics

#: bucket widths (seconds) the time axis may use; the smallest that gives at most MAX_BUCKETS wins
BUCKET_WIDTHS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)
MAX_BUCKETS = 60
#: z of the 95 % Wilson interval
Z95 = 1.959963984540054


def wilson(clicks: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``clicks / n`` (n > 0)."""
    p = clicks / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class _Slate:
    recommendation_id: str
    timestamp: float
    policy: str
    variant: str  # "experiment/variant", or "" outside experiments
    items: np.ndarray
    explored: np.ndarray
    clicked: set[int] = field(default_factory=set)


class LiveLog:
    """Every slate and its attributed feedback, read incrementally from the store; thread-safe."""

    def __init__(self, batch: int = 10_000, max_slates: int = 200_000) -> None:
        self.batch = batch
        self._impression_seq = 0
        self._event_seq = 0
        # the most recent max_slates slates: memory stays bounded on a long-running service
        self._slates: deque[_Slate] = deque()
        self.max_slates = max_slates
        self._where: dict[str, _Slate] = {}
        self._first_event: dict[str, float] = {}
        self._lock = threading.Lock()

    def sync(self, store: Any) -> None:
        """Read the impressions, then the events, committed since the last call."""
        with self._lock:
            while True:
                rows = store.read_impressions(after=self._impression_seq, limit=self.batch)
                for seq, record in rows:
                    self._impression_seq = max(self._impression_seq, seq)
                    variant = f"{record.experiment}/{record.variant}" if record.experiment else ""
                    slate = _Slate(
                        record.recommendation_id,
                        float(record.timestamp),
                        str(record.policy),
                        variant,
                        np.asarray(record.item_ids, dtype=object),
                        np.asarray(record.explored, dtype=bool),
                    )
                    self._where[slate.recommendation_id] = slate
                    self._slates.append(slate)
                    if len(self._slates) > self.max_slates:
                        self._where.pop(self._slates.popleft().recommendation_id, None)
                if len(rows) < self.batch:
                    break
            while True:
                events = store.read_events(after=self._event_seq, limit=self.batch)
                for event in events:
                    self._event_seq = max(self._event_seq, int(event.seq))
                    first = self._first_event.get(event.item_id)
                    if first is None or event.timestamp < first:
                        self._first_event[event.item_id] = float(event.timestamp)
                    if event.attributed and event.position is not None:
                        shown = self._where.get(event.recommendation_id or "")
                        if shown is not None:
                            shown.clicked.add(int(event.position))
                if len(events) < self.batch:
                    break

    def snapshot(self, n_servable: int) -> dict[str, Any]:
        """The store-side series of the live page (see the module docstring); JSON-ready."""
        with self._lock:
            slates = list(self._slates)
            first_event = dict(self._first_event)
        if not slates:
            return {"bucket_s": None, "t": [], "by_policy": {}, "by_variant": {}, "series": {}, "totals": {}}
        times = np.array([s.timestamp for s in slates])
        start, end = float(times.min()), float(times.max())
        width = next((w for w in BUCKET_WIDTHS if (end - start) / w < MAX_BUCKETS), BUCKET_WIDTHS[-1])
        origin = math.floor(start / width) * width
        n_buckets = int((end - origin) // width) + 1
        shown = np.zeros(n_buckets)
        explored = np.zeros(n_buckets)
        cold = np.zeros(n_buckets)
        groups: dict[str, dict[str, np.ndarray]] = {}
        variants: dict[str, dict[str, np.ndarray]] = {}
        seen_items: set[str] = set()
        covered = np.zeros(n_buckets)
        order = np.argsort(times, kind="stable")
        for j in order:
            slate = slates[j]
            b = int((slate.timestamp - origin) // width)
            k = len(slate.items)
            clicks = float(len(slate.clicked))
            shown[b] += k
            explored[b] += float(slate.explored.sum())
            cold[b] += sum(1 for item in slate.items if first_event.get(item, math.inf) >= slate.timestamp)
            seen_items.update(slate.items.tolist())
            covered[b] = len(seen_items)
            for table, name in ((groups, slate.policy), (variants, slate.variant)):
                if not name:
                    continue
                entry = table.setdefault(name, {"n": np.zeros(n_buckets), "c": np.zeros(n_buckets)})
                entry["n"][b] += k
                entry["c"][b] += clicks
        covered = np.maximum.accumulate(covered)
        return {
            "bucket_s": width,
            "t": [origin + width * b for b in range(n_buckets)],
            "by_policy": {name: _rates(entry) for name, entry in sorted(groups.items())},
            "by_variant": {name: _rates(entry) for name, entry in sorted(variants.items())},
            "series": {
                "exploration_share": _share(explored, shown),
                "cold_exposure": _share(cold, shown),
                "coverage": [float(c) / n_servable if n_servable else None for c in covered],
            },
            "totals": {
                "slates": len(slates),
                "impressions": int(shown.sum()),
                "clicks": int(sum(len(s.clicked) for s in slates)),
                "click_rate": float(sum(len(s.clicked) for s in slates) / shown.sum())
                if shown.sum()
                else None,
                "exploration_share": float(explored.sum() / shown.sum()) if shown.sum() else None,
                "cold_exposure": float(cold.sum() / shown.sum()) if shown.sum() else None,
                "distinct_items_shown": len(seen_items),
                "servable_items": n_servable,
                "coverage": len(seen_items) / n_servable if n_servable else None,
            },
        }


def _share(part: np.ndarray, whole: np.ndarray) -> list[float | None]:
    return [float(p / w) if w else None for p, w in zip(part, whole, strict=True)]


def _rates(entry: dict[str, np.ndarray]) -> dict[str, list[float | None]]:
    """Click rate per bucket with its 95 % Wilson interval (None where nothing was shown)."""
    rate: list[float | None] = []
    lo: list[float | None] = []
    hi: list[float | None] = []
    for clicks, n in zip(entry["c"], entry["n"], strict=True):
        if n <= 0:
            rate.append(None)
            lo.append(None)
            hi.append(None)
            continue
        low, high = wilson(float(clicks), float(n))
        rate.append(float(clicks / n))
        lo.append(low)
        hi.append(high)
    return {
        "impressions": [float(n) for n in entry["n"]],
        "clicks": [float(c) for c in entry["c"]],
        "rate": rate,
        "lo": lo,
        "hi": hi,
    }


def quantile(q: float, bounds: tuple[float, ...], counts: np.ndarray) -> float | None:
    """The ``q`` quantile of a histogram: ``counts[i]`` observations ≤ ``bounds[i]`` (cumulative,
    the last bound +inf), linearly interpolated inside the bucket; None without observations."""
    total = float(counts[-1])
    if total <= 0:
        return None
    rank = q * total
    i = int(np.searchsorted(counts, rank, side="left"))
    if i >= len(bounds) - 1:
        return float(bounds[-2])  # in the +inf bucket: the largest finite bound, as Prometheus does
    lower = 0.0 if i == 0 else float(bounds[i - 1])
    below = 0.0 if i == 0 else float(counts[i - 1])
    inside = float(counts[i]) - below
    return lower + (float(bounds[i]) - lower) * ((rank - below) / inside if inside > 0 else 1.0)


class MetricSampler:
    """Samples this process's Prometheus counters at each poll; rates and percentiles between samples."""

    def __init__(self, metrics: ServiceMetrics, keep: int = 150) -> None:
        self.metrics = metrics
        self._samples: deque[tuple[float, float, float, np.ndarray]] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self.bounds = (*LATENCY_BUCKETS, math.inf)

    def _read(self) -> tuple[float, float, np.ndarray]:
        registry = self.metrics.registry
        events = registry.get_sample_value("explorec_events_ingested_total") or 0.0
        impressions = registry.get_sample_value("explorec_impressions_logged_total") or 0.0
        counts = np.zeros(len(self.bounds))
        index = {b: i for i, b in enumerate(self.bounds)}
        for family in registry.collect():
            if family.name != "explorec_request_seconds":
                continue
            for sample in family.samples:
                if not sample.name.endswith("_bucket") or not sample.labels.get("route", "").startswith(
                    "/v1"
                ):
                    continue
                counts[index[float(sample.labels["le"])]] += sample.value
        return events, impressions, counts

    def sample(self) -> None:
        events, impressions, counts = self._read()
        with self._lock:
            self._samples.append((time.time(), events, impressions, counts))

    def snapshot(self) -> dict[str, Any]:
        """Ingestion rates and /v1 latency percentiles (ms) between consecutive samples."""
        with self._lock:
            samples = list(self._samples)
        out: dict[str, list[float | None]] = {
            k: [] for k in ("t", "events_per_s", "impressions_per_s", "p50_ms", "p90_ms", "p99_ms")
        }
        for (t0, e0, i0, c0), (t1, e1, i1, c1) in pairwise(samples):
            dt = t1 - t0
            if dt <= 0:
                continue
            out["t"].append(t1)
            out["events_per_s"].append((e1 - e0) / dt)
            out["impressions_per_s"].append((i1 - i0) / dt)
            delta = c1 - c0
            for name, q in (("p50_ms", 0.5), ("p90_ms", 0.9), ("p99_ms", 0.99)):
                value = quantile(q, self.bounds, delta)
                out[name].append(None if value is None else 1000.0 * value)
        last = samples[-1] if samples else None
        return {
            **out,
            "events_total": last[1] if last else 0.0,
            "impressions_total": last[2] if last else 0.0,
        }
