"""Differential privacy (DP-SGD with Opacus): the accountant, per-user clipping, DP off, a quality floor."""

from __future__ import annotations

import copy
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from opacus.accountants.analysis import rdp as rdp_analysis
from opacus.optimizers import DPOptimizer

from explorec.data.interactions import Interactions, Split
from explorec.data.toy import known_answer_split
from explorec.errors import ConfigError
from explorec.evaluation import evaluate
from explorec.models.base import Recommender
from explorec.models.privacy import ALPHAS, parse_epsilon, per_user_gradients, per_user_norms
from explorec.models.sasrec import SASRec
from explorec.models.two_tower import TwoTower

torch.set_num_threads(1)

SASREC: dict[str, Any] = {
    "dim": 16,
    "n_heads": 1,
    "n_layers": 1,
    "max_len": 8,
    "dropout": 0.1,
    "attn_dropout": 0.0,
    "lr": 0.01,
    "progress": False,
    "device": "cpu",
}
TWO_TOWER: dict[str, Any] = {
    "dim": 16,
    "hidden": 32,
    "max_len": 8,
    "lr": 0.01,
    "temperature": 0.1,
    "progress": False,
    "device": "cpu",
}


@pytest.fixture(scope="module")
def split() -> Split:
    return known_answer_split()


def _heavy_and_light() -> Interactions:
    """User 0 has 40 events, user 1 has 3 (items cycle over 10)."""
    users = np.array([0] * 40 + [1] * 3, dtype=np.int64)
    items = np.array([i % 10 for i in range(40)] + [3, 4, 5], dtype=np.int64)
    return Interactions.from_arrays(
        users,
        items,
        user_ids=["heavy", "light"],
        item_ids=[f"i{i}" for i in range(10)],
        timestamp=np.arange(users.size, dtype=np.float64),
    )


# ---------------------------------------------------------------------- the accountant
def _closed_form_epsilon(sigma: float, steps: int, delta: float) -> float:
    """ε of ``steps`` full-batch Gaussian mechanisms (q = 1): RDP ε(α) = steps α / (2σ²) exactly,
    converted to (ε, δ) with the bound of Balle et al. (2020) that Opacus uses, minimised over α."""
    alphas = np.array(ALPHAS)
    rdp = steps * alphas / (2 * sigma**2)
    eps = rdp - (np.log(delta) + np.log(alphas)) / (alphas - 1) + np.log((alphas - 1) / alphas)
    return float(eps.min())


def test_full_batch_epsilon_matches_the_closed_form(split: Split) -> None:
    # batch_size >= n_users: q = 1, one step per epoch; the Gaussian mechanism's RDP is known exactly
    model = SASRec(**SASREC, epochs=3, batch_size=100, dp_epsilon=2.0, seed=1).fit(split.train)
    report = model.privacy_
    assert report is not None
    assert report.sample_rate == 1.0 and report.steps == 3 and report.n_users == 36
    assert report.delta == pytest.approx(1 / 36)
    assert report.epsilon == pytest.approx(
        _closed_form_epsilon(report.noise_multiplier, 3, report.delta), rel=1e-9
    )
    # the noise is the smallest Opacus finds within its tolerance (0.01) under the target
    assert 2.0 - 0.01 <= report.epsilon <= 2.0


def test_subsampled_epsilon_matches_opacus_rdp_analysis(split: Split) -> None:
    model = SASRec(**SASREC, epochs=2, batch_size=9, dp_epsilon=4.0, seed=2).fit(split.train)
    report = model.privacy_
    assert report is not None
    q = 9 / 36
    assert report.sample_rate == q and report.steps == 2 * int(1 / q)  # every planned step ran
    rdp = rdp_analysis.compute_rdp(
        q=q, noise_multiplier=report.noise_multiplier, steps=report.steps, orders=list(ALPHAS)
    )
    eps, _ = rdp_analysis.get_privacy_spent(orders=list(ALPHAS), rdp=rdp, delta=report.delta)
    assert report.epsilon == pytest.approx(float(eps), rel=1e-12)
    assert 4.0 - 0.01 <= report.epsilon <= 4.0


# ---------------------------------------------------------------------- one user = one privacy unit
@pytest.mark.parametrize("cls,params", [(SASRec, SASREC), (TwoTower, TWO_TOWER)])
def test_one_example_per_user(cls: type[Any], params: dict[str, Any]) -> None:
    data = _heavy_and_light()
    model = cls(**params, epochs=1, batch_size=2, dp_epsilon=8.0).fit(data)
    examples = model._dp_examples(data, None)
    assert all(t.shape[0] == 2 for t in examples.values())  # 2 users -> 2 examples, not 43 events
    assert model.privacy_ is not None and model.privacy_.n_users == 2


@pytest.mark.parametrize("cls,params", [(SASRec, SASREC), (TwoTower, TWO_TOWER)])
def test_a_heavy_user_moves_the_weights_by_at_most_the_clipping_bound(
    cls: type[Any], params: dict[str, Any]
) -> None:
    clip = 0.05
    data = _heavy_and_light()
    model = cls(**params, epochs=1, batch_size=2, dp_epsilon=8.0, dp_max_grad_norm=clip).fit(data)
    examples = model._dp_examples(data, None)
    module = model.module_.train()
    grads, _ = per_user_gradients(module, model._dp_loss, examples)
    norms = per_user_norms(grads)
    assert float(norms[0]) > 10 * clip  # the heavy user's raw gradient is far above the bound
    # the same per-user gradients through Opacus's optimiser, without noise, with SGD(lr=1): the step
    # is the clipped sum, so the heavy user alone moves the weights by at most `clip`
    for rows, bound in (([0], clip), ([0, 1], 2 * clip)):
        net = copy.deepcopy(module)
        before = torch.cat([p.detach().flatten().clone() for p in net.parameters()])
        opt = DPOptimizer(
            torch.optim.SGD(net.parameters(), lr=1.0),
            noise_multiplier=0.0,
            max_grad_norm=clip,
            expected_batch_size=1,
        )
        sub = {k: v[rows] for k, v in examples.items()}
        g, _ = per_user_gradients(net, model._dp_loss, sub)
        for p, gs in zip([p for p in net.parameters() if p.requires_grad], g.values(), strict=True):
            p.grad_sample = gs  # type: ignore[attr-defined]
        opt.step()
        after = torch.cat([p.detach().flatten() for p in net.parameters()])
        moved = float((after - before).norm())
        assert moved <= bound * (1 + 1e-4)
        assert moved > 0.5 * clip  # it did move: clipping scaled the gradient, it did not drop it


def test_per_user_gradient_is_the_gradient_of_that_users_loss() -> None:
    data = _heavy_and_light()
    model = SASRec(**{**SASREC, "dropout": 0.0}, epochs=1, batch_size=2, dp_epsilon=8.0).fit(data)
    examples = model._dp_examples(data, None)
    module = model.module_.eval()
    grads, losses = per_user_gradients(module, model._dp_loss, examples)
    one = {k: v[1] for k, v in examples.items()}
    module.zero_grad()
    loss = model._dp_loss(module, one, {})
    loss.backward()
    assert float(losses[1]) == pytest.approx(float(loss.detach()), rel=1e-5)
    for (name, p), g in zip(module.named_parameters(), grads.values(), strict=True):
        assert p.grad is not None, name
        torch.testing.assert_close(g[1], p.grad, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------- DP off
@pytest.mark.parametrize("off", [None, math.inf, "inf"])
@pytest.mark.parametrize("cls,params", [(SASRec, SASREC), (TwoTower, TWO_TOWER)])
def test_infinite_epsilon_is_exactly_the_plain_path(
    split: Split, off: Any, cls: type[Any], params: dict[str, Any]
) -> None:
    plain = cls(**params, epochs=3, seed=5).fit(split.train)
    other = cls(**params, epochs=3, seed=5, dp_epsilon=off).fit(split.train)
    assert other.privacy_ is None and plain.privacy_ is None
    theirs = other.module_.state_dict()
    for name, a in plain.module_.state_dict().items():
        assert torch.equal(a, theirs[name]), name
    private = cls(**params, epochs=3, seed=5, dp_epsilon=50.0).fit(split.train)
    assert private.privacy_ is not None  # a finite ε does take the other path, to other weights
    pairs = zip(plain.module_.parameters(), private.module_.parameters(), strict=True)
    assert not all(torch.equal(a, b) for a, b in pairs)


# ---------------------------------------------------------------------- quality
def _random_ndcg10(split: Split) -> float:
    """Expected NDCG@10 of a uniformly random ranking: the test item is uniform among the unmasked."""
    history = split.test_history.to_csr()
    out = []
    for user in split.test.user:
        n = split.test.n_items - history[user].nnz
        out.append(sum(1 / math.log2(r + 2) for r in range(min(10, n))) / n)
    return float(np.mean(out))


@pytest.mark.parametrize(
    "cls,params",
    [
        (SASRec, {**SASREC, "dim": 32, "dropout": 0.0, "lr": 0.02, "epochs": 20}),
        (TwoTower, {**TWO_TOWER, "lr": 0.05, "epochs": 30}),
    ],
)
def test_a_private_model_beats_random_on_the_known_answer_data(
    split: Split, cls: type[Any], params: dict[str, Any]
) -> None:
    # random ranking: 0.18; seeds 0-2 gave 0.38-0.55 (SASRec) and 0.35-0.40 (two-tower) at ε = 8
    random = _random_ndcg10(split)
    model = cls(**params, batch_size=36, dp_epsilon=8.0, seed=0).fit(split.train)
    result = evaluate(model, split.test, history=split.test_history, k=[10])
    assert model.privacy_ is not None and model.privacy_.epsilon <= 8.0
    assert result.metrics["ndcg@10"] > 1.5 * random


# ---------------------------------------------------------------------- configuration and records
def test_validation_is_not_used_under_dp(split: Split, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="explorec.models.torch_base"):
        model = SASRec(**SASREC, epochs=4, patience=1, batch_size=36, dp_epsilon=4.0).fit(
            split.train, valid=split.valid
        )
    assert len(model.history_.epochs) == 4 and not model.history_.stopped_early
    assert all(e.metric is None for e in model.history_.epochs)
    assert "early stopping is disabled" in caplog.text


def test_report_is_saved_with_the_model(split: Split, tmp_path: Path) -> None:
    model = SASRec(**SASREC, epochs=2, batch_size=36, dp_epsilon=3.0, dp_delta=1e-3).fit(split.train)
    model.save(tmp_path / "m")
    loaded = Recommender.load(tmp_path / "m")
    assert isinstance(loaded, SASRec)
    assert loaded.privacy_ == model.privacy_
    assert loaded.privacy_ is not None and loaded.privacy_.delta == 1e-3 and loaded.privacy_.unit == "user"


def test_dp_cold_user_prior_is_uniform(split: Split) -> None:
    model = SASRec(**SASREC, epochs=1, batch_size=36, dp_epsilon=4.0).fit(split.train)
    assert not model.item_prior_.any()  # no unprotected item counts in the saved state


@pytest.mark.parametrize(
    "params,match",
    [
        ({"dp_epsilon": -1.0}, "dp_epsilon must be a positive number or 'inf'"),
        ({"dp_epsilon": "lots"}, "dp_epsilon must be a positive number or 'inf'"),
        ({"dp_epsilon": 1.0, "dp_delta": 1.5}, "dp_delta must lie in"),
        ({"dp_epsilon": 1.0, "dp_max_grad_norm": 0.0}, "dp_max_grad_norm must be a positive number"),
        ({"dp_epsilon": 1.0, "cl_weight": 0.1}, "cl_weight must be 0 under DP"),
        ({"dp_epsilon": 1.0, "loss": "sampled"}, "loss='full' under DP"),
    ],
)
def test_bad_dp_settings_are_refused(split: Split, params: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SASRec(**SASREC, epochs=1, **params).fit(split.train)


def test_parse_epsilon() -> None:
    assert parse_epsilon(None) is None and parse_epsilon("inf") is None and parse_epsilon(math.inf) is None
    assert parse_epsilon(4) == 4.0 and parse_epsilon("8") == 8.0


def test_cli_prints_and_saves_the_spend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from explorec.cli import main
    from explorec.persist import resolve_version

    out = tmp_path / "model"
    params = ["dim=8", "n_heads=1", "n_layers=1", "max_len=5", "epochs=1", "batch_size=2000", "dp_epsilon=4"]
    args = ["train", "--dataset", "synthetic", "--model", "sasrec", "--out", str(out), "--no-eval"]
    assert main([*args, *(x for p in params for x in ("--param", p))]) == 0
    printed = capsys.readouterr().out
    run = json.loads((resolve_version(out) / "run.json").read_text())
    spent = run["privacy"]
    assert spent["unit"] == "user" and spent["target_epsilon"] == 4.0 and 3.99 <= spent["epsilon"] <= 4.0
    assert spent["delta"] == pytest.approx(1 / spent["n_users"]) and spent["steps"] == 1
    assert f"(ε={spent['epsilon']:.3g}, δ={spent['delta']:.3g}) spent per user" in printed


def test_the_ray_backend_is_refused_under_dp(split: Split) -> None:
    model = SASRec(**SASREC, epochs=1, dp_epsilon=4.0)
    model._train_runner = object()  # what explorec.distributed.fit sets before calling fit
    with pytest.raises(ConfigError, match="does not support differential privacy"):
        model.fit(split.train)
