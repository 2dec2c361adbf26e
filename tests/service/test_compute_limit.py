"""The worker's compute limiter and the commit awaited on the event loop (routers/users.py, feedback.py).

Slates and feedback batches are built in at most ``compute_threads`` threads at once (more threads
only fight over the GIL); the impression's or the events' commit is awaited on the event loop, and
the answer still leaves only once the commit is durable.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from service_helpers import Api, add_catalogue, service_settings

from explorec.service.deps import durable
from explorec.service.routers import feedback, users


class Overlap:
    """Wraps functions to count how many calls run at once (each held for ``hold_s``)."""

    def __init__(self, hold_s: float = 0.05) -> None:
        self.hold_s = hold_s
        self.active = 0
        self.peak = 0
        self.calls = 0
        self._lock = threading.Lock()

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.active += 1
                self.calls += 1
                self.peak = max(self.peak, self.active)
            try:
                time.sleep(self.hold_s)  # sleeps without the GIL: only the limiter keeps calls apart
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self.active -= 1

        return counted


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[Overlap]:
    overlap = Overlap()
    monkeypatch.setattr(users, "build_slate", overlap.wrap(users.build_slate))
    monkeypatch.setattr(feedback, "_stage", overlap.wrap(feedback._stage))
    yield overlap


def _mixed_load(api: Api, n: int = 24) -> list[int]:
    """``n`` requests from 8 client threads: recommendations and one-event feedback, interleaved."""

    def one(j: int) -> int:
        if j % 2:
            event = {"event_id": f"e{j}", "user_id": f"u{j}", "item_id": "jazz-1", "type": "click"}
            return int(api.post("/v1/feedback", {"events": [event]}, scope="write").status_code)
        return int(api.get(f"/v1/users/u{j}/recommendations?k=3", scope="read").status_code)

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(n)))


def test_one_compute_thread_builds_one_slate_or_batch_at_a_time(
    sqlite_url: str, start_api: Callable[..., Api], counted: Overlap
) -> None:
    api = start_api(service_settings(sqlite_url, compute_threads=1))
    add_catalogue(api)
    assert _mixed_load(api) == [200] * 24
    assert counted.calls == 24
    assert counted.peak == 1
    assert api.store.count_events() == 12


def test_more_compute_threads_build_slates_in_parallel(
    sqlite_url: str, start_api: Callable[..., Api], counted: Overlap
) -> None:
    api = start_api(service_settings(sqlite_url, compute_threads=4))
    add_catalogue(api)
    assert _mixed_load(api) == [200] * 24
    # 8 clients against 4 threads that each hold a call for 50 ms: they overlap, never beyond 4
    assert 2 <= counted.peak <= 4


def test_the_answer_waits_for_the_impression_commit(
    sqlite_url: str, start_api: Callable[..., Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slate's thread only queues the impression; the answer is sent once the commit is done."""
    api = start_api(service_settings(sqlite_url))
    add_catalogue(api)
    store = api.store
    real = store.submit_impression
    done_at: list[float] = []

    def late(record: Any) -> Future[Any]:
        committed = real(record)
        later: Future[Any] = Future()

        def finish() -> None:
            committed.result()
            done_at.append(time.monotonic())
            later.set_result(None)

        threading.Timer(0.3, finish).start()  # a slow disk: durable 0.3 s after the commit
        return later

    monkeypatch.setattr(store, "submit_impression", late)
    answer = api.get("/v1/users/someone/recommendations?k=3", scope="read")
    received = time.monotonic()
    assert answer.status_code == 200
    assert done_at and done_at[0] <= received
    logged = api.get(f"/v1/recommendations/{answer.json()['recommendation_id']}", scope="read")
    assert logged.status_code == 200


def test_a_client_that_hangs_up_does_not_cancel_the_commit() -> None:
    """The committer sets the future after the client left: it must not find it cancelled."""

    async def hang_up() -> Future[int]:
        commit: Future[int] = Future()
        waiter = asyncio.ensure_future(durable(commit))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        return commit

    commit = asyncio.run(hang_up())
    assert not commit.cancelled()
    commit.set_result(1)  # what the committer does once durable; raises on a cancelled future
    assert commit.result() == 1
