"""The service explains a slate of a sequential registry version by that version's attention.

A SASRec is trained on a known-answer task (each sequence holds one key item k among random
fillers, and item ``k + 8`` follows) over item indices that are the store's, registered and served;
a user whose history holds key ``i3`` among fillers gets ``i11`` with ``i3`` as the top evidence.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from service_helpers import Api, service_settings

from explorec.data.interactions import Interactions
from explorec.models.sasrec import SASRec
from explorec.online.registry import ModelRegistry
from explorec.store import Store
from explorec.store.base import EventIn, ItemIn, UserIn

N_KEYS, N_FILLERS = 8, 40
N_ITEMS = 2 * N_KEYS + N_FILLERS


def _key_task(n_users: int, seed: int) -> Interactions:
    rng = np.random.default_rng(seed)
    users: list[int] = []
    items: list[int] = []
    times: list[float] = []
    for u in range(n_users):
        key, pos = int(rng.integers(N_KEYS)), int(rng.integers(4))
        seq = [int(f) for f in rng.choice(N_FILLERS, 4, replace=False) + 2 * N_KEYS]
        seq.insert(pos, key)
        seq.append(key + N_KEYS)
        users += [u] * len(seq)
        items += seq
        times += [float(t) for t in range(len(seq))]
    return Interactions.from_arrays(
        users,
        items,
        timestamp=times,
        user_ids=[f"u{u}" for u in range(n_users)],
        item_ids=[f"i{j}" for j in range(N_ITEMS)],
    )


def test_a_sequential_version_is_explained_by_its_attention(
    tmp_path: Path, start_api: Callable[..., Api]
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store.open(url)
    store.migrate()
    # one item at a time: store index j is item i{j}, the column the model was trained on
    for j in range(N_ITEMS):
        store.upsert_items([ItemIn(item_id=f"i{j}", text=f"catalogue entry number {j}")])
    assert [row.item_id for row in store.items(after_index=-1)] == [f"i{j}" for j in range(N_ITEMS)]
    store.upsert_users([UserIn(user_id="ann")])
    history = ["i20", "i31", "i3", "i17", "i40"]  # fillers around key 3: i11 comes next
    now = time.time()
    store.append_events(
        [
            EventIn(event_id=f"h{n}", user_id="ann", item_id=item, type="click", timestamp=now - 100 + n)
            for n, item in enumerate(history)
        ]
    )
    store.close()
    params = {"dim": 32, "n_layers": 1, "n_heads": 2, "max_len": 8, "epochs": 20, "lr": 0.01}
    model = SASRec(**params, dropout=0.1, attn_dropout=0.0, patience=1000, progress=False, device="cpu")
    model.fit(_key_task(400, seed=0))
    registry = ModelRegistry(tmp_path / "registry")
    meta = {
        "created_at": now,
        "model": "sasrec",
        "params": model.get_params(),
        "n_events": 2400,
        "cursor": 0,
        "n_items": N_ITEMS,
        "parent": None,
        "metrics": {},
        "fit_seconds": 0.0,
    }
    version = registry.add(model, meta=meta)
    registry.promote(version)

    settings = service_settings(url, registry_dir=str(tmp_path / "registry"), model_poll_s=3600)
    api = start_api(settings)
    r = api.get("/v1/users/ann/recommendations?k=2&explain=true&policy=greedy&rerank=none", "read")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == version
    assert body["items"][0]["item_id"] == "i11" and body["items"][0]["stage"] == "model"
    top = body["explanations"][0]
    assert top["evidence_kind"] == "attention"
    assert top["evidence"][0]["item_id"] == "i3"
    weights = model.history_attention([20, 31, 3, 17, 40])
    assert weights[2] == max(weights)
    assert top["evidence"][0]["weight"] == pytest.approx(weights[2], rel=1e-5)
    assert "because you interacted with i3 (attention " in top["sentence"]
    # the same slate through the explanation route
    e = api.get(f"/v1/recommendations/{body['recommendation_id']}/explanation", "read").json()
    assert e["items"][0]["evidence"][0]["item_id"] == "i3"
