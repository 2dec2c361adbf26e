"""Off-policy estimators on synthetic logs with a known value, strict log validation, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from explorec.errors import ConfigError, DataError
from explorec.evaluation.ope import (
    BanditLog,
    estimate,
    estimates_table,
    fit_reward_model,
    importance_weights,
    read_log,
)

RATES = np.array([0.1, 0.3, 0.6, 0.2, 0.4])  # click rate of each of 5 actions


def _uniform_log(n: int = 20_000, seed: int = 0, slates: bool = False) -> BanditLog:
    rng = np.random.default_rng(seed)
    action = rng.integers(0, 5, size=n)
    reward = (rng.random(n) < RATES[action]).astype(float)
    return BanditLog(
        action,
        reward,
        np.full(n, 0.2),
        np.zeros(n, dtype=np.int64),
        5,
        1,
        slate_id=np.arange(n) // 2 if slates else None,
    )


# evaluation policy: 70% action 2, 30% action 1 -> true value 0.7 * 0.6 + 0.3 * 0.3 = 0.51
PI_E = np.array([[0.0], [0.3], [0.7], [0.0], [0.0]])
TRUE_VALUE = 0.51


def test_ips_and_snips_are_unbiased_within_their_intervals() -> None:
    res = estimate(_uniform_log(), PI_E, estimators=("ips", "snips"), n_bootstrap=300, seed=1)
    for name in ("ips", "snips"):
        est = res[name]
        assert est.ci_low <= TRUE_VALUE <= est.ci_high, est
        assert abs(est.value - TRUE_VALUE) < 0.03
    # unbiasedness: the mean over independent logs is close to the truth
    values = [
        estimate(_uniform_log(2000, s), PI_E, estimators=("ips",), n_bootstrap=2)["ips"].value
        for s in range(40)
    ]
    assert abs(np.mean(values) - TRUE_VALUE) < 3 * np.std(values) / np.sqrt(40)


def test_direct_method_and_doubly_robust_with_a_perfect_reward_model() -> None:
    log = _uniform_log(5000)
    q = np.tile(RATES[None, :], (len(log), 1))  # the true expected reward of every action
    res = estimate(log, PI_E, reward_hat=q, estimators=("dm", "dr"), n_bootstrap=200)
    assert res["dm"].value == pytest.approx(TRUE_VALUE, abs=1e-12)
    # DR = DM + a zero-mean correction: the truth up to its noise
    assert res["dr"].ci_low <= TRUE_VALUE <= res["dr"].ci_high
    assert abs(res["dr"].value - TRUE_VALUE) < 0.02


def test_importance_weights_by_hand() -> None:
    log = BanditLog(
        np.array([1, 2]), np.array([1.0, 0.0]), np.array([0.5, 0.25]), np.zeros(2, np.int64), 3, 1
    )
    w = importance_weights(log, np.array([[0.0], [0.2], [0.8]]))
    np.testing.assert_allclose(w, [0.4, 3.2])
    res = estimate(log, np.array([[0.0], [0.2], [0.8]]), estimators=("ips", "snips"), n_bootstrap=10)
    assert res["ips"].value == pytest.approx(0.2)
    assert res["snips"].value == pytest.approx(0.4 / 3.6)


def test_position_wise_estimates_use_each_slot_marginal() -> None:
    # two slots; logging shows action a at position l with probability 1/3 each (3 actions)
    rng = np.random.default_rng(0)
    n = 30_000
    action = rng.integers(0, 3, size=n)
    position = rng.integers(0, 2, size=n)
    examination = np.array([1.0, 0.5])
    reward = (rng.random(n) < examination[position] * RATES[action]).astype(float)
    log = BanditLog(action, reward, np.full(n, 1 / 3), position, 3, 2)
    pi = np.array([[0.0, 1.0], [0.0, 0.0], [1.0, 0.0]])  # action 2 at slot 0, action 0 at slot 1
    true = 0.5 * (1.0 * RATES[2] + 0.5 * RATES[0])  # mean over the logged slots (half each)
    res = estimate(log, pi, estimators=("ips", "snips"), n_bootstrap=200)
    assert res["ips"].ci_low <= true <= res["ips"].ci_high


def _duplicated_slates(m: int = 3000, seed: int = 0) -> tuple[BanditLog, BanditLog]:
    """m slates of two identical rows (same action, same reward), with and without ``slate_id``."""
    single = _uniform_log(m, seed)
    rows = np.repeat(np.arange(m), 2)
    fields = (single.action[rows], single.reward[rows], single.pscore[rows], single.position[rows], 5, 1)
    return BanditLog(*fields, slate_id=rows), BanditLog(*fields)


def test_slate_bootstrap_resamples_whole_slates() -> None:
    slates, rows = _duplicated_slates()
    terms = importance_weights(rows, PI_E) * rows.reward  # IPS terms w_i r_i, one per row
    per_slate = terms[::2]  # both rows of a slate carry the same term
    m, n = per_slate.size, terms.size
    # the IPS value is the mean of m independent slate terms: its standard error is std / sqrt(m);
    # a bootstrap over rows would treat the 2m rows as independent and find std / sqrt(2m)
    slate_se = per_slate.std() / np.sqrt(m)
    row_se = terms.std() / np.sqrt(n)
    z = scipy.stats.norm.ppf
    for alpha in (0.05, 0.2):
        by_slate = estimate(slates, PI_E, estimators=("ips",), n_bootstrap=2000, alpha=alpha, seed=3)["ips"]
        by_row = estimate(rows, PI_E, estimators=("ips",), n_bootstrap=2000, alpha=alpha, seed=3)["ips"]
        assert by_slate.value == pytest.approx(by_row.value, rel=1e-12)
        assert by_slate.std_error == pytest.approx(slate_se, rel=0.06)
        assert by_row.std_error == pytest.approx(row_se, rel=0.06)
        width = 2 * z(1 - alpha / 2) * slate_se  # the normal interval the percentile interval approaches
        assert by_slate.ci_high - by_slate.ci_low == pytest.approx(width, rel=0.1)
        assert by_row.ci_high - by_row.ci_low == pytest.approx(width / np.sqrt(2), rel=0.1)


def test_table_header_names_the_level_of_its_intervals() -> None:
    log = _uniform_log(500)
    for alpha, header in ((0.05, "95% CI"), (0.1, "90% CI"), (0.01, "99% CI"), (0.005, "99.5% CI")):
        table = estimates_table(
            estimate(log, PI_E, estimators=("ips",), n_bootstrap=20, alpha=alpha), alpha=alpha
        )
        first = table.splitlines()[0]
        assert header in first and first.count("CI") == 1, first
    with pytest.raises(ConfigError, match=r"alpha must lie in \(0, 1\), got 1.5"):
        estimates_table({}, alpha=1.5)


def test_reward_model_cross_fitting_recovers_the_rates() -> None:
    log = _uniform_log(2000)
    q = fit_reward_model(log, n_folds=2, seed=0, c=1.0)
    assert q.shape == (2000, 5, 1)
    np.testing.assert_allclose(q[:, :, 0].mean(axis=0), RATES, atol=0.05)


@pytest.mark.parametrize(
    ("pscore", "reward", "message"),
    [
        (np.nan, 1.0, "row 2: missing propensity"),
        (0.0, 1.0, "row 2: zero propensity"),
        (1.5, 1.0, r"row 2: propensity outside \(0, 1\]"),
        (0.5, 3.0, r"row 2: reward outside the declared range \[0.0, 1.0\]"),
    ],
)
def test_bad_logs_are_rejected_naming_the_row(pscore: float, reward: float, message: str) -> None:
    p = np.array([0.5, 0.5, pscore])
    r = np.array([0.0, 1.0, reward])
    with pytest.raises(DataError, match=message):
        BanditLog(np.array([0, 1, 1]), r, p, np.zeros(3, np.int64), 2, 1)


def test_read_log_names_the_file_line(tmp_path: Path) -> None:
    good = tmp_path / "log.csv"
    good.write_text("item,click,propensity,position\n0,1,0.5,1\n1,0,0.5,2\n")
    log = read_log(good, position_base=1)
    assert log.position.tolist() == [0, 1] and log.len_list == 2 and log.n_actions == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("item,click,propensity\n0,1,0.5\n1,0,\n1,0,0.2\n")
    with pytest.raises(DataError, match=r"bad.csv:3: missing propensity"):
        read_log(bad)
    jl = tmp_path / "log.jsonl"
    jl.write_text('{"action": 0, "reward": 1, "pscore": 0.5}\n{"action": 1, "reward": 0, "pscore": 0}\n')
    with pytest.raises(DataError, match=r"log.jsonl:2: zero propensity"):
        read_log(jl)
    with pytest.raises(DataError, match="no pscore column"):
        (tmp_path / "x.csv").write_text("item,click\n0,1\n")
        read_log(tmp_path / "x.csv")


def test_cli_ope_on_a_log_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from explorec.cli import main

    log = _uniform_log(3000)
    path = tmp_path / "log.csv"
    rows = ["action,reward,propensity"] + [
        f"{a},{r:.0f},0.2" for a, r in zip(log.action, log.reward, strict=True)
    ]
    path.write_text("\n".join(rows) + "\n")
    out = tmp_path / "ope.json"
    argv = ["ope", "--log", str(path), "--policy", "greedy", "--bootstrap", "50", "--alpha", "0.2"]
    rc = main([*argv, "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "ips" in text and "dr" in text
    assert "80% CI" in text and "95% CI" not in text
    payload = json.loads(out.read_text())
    assert payload["alpha"] == 0.2
    # greedy on the smoothed rates of one half of the log shows action 2 (rate 0.6); the estimate
    # comes from the other 1,500 rows (IPS standard error about 0.042)
    assert payload["rows_evaluated"] == 1500 and "other half" in payload["scores"]
    assert payload["estimates"]["ips"]["value"] == pytest.approx(0.6, abs=0.12)
    assert payload["truth"] is None


def test_cli_ope_flags_scores_fitted_to_the_evaluated_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # regression: greedy's default scores came from the log it evaluated, without a word
    from explorec.cli import main

    path = tmp_path / "log.csv"
    path.write_text(
        "action,reward,propensity\n" + "".join(f"{a % 4},{int(a % 7 == 0)},0.25\n" for a in range(80))
    )
    args = ["ope", "--log", str(path), "--policy", "greedy", "--bootstrap", "20", "--estimators", "ips"]
    assert main([*args, "--score-fit", "in-sample"]) == 0
    assert (
        "scores: WARNING: smoothed reward rates fitted to the evaluated log itself" in capsys.readouterr().out
    )
    assert main(args) == 0
    assert "estimated on the other half (40 rows)" in capsys.readouterr().out


def test_cli_ope_rejects_a_bad_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from explorec.cli import main

    path = tmp_path / "log.csv"
    path.write_text("action,reward,propensity\n0,1,0.2\n1,0,0\n")
    assert main(["ope", "--log", str(path), "--policy", "uniform"]) == 2
    assert "log.csv:3: zero propensity" in capsys.readouterr().err
