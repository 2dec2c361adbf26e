"""Paired tests against scipy called directly, and ``compare`` on evaluation results."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from explorec.errors import ConfigError, DataError
from explorec.evaluation import EvaluationResult, compare, paired_test


def test_matches_scipy_on_known_arrays() -> None:
    a = np.array([0.9, 0.4, 0.7, 0.3, 0.8, 0.6, 0.5, 0.95])
    b = np.array([0.7, 0.5, 0.4, 0.1, 0.6, 0.65, 0.2, 0.9])
    out = paired_test(a, b)
    t = stats.ttest_rel(a, b)
    w = stats.wilcoxon(a, b)
    assert out["n"] == 8 and out["n_zero"] == 0
    assert out["mean_diff"] == pytest.approx(np.mean(a - b))
    assert out["t_stat"] == pytest.approx(t.statistic) and out["t_pvalue"] == pytest.approx(t.pvalue)
    assert out["wilcoxon_stat"] == pytest.approx(w.statistic)
    assert out["wilcoxon_pvalue"] == pytest.approx(w.pvalue)
    # hand check of the t statistic: d = a - b, t = mean(d) / (sd(d) / sqrt(n))
    d = a - b
    assert out["t_stat"] == pytest.approx(d.mean() / (d.std(ddof=1) / np.sqrt(8)))


def test_zero_differences_are_counted() -> None:
    a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    b = [1.0, 2.0, 2.0, 3.0, 6.0, 4.0]  # two zero differences
    out = paired_test(a, b)
    assert out["n_zero"] == 2 and not out["identical"]
    assert out["wilcoxon_pvalue"] == pytest.approx(stats.wilcoxon(a, b, zero_method="wilcox").pvalue)
    split = paired_test(a, b, zero_method="zsplit")
    assert split["wilcoxon_stat"] == pytest.approx(stats.wilcoxon(a, b, zero_method="zsplit").statistic)


def test_identical_and_constant_differences() -> None:
    same = paired_test([0.1, 0.2, 0.3], [0.1, 0.2, 0.3])
    assert same["identical"] and same["t_pvalue"] == 1.0 and same["wilcoxon_pvalue"] == 1.0
    shifted = paired_test([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])
    assert shifted["t_stat"] == np.inf and shifted["t_pvalue"] == 0.0


def test_input_errors() -> None:
    with pytest.raises(DataError, match="a has 3 values, b has 2"):
        paired_test([1, 2, 3], [1, 2])
    with pytest.raises(DataError, match="at least 2"):
        paired_test([1], [2])
    with pytest.raises(ConfigError, match="zero_method"):
        paired_test([1, 2], [2, 1], zero_method="drop")  # type: ignore[arg-type]


def _result(users: list[int], ndcg: list[float], *, sampled: bool = False) -> EvaluationResult:
    u = np.array(users, dtype=np.int64)
    return EvaluationResult(
        metrics={"ndcg@10": float(np.mean(ndcg))},
        per_user={"ndcg@10": np.array(ndcg)},
        users=u,
        top_items=np.zeros((u.size, 10), dtype=np.int64),
        seconds=0.0,
        settings={"k": [10]},
        sampled=sampled,
    )


def test_compare_aligns_users() -> None:
    a = _result([0, 1, 2, 3, 4], [0.5, 0.1, 0.9, 0.3, 0.7])
    b = _result([4, 3, 2, 1, 9], [0.6, 0.2, 0.5, 0.0, 1.0])  # user 9 only in b, user 0 only in a
    out = compare(a, b, "ndcg@10")
    # common users 1, 2, 3, 4: a = .1 .9 .3 .7, b = .0 .5 .2 .6
    expected = paired_test([0.1, 0.9, 0.3, 0.7], [0.0, 0.5, 0.2, 0.6])
    assert out["t_stat"] == pytest.approx(expected["t_stat"])
    assert out["n"] == 4 and out["n_only_a"] == 1 and out["n_only_b"] == 1
    with pytest.raises(ConfigError, match="recall@10"):
        compare(a, b, "recall@10")
    with pytest.raises(ConfigError, match="sampled"):
        compare(a, _result([1, 2, 3], [0.1, 0.2, 0.3], sampled=True))
