"""ItemKNN and EASE against hand-computed values and independent reference computations."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest
import scipy.sparse as sp

from explorec.data.interactions import Interactions
from explorec.errors import ConfigError
from explorec.models import ease as ease_module
from explorec.models import itemknn as itemknn_module
from explorec.models.ease import EASE
from explorec.models.itemknn import ItemKNN

# users a, b, c; items x, y, z:  a: x y z   b: x y   c: x
SMALL = Interactions.from_ids(["a", "a", "a", "b", "b", "c"], ["x", "y", "z", "x", "y", "x"])


def _random_interactions(n_users: int, n_items: int, per_user: int, seed: int) -> Interactions:
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), per_user)
    # a skewed item distribution so that neighbourhoods differ in size
    items = np.concatenate(
        [rng.choice(n_items, per_user, replace=False, p=_zipf(n_items)) for _ in range(n_users)]
    )
    return Interactions.from_arrays(
        users, items, user_ids=[f"u{u}" for u in range(n_users)], item_ids=[f"i{i}" for i in range(n_items)]
    )


def _zipf(n: int) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1) ** 0.8
    return p / p.sum()


# ------------------------------------------------------------------------------------ ItemKNN
def test_itemknn_cosine_with_shrinkage_by_hand() -> None:
    # counts n_x=3, n_y=2, n_z=1; co-occurrence c_xy=2, c_xz=1, c_yz=1
    model = ItemKNN(k=2, shrinkage=1.0, progress=False).fit(SMALL)
    s = model.similarity_.toarray()
    want = np.array(
        [
            [0.0, 2 / (np.sqrt(6) + 1), 1 / (np.sqrt(3) + 1)],
            [2 / (np.sqrt(6) + 1), 0.0, 1 / (np.sqrt(2) + 1)],
            [1 / (np.sqrt(3) + 1), 1 / (np.sqrt(2) + 1), 0.0],
        ]
    )
    np.testing.assert_allclose(s, want, rtol=1e-6)
    # user c saw x: scores are row x of S
    np.testing.assert_allclose(model.score([2])[0], want[0], rtol=1e-6)


def test_itemknn_keeps_k_neighbours_per_target_item() -> None:
    model = ItemKNN(k=1, shrinkage=1.0, progress=False).fit(SMALL)
    s = model.similarity_.toarray()
    assert (s > 0).sum(axis=0).tolist() == [1, 1, 1]
    # x's best neighbour is y (2/(sqrt6+1)=0.58 > 1/(sqrt3+1)=0.37); z's best is y (0.41 > 0.37)
    assert s[:, 0].argmax() == 1 and s[:, 2].argmax() == 1 and s[:, 1].argmax() == 0


def test_itemknn_jaccard_and_raw_counts() -> None:
    jac = ItemKNN(k=2, shrinkage=0.0, similarity="jaccard", progress=False).fit(SMALL).similarity_.toarray()
    assert jac[0, 1] == pytest.approx(2 / (3 + 2 - 2))
    assert jac[1, 2] == pytest.approx(1 / (2 + 1 - 1))
    raw = ItemKNN(k=2, normalize=False, progress=False).fit(SMALL).similarity_.toarray()
    np.testing.assert_array_equal(raw, [[0, 2, 1], [2, 0, 1], [1, 1, 0]])


def test_itemknn_matches_dense_reference() -> None:
    data = _random_interactions(200, 120, 8, seed=0)
    k, shrinkage = 10, 5.0
    model = ItemKNN(k=k, shrinkage=shrinkage, progress=False).fit(data)
    x = data.to_csr().toarray().astype(np.float64)
    cooc = x.T @ x
    norms = np.sqrt(np.diag(cooc))
    sim = cooc / (np.outer(norms, norms) + shrinkage)
    np.fill_diagonal(sim, 0.0)
    ref = np.zeros_like(sim)
    for j in range(sim.shape[1]):
        top = np.argsort(-sim[:, j], kind="stable")[:k]
        ref[top, j] = sim[top, j]
    got = model.similarity_.toarray()
    # ties at the k-th neighbour may be cut differently: compare the kept values per column
    np.testing.assert_allclose(np.sort(got, axis=0), np.sort(ref, axis=0), rtol=1e-5, atol=1e-7)
    history = data.select(data.user < 50)
    np.testing.assert_allclose(
        model.score(np.arange(50), history=history), x[:50] @ got, rtol=1e-5, atol=1e-6
    )


def test_itemknn_blocks_do_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _random_interactions(300, 400, 6, seed=3)
    whole = ItemKNN(k=7, progress=False).fit(data).similarity_
    monkeypatch.setattr(itemknn_module, "_BLOCK_ENTRIES", 500)
    assert len(itemknn_module._blocks(data.to_csr(), data.to_csr().T.tocsr())) > 10
    blocked = ItemKNN(k=7, progress=False).fit(data).similarity_
    assert (whole != blocked).nnz == 0 and whole.nnz > 0


def test_itemknn_scores_from_history_not_training() -> None:
    model = ItemKNN(k=2, shrinkage=0.0, progress=False).fit(SMALL)
    # fold-in: user c now also saw z; its scores become rows x + z of S
    history = Interactions.from_arrays([2, 2], [0, 2], user_ids=SMALL.user_ids, item_ids=SMALL.item_ids)
    s = model.similarity_.toarray()
    np.testing.assert_allclose(model.score([2], history=history)[0], s[0] + s[2], rtol=1e-6)


def test_itemknn_handles_ten_thousand_items() -> None:
    data = _random_interactions(3000, 12_000, 10, seed=1)
    start = time.perf_counter()
    model = ItemKNN(k=50, progress=False).fit(data)
    seconds = time.perf_counter() - start
    assert model.similarity_.shape == (12_000, 12_000)
    assert (np.diff(model.similarity_.tocsc().indptr) <= 50).all()
    assert model.score(np.arange(100)).shape == (100, 12_000)
    assert seconds < 30, seconds


def test_itemknn_rejects_bad_parameters() -> None:
    with pytest.raises(ConfigError, match="k must be a positive integer, got 0"):
        ItemKNN(k=0).fit(SMALL)
    with pytest.raises(ConfigError, match=r"similarity must be one of \('cosine', 'jaccard'\), got 'pe"):
        ItemKNN(similarity="pearson").fit(SMALL)
    with pytest.raises(ConfigError, match="shrinkage must be >= 0, got -1"):
        ItemKNN(shrinkage=-1).fit(SMALL)


# --------------------------------------------------------------------------------------- EASE
def test_ease_matches_per_column_ridge_regression() -> None:
    # Steck (2019): column j of B is the ridge regression of item j on all other items
    data = _random_interactions(80, 15, 4, seed=2)
    l2 = 3.0
    weights = EASE(l2=l2).fit(data).weights_
    x = data.to_csr().toarray().astype(np.float64)
    for j in range(x.shape[1]):
        others = np.delete(np.arange(x.shape[1]), j)
        a = x[:, others]
        coef = np.linalg.solve(a.T @ a + l2 * np.eye(others.size), a.T @ x[:, j])
        np.testing.assert_allclose(weights[others, j], coef, rtol=1e-4, atol=1e-6)
        assert weights[j, j] == 0.0
    assert weights.dtype == np.float32


def test_ease_scores_are_history_times_weights() -> None:
    model = EASE(l2=1.0).fit(SMALL)
    history = Interactions.from_arrays([0, 0], [1, 2], user_ids=SMALL.user_ids, item_ids=SMALL.item_ids)
    np.testing.assert_allclose(
        model.score([0, 1], history=history),
        sp.csr_matrix(([1.0, 1.0], ([0, 0], [1, 2])), shape=(2, 3)) @ model.weights_,
        rtol=1e-6,
    )


def test_ease_warns_on_large_catalogues(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("EXPLOREC_MEMORY_WARN_GB", "1e-7")  # 3 items x 3 x 8 bytes x 3 copies = 216 B
    with caplog.at_level(logging.WARNING, logger="explorec.models.ease"):
        EASE(l2=1.0).fit(SMALL)
    assert "EASE on 3 items needs about 0.0 GB of memory (3 dense 3 x 3 float64 arrays)" in caplog.text


def test_ease_refuses_to_fit_above_the_memory_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ease_module.fit_memory_bytes(17_632) == 17_632**2 * 8 * 3  # Last.fm HetRec: 7.5 GB
    monkeypatch.setenv("EXPLOREC_MEMORY_LIMIT_GB", "1e-7")
    with pytest.raises(ConfigError, match=r"EASE on 3 items needs about .* above the limit of 0.0 GB; set"):
        EASE(l2=1.0).fit(SMALL)
    monkeypatch.setenv("EXPLOREC_MEMORY_LIMIT_GB", "lots")
    with pytest.raises(
        ConfigError, match=r"\$EXPLOREC_MEMORY_LIMIT_GB must be a positive number of GB, got 'lots'"
    ):
        EASE(l2=1.0).fit(SMALL)
    monkeypatch.delenv("EXPLOREC_MEMORY_LIMIT_GB")
    assert EASE(l2=1.0).fit(SMALL).weights_.shape == (3, 3)


def test_ease_rejects_non_positive_l2() -> None:
    with pytest.raises(ConfigError, match="l2 must be > 0, got 0"):
        EASE(l2=0.0).fit(SMALL)
