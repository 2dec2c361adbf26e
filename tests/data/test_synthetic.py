"""The generated default dataset: determinism, structure, late items, and text that predicts behaviour."""

from __future__ import annotations

import re
import time

import numpy as np
import numpy.typing as npt
import pytest

from explorec.data.interactions import Dataset
from explorec.data.synthetic import EPOCH, HORIZON_DAYS, load_synthetic
from explorec.errors import ConfigError


@pytest.fixture(scope="module")
def data() -> Dataset:
    return load_synthetic()


def _fingerprint(dataset: Dataset) -> list[bytes]:
    x, c = dataset.interactions, dataset.catalog
    arrays = [x.user, x.item, x.timestamp, x.weight, x.rating, c.arrival, *c.attributes.values()]
    texts = [*c.fields.values(), c.item_ids, x.user_ids, dataset.user_features["age_group"]]
    return [np.asarray(a).tobytes() for a in arrays] + ["\x1f".join(map(str, t)).encode() for t in texts]


def test_same_seed_same_bytes_other_seed_differs() -> None:
    a = load_synthetic(n_users=200, n_items=300, seed=4)
    b = load_synthetic(n_users=200, n_items=300, seed=4)
    c = load_synthetic(n_users=200, n_items=300, seed=5)
    assert _fingerprint(a) == _fingerprint(b)
    assert _fingerprint(a) != _fingerprint(c)


def test_default_size_builds_quickly() -> None:
    start = time.perf_counter()
    load_synthetic()
    # < 2 s on a quiet 2-core machine (about 0.3-0.6 s measured); generous for a shared CI box
    assert time.perf_counter() - start < 6.0


def test_structure(data: Dataset) -> None:
    x, c = data.interactions, data.catalog
    assert data.name == "synthetic" and "GENERATED" in data.source
    assert (x.n_users, x.n_items, c.n_items) == (1000, 1500, 1500)
    assert 25 <= len(x) / x.n_users <= 35  # mean_history=30
    assert x.user_counts().min() >= 5
    assert set(c.fields) == {"title", "categories", "brand", "description"}
    assert all(1 <= len(re.findall(r"[.!?](?:\s|$)", d)) <= 3 for d in c.fields["description"])
    assert c.attributes["category"].dtype == np.int64 and np.unique(c.attributes["category"]).size == 12
    assert np.all(c.attributes["price"] > 0)
    assert x.rating is not None and set(np.unique(x.rating)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert set(data.user_features["age_group"]) <= {"18-24", "25-34", "35-44", "45-54", "55+"}
    assert EPOCH <= x.timestamp.min() and x.timestamp.max() <= EPOCH + HORIZON_DAYS * 86_400
    assert np.all(np.diff(x.timestamp) >= 0)  # rows in time order
    pairs = x.user * x.n_items + x.item
    assert np.unique(pairs).size == len(x)  # no repeated (user, item) pairs


def test_late_items_arrive_late_and_are_used_only_after(data: Dataset) -> None:
    x, arrival = data.interactions, data.catalog.arrival
    assert arrival is not None
    late = np.arange(1350, 1500)  # the last 10 % of the items
    assert arrival[:1350].max() < EPOCH < arrival[late].min()
    assert np.all(np.diff(arrival[late]) >= 0)
    assert np.all(x.timestamp >= arrival[x.item])
    assert (x.item_counts()[late] > 0).mean() > 0.8  # most late items do get interactions


def test_popularity_has_a_long_tail(data: Dataset) -> None:
    counts = np.sort(data.interactions.item_counts())[::-1]
    assert counts[:150].sum() / counts.sum() > 0.25  # top 10 % of items
    assert np.median(counts) < counts.mean()


def _tokens(data: Dataset) -> list[set[str]]:
    c = data.catalog
    texts = (f"{t} {d}" for t, d in zip(c.fields["title"], c.fields["description"], strict=True))
    return [set(re.findall(r"[a-z0-9-]+", t.lower())) for t in texts]


def test_same_category_items_share_text_and_cooccur(data: Dataset) -> None:
    x, c = data.interactions, data.catalog
    category = c.attributes["category"]
    tokens = _tokens(data)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, c.n_items, 3000), rng.integers(0, c.n_items, 3000)
    keep = a != b
    a, b = a[keep], b[keep]
    jaccard = np.array(
        [len(tokens[i] & tokens[j]) / len(tokens[i] | tokens[j]) for i, j in zip(a, b, strict=True)]
    )
    same = category[a] == category[b]
    assert jaccard[same].mean() > 2 * jaccard[~same].mean()

    cooc = _cosine_cooccurrence(x.to_csr().toarray())
    same_all = category[:, None] == category[None, :]
    np.fill_diagonal(same_all, False)
    assert cooc[same_all].mean() > 5 * cooc[category[:, None] != category[None, :]].mean()


def test_text_predicts_cointeraction_within_a_category(data: Dataset) -> None:
    """Beyond the category: items whose words overlap more are co-chosen more (a planted effect)."""
    category = data.catalog.attributes["category"]
    tokens = _tokens(data)
    vocab = {w: k for k, w in enumerate(sorted(set().union(*tokens)))}
    bag = np.zeros((len(tokens), len(vocab)))
    for i, words in enumerate(tokens):
        bag[i, [vocab[w] for w in words]] = 1.0
    bag /= np.linalg.norm(bag, axis=1, keepdims=True)
    text_sim = bag @ bag.T
    cooc = _cosine_cooccurrence(data.interactions.to_csr().toarray())
    same = category[:, None] == category[None, :]
    np.fill_diagonal(same, False)
    assert np.corrcoef(text_sim[same], cooc[same])[0, 1] > 0.08  # about 0.15 measured


def _cosine_cooccurrence(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    counts = np.maximum(matrix.sum(axis=0), 1.0)
    normed = matrix / np.sqrt(counts)
    cooc = (normed.T @ normed).astype(np.float64)
    np.fill_diagonal(cooc, 0.0)
    return cooc


def test_fast_sampler_matches_exact_gumbel_sampler() -> None:
    """The inverse-CDF sampler draws from the same P(i | u, c, t) as the plain Gumbel-max one."""
    from explorec.data import synthetic

    rng = np.random.default_rng(0)
    draw = synthetic._make_catalog(rng, 60, 2, 0.3)
    style = rng.standard_normal((1, synthetic._DIM))
    n = 40_000
    user, category = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    days = np.full(n, 0.85 * HORIZON_DAYS)  # some late items have arrived, some not yet
    by_category = [np.flatnonzero(draw.category == c) for c in range(2)]
    fast = synthetic._sample_fast(np.random.default_rng(1), draw, style, user, category, days, by_category)
    exact = synthetic._sample(
        np.random.default_rng(2), draw, style, user, category, days, by_category, np.zeros(0, dtype=np.int64)
    )
    p_fast, p_exact = np.bincount(fast, minlength=60) / n, np.bincount(exact, minlength=60) / n
    assert 0.5 * np.abs(p_fast - p_exact).sum() < 0.03  # about 0.01 measured (sampling noise)
    arrived = draw.arrival_days <= days[0]
    assert p_fast[~arrived].sum() == 0 and p_fast[draw.late & arrived].sum() > 0.1


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="n_categories"):
        load_synthetic(n_categories=17)
    with pytest.raises(ConfigError, match="cold_item_fraction"):
        load_synthetic(cold_item_fraction=0.9)
    with pytest.raises(ConfigError, match="mean_history"):
        load_synthetic(mean_history=3)
    with pytest.raises(ConfigError, match="seed"):
        load_synthetic(seed=-1)
