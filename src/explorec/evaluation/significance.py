"""Paired significance tests between two systems evaluated on the same users.

Per-user metric values of two systems are paired by user; the paired t-test
(``scipy.stats.ttest_rel``) and the Wilcoxon signed-rank test (``scipy.stats.wilcoxon``) ask whether
the mean / median difference is zero (Smucker, Allan & Carterette, 2007, "A comparison of statistical
significance tests for information retrieval evaluation").

Zero differences (users on whom both systems score the same, common with HitRate or NDCG of 0) are
dropped by the Wilcoxon test under the default ``zero_method="wilcox"``; the number dropped is
reported as ``n_zero``. When *every* difference is zero neither statistic is defined; both are
reported as 0 with p-value 1 (no evidence of a difference), and ``identical`` is True.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from explorec.errors import ConfigError, DataError, check_choice

if TYPE_CHECKING:
    from explorec.evaluation.protocol import EvaluationResult

ZERO_METHODS = ("wilcox", "pratt", "zsplit")


def paired_test(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    zero_method: Literal["wilcox", "pratt", "zsplit"] = "wilcox",
) -> dict[str, Any]:
    """Paired t-test and Wilcoxon signed-rank test of ``a - b``.

    Parameters
    ----------
    a, b : float[n]
        Per-user values of the two systems, aligned by user.
    zero_method : {"wilcox", "pratt", "zsplit"}
        How the Wilcoxon test treats zero differences (scipy's options; "wilcox" drops them).

    Returns
    -------
    dict
        ``n``, ``mean_a``, ``mean_b``, ``mean_diff`` (a - b), ``t_stat``, ``t_pvalue``,
        ``wilcoxon_stat``, ``wilcoxon_pvalue``, ``n_zero`` (pairs with equal values), ``identical``,
        ``zero_method`` — all plain Python values.
    """
    from scipy import stats

    x = np.asarray(a, dtype=np.float64).reshape(-1)
    y = np.asarray(b, dtype=np.float64).reshape(-1)
    if x.size != y.size:
        raise DataError(f"paired_test: a has {x.size} values, b has {y.size}; they must be paired")
    if x.size < 2:
        raise DataError(f"paired_test: needs at least 2 pairs, got {x.size}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise DataError("paired_test: values must be finite (found NaN or inf)")
    check_choice("zero_method", zero_method, ZERO_METHODS)
    diff = x - y
    n_zero = int((diff == 0).sum())
    out: dict[str, Any] = {
        "n": int(x.size),
        "mean_a": float(x.mean()),
        "mean_b": float(y.mean()),
        "mean_diff": float(diff.mean()),
        "n_zero": n_zero,
        "identical": n_zero == x.size,
        "zero_method": zero_method,
    }
    if n_zero == x.size:
        out.update(t_stat=0.0, t_pvalue=1.0, wilcoxon_stat=0.0, wilcoxon_pvalue=1.0)
        return out
    if np.all(diff == diff[0]):
        # constant non-zero difference: zero variance, the t statistic is infinite
        out.update(t_stat=float(np.sign(diff[0]) * np.inf), t_pvalue=0.0)
    else:
        t = stats.ttest_rel(x, y)
        out.update(t_stat=float(t.statistic), t_pvalue=float(t.pvalue))
    w = stats.wilcoxon(x, y, zero_method=zero_method)
    out.update(wilcoxon_stat=float(w.statistic), wilcoxon_pvalue=float(w.pvalue))
    return out


def compare(
    result_a: EvaluationResult,
    result_b: EvaluationResult,
    metric: str = "ndcg@10",
    *,
    zero_method: Literal["wilcox", "pratt", "zsplit"] = "wilcox",
) -> dict[str, Any]:
    """``paired_test`` on one per-user metric of two evaluation results, paired by user.

    Only users evaluated in both results are compared; ``n_only_a`` / ``n_only_b`` count the others.
    Sampled and full-ranking results cannot be compared (their metric keys differ anyway).
    """
    for name, result in (("result_a", result_a), ("result_b", result_b)):
        if metric not in result.per_user:
            raise ConfigError(
                f"metric {metric!r} has no per-user values in {name}; available: {', '.join(result.per_user)}"
            )
    if result_a.sampled != result_b.sampled:
        raise ConfigError("compare: one result uses sampled negatives and the other full ranking")
    common, ia, ib = np.intersect1d(result_a.users, result_b.users, assume_unique=True, return_indices=True)
    if common.size < 2:
        raise DataError(f"compare: the two results share {common.size} users; need at least 2")
    out = paired_test(result_a.per_user[metric][ia], result_b.per_user[metric][ib], zero_method=zero_method)
    out.update(
        metric=metric,
        n_only_a=int(result_a.users.size - common.size),
        n_only_b=int(result_b.users.size - common.size),
    )
    return out
