"""The impression record: lossless round trips and the OPE input built from it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from explorec.errors import DataError
from explorec.impressions import IMPRESSION_JSON_SCHEMA, ImpressionRecord, to_bandit_log
from explorec.types import Slate


def _slate() -> Slate:
    return Slate(
        np.array([4, 1, 7], dtype=np.int64),
        np.array([0.9, float("nan"), 0.2], dtype=np.float32),
        np.array([1.0, 0.25, 0.5]),
        np.array([False, True, False]),
        policy="eps-greedy",
        propensity_method="exact",
    )


def test_slate_round_trip_is_lossless() -> None:
    rec = ImpressionRecord.from_slate(
        _slate(), recommendation_id="r1", user=3, policy_params={"epsilon": 0.1}, model_version="v2"
    )
    back = ImpressionRecord.from_dict(rec.to_dict())
    slate = back.to_slate()
    np.testing.assert_array_equal(slate.items, [4, 1, 7])
    np.testing.assert_array_equal(slate.propensities, [1.0, 0.25, 0.5])
    np.testing.assert_array_equal(slate.explored, [False, True, False])
    assert math.isnan(float(slate.scores[1])) and slate.scores[0] == pytest.approx(0.9)
    assert back.policy_params == {"epsilon": 0.1}
    assert back.model_version == "v2" and back.user_id == "3" and back.positions == (0, 1, 2)
    assert set(rec.to_dict()) <= set(IMPRESSION_JSON_SCHEMA["properties"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"propensities": [1.0, 0.0, 0.5]}, "propensity at position 1"),
        ({"items": [4, 4, 7]}, "shown twice"),
        ({"schema_version": 99}, "schema_version"),
        ({"extra": 1}, "unknown field"),
        ({"stages": ["model", "magic", "model"]}, "stage at position 1"),
    ],
)
def test_bad_records_name_the_field(change: dict, message: str) -> None:
    data = ImpressionRecord.from_slate(_slate(), recommendation_id="r1").to_dict()
    data.update(change)
    with pytest.raises(DataError, match=message):
        ImpressionRecord.from_dict(data)


def test_bandit_log_has_one_row_per_slot_grouped_by_slate() -> None:
    recs = [ImpressionRecord.from_slate(_slate(), recommendation_id=f"r{j}") for j in range(2)]
    log = to_bandit_log(recs, [[1, 0, 0], [0, 0, 1]], n_actions=10)
    np.testing.assert_array_equal(log.action, [4, 1, 7, 4, 1, 7])
    np.testing.assert_array_equal(log.position, [0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(log.slate_id, [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(log.pscore, [1.0, 0.25, 0.5] * 2)
    assert log.on_policy_value() == pytest.approx(2 / 6)
    with pytest.raises(DataError, match="got 2 rewards"):
        to_bandit_log(recs, [[1, 0], [0, 0, 1]], n_actions=10)


def test_a_policy_slate_carries_its_parameters_into_the_record_and_back() -> None:
    from explorec.policies import EpsilonGreedy

    slate = EpsilonGreedy(epsilon=0.3, seed=2).select(np.arange(6), 3, scores=np.arange(6.0))
    rec = ImpressionRecord.from_slate(slate, recommendation_id="r9", user=1)
    assert rec.policy_params == {"epsilon": 0.3, "seed": 2, "n_mc": 1000}
    again = ImpressionRecord.from_dict(rec.to_dict()).to_slate()
    assert dict(again.policy_params) == rec.policy_params
    np.testing.assert_array_equal(again.scores, slate.scores)
    np.testing.assert_array_equal(again.propensities, slate.propensities)


def test_ope_reads_impression_records() -> None:
    from explorec.evaluation.ope import BanditLog

    recs = [ImpressionRecord.from_slate(_slate(), recommendation_id=f"r{j}") for j in range(2)]
    log = BanditLog.from_impressions(recs, [[1, 0, 0], [0, 0, 1]], n_actions=10)
    np.testing.assert_array_equal(log.slate_id, [0, 0, 0, 1, 1, 1])
    assert log.len_list == 3
