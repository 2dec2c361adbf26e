"""Online policy state rebuilt from the store: per-item bandit statistics, position bias, calibration.

Every replica holds an :class:`OnlineState` and keeps it current by replaying the store's impression
log and attributed feedback from two cursors (:meth:`OnlineState.sync`), so the state "lives in the
store": a replica that restarts, or a new one, replays the log from the start and arrives at the same
statistics, and feedback sent to any replica reaches every replica within one sync interval
(:class:`Learner`, ``interval_s``). Nothing is learned from a process's memory alone.

What is learned, per *policy state key* (``experiment/variant`` for a slate shown in an experiment,
else the policy's name, so each variant learns only from the slates it built):

* per item and position, how often it was shown; per item, how often a shown slot got feedback
  (a reward of 1 per slot, however many events quote it);
* per position, shows and rewarded shows, over every slot and over the explored slots alone: the
  examination (position-bias) estimate is the click rate of each position relative to position 0,
  read from the explored slots once there are enough of them (a randomised slot's relevance does not
  depend on its position, so its click rate by position measures examination, Joachims et al. 2017),
  otherwise from every slot;
* per score bin (the model score the slot was shown with), shows and rewards: the calibration that
  turns a model score into a prior click probability for items without statistics yet.

* for a key whose slates a linear policy built (``linucb``, ``lints``, ``linucb-hybrid``), the ridge
  statistics of :class:`~explorec.online.linear.LinearStats`, replayed from the feature rows each
  slate logged in the store (``slot_features``).

Feedback updates a policy only when it quotes a ``recommendation_id`` whose slate showed the item
(the store attributed it) and arrives within ``window_s`` of the slate; anything else is stored by
the feedback route but leaves the policy state unchanged (:meth:`OnlineState.outcome` says why).
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from explorec.impressions import ImpressionRecord
from explorec.online.linear import (
    LINEAR_POLICY_NAMES,
    HybridSolution,
    LinearStats,
    load_slot_features,
    slate_examination,
)
from explorec.online.periodic import Periodic
from explorec.policies.base import grow

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: positions tracked separately (later positions share the last row)
N_POSITIONS = 20
#: score bins of the calibration over [-1, 1] (cosine scores); NaN scores use their own bin
N_BINS = 200
#: prior slope of the logistic score calibration (logit per unit of cosine score)
PRIOR_SLOPE = 5.0
#: explored slots needed before the examination estimate uses them alone
MIN_EXPLORED_SHOWS = 500
#: pseudo-shows that pull a sparse position / bin towards the overall click rate
SMOOTHING = 50.0
#: the prior click rate before a key has any feedback
DEFAULT_CTR = 0.05


def state_key(record: ImpressionRecord) -> str:
    """The policy state a slate learns into: ``experiment/variant``, or the policy's name."""
    if record.experiment:
        return f"{record.experiment}/{record.variant}"
    return record.policy


def _bin(score: float) -> int:
    if not math.isfinite(score):
        return N_BINS  # the extra bin of slots shown without a model score (fallback stages)
    return min(N_BINS - 1, max(0, int((score + 1.0) / 2.0 * N_BINS)))


class KeyStats:
    """Sufficient statistics of one policy state key (see the module docstring)."""

    def __init__(self) -> None:
        self.item_shows = np.zeros((0, N_POSITIONS))  # [n_items, P]
        self.item_clicks = np.zeros(0)  # [n_items]
        self.pos_shows = np.zeros(N_POSITIONS)
        self.pos_clicks = np.zeros(N_POSITIONS)
        self.explored_shows = np.zeros(N_POSITIONS)
        self.explored_clicks = np.zeros(N_POSITIONS)
        self.bin_shows = np.zeros((N_BINS + 1, N_POSITIONS))
        self.bin_clicks = np.zeros(N_BINS + 1)
        self.impressions = 0
        self.clicks = 0
        self.linear: LinearStats | None = None  # created by the first slate with feature rows

    def add_impression(self, record: ImpressionRecord) -> None:
        if not len(record):
            return
        items = np.asarray(record.items, dtype=np.int64)
        pos = np.minimum(np.arange(len(record)), N_POSITIONS - 1)
        size = int(items.max()) + 1
        self.item_shows = grow(self.item_shows, size)
        self.item_clicks = grow(self.item_clicks, size)
        np.add.at(self.item_shows, (items, pos), 1.0)
        np.add.at(self.pos_shows, pos, 1.0)
        explored = np.asarray(record.explored, dtype=bool)
        np.add.at(self.explored_shows, pos[explored], 1.0)
        bins = np.array([_bin(float(s)) for s in record.scores], dtype=np.int64)
        np.add.at(self.bin_shows, (bins, pos), 1.0)
        self.impressions += 1

    def add_click(self, item: int, position: int, score: float, explored: bool) -> None:
        p = min(position, N_POSITIONS - 1)
        self.item_clicks = grow(self.item_clicks, item + 1)
        self.item_shows = grow(self.item_shows, item + 1)
        self.item_clicks[item] += 1.0
        self.pos_clicks[p] += 1.0
        if explored:
            self.explored_clicks[p] += 1.0
        self.bin_clicks[_bin(score)] += 1.0
        self.clicks += 1

    # ------------------------------------------------------------------ estimates
    def overall_ctr(self) -> float:
        shows = float(self.pos_shows.sum())
        return (self.clicks + SMOOTHING * DEFAULT_CTR) / (shows + SMOOTHING)

    def examination(self) -> FloatArray:
        """float64[N_POSITIONS]: estimated examination per position, 1 at position 0, non-increasing."""
        use_explored = self.explored_shows.sum() >= MIN_EXPLORED_SHOWS
        shows = self.explored_shows if use_explored else self.pos_shows
        clicks = self.explored_clicks if use_explored else self.pos_clicks
        base = (clicks.sum() + SMOOTHING * DEFAULT_CTR) / (shows.sum() + SMOOTHING)
        ctr = (clicks + SMOOTHING * base) / (shows + SMOOTHING)  # [P] shrunk towards the mean
        exam = np.clip(ctr / ctr[0], 0.01, 1.0)
        return np.minimum.accumulate(exam)

    def arms(self, items: IntArray, exam: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(examination-weighted shows, clicks) of ``items``; items never shown have zeros."""
        inside = items < self.item_clicks.shape[0]
        shows = np.zeros(items.shape[0])
        clicks = np.zeros(items.shape[0])
        shows[inside] = self.item_shows[items[inside]] @ exam
        clicks[inside] = self.item_clicks[items[inside]]
        return shows, clicks

    def calibrate(self, scores: FloatArray, exam: FloatArray) -> FloatArray:
        """Prior click probability (once examined) of slots with model ``scores``.

        A logistic calibration ``sigmoid(a + b * score)`` fitted (MAP, Newton steps) on the binned
        shows and clicks of the key, with a Gaussian prior that keeps the slope positive until the
        data says otherwise (``b ~ N(PRIOR_SLOPE, 2^2)``, ``a ~ N(logit(overall), 2^2)``): with no
        feedback the model's order is the prior's order, with feedback the scale is the observed one.
        NaN scores (slots of the fallback stages) get the smoothed click rate of their own bin.
        """
        a, b, nan_rate = self._calibration(exam)
        z = np.asarray(scores, dtype=np.float64)
        finite = np.isfinite(z)
        out = np.full(z.shape[0], nan_rate)
        out[finite] = 1.0 / (1.0 + np.exp(-(a + b * z[finite])))
        return np.clip(out, 1e-4, 1 - 1e-4)

    def _calibration(self, exam: FloatArray) -> tuple[float, float, float]:
        version = (self.impressions, self.clicks)
        cached = getattr(self, "_fit", None)
        if cached is not None and cached[0] == version:
            return cached[1]
        overall = self.clicks / max(float(self.pos_shows @ exam), 1.0) if self.clicks else DEFAULT_CTR
        overall = min(max(overall, 1e-3), 0.5)
        eff = self.bin_shows @ exam  # [B + 1] examination-weighted shows
        nan_rate = (self.bin_clicks[N_BINS] + SMOOTHING * overall) / (eff[N_BINS] + SMOOTHING)
        centres = (np.arange(N_BINS) + 0.5) / N_BINS * 2.0 - 1.0
        clicks = self.bin_clicks[:N_BINS]
        misses = np.maximum(eff[:N_BINS] - clicks, 0.0)
        prior = np.array([math.log(overall / (1 - overall)), PRIOR_SLOPE])
        theta = prior.copy()
        x = np.stack([np.ones(N_BINS), centres], axis=1)  # [B, 2]
        precision = np.eye(2) / 4.0
        for _ in range(20):
            p = 1.0 / (1.0 + np.exp(-(x @ theta)))
            grad = x.T @ (clicks - (clicks + misses) * p) - precision @ (theta - prior)
            hess = -(x.T * ((clicks + misses) * p * (1 - p))) @ x - precision
            step = np.linalg.solve(hess, grad)
            theta = theta - step
            if np.abs(step).max() < 1e-8:
                break
        fit = (float(theta[0]), float(theta[1]), float(nan_rate))
        self._fit = (version, fit)
        return fit

    def total_shows(self, exam: FloatArray) -> float:
        return float(self.pos_shows @ exam)


_EMPTY = KeyStats()


@dataclass(frozen=True)
class _Slate:
    key: str
    timestamp: float
    scores: tuple[float, ...]
    explored: tuple[bool, ...]
    items: tuple[int, ...]
    user_id: str = ""
    #: feature rows (float16 as stored) and examination of the policy slots of a linear slate
    rows: npt.NDArray[np.float16] | None = None
    exam: tuple[float, ...] = ()


@dataclass(frozen=True)
class ArmView:
    """What one slate's policy reads of its key's state, frozen when the slate is built."""

    key: str
    examination: FloatArray
    stats: KeyStats | None
    lock: threading.RLock

    def arms(self, items: IntArray) -> tuple[FloatArray, FloatArray]:
        if self.stats is None:
            return np.zeros(items.shape[0]), np.zeros(items.shape[0])
        with self.lock:
            return self.stats.arms(items, self.examination)

    def calibrate(self, scores: FloatArray) -> FloatArray:
        if self.stats is None:
            return _EMPTY.calibrate(scores, self.examination)  # the prior calibration alone
        with self.lock:
            return self.stats.calibrate(scores, self.examination)

    def total(self) -> float:
        if self.stats is None:
            return 0.0
        with self.lock:
            return self.stats.total_shows(self.examination)

    def _linear(self) -> LinearStats:
        if self.stats is None or self.stats.linear is None:
            return _EMPTY_LINEAR
        return self.stats.linear

    def linear_shared(self) -> tuple[FloatArray, FloatArray]:
        """(theta, A^-1) of the key's shared ridge (the prior ``theta = 0``, ``A = lambda I`` before
        any linear slate); a snapshot: later updates build new arrays."""
        with self.lock:
            return self._linear().shared()

    def linear_hybrid(self) -> HybridSolution:
        """The key's hybrid LinUCB solution (a snapshot: later updates build a new one)."""
        with self.lock:
            return self._linear().hybrid()


_EMPTY_LINEAR = LinearStats()


class OnlineState:
    """Policy state of every key, replayed from the store's impressions and events.

    Parameters
    ----------
    window_s : float
        Feedback more than this many seconds after its slate was shown updates no policy (expired).
    """

    def __init__(
        self, *, window_s: float = 86_400.0, on_erasure: Callable[[Sequence[str]], object] | None = None
    ) -> None:
        self.window_s = float(window_s)
        self.on_erasure = on_erasure
        self.keys: dict[str, KeyStats] = {}
        self.impression_seq = 0
        self.event_seq = 0
        self.erasure_seq = 0
        self.rebuilds = 0
        self.updates = 0
        self._slates: OrderedDict[str, _Slate] = OrderedDict()
        self._rewarded: dict[str, set[int]] = {}
        self._outcomes: OrderedDict[str, str] = OrderedDict()
        self._latest = 0.0
        self._lock = threading.RLock()  # guards the statistics
        self._sync_lock = threading.Lock()  # one replay at a time (the learner thread or a request)

    # ------------------------------------------------------------------ replay
    def sync(self, store: Any, *, limit: int = 5000) -> int:
        """Apply the impressions and events committed since the last sync; returns events applied.

        Impressions are read first: an event is committed after the slate it quotes was returned,
        hence after its impression, so every event read here finds its slate.

        A user erased since the last sync (the store's erasure log) makes the state *rebuild*: every
        statistic is an aggregate over users, so it is replayed from scratch from what the store
        still holds, and no count of the erased user remains (``on_erasure`` is then called with the
        erased users' id hashes, for the served state's own aggregates).
        """
        with self._sync_lock:
            erased = store.read_erasures(after=self.erasure_seq) if hasattr(store, "read_erasures") else []
            if erased and self.impression_seq == 0 and self.event_seq == 0:
                self.erasure_seq = int(erased[-1][0])  # nothing replayed yet: the store has no trace
            elif erased:
                self._rebuild(store, int(erased[-1][0]))
                if self.on_erasure is not None:
                    self.on_erasure([digest for _, digest in erased])
            return self._replay(store, limit)

    def _rebuild(self, store: Any, erasure_seq: int) -> None:
        fresh = OnlineState(window_s=self.window_s)
        fresh._replay(store, 5000)  # off to the side: requests keep reading the old state meanwhile
        with self._lock:
            self.keys = fresh.keys
            self.impression_seq = fresh.impression_seq
            self.event_seq = fresh.event_seq
            self._slates = fresh._slates
            self._rewarded = fresh._rewarded
            self._outcomes.update(fresh._outcomes)
            self._latest = fresh._latest
            self.erasure_seq = erasure_seq
            self.rebuilds += 1
        logger.info("online state rebuilt from the store after an erasure (erasure seq %d)", erasure_seq)

    def _replay(self, store: Any, limit: int) -> int:
        while True:
            rows = store.read_impressions(after=self.impression_seq, limit=limit)
            linear = [r.recommendation_id for _, r in rows if r.policy in LINEAR_POLICY_NAMES]
            # written before their impression: every linear slate read here finds its rows
            features = load_slot_features(store, linear) if linear else {}
            with self._lock:
                for seq, record in rows:
                    self._add_impression(record, features.get(record.recommendation_id))
                    self.impression_seq = max(self.impression_seq, int(seq))
            if len(rows) < limit:
                break
        applied = 0
        while True:
            # only the events that quote a slate can reward one: the others are skipped in SQL
            events, cursor = store.read_quoting_events(after=self.event_seq, limit=limit)
            with self._lock:
                for event in events:
                    applied += self._add_event(event)
                self.event_seq = max(self.event_seq, int(cursor))
                self._evict()
            if len(events) < limit:
                break
        return applied

    def _add_impression(self, record: ImpressionRecord, rows: FloatArray | None = None) -> None:
        key = state_key(record)
        stats = self.keys.get(key)
        if stats is None:
            stats = self.keys[key] = KeyStats()
        stats.add_impression(record)
        stored: npt.NDArray[np.float16] | None = None
        exam: tuple[float, ...] = ()
        if rows is not None and rows.shape[0]:
            m = min(rows.shape[0], len(record))
            e = slate_examination(record.policy_params, m)
            if stats.linear is None:
                stats.linear = LinearStats(rows.shape[1])
            stats.linear.add_shown(np.asarray(record.items[:m], dtype=np.int64), rows[:m], e)
            stored, exam = rows[:m].astype(np.float16), tuple(float(x) for x in e)
        self._slates[record.recommendation_id] = _Slate(
            key,
            float(record.timestamp),
            record.scores,
            record.explored,
            record.items,
            record.user_id,
            stored,
            exam,
        )
        self._latest = max(self._latest, float(record.timestamp))

    def _add_event(self, event: Any) -> int:
        rec_id = event.recommendation_id
        if rec_id is None:
            return 0
        outcome = self._classify(event)
        self._outcomes[event.event_id] = outcome
        while len(self._outcomes) > 100_000:
            self._outcomes.popitem(last=False)
        if outcome != "learned":
            return 0
        slate = self._slates[rec_id]
        pos = int(event.position)
        self._rewarded.setdefault(rec_id, set()).add(pos)
        stats = self.keys[slate.key]
        stats.add_click(int(slate.items[pos]), pos, float(slate.scores[pos]), bool(slate.explored[pos]))
        if slate.rows is not None and pos < slate.rows.shape[0] and stats.linear is not None:
            stats.linear.add_click(int(slate.items[pos]), slate.rows[pos].astype(np.float64), slate.exam[pos])
        self.updates += 1
        return 1

    def _classify(self, event: Any) -> str:
        if not event.attributed or event.position is None:
            return "unattributed"
        slate = self._slates.get(event.recommendation_id)
        if slate is None or float(event.received_at) - slate.timestamp > self.window_s:
            return "expired"
        if int(event.position) in self._rewarded.get(event.recommendation_id, ()):
            return "repeat"
        return "learned"

    def _evict(self) -> None:
        horizon = self._latest - self.window_s - 60.0  # a minute of slack for clock skew
        while self._slates:
            rec_id, slate = next(iter(self._slates.items()))
            if slate.timestamp >= horizon:
                break
            self._slates.popitem(last=False)
            self._rewarded.pop(rec_id, None)

    # ------------------------------------------------------------------ reading
    def outcome(self, event_id: str) -> str | None:
        """What the replay did with an event quoting a recommendation_id: ``"learned"``,
        ``"unattributed"`` (unknown slate, or a slate that did not show the item), ``"expired"``
        (older than ``window_s``), ``"repeat"`` (the slot was already rewarded); None when not
        replayed yet (or not quoting a slate)."""
        with self._lock:
            return self._outcomes.get(event_id)

    def view(self, key: str) -> ArmView:
        """The state a slate built now under ``key`` reads (a frozen examination estimate)."""
        with self._lock:
            stats = self.keys.get(key)
            exam = stats.examination() if stats is not None else np.ones(N_POSITIONS)
            return ArmView(key, exam, stats, self._lock)

    def summary(self, key: str) -> dict[str, Any]:
        """JSON-ready state of ``key``: impressions, clicks, the examination estimate, updates."""
        with self._lock:
            stats = self.keys.get(key)
            if stats is None:
                return {"key": key, "impressions": 0, "clicks": 0, "examination": [1.0] * 10, "items": 0}
            return {
                "key": key,
                "impressions": stats.impressions,
                "clicks": stats.clicks,
                "examination": [round(float(e), 4) for e in stats.examination()[:10]],
                "items": int(np.count_nonzero(stats.item_shows.sum(axis=1))),
            }

    def item_clicks(self, key: str, items: Sequence[int]) -> FloatArray:
        """Clicks learned per item under ``key`` (zeros for items never clicked)."""
        with self._lock:
            stats = self.keys.get(key)
            arr = np.asarray(items, dtype=np.int64)
            if stats is None:
                return np.zeros(arr.shape[0])
            out = np.zeros(arr.shape[0])
            inside = arr < stats.item_clicks.shape[0]
            out[inside] = stats.item_clicks[arr[inside]]
            return out


class Learner(Periodic):
    """Background thread of one replica: ``state.sync(store)`` every ``interval_s`` seconds."""

    def __init__(self, store: Any, state: OnlineState, interval_s: float = 0.2) -> None:
        super().__init__(interval_s, name="explorec-online", failure="online state: replay failed")
        self.store = store
        self.state = state

    def step(self) -> None:
        """One replay; an unreachable store is logged and retried at the next round."""
        from explorec.store import StoreUnavailable

        try:
            self.state.sync(self.store)
        except StoreUnavailable as exc:
            logger.warning("online state: store unavailable (retrying): %s", exc)
