"""The Ray backend on a local cluster: Ray Data embedding and Ray Train (DDP) fits equal the local path."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

from explorec import distributed
from explorec.cli import main
from explorec.data.interactions import Catalog, Interactions
from explorec.encoders import HashingEncoder, SentenceEncoder, item_vectors
from explorec.errors import ConfigError
from explorec.models.base import Recommender
from explorec.models.itemknn import ItemKNN
from explorec.models.sasrec import SASRec
from explorec.models.saved import load_saved
from explorec.models.training import Trainer, seeded
from explorec.persist import resolve_version

torch.set_num_threads(1)

N_ITEMS = 20
TINY: dict[str, Any] = {
    "dim": 32,
    "n_heads": 2,
    "n_layers": 1,
    "max_len": 8,
    "dropout": 0.1,
    "attn_dropout": 0.0,
    "lr": 0.01,
    "batch_size": 16,
    "progress": False,
    "device": "cpu",
}


def planted(n_users: int = 60, length: int = 8) -> tuple[Interactions, Interactions, Catalog]:
    """User u walks the cycle u, u+1, ... (mod 20); the last step of each walk is held out."""
    users = [u for u in range(n_users) for _ in range(length)]
    items = [(u + j) % N_ITEMS for u in range(n_users) for j in range(length)]
    data = Interactions.from_arrays(
        users, items, user_ids=[f"u{u}" for u in range(n_users)], item_ids=[f"i{i}" for i in range(N_ITEMS)]
    )
    last = np.r_[np.diff(data.user) != 0, True]
    texts = [f"item number {i} of the cycle, {'even' if i % 2 == 0 else 'odd'}" for i in range(N_ITEMS)]
    catalog = Catalog(data.item_ids, fields={"text": np.array(texts, dtype=object)})
    return data.select(~last), data.select(last), catalog


@pytest.fixture(scope="module")
def data() -> tuple[Interactions, Interactions, Catalog]:
    return planted()


def _texts(n: int) -> list[str]:
    """Texts of very different lengths, with duplicates, so batches differ from the local path's."""
    rng = np.random.default_rng(0)
    words = ["red", "apple", "diesel", "truck", "green", "microscope", "lens", "pipette", "glass"]
    return [" ".join(rng.choice(words, size=int(rng.integers(1, 30)))) for _ in range(n)] + ["red apple"] * 3


def test_hashing_vectors_equal_the_local_path_in_order(ray_cluster: ModuleType) -> None:
    texts = _texts(997)
    local = HashingEncoder(dim=64).encode(texts)
    # batches of 10 over blocks of uneven size, on 2 actors: the rows come back by position
    remote = distributed.RayEncoder(HashingEncoder(dim=64), workers=2, batch_size=10).encode(texts)
    assert remote.shape == (len(texts), 64) and remote.dtype == np.float32
    np.testing.assert_allclose(remote, local, rtol=0, atol=1e-6)
    assert not np.allclose(remote[:-1], local[1:], atol=1e-3)  # shifted rows would not pass


def test_minilm_item_vectors_equal_the_local_path(
    ray_cluster: ModuleType, data: tuple[Interactions, Interactions, Catalog], tmp_path: Path
) -> None:
    _, _, catalog = data
    local = item_vectors(catalog, encoder=SentenceEncoder(device="cpu"), cache_dir=tmp_path / "local")
    remote = distributed.item_vectors(catalog, cache_dir=tmp_path / "ray", workers=2, batch_size=8)
    assert remote.shape == (N_ITEMS, 384)
    np.testing.assert_allclose(remote, local, rtol=0, atol=1e-5)
    # the cache was written by this process: a second call is answered without the cluster
    again = distributed.item_vectors(catalog, cache_dir=tmp_path / "ray", address="unused:1")
    np.testing.assert_array_equal(again, remote)


def test_sasrec_ddp_on_two_workers_learns_and_saves_like_a_local_model(
    ray_cluster: ModuleType, data: tuple[Interactions, Interactions, Catalog], tmp_path: Path
) -> None:
    train, test, catalog = data
    model = distributed.fit(SASRec(**TINY, epochs=60), train, catalog, valid=test, workers=2)
    assert isinstance(model, SASRec) and not hasattr(model, "_train_runner")
    hit_at_1 = float(np.mean(model.score(test.user, history=train).argmax(1) == test.item))
    assert hit_at_1 >= 0.9
    # 60 windows in batches of 16 = 4 batches an epoch; each worker steps through all 4 with half the rows
    assert [e.steps for e in model.history_.epochs[:2]] == [4, 4]
    assert model.history_.best_metric is not None and model.history_.best_metric > 0.8
    loaded = Recommender.load(model.save(tmp_path / "m"))
    assert isinstance(loaded, SASRec)
    np.testing.assert_array_equal(loaded.score([0, 1]), model.score([0, 1]))


def test_one_worker_equals_the_local_fit_bitwise(
    ray_cluster: ModuleType, data: tuple[Interactions, Interactions, Catalog]
) -> None:
    train, test, catalog = data
    local = SASRec(**TINY, epochs=3).fit(train, catalog, valid=test)
    remote = distributed.fit(SASRec(**TINY, epochs=3), train, catalog, valid=test, workers=1)
    assert remote.history_.losses == local.history_.losses
    assert remote.history_.metrics == local.history_.metrics
    np.testing.assert_array_equal(remote.score(test.user), local.score(test.user))


def test_local_fit_is_the_plain_trainer(data: tuple[Interactions, Interactions, Catalog]) -> None:
    """The default path: ``fit`` is exactly ``Trainer.fit`` over the model's own hooks, bit for bit."""
    train, _, catalog = data
    model = SASRec(**TINY, epochs=4).fit(train, catalog)
    by_hand = SASRec(**TINY, epochs=4)
    by_hand.train_, by_hand.n_users_, by_hand.n_items_ = train, train.n_users, train.n_items
    by_hand.device_ = torch.device("cpu")
    with seeded(0):
        by_hand.module_config_ = by_hand._module_config(train, catalog)
        net = by_hand._build_module(by_hand.module_config_)
    trainer = Trainer(epochs=4, lr=0.01, batch_size=16, seed=0, device="cpu", progress=False)
    history = trainer.fit(net, by_hand._batches(train, catalog), by_hand._loss)
    assert model.history_.losses == history.losses
    for key, tensor in net.state_dict().items():
        assert torch.equal(model.module_.state_dict()[key], tensor), key


def test_cli_two_tower_trains_on_ray_and_recommends(ray_cluster: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "tt"
    params = ["--param", "epochs=2", "--param", "dim=16", "--param", "hidden=32", "--param", "progress=false"]
    args = ["train", "--dataset", "synthetic", "--model", "two-tower", *params, "--out", str(out)]
    assert main([*args, "--backend", "ray", "--workers", "2", "--no-eval"]) == 0
    run = json.loads((resolve_version(out) / "run.json").read_text())
    assert run["backend"] == {"ray": {"workers": 2}}
    saved = load_saved(out)
    assert len(saved.model.history_.epochs) == 2
    rec = tmp_path / "rec.json"
    args = ["recommend", "--model-dir", str(out), "--users", "U00000", "--k", "5", "--output", str(rec)]
    assert main(args) == 0
    assert rec.stat().st_size > 0


def test_cli_embed_on_ray_writes_the_local_vectors(ray_cluster: ModuleType, tmp_path: Path) -> None:
    local, remote = tmp_path / "local.npy", tmp_path / "ray.npy"
    base = ["embed", "--dataset", "synthetic", "--model", "hashing:32"]
    assert main([*base, "--out", str(local)]) == 0
    on_ray = ["--backend", "ray", "--workers", "2", "--json", str(tmp_path / "r.json")]
    assert main([*base, "--out", str(remote), *on_ray]) == 0
    np.testing.assert_allclose(np.load(remote), np.load(local), rtol=0, atol=1e-6)
    assert json.loads((tmp_path / "r.json").read_text())["backend"] == "ray (2 workers)"


def test_bad_backend_input_is_refused(
    data: tuple[Interactions, Interactions, Catalog], capsys: pytest.CaptureFixture[str]
) -> None:
    train, _, _ = data
    with pytest.raises(ConfigError, match="torch models"):
        distributed.fit(ItemKNN(), train)  # type: ignore[type-var]
    with pytest.raises(ConfigError, match="DP-SGD training"):
        distributed.fit(SASRec(**TINY, dp_epsilon=4.0), train)
    with pytest.raises(ConfigError, match="workers must be"):
        distributed.RayEncoder("hashing:8", workers=0)
    assert main(["embed", "--dataset", "synthetic", "--model", "hashing:8", "--address", "auto"]) == 2
    assert "--address needs --backend ray, got --backend local" in capsys.readouterr().err
    args = ["train", "--dataset", "synthetic", "--model", "itemknn", "--out", "x", "--backend", "ray"]
    assert main(args) == 2
    assert "--backend ray trains the torch models (e.g. sasrec, two-tower); got --model itemknn" in (
        capsys.readouterr().err
    )


def test_actors_ask_for_one_gpu_each_exactly_when_the_cluster_has_gpus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # no GPU here: the cluster's GPU count is what the resource logic reads, so it is the one thing faked
    from explorec.distributed import cluster, embed

    monkeypatch.setattr(cluster, "cluster_gpus", lambda: 2)
    assert cluster.resolve_use_gpu(None) is True
    assert embed.actor_options(2, use_gpu=True) == {"concurrency": 2, "num_cpus": 0, "num_gpus": 1}
    assert cluster.check_workers(2, use_gpu=True) == 2
    with pytest.raises(ConfigError, match="workers=3 GPU workers need 3 GPUs, the cluster has 2"):
        cluster.check_workers(3, use_gpu=True)
    shipped = embed._actor_copy(SentenceEncoder(batch_size=16, num_threads=1), use_gpu=True)
    assert isinstance(shipped, SentenceEncoder) and shipped.device == "cuda" and shipped.batch_size == 16
    hashing = HashingEncoder(dim=8)
    assert embed._actor_copy(hashing, use_gpu=True) is hashing  # nothing to move to a device
    monkeypatch.setattr(cluster, "cluster_gpus", lambda: 0)
    assert cluster.resolve_use_gpu(None) is False
    assert embed.actor_options(2, use_gpu=False) == {"concurrency": 2, "num_cpus": 1, "num_gpus": 0}
    on_cpu = embed._actor_copy(SentenceEncoder(), use_gpu=False)
    assert isinstance(on_cpu, SentenceEncoder) and on_cpu.device == "cpu"
    with pytest.raises(ConfigError, match="use_gpu=True but the Ray cluster has no GPU"):
        cluster.resolve_use_gpu(True)
