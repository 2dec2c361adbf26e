"""pipeline.recommend: masking, exclusion, candidate order, slates."""

from __future__ import annotations

import numpy as np
import pytest

from explorec.data.interactions import Interactions
from explorec.errors import ConfigError
from explorec.models.popularity import Popularity
from explorec.pipeline import recommend
from explorec.policies.spec import parse_policy_spec
from explorec.rerank import top_candidates


@pytest.fixture
def fitted() -> Popularity:
    # item popularity: i0=3, i1=2, i2=1, i3=0
    data = Interactions.from_ids(
        ["a", "b", "c", "a", "b", "c"],
        ["i0", "i0", "i0", "i1", "i1", "i2"],
        item_ids=["i0", "i1", "i2", "i3"],
    )
    return Popularity().fit(data)


def test_seen_items_are_masked(fitted: Popularity) -> None:
    (slate,) = recommend(fitted, [2], k=2)  # user c saw i0 and i2
    assert slate.items.tolist() == [1, 3]
    assert slate.propensities.tolist() == [1.0, 1.0]
    assert slate.policy == "greedy"


def test_exclude_and_short_slate_note(fitted: Popularity) -> None:
    (slate,) = recommend(fitted, [0], k=3, exclude=[3])  # a saw i0, i1; i3 excluded
    assert slate.items.tolist() == [2]
    assert "only 1 candidates" in slate.note


def test_include_seen(fitted: Popularity) -> None:
    (slate,) = recommend(fitted, [0], k=2, exclude_seen=False)
    assert slate.items.tolist() == [0, 1]


def test_candidate_ties_break_by_index() -> None:
    (cands,) = top_candidates(np.array([[1.0, 2.0, 2.0, 0.5]], dtype=np.float32), 3)
    assert cands.items.tolist() == [1, 2, 0]


def test_bad_k(fitted: Popularity) -> None:
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        recommend(fitted, [0], k=0)
    with pytest.raises(ConfigError, match="n_candidates"):
        recommend(fitted, [0], k=5, n_candidates=2)


def test_rerank_and_policy_stages(fitted: Popularity) -> None:
    # user c saw i0 and i2: pool = [i1 (2), i3 (0)]; pop-debias needs the popularity default context
    (slate,) = recommend(fitted, [2], k=2, rerank="pop-debias:0.0", policy=parse_policy_spec("greedy"))
    assert slate.items.tolist() == [1, 3]
    assert slate.propensities.tolist() == [1.0, 1.0]


def test_epsilon_greedy_slate_carries_propensities() -> None:
    data = Interactions.from_ids(["a"] * 5 + ["b"], ["i0", "i1", "i2", "i3", "i4", "i5"])
    model = Popularity().fit(data)
    (slate,) = recommend(model, [1], k=2, policy=parse_policy_spec("eps-greedy:0.5", seed=3))
    assert len(slate) == 2
    assert slate.policy == "eps-greedy"
    assert np.all((slate.propensities > 0) & (slate.propensities <= 1))


def _vectors(n_items: int) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n_items, 4)).astype(np.float32)


def test_slates_keep_each_items_own_score_after_reranking(fitted: Popularity) -> None:
    # regression: re-rankers gave position t the t-th largest input score, not the item's own
    own = fitted.score([1])[0]
    (slate,) = recommend(fitted, [1], k=3, exclude_seen=False, rerank="pop-debias:2.0:method=logit")
    np.testing.assert_array_equal(slate.scores, own[slate.items])
    assert slate.items.tolist() != np.argsort(-own, kind="stable")[:3].tolist()  # the order did change


def test_linear_policies_get_their_declared_columns_from_item_vectors() -> None:
    from explorec.pipeline import candidate_frames
    from explorec.policies import make_policy

    data = Interactions.from_ids(["a", "a", "b", "b", "c"], ["i0", "i1", "i1", "i2", "i3"])
    model = Popularity().fit(data)
    vectors = _vectors(data.n_items)
    for name, params in [("linucb", {}), ("lints", {}), ("linucb-hybrid", {"shared_dim": 9})]:
        policy = make_policy(name, **params)
        (slate,) = recommend(model, [2], k=2, policy=policy, item_vectors=vectors)
        assert len(slate) == 2 and slate.policy == name
        assert dict(slate.policy_params) == policy.get_params()
    (frame,) = candidate_frames(
        model, [2], k=2, policy=make_policy("linucb-hybrid", shared_dim=9), item_vectors=vectors
    )
    # user c saw i3: i0, i1, i2 remain; [1, score, new, cos, new * cos, 4 products] per row
    assert frame.column("features").shape == (3, 9) and frame.column("arm_features").shape == (3, 1)
    np.testing.assert_array_equal(frame.column("features")[:, 0], 1.0)
    np.testing.assert_array_equal(frame.column("features")[:, 1], frame.scores)
    np.testing.assert_array_equal(frame.column("features")[:, 2], 0.0)  # every item has interactions


def test_a_missing_column_is_a_config_error_that_says_how_to_provide_it(fitted: Popularity) -> None:
    from explorec.policies import make_policy

    with pytest.raises(ConfigError, match=r"'features'.*item_vectors="):
        recommend(fitted, [0], k=1, policy=make_policy("lints"))
    with pytest.raises(ConfigError, match=r"'uncertainty'.*score_uncertainty"):
        recommend(fitted, [0], k=1, policy=make_policy("uncertainty"))


def test_excluded_and_seen_items_never_reach_a_slate_whatever_the_stages(fitted: Popularity) -> None:
    for rerank in (None, "mmr:0.5", "fair:0.5"):
        (slate,) = recommend(
            fitted,
            [2],
            k=4,
            exclude=[3],
            rerank=rerank,
            item_vectors=_vectors(4),
            policy=parse_policy_spec("eps-greedy:1.0", seed=1),
        )
        assert set(slate.items.tolist()) == {1}  # c saw i0 and i2; i3 excluded


def test_rerankers_get_their_declared_columns_or_a_config_error_naming_them(fitted: Popularity) -> None:
    from explorec.pipeline import candidate_frames
    from explorec.rerank import RerankContext

    with pytest.raises(ConfigError, match=r"MMR needs item_vectors .*frame column 'vectors'"):
        recommend(fitted, [0], k=1, rerank="mmr:0.5", context=RerankContext())
    with pytest.raises(ConfigError, match=r"Calibration needs context\.item_categories .*'categories'"):
        recommend(fitted, [0], k=1, rerank="calibration:0.5")  # the default context has no catalogue
    # the default context (popularity of the history) gives pop-debias and fair their columns
    (frame,) = candidate_frames(fitted, [2], k=1, rerank="pop-debias:2,fair:0.5", n_candidates=2)
    # c saw i0 and i2: i1 (popularity 2) and i3 (0) are left; strength 2 puts i3 first
    assert frame.items.tolist() == [3] and frame.column("popularity").tolist() == [0.0]
    assert frame.has("groups") and frame.has("rerank_score")
    (mmr_frame,) = candidate_frames(fitted, [2], k=2, rerank="mmr:0.5", item_vectors=_vectors(4))
    np.testing.assert_array_equal(mmr_frame.column("vectors"), _vectors(4)[mmr_frame.items])


def test_a_policy_that_reads_only_k_ranks_gets_the_rerankers_head_and_the_same_slate_law() -> None:
    # eps-greedy's law depends only on the first k rows of the order (ranks >= k are exchangeable),
    # so MMR orders k rows, not the whole pool: the head must be MMR's, and every item's probability
    # at every position must equal the one under MMR's full order
    from explorec.models.textknn import TextKNN
    from explorec.pipeline import candidate_frames
    from explorec.policies.epsilon_greedy import epsilon_greedy_rank_matrix
    from explorec.rerank import as_chain
    from explorec.rerank.base import RerankContext

    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((40, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    history = Interactions.from_ids(["u"] * 3, ["i0", "i1", "i2"], item_ids=[f"i{j}" for j in range(40)])
    model = TextKNN(encoder="hashing:8")
    model.item_vectors_, model.n_items_, model.n_users_ = vectors, 40, 1
    k, n = 4, 20
    policy = parse_policy_spec("eps-greedy:0.3", seed=0)
    assert policy.ranks_read(k, n) == k
    (short,) = candidate_frames(
        model,
        [0],
        k=k,
        history=history,
        n_candidates=n,
        rerank="mmr:0.5",
        policy=policy,
        item_vectors=vectors,
    )
    (pool,) = candidate_frames(model, [0], k=k, history=history, n_candidates=n, item_vectors=vectors)
    chain = as_chain("mmr:0.5")
    full = chain.rerank(chain.prepare(pool, item_vectors=vectors), n, context=RerankContext())
    assert short.items[:k].tolist() == full.items[:k].tolist()
    assert sorted(short.items.tolist()) == sorted(full.items.tolist()) and len(short) == n
    matrix = epsilon_greedy_rank_matrix(len(short), k, 0.3)

    def law(frame: object) -> dict[int, tuple[float, ...]]:
        return {int(item): tuple(np.round(matrix[r], 12)) for r, item in enumerate(frame.items)}  # type: ignore[attr-defined]

    assert law(short) == law(full)
    softmax = parse_policy_spec("softmax:0.5", seed=0)
    assert softmax.ranks_read(k, n) == n  # a policy that reads scores keeps the full order
