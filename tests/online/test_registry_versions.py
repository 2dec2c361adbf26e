"""The model registry and the trainer: versions are immutable, gated swaps, pin, rollback, safe loading."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from registry_helpers import seeded_store

from explorec.errors import ConfigError, DataError
from explorec.online.registry import ModelRegistry, RegistryFollower
from explorec.online.trainer import holdout_last, refit, store_interactions
from explorec.persist import verify_manifest
from explorec.service.settings import ServiceSettings


@pytest.fixture
def store(store_url: str) -> Iterator[Any]:
    s = seeded_store(store_url)
    yield s
    s.close()


def settings(tmp_path: Path, **kw: Any) -> ServiceSettings:
    base: dict[str, Any] = {
        "database_url": "sqlite://",
        "registry_dir": str(tmp_path / "registry"),
        "trainer_model": "ease",
        "trainer_params": {"l2": 1.0},
    }
    base.update(kw)
    return ServiceSettings(**base)


def test_store_interactions_and_holdout_have_known_sizes(store: Any) -> None:
    data, cursor, n = store_interactions(store)
    assert (n, data.n_users, data.n_items) == (96, 24, 12)
    assert cursor >= 96
    assert list(data.item_ids[:2]) == ["a0", "a1"]  # model column j is the store's item index j
    train, test = holdout_last(data)
    assert (len(train), len(test)) == (72, 24)
    # each user's held-out event is their last one (timestamp 1003)
    assert set(test.timestamp.tolist()) == {1003.0}


def test_first_refit_serves_with_metadata_and_metrics(store: Any, tmp_path: Path) -> None:
    attempt = refit(settings(tmp_path), store)
    assert attempt["status"] == "promoted"
    registry = ModelRegistry(tmp_path / "registry")
    version = registry.serving()
    assert version == attempt["version"]
    info = registry.info(version)
    assert (info.model, info.n_events, info.n_items, info.parent) == ("ease", 96, 12, None)
    assert info.metrics["ndcg@10"] > 0.9  # EASE finds the user's group on this data
    loaded = registry.load(version)
    assert loaded.model.n_items_ == 12


@pytest.mark.parametrize(
    ("model", "params"),
    [
        ("textknn", {}),
        (
            "lm-adapter",
            {"epochs": 2, "dim": 16, "n_layers": 1, "n_heads": 1, "progress": False, "device": "cpu"},
        ),
    ],
)
def test_text_models_are_versions_with_their_own_item_vectors(
    store: Any, tmp_path: Path, model: str, params: dict[str, Any]
) -> None:
    import numpy as np

    from explorec.encoders import l2_normalize, make_encoder

    attempt = refit(
        settings(tmp_path, trainer_model=model, trainer_params=params, encoder="hashing:64"), store
    )
    assert attempt["status"] == "promoted", attempt["reason"]
    registry = ModelRegistry(tmp_path / "registry")
    loaded = registry.load(attempt["version"])
    assert registry.info(attempt["version"]).model == model
    # the version holds the vectors of the texts it was trained on, in store index order
    texts = [row.text for row in sorted(store.items(after_index=-1), key=lambda r: int(r.index))]
    expected = l2_normalize(make_encoder("hashing:64").encode(texts))
    if model == "textknn":
        np.testing.assert_allclose(loaded.model.item_vectors_, expected, atol=1e-6)
        assert attempt["metrics"]["ndcg@10"] > 0.3  # the texts name the group: better than chance
    else:
        assert loaded.model.n_items_ == 12
    # a text changed after training does not change the version (it is immutable and self-contained)
    from explorec.store.base import ItemIn

    store.upsert_items([ItemIn(item_id="a0", text="something else entirely")])
    again = registry.load(attempt["version"]).model
    if model == "textknn":
        np.testing.assert_allclose(again.item_vectors_, expected, atol=1e-6)


def test_a_worse_model_is_written_but_not_swapped_in(store: Any, tmp_path: Path, caplog: Any) -> None:
    good = refit(settings(tmp_path), store)
    with caplog.at_level(logging.WARNING, logger="explorec.online.trainer"):
        worse = refit(settings(tmp_path, trainer_model="popularity", trainer_params={}), store)
    assert worse["status"] == "rejected"
    assert "below the serving version's" in worse["reason"]
    registry = ModelRegistry(tmp_path / "registry")
    assert registry.serving() == good["version"]
    assert worse["version"] in registry.names()
    assert registry.info(worse["version"]).parent == good["version"]
    rows = {row["version"]: row for row in registry.describe()["versions"]}
    assert rows[worse["version"]]["status"] == "rejected"
    assert rows[worse["version"]]["reason"] == worse["reason"]
    assert worse["reason"] in caplog.text
    # within the margin it is swapped in
    lenient_settings = settings(tmp_path, trainer_model="popularity", trainer_params={}, trainer_margin=1.0)
    lenient = refit(lenient_settings, store)
    assert lenient["status"] == "promoted"
    assert registry.serving() == lenient["version"]


def test_a_failing_retrain_writes_nothing_and_says_why(store: Any, tmp_path: Path, caplog: Any) -> None:
    good = refit(settings(tmp_path), store)
    with caplog.at_level(logging.ERROR, logger="explorec.online.trainer"):
        failed = refit(settings(tmp_path, trainer_params={"bogus": 1}), store)
    assert failed["status"] == "failed"
    assert failed["version"] is None
    assert "unknown parameter(s) ['bogus']" in failed["reason"]
    assert "unknown parameter(s) ['bogus']" in caplog.text
    registry = ModelRegistry(tmp_path / "registry")
    assert registry.names() == [good["version"]]
    assert registry.serving() == good["version"]
    assert registry.describe()["attempts"][-1]["reason"] == failed["reason"]
    too_few = refit(settings(tmp_path, trainer_min_events=1000), store)
    assert too_few["status"] == "failed" and "trainer_min_events is 1000" in too_few["reason"]


def test_pin_blocks_swaps_and_rollback_returns_to_the_previous(store: Any, tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    first = refit(settings(tmp_path), store)["version"]
    second = refit(settings(tmp_path, trainer_params={"l2": 2.0}), store)["version"]
    assert registry.serving() == second
    registry.pin(first)
    assert (registry.serving(), registry.state().pinned) == (first, first)
    third = refit(settings(tmp_path, trainer_params={"l2": 3.0}), store)
    assert third["status"] == "not-swapped" and third["reason"] == f"version {first} is pinned"
    assert registry.serving() == first
    # a pin that lands while a refit runs wins: the trainer's switch checks it under the lock
    assert not registry.promote(third["version"], unless_pinned=True)
    assert registry.serving() == first
    registry.unpin()
    fourth = refit(settings(tmp_path, trainer_params={"l2": 4.0}), store)
    assert fourth["status"] == "promoted"
    assert registry.rollback() == first
    assert registry.serving() == first
    assert registry.state().pinned == first  # the next scheduled refit does not undo a rollback
    assert registry.rollback() == second
    # the history is the sequence of serving versions: first, second, first
    assert registry.rollback() == first
    with pytest.raises(ConfigError, match="no earlier serving version"):
        registry.rollback()
    with pytest.raises(ConfigError, match="is not a complete version"):
        registry.pin("v-20990101T000000000000-000000000000")


def test_versions_are_immutable(store: Any, tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    first = refit(settings(tmp_path), store)["version"]
    folder = registry.versions_dir / first
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    for l2 in (2.0, 3.0, 4.0):
        refit(settings(tmp_path, trainer_params={"l2": l2}), store)
    registry.pin(first)
    registry.rollback()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # never rewritten or pruned
    assert len(registry.names()) == 4
    # a change to a sealed version is detected and the version is refused
    info = folder / "version.json"
    meta = json.loads(info.read_text())
    meta["metrics"]["ndcg@10"] = 1.0
    info.write_text(json.dumps(meta))
    with pytest.raises(DataError, match="content differs from its manifest"):
        registry.load(first)


def test_a_half_written_version_is_never_served(store: Any, tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    good = refit(settings(tmp_path), store)["version"]
    swapped: list[str] = []
    follower = RegistryFollower(registry, lambda v: swapped.append(v.name))
    assert follower.step() and swapped == [good]
    # a writer killed mid-way leaves a temporary folder: not a version, never listed or served
    partial = registry.versions_dir / ".tmp-killed"
    shutil.copytree(registry.versions_dir / good, partial)
    (partial / "state.npz").write_bytes(b"half")
    assert registry.names() == [good]
    # a version folder whose files were cut short, even when the pointer names it, is refused
    broken = registry.versions_dir / "v-20990101T000000000000-0123456789ab"
    shutil.copytree(registry.versions_dir / good, broken)
    (broken / "state.npz").write_bytes(b"half")
    (registry.versions_dir / "CURRENT").write_text(broken.name + "\n")
    assert not follower.step()
    assert swapped == [good] and follower.loaded == good
    assert follower.last_error is not None and "state.npz" in follower.last_error
    with pytest.raises(DataError):
        verify_manifest(broken)
    # a pointer to a folder without a manifest is refused too
    (broken / "manifest.json").unlink()
    assert not follower.step()
    assert follower.last_error is not None and "incomplete version" in follower.last_error
    assert swapped == [good]
    # once the pointer names a complete version again, it is swapped in
    registry.pin(good)
    follower.loaded = None
    assert follower.step() and swapped == [good, good]


def test_a_version_naming_an_unregistered_class_is_refused(store: Any, tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    good = refit(settings(tmp_path), store)["version"]
    folder = registry.versions_dir / good
    config = json.loads((folder / "config.json").read_text())
    config["name"] = "os.system"
    (folder / "config.json").write_text(json.dumps(config))
    from explorec.persist import write_manifest

    write_manifest(folder)  # re-sealed, so only the registry check stands between it and serving
    with pytest.raises(DataError, match="not a registered model"):
        registry.load(good)


def test_retrain_requests_are_taken_once(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    assert not registry.take_retrain_request()
    registry.request_retrain()
    assert registry.take_retrain_request()
    assert not registry.take_retrain_request()
