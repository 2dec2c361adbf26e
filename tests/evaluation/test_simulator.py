"""The online-loop simulator: determinism, zero oracle regret, arrivals, outputs, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from explorec.data.synthetic import load_synthetic
from explorec.errors import ConfigError
from explorec.evaluation.simulator import (
    GroundTruth,
    OraclePolicy,
    SimulationResult,
    Simulator,
    plot_results,
    simulation_policy,
)
from explorec.policies import Greedy


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


def test_ground_truth_is_calibrated(data) -> None:
    gt = GroundTruth.fit(data.interactions, rank=8, top_ctr=0.3, base_ctr=0.02, k=5, seed=0)
    p = np.stack([gt.probs(u) for u in range(50)])
    assert p.mean() == pytest.approx(0.02, rel=0.25)
    assert np.sort(p, axis=1)[:, -5:].mean() == pytest.approx(0.3, rel=0.25)
    assert np.all((p > 0) & (p < 1))


def test_oracle_regret_is_zero_and_others_nonnegative(sim) -> None:
    oracle = sim.run(OraclePolicy())
    assert np.abs(oracle.regret).max() < 1e-9
    greedy = sim.run(Greedy())
    assert greedy.regret.min() >= -1e-9
    assert greedy.regret.sum() > 0
    assert oracle.expected.sum() > greedy.expected.sum()


def test_same_seed_same_run(sim) -> None:
    for name in ("eps-greedy", "ts", "linucb-hybrid"):
        a = sim.run(simulation_policy(name, sim, seed=1, n_mc=10))
        b = sim.run(simulation_policy(name, sim, seed=1, n_mc=10))
        np.testing.assert_array_equal(a.clicks, b.clicks)
        np.testing.assert_array_equal(a.log["item"], b.log["item"])
        np.testing.assert_array_equal(a.log["propensity"], b.log["propensity"])


def test_cold_items_appear_only_after_release(sim) -> None:
    result = sim.run(simulation_policy("eps-greedy", sim, epsilon=0.5))
    release = sim.world.release
    steps = result.log["step"].astype(int)
    items = result.log["item"].astype(int)
    assert np.all(release[items] <= steps)
    assert result.cold_impressions.sum() > 0  # exploration reaches the new items
    assert sim.world.cold.sum() == round(0.2 * sim.data.n_items)
    # the log carries what off-policy evaluation needs
    assert np.all((result.log["propensity"] > 0) & (result.log["propensity"] <= 1))
    summary = result.summary()
    assert summary["clicks"] == result.clicks.sum() and summary["steps"] == 150


def test_every_simulation_policy_runs(sim) -> None:
    for name in ("ucb", "lints", "linucb", "softmax", "budget"):
        r = sim.run(simulation_policy(name, sim, n_mc=10))
        assert r.clicks.shape == (150,) and np.all(r.distinct_shown[1:] >= r.distinct_shown[:-1])
    with pytest.raises(ConfigError, match="unknown simulation policy"):
        simulation_policy("nope", sim)


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


def test_cli_simulate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from explorec.cli import main

    rc = main(
        [
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
            "--out",
            str(tmp_path),
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "vs greedy" in out and "eps-greedy" in out
    payload = json.loads((tmp_path / "results.json").read_text())
    assert len(payload["runs"]) == 4 and payload["summary"][0]["policy"] == "greedy"
    assert (tmp_path / "simulation.png").is_file()
