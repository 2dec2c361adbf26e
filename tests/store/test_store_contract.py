"""The store contract: the same assertions on SQLite and PostgreSQL (see conftest.BACKENDS)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from explorec.errors import ConfigError, DataError
from explorec.impressions import ImpressionRecord
from explorec.store import EventIn, ItemIn, Store, UserIn


def _items(store: Store, ids: Sequence[str]) -> list[int]:
    return store.upsert_items([ItemIn(item_id=i, text=f"text of {i}") for i in ids])


def _impression(
    rec_id: str, user_id: str, item_ids: Sequence[str], indices: Sequence[int]
) -> ImpressionRecord:
    n = len(item_ids)
    return ImpressionRecord(
        recommendation_id=rec_id,
        user=-1,
        user_id=user_id,
        items=tuple(indices),
        item_ids=tuple(item_ids),
        scores=tuple(1.0 - 0.1 * j for j in range(n)),
        propensities=(0.5,) * n,
        explored=(False,) * (n - 1) + (True,),
        policy="epsilon-greedy",
        policy_params={"epsilon": 0.1},
        model_version="m1",
        timestamp=1.7e9,
    )


def _click(event_id: str, item_id: str, user_id: str = "u1", rec: str | None = None) -> EventIn:
    return EventIn(
        event_id=event_id,
        user_id=user_id,
        item_id=item_id,
        type="click",
        value=1.0,
        timestamp=1.7e9,
        recommendation_id=rec,
    )


# ---------------------------------------------------------------------- items
def test_item_indices_are_dense_stable_and_never_reused(store: Store) -> None:
    assert _items(store, ["a", "b", "c"]) == [0, 1, 2]
    # an update keeps the index, new items continue the sequence, input order is kept
    assert _items(store, ["d", "b"]) == [3, 1]
    assert store.delete_item("c") is True
    assert store.delete_item("c") is False  # already deleted
    assert store.delete_item("zz") is False  # unknown
    assert _items(store, ["e"]) == [4]
    rows = store.items()
    assert [(r.index, r.item_id, r.deleted) for r in rows] == [
        (0, "a", False),
        (1, "b", False),
        (2, "c", True),
        (3, "d", False),
        (4, "e", False),
    ]
    assert [r.item_id for r in store.items(after_index=2)] == ["d", "e"]


def test_item_fields_round_trip_and_upsert_replaces_them(store: Store) -> None:
    store.upsert_items([ItemIn("a", "old", {"price": 3, "tags": ["x"]}, ("shoes",), True, 10.0)])
    row = store.get_item("a")
    assert row is not None
    assert (row.text, dict(row.fields), row.categories, row.available, row.timestamp) == (
        "old",
        {"price": 3, "tags": ["x"]},
        ("shoes",),
        True,
        10.0,
    )
    store.upsert_items([ItemIn("a", "new", {"price": 4}, ("boots", "winter"), False, 11.0)])
    row = store.get_item("a")
    assert row is not None
    assert (row.index, row.text, dict(row.fields), row.categories, row.available) == (
        0,
        "new",
        {"price": 4},
        ("boots", "winter"),
        False,
    )
    assert store.get_item("missing") is None


def test_item_batch_errors_name_the_id(store: Store) -> None:
    with pytest.raises(DataError, match="item_id 'a' appears twice"):
        _items(store, ["a", "b", "a"])
    with pytest.raises(DataError, match=r"items\[1\]: item_id must be a non-empty string"):
        _items(store, ["ok", ""])
    with pytest.raises(DataError, match="at most 256 characters"):
        _items(store, ["x" * 257])
    assert store.items() == []  # nothing of a rejected batch is stored


def test_concurrent_item_inserts_get_distinct_dense_indices(store: Store) -> None:
    n_threads, rounds = 6, 5
    gate = threading.Barrier(n_threads)

    errors: list[BaseException] = []

    def post(t: int) -> None:
        try:
            for b in range(rounds):
                gate.wait(timeout=60)  # all threads insert the same new id at the same moment
                _items(store, [f"t{t}-{b}-{j}" for j in range(20)] + [f"shared{b}"])
        except BaseException as exc:  # asserted below; abort so that no thread waits forever
            errors.append(exc)
            gate.abort()

    threads = [threading.Thread(target=post, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    rows = store.items()
    assert [r.index for r in rows] == list(range(n_threads * rounds * 20 + rounds))
    assert len({r.item_id for r in rows}) == len(rows)


# ---------------------------------------------------------------------- users
def test_users_upsert_and_delete_forgets_profile_events_and_impressions(store: Store) -> None:
    assert store.upsert_users([UserIn("u1", {"age": 30}), UserIn("u2")]) == [0, 1]
    assert store.upsert_users([UserIn("u1", {"age": 31})]) == [0]
    u1 = store.get_user("u1")
    assert u1 is not None and dict(u1.fields) == {"age": 31}
    idx = _items(store, ["a", "b"])
    store.append_impression(_impression("r1", "u1", ["a", "b"], idx))
    store.append_impression(_impression("r2", "u2", ["b", "a"], idx[::-1]))
    store.append_events([_click("e1", "a", "u1", "r1"), _click("e2", "b", "u2"), _click("e3", "b", "u1")])

    assert store.delete_user("u1") is True
    assert store.get_user("u1") is None
    assert store.user_events("u1") == []
    assert store.get_impression("r1") is None
    assert [e.event_id for e in store.read_events()] == ["e2"]
    assert [rec.recommendation_id for _, rec in store.read_impressions()] == ["r2"]
    assert store.delete_user("u1") is False
    # the index is not handed out again
    assert store.upsert_users([UserIn("u1"), UserIn("u3")]) == [2, 3]


# ---------------------------------------------------------------------- events
def test_user_indices_of_one_id_and_of_many(store: Store) -> None:
    # one id takes the single-statement path, several the IN (...) lookup: the same answers
    a, b = store.upsert_users([UserIn(user_id="ua", fields={}), UserIn(user_id="ub", fields={})])
    assert store.user_indices(["ua"]) == {"ua": a}
    assert store.user_indices(["nobody"]) == {}
    assert store.user_indices(["ub", "nobody", "ua", "ub"]) == {"ub": b, "ua": a}


def test_append_is_idempotent_on_event_id(store: Store) -> None:
    _items(store, ["a", "b"])
    first = store.append_events([_click("e1", "a"), _click("e2", "b"), _click("e1", "b")])
    assert first.accepted == ("e1", "e2")
    assert first.duplicates == ("e1",)  # repeated within the same call
    replay = store.append_events([_click("e2", "b"), _click("e3", "a")])
    assert replay.accepted == ("e3",) and replay.duplicates == ("e2",)
    assert store.append_events([]).accepted == ()
    events = store.read_events()
    assert [(e.event_id, e.item_id, e.item) for e in events] == [
        ("e1", "a", 0),
        ("e2", "b", 1),
        ("e3", "a", 0),
    ]
    assert store.count_events() == 3


def test_unknown_item_rejects_the_whole_call_and_names_the_event(store: Store) -> None:
    _items(store, ["a"])
    with pytest.raises(DataError, match="event 'e2': item_id 'ghost' is not in the catalogue"):
        store.append_events([_click("e1", "a"), _click("e2", "ghost")])
    assert store.count_events() == 0
    with pytest.raises(DataError, match=r"event 'e3': value must be a number"):
        store.append_events([EventIn("e3", "u1", "a", "click", value=float("nan"))])


def test_feedback_is_attributed_to_the_slot_that_was_shown(store: Store) -> None:
    idx = _items(store, ["a", "b", "c"])
    store.append_impression(_impression("r1", "u1", ["c", "a", "b"], [idx[2], idx[0], idx[1]]))
    result = store.append_events(
        [
            _click("e1", "b", rec="r1"),  # shown at position 2
            _click("e2", "c", rec="r1"),  # shown at position 0
            _click("e3", "a", rec="nope"),  # unknown recommendation id: stored, not attributed
            _click("e4", "a"),  # no recommendation id
        ]
    )
    assert result.accepted == ("e1", "e2", "e3", "e4")
    assert result.unattributed == ("e3",)
    got = {e.event_id: (e.recommendation_id, e.position, e.attributed) for e in store.read_events()}
    assert got == {
        "e1": ("r1", 2, True),
        "e2": ("r1", 0, True),
        "e3": ("nope", None, False),
        "e4": (None, None, False),
    }
    # an item that the quoted slate did not show is not attributed either
    _items(store, ["d"])
    assert store.append_events([_click("e5", "d", rec="r1")]).unattributed == ("e5",)


def test_group_commit_batches_concurrent_callers_and_answers_each_one(store: Store) -> None:
    _items(store, ["a"])
    n_threads, n_calls = 8, 25
    results: dict[int, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {t: [] for t in range(n_threads)}

    def writer(t: int) -> None:
        for c in range(n_calls):
            # every call repeats the previous call's event: one duplicate per call after the first
            ids = [f"t{t}-{c}", f"t{t}-{c - 1}"] if c else [f"t{t}-{c}"]
            r = store.append_events([_click(i, "a", user_id=f"u{t}") for i in ids])
            results[t].append((r.accepted, r.duplicates))

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for t in range(n_threads):
        assert results[t][0] == ((f"t{t}-0",), ())
        for c in range(1, n_calls):
            assert results[t][c] == ((f"t{t}-{c}",), (f"t{t}-{c - 1}",))
    assert store.count_events() == n_threads * n_calls
    # fewer transactions than calls: concurrent callers shared commits
    assert store.commits < n_threads * n_calls


def test_racing_writers_store_each_event_once(store: Store) -> None:
    _items(store, ["a"])
    ids = [f"e{j}" for j in range(300)]
    accepted: list[str] = []
    lock = threading.Lock()

    def writer(order: int) -> None:
        mine = ids if order == 0 else ids[::-1]
        for start in range(0, len(mine), 30):
            r = store.append_events([_click(i, "a") for i in mine[start : start + 30]])
            with lock:
                accepted.extend(r.accepted)

    threads = [threading.Thread(target=writer, args=(o,)) for o in (0, 1, 0, 1)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(accepted) == sorted(ids)  # each event accepted by exactly one caller
    assert store.count_events() == len(ids)


def test_two_stores_on_one_database_take_turns_and_lose_nothing(store: Store, store_url: str) -> None:
    # two committers on one database, as two worker processes have (on SQLite they take turns
    # through the database's write-lock file; each flock is per open file, so two stores in one
    # process contend like two processes do)
    _items(store, ["a", "b"])
    other = Store.open(store_url)
    accepted: list[str] = []
    lock = threading.Lock()

    def writer(s: Store, tag: str) -> None:
        for j in range(40):
            r = s.append_events([_click(f"{tag}-{j}", "ab"[j % 2], user_id=tag)])
            s.append_impression(_impression(f"r-{tag}-{j}", tag, ["a", "b"], [0, 1]))
            with lock:
                accepted.extend(r.accepted)

    threads = [
        threading.Thread(target=writer, args=(s, f"{n}{t}"))
        for n, s in (("x", store), ("y", other))
        for t in range(3)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not any(th.is_alive() for th in threads)
    other.close()
    assert len(accepted) == len(set(accepted)) == 240
    assert store.count_events() == 240
    assert len(store.read_impressions()) == 240
    if store.backend == "sqlite":
        assert Path(f"{store.engine.url.database}.write-lock").is_file()


def test_the_committer_recovers_after_a_failed_transaction(store: Store) -> None:
    # a commit that fails as a whole drops the committer's connection; the next one opens another
    _items(store, ["a"])
    store.append_events([_click("e1", "a")])
    with store.engine.begin() as conn:  # sabotage: the next impression insert breaks its transaction
        conn.execute(text("ALTER TABLE impressions RENAME TO impressions_away"))
    with pytest.raises(Exception, match="impressions"):
        store.append_impression(_impression("r1", "u1", ["a"], [0]))
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE impressions_away RENAME TO impressions"))
    store.append_impression(_impression("r2", "u1", ["a"], [0]))
    assert store.append_events([_click("e2", "a")]).accepted == ("e2",)
    assert store.get_impression("r2") is not None and store.get_impression("r1") is None


def test_appended_events_are_committed_when_the_call_returns(store: Store, store_url: str) -> None:
    _items(store, ["a"])
    store.append_events([_click("e1", "a"), _click("e2", "a")])
    # a second, independent engine (another process would see the same) reads them at once
    other = create_engine(store_url)
    with other.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == 2
    other.dispose()


def test_read_events_cursor_and_user_events_order(store: Store) -> None:
    _items(store, ["a", "b"])
    store.append_events(
        [
            EventIn("e1", "u1", "a", "view", 1.0, 30.0),
            EventIn("e2", "u1", "b", "view", 1.0, 10.0),
            EventIn("e3", "u2", "a", "view", 1.0, 20.0),
            EventIn("e4", "u1", "a", "buy", 5.0, 20.0),
        ]
    )
    events = store.read_events()
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    page = store.read_events(after=seqs[0], limit=2)
    assert [e.event_id for e in page] == ["e2", "e3"]
    assert [e.event_id for e in store.read_events(after=seqs[-1])] == []
    # newest (by event time) last, the oldest beyond the limit dropped
    assert [e.event_id for e in store.user_events("u1")] == ["e2", "e4", "e1"]
    assert [e.event_id for e in store.user_events("u1", limit=2)] == ["e4", "e1"]


def test_lean_reads_match_the_full_event_log(store: Store) -> None:
    # the refresher's and the learner's reads: the same events as read_events, fewer columns / rows
    _items(store, ["a", "b"])
    store.append_events([_click("e1", "a", "u1"), EventIn("e2", "u2", "b", "view", 1.0, 7.5)])
    store.append_events([EventIn("e3", "u1", "b", "click", 1.0, 9.0, recommendation_id="r-unknown")])
    store.append_events([_click("e4", "b", "u3")])
    full = store.read_events()
    history = store.read_history_events()
    assert history == [(e.seq, e.event_id, e.user_id, e.item_id, e.timestamp) for e in full]
    assert history[1] == (full[1].seq, "e2", "u2", "b", 7.5)
    assert all(type(row) is tuple for row in history)
    assert store.read_history_events(after=full[0].seq, limit=2) == history[1:3]
    # only e3 quotes a slate; the cursor passes e4, which quotes nothing, so it is not read again
    quoting, cursor = store.read_quoting_events()
    assert [e.event_id for e in quoting] == ["e3"] and quoting[0] == full[2]
    assert cursor == full[-1].seq
    assert store.read_quoting_events(after=cursor) == ([], cursor)
    store.append_events([EventIn("e5", "u2", "a", "click", 1.0, 10.0, recommendation_id="r2")])
    store.append_events([EventIn("e6", "u2", "b", "click", 1.0, 11.0, recommendation_id="r3")])
    page, at = store.read_quoting_events(after=cursor, limit=1)  # a full page: read on from its last row
    assert [e.event_id for e in page] == ["e5"] and at == page[0].seq
    rest, end = store.read_quoting_events(after=at, limit=1)
    assert [e.event_id for e in rest] == ["e6"] and end == rest[0].seq
    assert store.read_quoting_events(after=end, limit=1) == ([], end)


def test_cursor_never_hands_out_a_seq_again(store: Store) -> None:
    _items(store, ["a"])
    store.append_events([_click("e1", "a", "u1"), _click("e2", "a", "u2")])
    last = store.read_events()[-1].seq
    store.delete_user("u2")  # removes the row holding the highest seq
    store.append_events([_click("e3", "a", "u1")])
    assert [e.event_id for e in store.read_events(after=last)] == ["e3"]


# ---------------------------------------------------------------------- impressions
def test_impressions_round_trip_and_are_idempotent(store: Store) -> None:
    idx = _items(store, ["a", "b", "c"])
    r1 = _impression("r1", "u1", ["a", "b"], idx[:2])
    r2 = _impression("r2", "u2", ["c"], idx[2:])
    store.append_impression(r1)
    store.append_impression(r2)
    store.append_impression(r1)  # a retried write adds nothing
    got = store.get_impression("r1")
    assert got is not None and got.to_dict() == r1.to_dict()
    log = store.read_impressions()
    assert [rec.recommendation_id for _, rec in log] == ["r1", "r2"]
    assert [rec.to_dict() for _, rec in store.read_impressions(after=log[0][0])] == [r2.to_dict()]
    assert store.get_impression("nope") is None


# ---------------------------------------------------------------------- keys
def test_api_keys_store_only_a_hash_and_verify(store: Store, store_url: str) -> None:
    secret = store.create_key("write", name="ingest")
    assert secret.startswith("exr_")
    key = store.verify_key(secret)
    assert key is not None and (key.scope, key.name) == ("write", "ingest")
    assert store.verify_key(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert store.verify_key("exr_nokey") is None
    assert store.verify_key("Bearer " + secret) is None
    assert store.verify_key("") is None
    engine = create_engine(store_url)
    with engine.connect() as conn:
        stored = " ".join(str(v) for row in conn.execute(text("SELECT * FROM api_keys")) for v in row)
    engine.dispose()
    assert secret not in stored and secret.split("_", 2)[2] not in stored
    assert store.revoke_key(key.key_id) is True
    assert store.verify_key(secret) is None
    assert store.revoke_key(key.key_id) is False
    assert [k.key_id for k in store.keys()] == [key.key_id]
    with pytest.raises(ConfigError, match="scope must be one of read, write, admin, got 'root'"):
        store.create_key("root")


def test_ping_succeeds_on_a_live_store(store: Store) -> None:
    store.ping()


# ---------------------------------------------------------------------- opening
def test_open_rejects_unsupported_and_in_memory_urls() -> None:
    with pytest.raises(ConfigError, match="unsupported database 'mysql'"):
        Store.open("mysql://u@localhost/db")
    with pytest.raises(ConfigError, match="in-memory SQLite database is not durable"):
        Store.open("sqlite://")
    with pytest.raises(ConfigError, match="driver 'psycopg2' is not supported"):
        Store.open("postgresql+psycopg2://u@localhost/db")
    with pytest.raises(ConfigError, match="is not a URL"):
        Store.open("not a url")
