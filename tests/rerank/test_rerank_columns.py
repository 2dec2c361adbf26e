"""Re-rankers declare the frame columns they read; the one column builder makes them."""

from __future__ import annotations

import numpy as np
import pytest

from explorec.columns import build_columns
from explorec.errors import ConfigError, DataError
from explorec.rerank import (
    DPP,
    MMR,
    Calibration,
    FairExposure,
    PopularityDebias,
    RerankContext,
    parse_rerank_spec,
)
from explorec.types import CandidateFrame

VECTORS = np.array([[1, 0], [1, 0.01], [0, 1], [0.1, 1]], dtype=np.float32)
CANDS = CandidateFrame(np.array([0, 1, 2, 3]), np.array([1.0, 0.9, 0.5, 0.4], dtype=np.float32))


def test_each_reranker_declares_its_columns() -> None:
    assert MMR().columns_needed() == ("vectors",) and DPP().columns_needed() == ("vectors",)
    assert Calibration().columns_needed() == ("categories",)
    assert FairExposure().columns_needed() == ("groups",)
    assert PopularityDebias().columns_needed() == ("popularity",)
    # at weight 0 the score order needs no side information
    assert MMR(diversity=0.0).columns_needed() == () and Calibration(weight=0.0).columns_needed() == ()
    chain = parse_rerank_spec("pop-debias:0.5,mmr:0.3,dpp:0.2,fair:0.5")
    assert chain.columns_needed() == ("popularity", "vectors", "groups")


def test_a_frame_that_carries_the_column_needs_no_item_level_data() -> None:
    by_vectors = MMR(diversity=0.5).rerank(CANDS, 2, item_vectors=VECTORS)
    carried = MMR(diversity=0.5).rerank(CANDS.with_columns(vectors=VECTORS[CANDS.items]), 2)
    assert by_vectors.items.tolist() == carried.items.tolist() == [0, 2]
    # a carried column wins over the item-level data (built once, e.g. by the pipeline)
    swapped = CANDS.with_columns(vectors=VECTORS[[0, 2, 1, 3]])
    assert MMR(diversity=0.5).rerank(swapped, 2, item_vectors=VECTORS).items.tolist() == [0, 1]


def test_prepare_builds_the_declared_columns_from_the_context() -> None:
    ctx = RerankContext(
        item_categories=np.array([[1, 0], [1, 1], [0, 1], [0, 0]]),
        item_popularity=np.array([9.0, 3.0, 1.0, 0.0]),
    )
    frame = parse_rerank_spec("calibration:0.5,fair:0.5:n_buckets=2,pop-debias:1").prepare(CANDS, context=ctx)
    np.testing.assert_allclose(frame.column("categories"), [[1, 0], [0.5, 0.5], [0, 1], [0, 0]])
    assert frame.column("popularity").tolist() == [9.0, 3.0, 1.0, 0.0]
    # no item_groups: two buckets of equal interaction mass (9 of 13 in the head), fair's n_buckets
    assert frame.column("groups").tolist() == [0, 1, 1, 1]
    # MMR falls back to the category rows as its vectors
    np.testing.assert_allclose(
        MMR().prepare(CANDS, context=ctx).column("vectors"), frame.column("categories")
    )


def test_build_columns_errors_name_the_column_and_the_source() -> None:
    with pytest.raises(
        ConfigError, match=r"FairExposure needs context\.item_groups .* for the frame column 'groups'"
    ):
        FairExposure().rerank(CANDS, 2, context=RerankContext())
    with pytest.raises(ConfigError, match=r"the policy needs item_counts .*'popularity'"):
        build_columns(CANDS, ["popularity"])
    with pytest.raises(DataError, match=r"item 3 outside item_groups \(2 items\)"):
        build_columns(CANDS, ["groups"], item_groups=[0, 1])
    with pytest.raises(ConfigError, match="unknown frame column 'colour'"):
        build_columns(CANDS, ["colour"])
