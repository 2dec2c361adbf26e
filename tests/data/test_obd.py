"""The Open Bandit Dataset loader on the real small sample (read in place) and on broken copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from explorec.data.obd import ZOZOTOWN_BTS_PRIOR, load_obd
from explorec.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def obd_root(datasets_dir: Path) -> Path:
    return datasets_dir / "open-bandit-dataset-small"


def test_counts_of_the_small_sample(obd_root: Path) -> None:
    log = load_obd(obd_root, behavior_policy="random", campaign="all")
    assert len(log) == 10_000
    assert log.n_items == 80 and np.unique(log.item).size == 80
    assert log.len_list == 3 and set(np.unique(log.position)) == {0, 1, 2}
    assert int(log.click.sum()) == 38
    np.testing.assert_allclose(log.propensity, 1 / 80)  # uniform logging, per position
    assert log.lines[0] == 2 and log.lines[-1] == 10_001
    assert log.user_context.shape[0] == 10_000 and log.affinity.shape == (10_000, 80)
    bts = load_obd(obd_root, behavior_policy="bts", campaign="men")
    assert len(bts) == 10_000 and bts.n_items == 34 and int(bts.click.sum()) == 69
    assert len(ZOZOTOWN_BTS_PRIOR["men"]["alpha"]) == 34


def _write(folder: Path, rows: list[str]) -> Path:
    camp = folder / "random" / "all"
    camp.mkdir(parents=True, exist_ok=True)
    (camp / "item_context.csv").write_text(",item_id,item_feature_0,item_feature_1\n0,0,0.5,a\n1,1,-0.5,b\n")
    head = ",timestamp,item_id,position,click,propensity_score,user_feature_0"
    (camp / "all.csv").write_text("\n".join([head, *rows]) + "\n")
    return folder


def test_bad_rows_name_the_file_line(tmp_path: Path) -> None:
    ok = "0,2019-11-24 00:00:00,1,1,0,0.5,x"
    _write(tmp_path / "a", [ok, "1,2019-11-24 00:00:01,1,2,0,0,x"])
    with pytest.raises(DataError, match=r"all.csv:3: propensity_score is 0.0"):
        load_obd(tmp_path / "a")
    _write(tmp_path / "b", [ok, "1,t,1,2,0,,x"])
    with pytest.raises(DataError, match=r"all.csv:3: propensity_score is missing"):
        load_obd(tmp_path / "b")
    _write(tmp_path / "c", [ok, ok, "2,t,5,1,0,0.5,x"])
    with pytest.raises(DataError, match=r"all.csv:4: item_id 5 outside 0..1"):
        load_obd(tmp_path / "c")
    _write(tmp_path / "d", [ok, "1,t,1,1,2,0.5,x"])
    with pytest.raises(DataError, match=r"all.csv:3: click is 2.0"):
        load_obd(tmp_path / "d")
    log = load_obd(_write(tmp_path / "e", [ok, ok]))
    assert len(log) == 2 and log.item_context.shape == (2, 3)


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="campaign"):
        load_obd(tmp_path, campaign="kids")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_obd(tmp_path)
