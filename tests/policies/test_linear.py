"""LinUCB / linear TS: Sherman-Morrison equals inversion, hybrid equals the joint ridge solution,
and the policies find the best arm of a planted linear bandit."""

from __future__ import annotations

import numpy as np
import pytest

from explorec.policies import HybridLinUCB, LinearTS, LinUCB, feedback_for_slate
from explorec.policies.base import FeedbackBatch
from explorec.policies.linucb import RidgeState, sherman_morrison


def test_sherman_morrison_equals_direct_inversion() -> None:
    rng = np.random.default_rng(0)
    d, ridge = 6, 0.7
    state = RidgeState(d, ridge)
    x = rng.normal(size=(300, d))
    r = rng.random(300)
    state.add(x, r)
    a = ridge * np.eye(d) + x.T @ x
    np.testing.assert_allclose(state.a_inv, np.linalg.inv(a), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(state.theta(), np.linalg.solve(a, x.T @ r), rtol=1e-8)
    one = sherman_morrison(np.linalg.inv(a), x[0])
    np.testing.assert_allclose(one, np.linalg.inv(a + np.outer(x[0], x[0])), rtol=1e-9, atol=1e-12)


def test_disjoint_arms_keep_one_inverse_each() -> None:
    rng = np.random.default_rng(1)
    pol = LinUCB(alpha=0.5, ridge=2.0)
    x = rng.normal(size=(60, 4))
    items = rng.integers(0, 3, size=60)
    r = rng.random(60)
    pol.update(FeedbackBatch(np.zeros(60, np.int64), items, np.zeros(60, np.int64), r, x))
    for arm in range(3):
        rows = items == arm
        a = 2.0 * np.eye(4) + x[rows].T @ x[rows]
        a_inv, b = pol.arm_parameters(np.array([arm]))
        np.testing.assert_allclose(a_inv[0], np.linalg.inv(a), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(b[0], x[rows].T @ r[rows])


def test_hybrid_equals_the_joint_ridge_regression() -> None:
    rng = np.random.default_rng(2)
    k, d, n_arms, m, ridge = 3, 2, 4, 200, 1.5
    z = rng.normal(size=(m, k))
    x = rng.normal(size=(m, d))
    arms = rng.integers(0, n_arms, size=m)
    r = rng.normal(size=m)
    pol = HybridLinUCB(shared_dim=k, ridge=ridge)
    pol.update(FeedbackBatch(np.zeros(m, np.int64), arms, np.zeros(m, np.int64), r, np.hstack([z, x])))
    # joint design: [z, x placed in the block of its arm]
    design = np.zeros((m, k + n_arms * d))
    design[:, :k] = z
    for j in range(m):
        design[j, k + arms[j] * d : k + (arms[j] + 1) * d] = x[j]
    coef = np.linalg.solve(ridge * np.eye(design.shape[1]) + design.T @ design, design.T @ r)
    beta, theta = pol.coefficients(np.arange(n_arms))
    np.testing.assert_allclose(beta, coef[:k], rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(theta.ravel(), coef[k:], rtol=1e-7, atol=1e-10)
    # the confidence width is the joint posterior's: sqrt(phi^T A^-1 phi)
    a_inv = np.linalg.inv(ridge * np.eye(design.shape[1]) + design.T @ design)
    ctx = np.hstack([z[:5], x[:5]])
    mean, width = pol.estimates(arms[:5], ctx)
    phi = design[:5]
    np.testing.assert_allclose(mean, phi @ coef, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(width, np.sqrt(np.einsum("nd,de,ne->n", phi, a_inv, phi)), rtol=1e-7)


def _planted_linear(policy, steps: int = 600, seed: int = 0) -> float:
    """Share of the last 150 steps in which the policy showed the best candidate first."""
    rng = np.random.default_rng(seed)
    theta = np.array([0.6, -0.4, 0.3])
    hits = []
    for t in range(steps):
        ctx = rng.normal(size=(8, 3))
        p = 1 / (1 + np.exp(-3 * ctx @ theta))
        items = np.arange(8)
        slate = policy.select(items, 1, scores=np.zeros(8), context=ctx)
        reward = float(rng.random() < p[slate.items[0]])
        policy.update(feedback_for_slate(slate, [reward], context=ctx, candidate_items=items))
        if t >= steps - 150:
            hits.append(slate.items[0] == np.argmax(p))
    return float(np.mean(hits))


@pytest.mark.parametrize(
    "policy",
    [LinUCB(alpha=0.5, arms="shared", seed=0), LinearTS(v=0.2, seed=0, n_mc=20)],
    ids=["linucb-shared", "lints"],
)
def test_linear_policies_learn_a_planted_linear_bandit(policy) -> None:
    assert _planted_linear(policy) > 0.7  # random choice: 1/8


def test_offset_starts_greedy_on_the_scores_and_learns_residuals() -> None:
    pol = LinUCB(alpha=0.0, arms="shared", offset=True)
    ctx = np.eye(3)
    slate = pol.select(np.arange(3), 1, scores=np.array([0.2, 0.5, 0.1]), context=ctx)
    assert slate.items[0] == 1
    for _ in range(30):  # item 1 never clicks, item 0 always does
        pol.update(
            FeedbackBatch(
                np.zeros(2, np.int64),
                np.array([1, 0]),
                np.zeros(2, np.int64),
                np.array([0.0, 1.0]),
                ctx[[1, 0]],
                np.array([0.5, 0.2]),
            )
        )
    assert pol.select(np.arange(3), 1, scores=np.array([0.2, 0.5, 0.1]), context=ctx).items[0] == 0


def test_examination_weights_scale_the_regression_rows() -> None:
    pol = LinUCB(arms="shared", examination=[1.0, 0.5])
    x = np.array([[1.0, 0.0]])
    pol.update(
        FeedbackBatch(np.zeros(1, np.int64), np.zeros(1, np.int64), np.ones(1, np.int64), np.ones(1), x)
    )
    assert pol.shared_ is not None
    np.testing.assert_allclose(pol.shared_.a_inv, np.linalg.inv(np.eye(2) + 0.25 * np.outer(x[0], x[0])))
