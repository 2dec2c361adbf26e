"""The tuned fusion (``fusion``: EASE + text kNN, weights picked on validation) as a served model.

The service's trainer fits it on the store's events, writes it as a registry version, and the app
loads that version through the registry and serves its slates: each slate is the greedy top of the
loaded fusion's own scores for the user's stored history.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from service_helpers import Api
from test_models import SLATE, USER, ease_top, registry_settings

from explorec.models.base import Recommender
from explorec.models.fusion import TunedFusion
from explorec.online.registry import ModelRegistry
from explorec.online.trainer import refit

sys.path.insert(0, str(Path(__file__).parents[1] / "online"))
from registry_helpers import seeded_store

FUSION = {"components": [["ease", {"l2": 1.0}], ["textknn", {}]], "weight_step": 0.25}


def test_a_fusion_version_loads_and_serves_its_own_slates(
    tmp_path: Path, start_api: Callable[..., Api]
) -> None:
    settings = registry_settings(tmp_path, trainer_model="fusion", trainer_params=FUSION)
    store = seeded_store(tmp_path / "store.db")
    try:
        attempt = refit(settings, store)
    finally:
        store.close()
    assert attempt["status"] == "promoted", attempt["reason"]
    assert attempt["metrics"]["ndcg@10"] > 0.8  # the held-out item near the top (6 items per group)
    registry = ModelRegistry(tmp_path / "registry")
    loaded = registry.load(attempt["version"]).model
    assert isinstance(loaded, TunedFusion)
    # the weights were picked on the trainer's hold-out and travel with the version
    assert loaded.weights_.shape == (2,) and np.isclose(loaded.weights_.sum(), 1.0)
    picked = np.flatnonzero((loaded.candidates_ == loaded.weights_).all(axis=1))
    assert picked.size == 1 and loaded.valid_ndcg_[picked[0]] == loaded.valid_ndcg_.max()
    # the text component got the service's encoder, not the default language model
    assert loaded.components_[1].get_params()["encoder"] == settings.encoder

    api = start_api(registry_settings(tmp_path, trainer_model="fusion", trainer_params=FUSION))
    answer = api.get(SLATE, "read").json()
    assert answer["model_version"] == attempt["version"]
    assert [item["item_id"] for item in answer["items"]] == ease_top(api, loaded, USER, 5)
    for g in "ab":
        user = f"{g}user3"
        slate = api.get(f"/v1/users/{user}/recommendations?k=3&policy=greedy&rerank=none", "read").json()
        assert [item["item_id"] for item in slate["items"]] == ease_top(api, loaded, user, 3)
        assert all(item["item_id"].startswith(g) for item in slate["items"])  # the user's own group


def test_a_saved_fusion_round_trips_with_its_weights(tmp_path: Path) -> None:
    from explorec.data.toy import known_answer_dataset, known_answer_split

    split, catalog = known_answer_split(), known_answer_dataset().catalog
    params = {**FUSION, "components": [["ease", {"l2": 10.0}], ["textknn", {"encoder": "hashing:64"}]]}
    model = TunedFusion(**params).fit_with_validation(split.train, split.valid, catalog)
    loaded = Recommender.load(model.save(tmp_path / "fusion"))
    assert isinstance(loaded, TunedFusion)
    np.testing.assert_array_equal(loaded.weights_, model.weights_)
    users = np.arange(split.train.n_users)
    np.testing.assert_array_equal(
        loaded.score(users, history=split.test_history), model.score(users, history=split.test_history)
    )
