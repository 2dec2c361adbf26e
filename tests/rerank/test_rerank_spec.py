"""The --rerank grammar, chains, the batch helper and the context builder."""

from __future__ import annotations

import numpy as np
import pytest

from explorec.data.interactions import Catalog, Interactions
from explorec.errors import ConfigError
from explorec.rerank import (
    DPP,
    MMR,
    Calibration,
    FairExposure,
    PopularityDebias,
    RerankChain,
    RerankContext,
    apply_rerankers,
    parse_rerank_spec,
)
from explorec.types import ScoredItems


def test_parse_each_name() -> None:
    chain = parse_rerank_spec("mmr:0.3,dpp:0.5:window=4,calibration:0.5,fair:0.2:exposure=log,pop-debias:0.5")
    assert [type(r) for r in chain] == [MMR, DPP, Calibration, FairExposure, PopularityDebias]
    mmr, dpp, cal, fair, deb = chain
    assert isinstance(mmr, MMR) and mmr.diversity == 0.3
    assert isinstance(dpp, DPP) and dpp.diversity == 0.5 and dpp.window == 4
    assert isinstance(cal, Calibration) and cal.weight == 0.5
    assert isinstance(fair, FairExposure) and fair.max_share == 0.2 and fair.exposure == "log"
    assert isinstance(deb, PopularityDebias) and deb.strength == 0.5
    assert len(parse_rerank_spec(["mmr", "dpp:0.1"])) == 2


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("foo:0.3", "unknown re-ranker 'foo'"),
        ("mmr:abc", r"parameter 'diversity' must be a finite number, got 'abc'"),
        ("mmr:nan", r"parameter 'diversity' must be a finite number, got 'nan'"),
        ("mmr:0.3:diversity=0.2", "'diversity' is given twice"),
        ("mmr:1.5", r"mmr diversity must lie in \[0.0, 1.0\], got 1.5"),
        ("fair:0", r"fair max_share must lie in \(0.0, 1.0\], got 0.0"),
        ("dpp:0.5:size=3", "unknown parameter 'size'; allowed: diversity, window"),
        ("dpp:0.5:window=2.5", "parameter 'window' must be an integer or null, got 2.5"),
        ("mmr:0.3,,dpp:0.2", "empty entry"),
    ],
)
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_rerank_spec(spec)


def test_chain_runs_earlier_stages_over_the_whole_list() -> None:
    # debias first (whole list, adjusted scores), then MMR on the debiased relevance
    vectors = np.eye(4, dtype=np.float32)
    ctx = RerankContext(item_popularity=np.array([1000.0, 1.0, 1.0, 1.0]))
    cands = ScoredItems(np.arange(4), np.array([4.0, 3.0, 2.0, 1.0], dtype=np.float32))
    chain = parse_rerank_spec("pop-debias:2:method=logit,mmr:0.0")
    out = chain.rerank(cands, 2, item_vectors=vectors, context=ctx)
    assert out.items.tolist() == [1, 2]  # item 0: 4 - 2 log(1001) < 0
    assert isinstance(chain, RerankChain) and chain[0] is next(iter(chain))


def test_apply_rerankers_on_a_score_matrix_masks_history() -> None:
    scores = np.array([[0.9, 0.8, 0.1, 0.7], [0.1, 0.2, 0.3, 0.4]], dtype=np.float32)
    vectors = np.array([[1, 0], [1, 0.05], [0, 1], [0.1, 1]], dtype=np.float32)
    out = apply_rerankers(
        scores, "mmr:0.5", 2, vectors, histories=[np.array([0]), np.array([], dtype=np.int64)]
    )
    assert out[0].items.tolist() == [1, 3]  # item 0 seen; then the least similar to item 1
    # row 2: rel = [0, 1/3, 2/3, 1]; after item 3: item 1 scores 0.5/3 - 0.5 * 0.149 = 0.092,
    # item 0: 0 - 0.5 * 0.0995, item 2: 1/3 - 0.5 * 0.995 -> item 1
    assert out[1].items.tolist() == [3, 1]
    cands = [ScoredItems(np.array([2, 3]), np.array([1.0, 0.5], dtype=np.float32))]
    assert apply_rerankers(cands, [], 1)[0].items.tolist() == [2]


def test_context_from_data() -> None:
    train = Interactions.from_ids(["a", "a", "b", "c"], ["x", "y", "x", "x"], item_ids=["x", "y", "z"])
    catalog = Catalog(
        train.item_ids,
        fields={"genres": np.array(["A|B", "B", ""], dtype=object)},
        attributes={"studio": np.array(["s1", "s2", "s1"])},
    )
    ctx = RerankContext.from_data(train, catalog)
    np.testing.assert_array_equal(ctx.item_popularity, [3, 1, 0])
    np.testing.assert_allclose(ctx.item_categories.toarray(), [[0.5, 0.5], [0, 1], [0, 0]])
    assert ctx.category_names == ("A", "B")
    by_studio = RerankContext.from_data(train, catalog, group_attribute="studio")
    assert by_studio.item_groups is not None and by_studio.item_groups.tolist() == [0, 1, 0]
    with pytest.raises(ConfigError, match="group_attribute 'maker'"):
        RerankContext.from_data(train, catalog, group_attribute="maker")
