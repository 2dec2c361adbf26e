"""The served state and the fallback chain, on a small catalogue with a known answer (no HTTP)."""

from __future__ import annotations

import numpy as np
import pytest

from explorec.impressions import ImpressionRecord
from explorec.service.served import ServedItem, ServedState, ServedTextModel
from explorec.service.settings import ServiceSettings
from explorec.service.slates import SlateRequest, build_slate
from explorec.store.base import EventRow, HistoryEvent

HIKING = [f"trail hiking boots waterproof model {i}" for i in range(6)]
JAZZ = [f"jazz vinyl record saxophone album {i}" for i in range(6)]


def make_state(**overrides: object) -> ServedState:
    settings = ServiceSettings(encoder="hashing:256", database_url="sqlite://", **overrides)  # type: ignore[arg-type]
    state = ServedState(settings)
    rows = [
        ServedItem(j, f"h{j}", text, ("outdoor",), True, False, 1000.0 + j) for j, text in enumerate(HIKING)
    ] + [ServedItem(6 + j, f"j{j}", text, ("music",), True, False, 2000.0 + j) for j, text in enumerate(JAZZ)]
    assert state.apply_items(rows) == 12
    state.loaded = True
    return state


def request(user_id: str, k: int = 4, **kw: object) -> SlateRequest:
    base: dict[str, object] = {"policy": "greedy", "rerank": None}
    base.update(kw)
    return SlateRequest(user_id, 0, k, **base)  # type: ignore[arg-type]


def test_personalised_slate_follows_the_users_text_history() -> None:
    state = make_state()
    state.apply_local_events([("e1", "u1", "h0", 1.0), ("e2", "u1", "h1", 2.0)])
    record = build_slate(state, request("u1"))
    assert isinstance(record, ImpressionRecord)
    assert set(record.item_ids) <= {f"h{j}" for j in range(2, 6)}  # hiking, unseen
    assert record.stages == ("model",) * 4
    assert record.propensities == (1.0,) * 4
    assert record.k == 4 and record.model_version.startswith("textknn:")


def test_cold_user_gets_popular_then_newest_and_never_an_empty_answer() -> None:
    state = make_state()
    state.apply_local_events([(f"e{j}", f"v{j}", "j3", float(j)) for j in range(3)])
    state.apply_local_events([("f1", "w1", "h2", 5.0)])
    record = build_slate(state, request("stranger", k=5))
    assert record.item_ids[:2] == ("j3", "h2")  # by event count
    assert record.stages[:2] == ("popular", "popular")
    assert record.stages[2:] == ("newest",) * 3
    assert record.item_ids[2:] == ("j5", "j4", "j2")  # newest first, j3 already shown
    assert all(np.isnan(s) for s in record.scores)


def test_exclusions_category_and_deleted_items_are_never_shown() -> None:
    state = make_state()
    state.apply_local_events([("e1", "u1", "h0", 1.0)])
    state.delete_item("h2")
    record = build_slate(state, request("u1", k=12, exclude=("h3",), category="outdoor"))
    assert set(record.item_ids) == {"h1", "h4", "h5"}  # h0 seen, h2 deleted, h3 excluded, jazz filtered
    assert "only 3 servable items" in record.note


def test_fill_stages_complete_a_short_personalised_slate() -> None:
    # FAISS retrieves min(n, 2 * n_candidates + history_length) = 5 items per user; k=8 needs more
    state = make_state(faiss_min_items=1, n_candidates=2, history_length=1)
    state.apply_local_events([("e1", "u1", "h0", 1.0)])
    record = build_slate(state, request("u1", k=8))
    n_model = record.stages.count("model")
    assert n_model == 4  # 5 retrieved, h0 seen
    assert record.stages[:n_model] == ("model",) * n_model
    assert len(record) == 8 and len(set(record.item_ids)) == 8
    assert set(record.stages[n_model:]) == {"item-to-item"}
    assert set(record.item_ids[:5]) == {f"h{j}" for j in range(1, 6)}  # hiking before jazz


def test_epsilon_greedy_marks_exploration_slots_with_their_propensities() -> None:
    state = make_state()
    state.apply_local_events([("e1", "u1", "h0", 1.0)])
    explored = 0
    for _ in range(30):
        record = build_slate(state, request("u1", k=3, policy="eps-greedy:0.5", rerank="mmr:0.3"))
        for stage, exp, prop in zip(record.stages, record.explored, record.propensities, strict=True):
            assert (stage == "exploration") == exp
            assert 0 < prop <= 1
        explored += sum(record.explored)
    assert 10 < explored < 80  # ~45 of 90 slots explore


def test_same_recommendation_id_and_seed_draw_the_same_slate() -> None:
    from explorec.service.slates import policy_seed

    assert policy_seed("0f8fad5b-d9cb-469f-a165-70867728950e", 0) == policy_seed(
        "0f8fad5b-d9cb-469f-a165-70867728950e", 0
    )
    assert policy_seed("0f8fad5b-d9cb-469f-a165-70867728950e", 1) != policy_seed(
        "0f8fad5b-d9cb-469f-a165-70867728950e", 0
    )


def test_new_item_is_served_by_the_next_slate_without_refitting() -> None:
    state = make_state()
    state.apply_local_events([("e1", "u1", "h0", 1.0)])
    state.apply_items([ServedItem(12, "new", HIKING[0], ("outdoor",), True, False, 3000.0)])
    record = build_slate(state, request("u1", k=1))
    assert record.item_ids == ("new",)
    assert record.stages == ("model",)


def test_forgetting_a_user_removes_history_and_popularity() -> None:
    state = make_state()
    state.apply_local_events([("e1", "u1", "j0", 1.0), ("e2", "u1", "j1", 2.0)])
    assert state.ranked("popular").tolist()[:2] == [6, 7]
    state.forget_user("u1")
    assert state.history("u1") == []
    state._ranked.clear()
    assert state.ranked("popular").size == 0
    record = build_slate(state, request("u1", k=2))
    assert record.stages == ("newest", "newest")


def test_index_is_exact_for_small_catalogues_and_faiss_above_the_threshold() -> None:
    small = make_state()
    assert small.index_backend == "exact"
    big = make_state(faiss_min_items=5)
    assert big.index_backend == "faiss-hnsw"
    big.apply_local_events([("e1", "u1", "h0", 1.0)])
    exact = build_slate(small_with_event(), request("u1", k=3))
    approx = build_slate(big, request("u1", k=3))
    assert approx.item_ids == exact.item_ids  # 12 items: HNSW finds the exact neighbours


def test_faiss_index_grows_in_place_once_built() -> None:
    # regression: every batch after the switch to FAISS used to rebuild the whole index
    state = make_state(faiss_min_items=5)
    index = state.index
    state.apply_items([ServedItem(12, "n1", "jazz vinyl record trumpet", ("music",), True, False, 1.0)])
    assert state.index is index and index is not None and index.n_items == 13
    exact = make_state()
    index = exact.index
    exact.apply_items([ServedItem(12, "n1", "jazz vinyl record trumpet", ("music",), True, False, 1.0)])
    assert exact.index is index and index is not None and index.n_items == 13


def small_with_event() -> ServedState:
    state = make_state()
    state.apply_local_events([("e1", "u1", "h0", 1.0)])
    return state


def test_item_index_gap_is_refused() -> None:
    state = make_state()
    with pytest.raises(RuntimeError, match="skips ahead"):
        state.apply_items([ServedItem(20, "far", "text", (), True, False, 1.0)])


def test_collaborative_neighbours_count_co_occurrence() -> None:
    state = make_state()
    state.apply_local_events(
        [("a", "u1", "h0", 1.0), ("b", "u1", "j0", 2.0), ("c", "u2", "h0", 1.0), ("d", "u2", "j0", 2.0)]
    )
    state.apply_local_events([("e", "u3", "h0", 1.0), ("f", "u3", "h5", 2.0)])
    ranked = state.collaborative(state.item_index["h0"], 2)
    assert [state.item_id_array()[i] for i, _ in ranked] == ["j0", "h5"]


def test_candidate_space_profile_is_textknns_and_scores_match_the_exact_model() -> None:
    # the retrieval path computes the text profile itself (vectorised); it must be textknn's:
    # recency weights decay^(steps from the newest event), repeated items adding up
    state = make_state(faiss_min_items=1, history_length=5)
    events = [("a", "u1", "h0", 1.0), ("b", "u1", "j1", 3.0), ("c", "u1", "h0", 2.0), ("d", "u1", "h3", 4.0)]
    state.apply_local_events(events)
    history = state.history("u1")
    cands, model, sub_hist = state.candidate_space("u1", history, set())
    full = state.user_interactions("u1", history)
    exact = ServedTextModel.over(state.vectors.view(), encoder="hashing:256", blocked=np.zeros(0, np.int64))
    expected = exact.user_vectors(np.zeros(1, dtype=np.int64), full)[0]
    np.testing.assert_allclose(model.query_[0], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        model.score(np.zeros(1, dtype=np.int64), history=sub_hist)[0],
        exact.score(np.zeros(1, dtype=np.int64), history=full)[0][cands],
        rtol=1e-5,
        atol=1e-6,
    )
    assert set(cands.tolist()) == set(range(12))  # 12 items, retrieve = 2 * 100 + 5: all of them
    assert [int(cands[i]) for i in sub_hist.item] == [i for i, _ in history]


def test_candidate_space_never_holds_a_blocked_seen_item() -> None:
    state = make_state(faiss_min_items=1)
    state.apply_local_events([("a", "u1", "h0", 1.0), ("b", "u1", "h1", 2.0)])
    state.delete_item("h1")
    cands, _, _ = state.candidate_space("u1", state.history("u1"), set())
    assert 1 not in cands.tolist() and 0 in cands.tolist()
    record = build_slate(state, request("u1", k=11, exclude_seen=False))
    assert "h1" not in record.item_ids and "h0" in record.item_ids


def test_an_updated_items_new_text_replaces_its_vector_in_the_faiss_index() -> None:
    # regression: the HNSW index kept the old vector of an item whose text changed
    state = make_state(faiss_min_items=1)
    assert state.index_backend == "faiss-hnsw"
    state.apply_items([ServedItem(0, "h0", JAZZ[0] + " trumpet", ("music",), True, False, 1.0)])
    near, _ = state.neighbours(state.embed([JAZZ[0] + " trumpet"]), 1)
    assert near.tolist() == [0]  # found by its new text
    old = state.embed([HIKING[0]])
    assert state.index is not None
    items, scores = state.index.search(old, 12)
    hit = items[0].tolist().index(0)
    assert scores[0, hit] == pytest.approx(float(old[0] @ state.vectors.view()[0]), abs=1e-5)  # new vector


class _Log:
    """A store's event log as the refresher reads it (``read_history_events`` after a cursor)."""

    def __init__(self) -> None:
        self.rows: list[EventRow] = []

    def add(self, event_id: str, user_id: str, item_id: str, timestamp: float) -> None:
        seq = len(self.rows) + 1
        self.rows.append(
            EventRow(seq, event_id, user_id, item_id, 0, "click", 1.0, timestamp, None, None, False, 0.0)
        )

    def read_history_events(self, after: int = 0, limit: int | None = None) -> list[HistoryEvent]:
        rows = [r for r in self.rows if r.seq > after][: limit or None]
        return [(r.seq, r.event_id, r.user_id, r.item_id, r.timestamp) for r in rows]


def test_an_event_read_back_before_its_request_applies_it_is_served_once() -> None:
    # regression: the refresher read a just-committed event before the request that stored it had
    # applied it, and both applied it (the user's history held it twice)
    state, log = make_state(), _Log()
    state.expect_local_events(["e1", "e2"])
    log.add("e1", "u1", "h0", 1.0)  # committed: e1 new, e2 a replay of another replica's event...
    log.add("e2", "u9", "h1", 2.0)
    state.sync_events(log, limit=None)  # ...and read back by the refresher first
    assert state.history("u1") == [] and state.history("u9") == []
    state.apply_local_events([("e1", "u1", "h0", 1.0)], expected=["e1", "e2"])
    state.sync_events(log, limit=None)
    assert state.history("u1") == [(0, 1.0)]  # once
    assert state.history("u9") == [(1, 2.0)]  # the other replica's event, deferred, then applied
    # the usual order (applied first, read back after) still applies it once
    state.expect_local_events(["e3"])
    state.apply_local_events([("e3", "u1", "h2", 3.0)], expected=["e3"])
    log.add("e3", "u1", "h2", 3.0)
    state.sync_events(log, limit=None)
    assert state.history("u1") == [(0, 1.0), (2, 3.0)]
