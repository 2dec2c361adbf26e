"""The online-loop simulator, checked against quantities computed here independently of its code.

* the oracle's expected clicks are the maximum over every ordered slate (brute force), and each
  run's expected clicks are recomputed from its own impression log;
* the ground truth is calibrated, and the EASE family is EASE's closed form computed by hand;
* the position-bias estimate is a function of the logged clicks only, and converges towards the
  world's curve, which no policy is ever handed;
* text models run in the loop on the dataset's catalogue; the CLI writes under runs/ by default.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from explorec.data.synthetic import load_synthetic
from explorec.errors import ConfigError, DataError
from explorec.evaluation.simulator import (
    ClickModel,
    GroundTruth,
    OraclePolicy,
    SimulationResult,
    Simulator,
    fit_click_model,
    plot_results,
    simulation_policy,
)
from explorec.policies import Greedy
from explorec.policies.base import Policy


@pytest.fixture(scope="module")
def data():
    return load_synthetic(n_users=150, n_items=120, seed=0)


@pytest.fixture(scope="module")
def sim(data):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(data.interactions.n_items, 8))  # stand-in for language-model vectors
    return Simulator(
        data.interactions,
        item_vectors=vectors,
        max_items=None,
        n_steps=150,
        k=5,
        n_candidates=30,
        n_fresh=5,
        refit_every=50,
        feature_dim=4,
        base_ctr=0.05,
        seed=3,
    )


@pytest.fixture(scope="module")
def tiny(data):
    """A catalogue small enough to enumerate every ordered slate of 3."""
    return Simulator(
        data.interactions,
        max_items=24,
        n_steps=60,
        k=3,
        n_candidates=10,
        n_fresh=2,
        refit_every=20,
        base_ctr=0.1,
        top_ctr=0.4,
        gt_rank=6,
        seed=1,
    )


# ------------------------------------------------------------------------------ helpers
def _eligible(sim: Simulator, log: dict[str, np.ndarray], step: int, user: int) -> np.ndarray:
    """Items user may be shown at ``step``: released, not known from the data, not clicked before."""
    known = set(sim.world.observed.item[sim.world.observed.user == user].tolist())
    before = (log["step"] < step) & (log["user"] == user) & (log["click"] > 0)
    known |= set(log["item"][before].astype(int).tolist())
    released = np.flatnonzero(sim.world.release <= step)
    return np.array([i for i in released if i not in known], dtype=np.int64)


def _best_slate_value(exam: np.ndarray, p: np.ndarray) -> float:
    """Max over every ordered slate of distinct items of ``sum_j exam[j] * p[item_j]`` (brute force)."""
    k = min(exam.size, p.size)
    return max(
        float(sum(exam[j] * p[i] for j, i in enumerate(slate)))
        for slate in itertools.permutations(range(p.size), k)
    )


def _expected_from_log(sim: Simulator, result: SimulationResult) -> np.ndarray:
    log = result.log
    exam = sim.examination  # the world's curve: the test may read it, the policies may not
    out = np.zeros(sim.n_steps)
    for step, user, item, pos in zip(log["step"], log["user"], log["item"], log["position"], strict=True):
        out[int(step)] += exam[int(pos)] * sim.ground_truth.probs(int(user), [int(item)])[0]
    return out


def _arrays_in(obj: Any, depth: int = 0) -> list[np.ndarray]:
    """Every numeric array or list of floats reachable from a policy's attributes."""
    found: list[np.ndarray] = []
    if depth > 4:
        return found
    values = vars(obj).values() if hasattr(obj, "__dict__") else []
    for value in values:
        if isinstance(value, Policy):
            found += _arrays_in(value, depth + 1)
        elif isinstance(value, np.ndarray) and value.dtype.kind == "f":
            found.append(value)
        elif isinstance(value, list | tuple) and value and all(isinstance(v, float) for v in value):
            found.append(np.asarray(value))
        elif hasattr(value, "__dict__") and not isinstance(value, type | np.random.Generator):
            found += _arrays_in(value, depth + 1)
    return found


# ------------------------------------------------------------------------------ ground truth
@pytest.mark.parametrize("family", ["svd", "ease"])
def test_ground_truth_is_calibrated(data, family: str) -> None:
    gt = GroundTruth.fit(data.interactions, family=family, rank=8, top_ctr=0.3, base_ctr=0.02, k=5, seed=0)
    p = np.stack([gt.probs(u) for u in range(50)])
    assert p.mean() == pytest.approx(0.02, rel=0.25)
    assert np.sort(p, axis=1)[:, -5:].mean() == pytest.approx(0.3, rel=0.25)
    assert np.all((p > 0) & (p < 1))
    z = gt.affinity
    np.testing.assert_allclose(z.mean(axis=1), 0.0, atol=1e-9)
    np.testing.assert_allclose(z.std(axis=1), 1.0, atol=1e-9)


def test_ease_ground_truth_is_eases_closed_form(data) -> None:
    l2 = 30.0
    gt = GroundTruth.fit(data.interactions, family="ease", params={"l2": l2}, base_ctr=0.02, k=5)
    x = data.interactions.to_csr().toarray().astype(np.float64)
    inv = np.linalg.inv(x.T @ x + l2 * np.eye(x.shape[1]))  # Steck 2019, eq. 8
    b = -inv / np.diag(inv)[None, :]
    np.fill_diagonal(b, 0.0)
    raw = x @ b
    expected = (raw - raw.mean(axis=1, keepdims=True)) / raw.std(axis=1, keepdims=True)
    np.testing.assert_allclose(gt.affinity, expected, atol=1e-3)
    svd = GroundTruth.fit(data.interactions, family="svd", rank=8, base_ctr=0.02, k=5)
    # another family: the two worlds order items differently for most users
    agree = [
        np.array_equal(np.argsort(-gt.affinity[u])[:5], np.argsort(-svd.affinity[u])[:5]) for u in range(50)
    ]
    assert np.mean(agree) < 0.5


def test_unknown_ground_truth(data) -> None:
    with pytest.raises(ConfigError, match=r"ground_truth must be 'svd' or a registered model.*got 'nope'"):
        Simulator(data.interactions, ground_truth="nope")


# ------------------------------------------------------------------------------ regret and rewards
def test_oracle_value_is_the_best_slate_by_brute_force(tiny) -> None:
    oracle = tiny.run(OraclePolicy())
    greedy = tiny.run(Greedy())
    for t in range(tiny.n_steps):
        user = int(tiny.world.users[t])
        items = _eligible(tiny, greedy.log, t, user)
        best = _best_slate_value(tiny.examination, tiny.ground_truth.probs(user, items))
        assert greedy.oracle[t] == pytest.approx(best, rel=1e-12)
        # the oracle policy shows a slate worth exactly that
        items_o = _eligible(tiny, oracle.log, t, user)
        best_o = _best_slate_value(tiny.examination, tiny.ground_truth.probs(user, items_o))
        assert oracle.expected[t] == pytest.approx(best_o, rel=1e-12)
    np.testing.assert_allclose(greedy.expected, _expected_from_log(tiny, greedy), rtol=1e-12)
    assert greedy.regret.min() >= -1e-12 and greedy.regret.sum() > 0.5
    assert np.abs(oracle.regret).max() < 1e-12


@pytest.mark.parametrize(
    "name", ["eps-greedy", "ucb", "ts", "lints", "linucb", "linucb-hybrid", "softmax", "budget"]
)
def test_each_policy_is_scored_from_its_own_log(sim, name: str) -> None:
    result = sim.run(simulation_policy(name, sim, seed=2, n_mc=10))
    np.testing.assert_allclose(result.expected, _expected_from_log(sim, result), rtol=1e-12)
    steps, clicks = result.log["step"].astype(int), result.log["click"]
    np.testing.assert_array_equal(result.clicks, np.bincount(steps, weights=clicks, minlength=sim.n_steps))
    distinct = [np.unique(result.log["item"][steps <= t]).size for t in range(sim.n_steps)]
    np.testing.assert_array_equal(result.distinct_shown, distinct)
    cold = sim.world.cold[result.log["item"].astype(int)]
    assert result.cold_impressions.sum() == cold.sum()
    assert np.all((result.log["propensity"] > 0) & (result.log["propensity"] <= 1 + 1e-12))


def test_clicks_follow_the_examination_hypothesis(data) -> None:
    long = Simulator(data.interactions, max_items=None, n_steps=3000, k=5, n_candidates=30, base_ctr=0.05)
    result = long.run(simulation_policy("eps-greedy", long, epsilon=0.3))
    exam = long.examination
    p = np.array(
        [
            exam[int(j)] * long.ground_truth.probs(int(u), [int(i)])[0]
            for u, i, j in zip(result.log["user"], result.log["item"], result.log["position"], strict=True)
        ]
    )
    sd = np.sqrt((p * (1 - p)).sum())
    assert abs(result.log["click"].sum() - p.sum()) < 4 * sd
    # and per position: the click rate falls with the examination curve, not only with relevance
    pos = result.log["position"].astype(int)
    for j in range(5):
        rows = pos == j
        assert abs(result.log["click"][rows].sum() - p[rows].sum()) < 4 * np.sqrt(
            (p[rows] * (1 - p[rows])).sum()
        )


def test_same_seed_same_run(sim) -> None:
    for name in ("eps-greedy", "ts", "linucb-hybrid"):
        a = sim.run(simulation_policy(name, sim, seed=1, n_mc=10))
        b = sim.run(simulation_policy(name, sim, seed=1, n_mc=10))
        np.testing.assert_array_equal(a.clicks, b.clicks)
        np.testing.assert_array_equal(a.log["item"], b.log["item"])
        np.testing.assert_array_equal(a.log["propensity"], b.log["propensity"])
        np.testing.assert_array_equal(a.examination_estimates, b.examination_estimates)


def test_cold_items_appear_only_after_release(sim) -> None:
    result = sim.run(simulation_policy("eps-greedy", sim, epsilon=0.5))
    release = sim.world.release
    steps = result.log["step"].astype(int)
    items = result.log["item"].astype(int)
    assert np.all(release[items] <= steps)
    assert result.cold_impressions.sum() > 0  # exploration reaches the new items
    assert sim.world.cold.sum() == round(0.2 * sim.data.n_items)
    assert release[sim.world.cold].max() < sim.arrival_end * sim.n_steps
    assert np.all(release[~sim.world.cold] == -1)


# ------------------------------------------------------------------------------ position bias
def test_click_model_recovers_a_known_curve() -> None:
    truth = (np.arange(6) + 1.0) ** -0.7
    rng = np.random.default_rng(0)
    errors = []
    for n in (1_000, 100_000):
        z = rng.normal(size=n)
        pos = rng.integers(0, 6, size=n)
        logit = -2.5 + 1.2 * z + 0.8 * np.maximum(z - 0.5, 0.0)  # a bent calibration
        clicks = (rng.random(n) < truth[pos] / (1 + np.exp(-logit))).astype(float)
        fit = fit_click_model(z, pos, clicks, start=ClickModel((1.0,) * 6, 0.3, -4.0))
        errors.append(np.abs(np.array(fit.examination) - truth).max())
        assert fit.n_impressions == n and fit.examination[0] == 1.0
    assert errors[1] < 0.02
    assert errors[1] < errors[0] / 3  # sqrt(100) = 10x more data, about 1/sqrt(100) the error


def test_click_model_rejects_bad_logs() -> None:
    start = ClickModel((1.0,) * 3, 0.3, -4.0)
    with pytest.raises(DataError, match=r"positions must lie in \[0, 3\), got \[0, 5\]"):
        fit_click_model([0.1, 0.2], [0, 5], [0, 1], start=start)
    with pytest.raises(DataError, match="differ in shape"):
        fit_click_model([0.1], [0, 1], [0, 1], start=start)


def test_policies_are_never_handed_the_true_curve(data) -> None:
    steep = Simulator(
        data.interactions,
        max_items=None,
        n_steps=600,
        k=5,
        n_candidates=30,
        base_ctr=0.05,
        position_decay=2.0,
        refit_every=100,
    )
    mild = Simulator(
        data.interactions,
        max_items=None,
        n_steps=600,
        k=5,
        n_candidates=30,
        base_ctr=0.05,
        position_decay=0.2,
        refit_every=100,
    )
    for name in ("ucb", "ts", "linucb", "lints", "linucb-hybrid"):
        # what a policy starts from does not depend on the world
        a, b = simulation_policy(name, steep), simulation_policy(name, mild)
        assert a.get_params()["examination"] == b.get_params()["examination"] == [1.0] * 5
    policy = simulation_policy("ucb", steep)
    result = steep.run(policy)
    # what it holds afterwards is the last estimate fitted from the log, not the world's curve
    assert policy.get_params()["examination"] == pytest.approx(result.examination_estimates[-1].tolist())
    np.testing.assert_array_equal(result.examination_steps, np.arange(100, 600, 100))
    for array in _arrays_in(policy):
        if array.shape == steep.examination.shape:
            assert not np.allclose(array, steep.examination, atol=1e-3)


def test_estimate_is_refitted_from_the_log_alone(data) -> None:
    # same world but for the position curve: the estimates follow the clicks, in opposite directions
    runs = {}
    for decay in (0.1, 1.5):
        world = Simulator(
            data.interactions,
            max_items=None,
            n_steps=1500,
            k=5,
            n_candidates=30,
            base_ctr=0.05,
            position_decay=decay,
        )
        runs[decay] = world.run(simulation_policy("eps-greedy", world, epsilon=0.3)).examination_estimates[-1]
    assert runs[1.5][4] < 0.5 < runs[0.1][4]


def test_estimate_converges_on_a_long_run(data) -> None:
    long = Simulator(
        data.interactions, max_items=None, n_steps=6000, k=5, n_candidates=30, base_ctr=0.05, refit_every=500
    )
    result = long.run(simulation_policy("eps-greedy", long, epsilon=0.3))
    errors = np.abs(result.examination_estimates - long.examination).max(axis=1)
    flat_prior_error = np.abs(1.0 - long.examination).max()
    # clicks are sparse (about 2000 here) and the relevance model is the recommender's, so the
    # estimate keeps some noise and bias; it must still move most of the way from the prior
    assert errors[-1] < 0.15 < flat_prior_error
    # the late level (last three refits), not one refit: single refits swing by ±0.03 with the clicks
    assert errors[-3:].mean() < errors[0] / 2
    assert errors[-3:].mean() < errors[:3].mean() / 1.5
    assert result.summary()["examination_error"] == pytest.approx(errors[-1])


def test_fixed_prior_is_kept(data) -> None:
    prior = [1.0, 0.9, 0.8, 0.7, 0.6]
    fixed = Simulator(
        data.interactions,
        max_items=None,
        n_steps=200,
        k=5,
        n_candidates=30,
        base_ctr=0.05,
        refit_every=50,
        examination_prior=prior,
        estimate_examination=False,
    )
    policy = simulation_policy("ucb", fixed)
    result = fixed.run(policy)
    assert policy.get_params()["examination"] == prior
    np.testing.assert_array_equal(result.examination_estimates, np.tile(prior, (3, 1)))
    with pytest.raises(ConfigError, match="examination_prior must hold k=5 values"):
        Simulator(data.interactions, k=5, examination_prior=[1.0, 0.5])


def test_swapped_runs_log_the_swap_and_estimate_the_curve_from_it(data) -> None:
    share, k = 0.4, 5
    swapped = Simulator(
        data.interactions,
        max_items=None,
        n_steps=300,
        k=k,
        n_candidates=30,
        base_ctr=0.05,
        refit_every=100,
        swap_share=share,
    )
    policy = simulation_policy("ucb", swapped)
    result = swapped.run(policy)
    assert result.policy == "ucb+swap0.4"
    # UCB is deterministic: a slate's propensities are exactly the swap's (top scheme, K - 1 pairs)
    moved = share / (k - 1)
    n_swapped = 0
    for record in result.impressions:
        p = np.asarray(record.propensities)
        assert record.policy == "swap" and record.propensity_method == "exact"
        if np.isclose(p[0], moved):  # position 0 shows what the policy ranked elsewhere
            b = int(np.flatnonzero(np.isclose(p, moved))[1])
            np.testing.assert_allclose(np.delete(p, [0, b]), 1 - moved)
            n_swapped += 1
        else:
            np.testing.assert_allclose(p, [1 - share] + [1 - moved] * (k - 1))
    assert abs(n_swapped / 300 - share) < 4.5 * np.sqrt(share * (1 - share) / 300)
    # the curve the policy holds is the one estimated from the swaps, non-increasing
    estimate = result.examination_estimates[-1]
    assert policy.get_params()["examination"] == pytest.approx(estimate.tolist())
    assert np.all(np.diff(estimate) <= 1e-12) and estimate[0] == 1.0
    with pytest.raises(ConfigError, match="swap_scheme must be one of top, pair, got 'random'"):
        Simulator(data.interactions, k=5, swap_scheme="random")


# ------------------------------------------------------------------------------ models in the loop
def test_text_model_runs_on_the_catalogue(data) -> None:
    kwargs = dict(
        max_items=80,
        n_steps=120,
        k=5,
        n_candidates=30,
        refit_every=40,
        base_ctr=0.05,
        model="textknn",
        model_params={"encoder": "hashing:64"},
    )
    with pytest.raises(ConfigError, match="needs the catalog"):
        Simulator(data.interactions, **kwargs).run(Greedy())
    loop = Simulator(data.interactions, catalog=data.catalog, **kwargs)
    np.testing.assert_array_equal(loop.catalog.item_ids, loop.data.item_ids)
    np.testing.assert_array_equal(loop.catalog.field("title"), data.catalog.field("title")[loop.items])
    result = loop.run(Greedy())
    # text scores reach the new items, which no collaborative model can score
    assert result.cold_impressions.sum() > 0 and result.clicks.sum() > 0
    with pytest.raises(DataError, match="catalog has 5 items"):
        from explorec.data.interactions import Catalog

        Simulator(data.interactions, catalog=Catalog.empty([f"i{j}" for j in range(5)]))


def test_foldin_svd_is_the_registered_default(sim) -> None:
    from explorec.models.registry import model_class
    from explorec.models.svd import FoldInSVD

    assert model_class("foldin-svd") is FoldInSVD
    assert type(sim._new_model()) is FoldInSVD


# ------------------------------------------------------------------------------ outputs
def test_plot_is_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)

    def fake(policy: str, seed: int) -> SimulationResult:
        t = rng.random((6, 20))
        return SimulationResult(policy, seed, t[0], t[1], t[1] + t[2], t[3], t[4], np.cumsum(t[5]), 0.0)

    runs = [fake("greedy", 0), fake("greedy", 1), fake("ucb", 0)]
    png = plot_results(runs, tmp_path / "sim.png", title="test")
    assert png.stat().st_size > 1000


def test_bad_settings(data) -> None:
    with pytest.raises(ConfigError, match="arrival"):
        Simulator(data.interactions, arrival="later")
    with pytest.raises(ConfigError, match="cold_fraction"):
        Simulator(data.interactions, cold_fraction=1.5)
    with pytest.raises(ConfigError, match="unknown simulation policy"):
        simulation_policy("nope", Simulator(data.interactions, n_steps=10, k=5, base_ctr=0.05))


def test_cli_simulate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from explorec.cli import main

    monkeypatch.chdir(tmp_path)  # the default output folder is relative: runs/simulate
    args = [
        "simulate",
        "--dataset",
        "synthetic",
        "--policies",
        "greedy,eps-greedy",
        "--steps",
        "40",
        "--seeds",
        "2",
        "--k",
        "5",
        "--max-items",
        "200",
        "--item-vectors",
        "hashing",
        "--refit-every",
        "20",
        "--ground-truth",
        "ease",
        "--gt-param",
        "l2=50",
        "--model",
        "foldin-svd",
        "--model-param",
        "rank=16",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "vs greedy" in out and "eps-greedy" in out and "exam. err" in out
    folder = tmp_path / "runs" / "simulate"
    payload = json.loads((folder / "results.json").read_text())
    assert len(payload["runs"]) == 4 and payload["summary"][0]["policy"] == "greedy"
    assert payload["settings"]["ground_truth"] == "ease" and payload["settings"]["gt_param"] == ["l2=50"]
    assert all(len(r["examination_estimate"]) == 5 for r in payload["runs"])
    assert (folder / "simulation.png").is_file()
    assert main([*args, "--examination-prior", "1,a"]) == 2
    assert "--examination-prior: expected comma-separated numbers, got '1,a'" in capsys.readouterr().err
