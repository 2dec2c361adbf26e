"""DPP greedy MAP: the incremental Cholesky must pick exactly what brute-force log-det greedy picks."""

from __future__ import annotations

import numpy as np
import pytest

from explorec.errors import ConfigError
from explorec.rerank import DPP, greedy_map
from explorec.rerank.dpp import dpp_alpha
from explorec.types import ScoredItems


def _kernel(unit: np.ndarray, quality: np.ndarray) -> np.ndarray:
    return quality[:, None] * (unit @ unit.T) * quality[None, :]


def _logdet(kernel: np.ndarray, subset: list[int]) -> float:
    sign, value = np.linalg.slogdet(kernel[np.ix_(subset, subset)])
    return float(value) if sign > 0 else -np.inf


def _brute_force(kernel: np.ndarray, k: int, window: int | None = None) -> list[int]:
    picked: list[int] = []
    for _ in range(k):
        context = picked if window is None else picked[len(picked) - (window - 1) :] if window > 1 else []
        gains = [-np.inf if i in picked else _logdet(kernel, [*context, i]) for i in range(kernel.shape[0])]
        picked.append(int(np.argmax(gains)))
    return picked


def _random_case(seed: int, n: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    quality = np.exp(rng.normal(size=n))
    return unit, quality


@pytest.mark.parametrize("seed", range(6))
def test_greedy_equals_brute_force_log_det(seed: int) -> None:
    unit, quality = _random_case(seed, n=14, dim=8)
    expected = _brute_force(_kernel(unit, quality), k=6)
    assert greedy_map(unit, quality, 6).tolist() == expected


@pytest.mark.parametrize("seed", range(4))
def test_precomputed_kernel_path_agrees(seed: int) -> None:
    # k > N / 2 switches to one matmul for the whole similarity matrix
    unit, quality = _random_case(seed + 10, n=10, dim=12)
    assert greedy_map(unit, quality, 8).tolist() == _brute_force(_kernel(unit, quality), k=8)


@pytest.mark.parametrize(("seed", "window"), [(0, 2), (1, 3), (2, 4), (3, 3)])
def test_sliding_window_equals_brute_force(seed: int, window: int) -> None:
    unit, quality = _random_case(seed + 20, n=16, dim=10)
    expected = _brute_force(_kernel(unit, quality), k=9, window=window)
    assert greedy_map(unit, quality, 9, window=window).tolist() == expected


def test_window_at_least_k_is_algorithm_1() -> None:
    unit, quality = _random_case(7, n=20, dim=6)
    np.testing.assert_array_equal(greedy_map(unit, quality, 5, window=5), greedy_map(unit, quality, 5))


def test_exhausted_kernel_fills_by_score() -> None:
    # two directions only: after two picks every residual is 0; the rest come in score order
    unit = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 0]], dtype=np.float64)
    cands = ScoredItems(np.arange(5), np.array([5, 4, 3, 2, 1], dtype=np.float32))
    out = DPP(diversity=0.5).rerank(cands, 4, item_vectors=unit)
    assert out.items.tolist() == [0, 2, 1, 3]


def test_zero_diversity_is_top_k_and_full_diversity_ignores_scores() -> None:
    unit, _ = _random_case(5, n=30, dim=8)
    rng = np.random.default_rng(5)
    scores = rng.normal(size=30).astype(np.float32)
    cands = ScoredItems(np.arange(30), scores)
    top = DPP(diversity=0.0).rerank(cands, 5, item_vectors=unit)
    np.testing.assert_array_equal(top.items, np.argsort(-scores, kind="stable")[:5])
    full = DPP(diversity=1.0).rerank(cands, 5, item_vectors=unit)
    # quality 1 everywhere: plain log det S; the first pick (every S_ii = 1) is the best-scored item
    order = np.argsort(-scores, kind="stable")
    sim = unit[order] @ unit[order].T
    np.fill_diagonal(sim, 1.0)  # exact ties on the first pick
    expected = order[_brute_force(sim, 5)]
    assert full.items.tolist() == expected.tolist()
    assert full.items[0] == order[0]


def test_rerank_uses_the_documented_kernel() -> None:
    rng = np.random.default_rng(11)
    vectors = rng.normal(size=(25, 8)).astype(np.float32)
    scores = rng.normal(size=25)
    diversity = 0.4
    rel = (scores - scores.min()) / (scores.max() - scores.min())
    quality = np.exp(dpp_alpha(diversity) * rel)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    expected = _brute_force(_kernel(unit.astype(np.float64), quality), 6)
    cands = ScoredItems(np.arange(25), scores.astype(np.float32))
    out = DPP(diversity=diversity).rerank(cands, 6, item_vectors=vectors)
    assert out.items.tolist() == expected


def test_alpha_formula() -> None:
    assert dpp_alpha(0.5) == pytest.approx(0.5)  # theta = 0.5 -> 0.5 / (2 * 0.5)
    assert dpp_alpha(0.2) == pytest.approx(0.8 / 0.4)
    assert dpp_alpha(0.0) == np.inf


def test_bad_parameters() -> None:
    with pytest.raises(ConfigError, match="dpp diversity must lie in"):
        DPP(diversity=-0.1)
    with pytest.raises(ConfigError, match="dpp window must be an integer >= 2"):
        DPP(window=1)
    with pytest.raises(ConfigError, match="needs item_vectors"):
        DPP(diversity=0.5).rerank(ScoredItems(np.array([0, 1]), np.array([1.0, 0.0], dtype=np.float32)), 1)
