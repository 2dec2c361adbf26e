"""End to end: items, users, feedback, recommendations, clicks quoting them, and the policy's value
estimated from the service's own impression log (SQLite and PostgreSQL).

Known answer: simulated users click exactly the shown items of their favourite topic, so the log's
on-policy value is the click count over the shown slots, which the OPE input (and IPS of the
logging policy itself) must reproduce.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from service_helpers import Api, service_settings

from explorec.cli import main
from explorec.evaluation.ope import estimate
from explorec.impressions import to_bandit_log
from explorec.service.log import read_service_log, slot_rewards

TOPICS = {
    "hiking": "trail hiking boots waterproof mountain",
    "jazz": "jazz vinyl record saxophone album",
    "coffee": "espresso coffee grinder burr barista",
}


def test_service_log_estimates_the_policys_value(
    store_url: str, start_api: Callable[..., Api], capsys: object
) -> None:
    api = start_api(service_settings(store_url, policy="eps-greedy:0.3", rerank="mmr:0.3"))
    items = [
        {"item_id": f"{topic}-{j}", "text": f"{text} variant {j}", "categories": [topic]}
        for topic, text in TOPICS.items()
        for j in range(8)
    ]
    assert api.post("/v1/items", {"items": items}, scope="write").json()["created"] == 24
    users = [
        {"user_id": f"{topic}-fan-{u}", "fields": {"topic": topic}} for topic in TOPICS for u in range(4)
    ]
    assert api.post("/v1/users", {"users": users}, scope="write").json() == {"upserted": 12}
    seed_events = [
        {"event_id": f"seed-{u['user_id']}", "user_id": u["user_id"], "item_id": f"{u['fields']['topic']}-0"}
        for u in users
    ]
    assert api.post("/v1/feedback", {"events": seed_events}, scope="write").json()["accepted"] == 12

    clicks = shown = 0
    for _ in range(5):
        for user in users:
            topic = str(user["fields"]["topic"])
            rec = api.get(
                f"/v1/users/{user['user_id']}/recommendations", scope="read", params={"k": 4}
            ).json()
            events = []
            for slot in rec["items"]:
                shown += 1
                if slot["item_id"].startswith(topic):
                    events.append(
                        {
                            "event_id": f"click-{rec['recommendation_id']}-{slot['position']}",
                            "user_id": user["user_id"],
                            "item_id": slot["item_id"],
                            "type": "click",
                            "recommendation_id": rec["recommendation_id"],
                        }
                    )
            if events:
                r = api.post("/v1/feedback", {"events": events}, scope="write").json()
                assert r["accepted"] == len(events) and r["unattributed"] == []
                clicks += len(events)

    records, rewards = slot_rewards(api.store)
    assert len(records) == 60 and sum(len(r) for r in records) == shown
    assert sum(float(r.sum()) for r in rewards) == clicks
    log = read_service_log(store_url)
    assert len(log) == shown
    np.testing.assert_allclose(log.on_policy_value(), clicks / shown)
    assert set(np.unique(log.pscore)) <= {float(p) for r in records for p in r.propensities}

    # evaluating the logging policy itself (pi_e = the logged propensity of each shown slot) gives
    # importance weights of 1, so IPS must return the on-policy value: the columns line up
    n = log.n_actions
    own = np.zeros((len(log), n, log.len_list))
    own[np.arange(len(log)), log.action, log.position] = log.pscore
    value = estimate(log, own, estimators=["ips"], n_bootstrap=50)["ips"].value
    np.testing.assert_allclose(value, clicks / shown)

    # the same log through to_bandit_log directly, and through the CLI
    direct = to_bandit_log(records, rewards, n_actions=n)
    np.testing.assert_array_equal(direct.action, log.action)
    assert (
        main(
            [
                "ope",
                "--service-db",
                store_url,
                "--policy",
                "uniform",
                "--estimators",
                "ips,snips",
                "--bootstrap",
                "50",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert f"on-policy value of the log: {clicks / shown:.6f}" in out
