"""Pseudonymised user ids (issue 16 part 4): the keyed hash at the edge, erasure, and a grep of everything.

The end-to-end test runs the whole API with ``pseudonymise_secret`` set on SQLite and PostgreSQL,
deletes a user, retrains, and then reads every byte the service wrote (the SQLite file and its WAL, or
every row of every PostgreSQL table as text), every log record, the metrics text and the model
registry folder: no raw user id may appear, while their pseudonyms do (so the grep can fail).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from service_helpers import CATALOGUE, Api, add_catalogue, service_settings
from sqlalchemy import inspect, text

from explorec.errors import ConfigError
from explorec.online.experiments import load_experiment
from explorec.online.registry import ModelRegistry
from explorec.online.trainer import refit
from explorec.service.pseudonym import PSEUDONYM_LENGTH, Pseudonymiser, user_key
from explorec.service.settings import ServiceSettings, load_settings

SECRET = "correct horse battery staple, 32+ bytes of secret"
OTHER_SECRET = "a different secret that is also long enough"
KEEP = ["raw-user-XYZ-123", "raw-user-ABC-456"]
GONE = "raw-user-DEL-789"
RAW = [*KEEP, GONE]
#: events per user: (item, timestamp); the deleted user has 4, so the retrain must lose exactly 4
HISTORY = {
    "raw-user-XYZ-123": [("boots-1", 1.0), ("boots-2", 2.0), ("tent-1", 3.0)],
    "raw-user-ABC-456": [("jazz-1", 1.0), ("jazz-2", 2.0), ("boots-1", 3.0)],
    GONE: [("jazz-1", 1.5), ("jazz-3", 2.5), ("boots-2", 3.5), ("jazz-2", 4.5)],
}


def pseudo_settings(url: str, tmp_path: Path, **kw: Any) -> ServiceSettings:
    options: dict[str, Any] = {
        "pseudonymise_secret": SECRET,
        "registry_dir": str(tmp_path / "registry"),
        "model_poll_s": 3600,  # the tests refit and read the registry themselves
        "trainer_model": "popularity",
        "trainer_min_events": 3,
        "trainer_margin": 1.0,
        "trainer_metric": "ndcg@3",  # the catalogue has 6 items
    }
    options.update(kw)
    return service_settings(url, **options)


def ingest(api: Api) -> None:
    add_catalogue(api)
    users = api.post(
        "/v1/users", {"users": [{"user_id": u, "fields": {"tier": "gold"}} for u in RAW]}, "write"
    )
    assert users.status_code == 200, users.text
    events = [
        {"event_id": f"e-{u[-3:]}-{j}", "user_id": u, "item_id": item, "type": "view", "timestamp": ts}
        for u, rows in HISTORY.items()
        for j, (item, ts) in enumerate(rows)
    ]
    answer = api.post("/v1/feedback", {"events": events}, "write")
    assert answer.status_code == 200 and answer.json()["accepted"] == len(events), answer.text


def test_the_same_id_has_the_same_pseudonym_on_two_apps_with_one_secret(
    tmp_path: Path, start_api: Callable[..., Api]
) -> None:
    stored = []
    for name, secret in (("a", SECRET), ("b", SECRET), ("c", OTHER_SECRET)):
        url = f"sqlite:///{tmp_path / f'{name}.db'}"
        api = start_api(service_settings(url, pseudonymise_secret=secret))
        add_catalogue(api)
        event = {"event_id": "e-1", "user_id": KEEP[0], "item_id": "boots-1", "type": "click"}
        assert api.post("/v1/feedback", {"events": [event]}, "write").status_code == 200
        answer = api.get(f"/v1/users/{KEEP[0]}/recommendations?k=3", "read").json()
        assert answer["user_id"] == KEEP[0]  # the API speaks in the client's id
        with api.store.engine.connect() as conn:
            (user_id,) = conn.execute(text("SELECT user_id FROM users")).one()
        assert api.store.get_impression(answer["recommendation_id"]).user_id == user_id
        stored.append(user_id)
    assert stored[0] == stored[1] != stored[2]
    assert re.fullmatch(f"[0-9a-f]{{{PSEUDONYM_LENGTH}}}", stored[0])
    assert stored[0] == user_key(ServiceSettings(pseudonymise_secret=SECRET), KEEP[0])
    assert stored[2] == Pseudonymiser(OTHER_SECRET.encode()).key(KEEP[0])
    # the documented formula: HMAC-SHA256(secret, "explorec-user:" + user_id), hex
    expected = hmac.new(SECRET.encode(), b"explorec-user:" + KEEP[0].encode(), hashlib.sha256).hexdigest()
    assert stored[0] == expected
    assert user_key(ServiceSettings(), KEEP[0]) == KEEP[0]  # off by default


def test_a_short_secret_is_refused_without_showing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPLOREC_PSEUDONYMISE_SECRET", "hunter2-too-short")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "pseudonymise_secret" in message and "at least 32 bytes" in message and "got 17 bytes" in message
    assert "hunter2" not in message
    with pytest.raises(ValueError) as direct:
        ServiceSettings(pseudonymise_secret="hunter2-too-short")
    assert "hunter2" not in str(direct.value)
    monkeypatch.setenv("EXPLOREC_PSEUDONYMISE_SECRET", SECRET)
    settings = load_settings()
    assert settings.pseudonymise_secret is not None
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())


def test_an_id_the_api_refuses_is_refused_before_hashing(
    tmp_path: Path, start_api: Callable[..., Api]
) -> None:
    api = start_api(pseudo_settings(f"sqlite:///{tmp_path / 's.db'}", tmp_path))
    for path in ("/v1/users/bad%20id/recommendations", f"/v1/users/{'x' * 129}/recommendations"):
        answer = api.get(path, "read")
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["field"] == "user_id"
    assert api.get("/v1/users/ok/recommendations?k=2", "read").status_code == 200
    assert api.delete("/v1/users/nobody").json()["error"]["message"] == "unknown user_id 'nobody'"


def test_deleting_a_user_removes_them_from_the_state_and_the_next_retrain(
    tmp_path: Path, start_api: Callable[..., Api]
) -> None:
    settings = pseudo_settings(f"sqlite:///{tmp_path / 's.db'}", tmp_path)
    api = start_api(settings)
    ingest(api)
    gone = user_key(settings, GONE)
    # the deleted user's slates and clicks are in the online state of an experiment ...
    body = {
        "variants": [
            {"name": "a", "share": 0.5, "policy": "greedy"},
            {"name": "b", "share": 0.5, "policy": "ts"},
        ]
    }
    assert api.client.put("/v1/experiments/exp", json=body, headers=api.headers()).status_code == 200
    shown = {}
    for user in RAW:
        slate = api.get(f"/v1/users/{user}/recommendations?k=3&experiment=exp", "read").json()
        shown[user] = slate
        first = slate["items"][0]["item_id"]
        click = {
            "event_id": f"c-{user[-3:]}",
            "user_id": user,
            "item_id": first,
            "type": "click",
            "recommendation_id": slate["recommendation_id"],
        }
        assert api.post("/v1/feedback", {"events": [click]}, "write").json()["not_learned"] == []
    online = api.client.app.state.online  # type: ignore[attr-defined]
    experiment = load_experiment(api.store, "exp")
    variant_of_gone = experiment.assign(gone).name
    before = online.summary(f"exp/{variant_of_gone}")
    popularity_before = api.state.popularity.view().copy()

    first = refit(settings, api.store)
    assert first["status"] == "promoted", first
    registry = ModelRegistry(settings.registry_dir)
    v1 = registry.load(first["version"])
    assert gone in set(v1.model.train_.user_ids.tolist())

    deleted = api.delete(f"/v1/users/{GONE}")
    assert deleted.status_code == 200 and deleted.json() == {"id": GONE, "deleted": True}
    assert api.delete(f"/v1/users/{GONE}").status_code == 404

    # store: no row of the user, nor the counterfactuals of the user's slates
    with api.store.engine.connect() as conn:
        for table in ("users", "events", "impressions"):
            n = conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE user_id = :u"), {"u": gone}
            ).scalar_one()
            assert n == 0, table
        cf = conn.execute(
            text("SELECT count(*) FROM counterfactuals WHERE recommendation_id = :r"),
            {"r": shown[GONE]["recommendation_id"]},
        ).scalar_one()
        assert cf == 0
        kept = conn.execute(text("SELECT count(*) FROM counterfactuals")).scalar_one()
        assert kept == len(KEEP)
    # served state: the user's history and their share of the popularity counts are gone
    assert api.state.history(gone) == []
    expected = popularity_before.copy()
    for item, _ in HISTORY[GONE]:
        expected[api.state.item_index[item]] -= 1
    expected[api.state.item_index[shown[GONE]["items"][0]["item_id"]]] -= 1  # the click
    np.testing.assert_array_equal(api.state.popularity.view(), expected)
    # online state: the variant's counts drop by exactly the user's one slate and one click
    after = online.summary(f"exp/{variant_of_gone}")
    assert (after["impressions"], after["clicks"]) == (before["impressions"] - 1, before["clicks"] - 1)

    second = refit(settings, api.store)
    assert second["status"] == "promoted", second
    v2 = registry.load(second["version"])
    n_gone = len(HISTORY[GONE]) + 1  # their views and their click
    assert v1.info.n_events - v2.info.n_events == n_gone
    assert gone not in set(v2.model.train_.user_ids.tolist())
    # popularity counts are over the training part (each user's last event held out): the deleted
    # user's training events are exactly what the new version lost
    lost = v1.model.counts_ - v2.model.counts_
    assert lost.sum() == n_gone - 1 and lost.min() >= 0
    assert len(v1.model.train_) - len(v2.model.train_) == n_gone - 1
    assert len(CATALOGUE) == v2.model.counts_.shape[0]


def _store_bytes(api: Api, url: str, tmp_path: Path) -> bytes:
    """Every byte the store holds: the SQLite file and its WAL, or every PostgreSQL row as text."""
    if url.startswith("sqlite"):
        return b"".join(p.read_bytes() for p in sorted(tmp_path.glob("service.db*")))
    out = []
    with api.store.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            out += [str(row[0]) for row in conn.execute(text(f'SELECT CAST(t AS text) FROM "{table}" t'))]
    return "\n".join(out).encode()


def _folder_bytes(folder: Path) -> bytes:
    """Every file's bytes, and the strings of every ``.npz`` array (compressed, UTF-32 inside)."""
    out = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        out.append(path.read_bytes())
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as arrays:
                for name in arrays.files:
                    if arrays[name].dtype.kind in "US":
                        out.append("\n".join(map(str, arrays[name].ravel().tolist())).encode())
    return b"\n".join(out)


def test_no_raw_user_id_reaches_the_store_logs_metrics_or_registry(
    store_url: str, tmp_path: Path, start_api: Callable[..., Api], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = pseudo_settings(store_url, tmp_path)
    api = start_api(settings)
    ingest(api)
    body = {
        "variants": [
            {"name": "a", "share": 0.5, "policy": "greedy"},
            {"name": "b", "share": 0.5, "policy": "ts"},
        ]
    }
    assert api.client.put("/v1/experiments/exp", json=body, headers=api.headers()).status_code == 200
    experiment = load_experiment(api.store, "exp")
    for user in RAW:
        slate = api.get(f"/v1/users/{user}/recommendations?k=2&explain=true", "read").json()
        assert slate["user_id"] == user and len(slate["explanations"]) == 2
        click = {
            "event_id": f"c-{user[-3:]}",
            "user_id": user,
            "item_id": slate["items"][0]["item_id"],
            "type": "click",
            "recommendation_id": slate["recommendation_id"],
        }
        assert api.post("/v1/feedback", {"events": [click]}, "write").json()["unattributed"] == []
        why = api.get(f"/v1/recommendations/{slate['recommendation_id']}/explanation", "read").json()
        assert why["user_id"] == user_key(settings, user)  # the service holds no raw id to give back
        assert why["items"][0]["evidence"], why  # the history behind it was found under the pseudonym
        logged = api.get(f"/v1/recommendations/{slate['recommendation_id']}", "read").json()
        assert logged["user_id"] == user_key(settings, user)
        exp = api.get(f"/v1/users/{user}/recommendations?k=3&experiment=exp", "read").json()
        assert exp["user_id"] == user
        # the variant is the pseudonym's: stable on every replica sharing the secret
        record = api.store.get_impression(exp["recommendation_id"])
        assert record.variant == experiment.assign(user_key(settings, user)).name
    assert api.get("/v1/items/boots-1/similar?k=3", "read").status_code == 200
    assert refit(settings, api.store)["status"] == "promoted"
    assert api.delete(f"/v1/users/{GONE}").json() == {"id": GONE, "deleted": True}
    assert api.delete(f"/v1/users/{GONE}").status_code == 404
    retrain = refit(settings, api.store)
    assert retrain["status"] == "promoted", retrain
    metrics = api.client.get("/metrics").text

    haystacks = {
        "store": _store_bytes(api, store_url, tmp_path),
        # every record of the service's side (the test's own HTTP client logs the URLs it asked for)
        "logs": "\n".join(
            f"{r.getMessage()} {r.args} {r.exc_text}"
            for r in caplog.records
            if not r.name.startswith("httpx")
        ).encode(),
        "metrics": metrics.encode(),
        "registry": _folder_bytes(tmp_path / "registry"),
    }
    for where, data in haystacks.items():
        for raw in RAW:
            assert raw.encode() not in data, f"{raw} found in the {where}"
        assert b"raw-user" not in data, where
    # the grep can fail: the pseudonyms are where the raw ids would have been
    for user in KEEP:
        assert user_key(settings, user).encode() in haystacks["store"]
        assert user_key(settings, user).encode() in haystacks["registry"]
    assert b"explorec_impressions_logged_total" in haystacks["metrics"]
    assert "user ids are pseudonymised" in caplog.text
    assert SECRET not in caplog.text


def test_an_erasure_through_one_replica_reaches_the_other(
    store_url: str, tmp_path: Path, start_api: Callable[..., Api]
) -> None:
    settings = pseudo_settings(store_url, tmp_path, refresh_interval_s=0.05)
    one = start_api(settings)
    ingest(one)
    slate = one.get(f"/v1/users/{GONE}/recommendations?k=2", "read").json()
    click = {
        "event_id": "c-gone",
        "user_id": GONE,
        "item_id": slate["items"][0]["item_id"],
        "type": "click",
        "recommendation_id": slate["recommendation_id"],
    }
    assert one.post("/v1/feedback", {"events": [click]}, "write").json()["not_learned"] == []
    other = start_api(settings)  # a second replica on the same store, loaded with the user
    gone = user_key(settings, GONE)
    other_online = other.client.app.state.online  # type: ignore[attr-defined]
    other_online.sync(other.store)
    assert len(other.state.history(gone)) == len(HISTORY[GONE]) + 1
    assert other_online.summary("greedy")["clicks"] == 1
    popularity = other.state.popularity.view().sum()

    assert one.delete(f"/v1/users/{GONE}").status_code == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (
        other.state.history(gone) or other_online.summary("greedy")["impressions"]
    ):
        time.sleep(0.05)
    assert other.state.history(gone) == []  # dropped without any request for the user
    assert gone not in other.state.user_counts
    assert other.state.popularity.view().sum() == popularity - len(HISTORY[GONE]) - 1
    summary = other_online.summary("greedy")
    assert (summary["impressions"], summary["clicks"]) == (0, 0)
    # the erasure log names the user by a hash of the pseudonym only
    assert [digest for _, digest in one.store.read_erasures()] == [hashlib.sha256(gone.encode()).hexdigest()]


def test_the_dashboard_speaks_client_ids_and_stores_pseudonyms(
    tmp_path: Path, start_api: Callable[..., Api]
) -> None:
    from test_dashboard import _slate, log_in

    settings = pseudo_settings(f"sqlite:///{tmp_path / 'service.db'}", tmp_path)
    api = start_api(settings)
    ingest(api)
    user, key = KEEP[0], user_key(settings, KEEP[0])
    log_in(api, "write")
    found = api.client.get(f"/dashboard/users?user_id={user}", follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == f"/dashboard/users/{user}"
    page = api.client.get(f"/dashboard/users/{user}")
    assert f'<code id="user-id">{user}</code>' in page.text  # the client's id, never the pseudonym
    assert key not in page.text
    assert "boots-1" in page.text  # the history, read under the pseudonym
    rid, items, token = _slate(api, user)
    done = api.client.post(
        f"/dashboard/users/{user}/click",
        data={"csrf": token, "recommendation_id": rid, "item_id": items[0]},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"].startswith(f"/dashboard/users/{user}?")
    (event,) = [e for e in api.store.user_events(key) if e.recommendation_id == rid]
    assert (event.item_id, event.attributed, event.position) == (items[0], True, 0)
    assert api.store.get_impression(rid).user_id == key
    home = api.client.get("/dashboard")
    assert home.status_code == 200 and key not in home.text  # no pseudonyms offered as examples
    store = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("service.db*")))
    assert user.encode() not in store and key.encode() in store


def test_an_erased_users_pseudonym_is_gone_from_the_sqlite_file(
    tmp_path: Path, start_api: Callable[..., Api]
) -> None:
    settings = pseudo_settings(f"sqlite:///{tmp_path / 'service.db'}", tmp_path)
    api = start_api(settings)
    ingest(api)
    slate = api.get(f"/v1/users/{GONE}/recommendations?k=2", "read").json()
    assert slate["user_id"] == GONE
    gone, kept = user_key(settings, GONE), user_key(settings, KEEP[0])

    def file_bytes() -> bytes:
        with api.store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # the WAL's pages into the file
        return b"".join(p.read_bytes() for p in sorted(tmp_path.glob("service.db*")))

    assert gone.encode() in file_bytes()
    assert api.delete(f"/v1/users/{GONE}").status_code == 200
    after = file_bytes()
    assert gone.encode() not in after  # zeroed (secure_delete), not left in free pages
    assert kept.encode() in after
