"""Loader for the Open Bandit Dataset (Saito, Aihara, Matsutani & Narita, NeurIPS 2021 D&B).

Logged impressions from the ZOZOTOWN fashion-recommendation widget with three slots. Two logging
policies (``random``: uniform; ``bts``: Bernoulli Thompson sampling) ran as an A/B test on three
campaigns (``all``, ``men``, ``women``). Folder layout (the small sample shipped with the ``obp``
package)::

    <root>/<behavior_policy>/<campaign>/<campaign>.csv
    <root>/<behavior_policy>/<campaign>/item_context.csv

Each CSV row is one impression: an unnamed index column, ``timestamp``, ``item_id``, ``position``
(1-3), ``click``, ``propensity_score`` (the logging policy's probability of that item at that
position), four hashed categorical ``user_feature_*`` columns and ``user-item_affinity_*`` columns.
``item_context.csv`` holds ``item_feature_0`` (numeric) and three hashed categoricals.

Rows are kept in file order (the files are already sorted by time) and nothing is dropped: a row
that does not fit raises ``DataError`` naming the file and its 1-based line (the header is line 1).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from explorec.errors import DataError, check_choice

logger = logging.getLogger(__name__)

BEHAVIOR_POLICIES = ("random", "bts")
CAMPAIGNS = ("all", "men", "women")
_REQUIRED = ("timestamp", "item_id", "position", "click", "propensity_score")


@dataclass(frozen=True, eq=False)
class OBDLog:
    """One (behaviour policy, campaign) log of the Open Bandit Dataset.

    Attributes
    ----------
    behavior_policy, campaign : str
    path : Path
        The CSV file read.
    timestamp : object[n]
        Impression times as written in the file (ISO strings).
    item : int64[n]
        Item (action) index, ``0..n_items-1``.
    position : int64[n]
        0-based slot (the file's 1, 2, 3 become 0, 1, 2).
    click : float64[n]
        Reward, 0 or 1.
    propensity : float64[n]
        The logging policy's ``P(item at position | context)``.
    user_features : object[n, 4]
        Hashed categorical user features.
    user_context : float64[n, d]
        One-hot encoding of ``user_features`` (one column per observed level).
    affinity : float32[n, n_affinity]
        ``user-item_affinity_*`` columns.
    item_context : float64[n_items, d_item]
        ``item_feature_0`` followed by one-hot encodings of the categorical item features.
    lines : int64[n]
        1-based line of each row in ``path``.
    """

    behavior_policy: str
    campaign: str
    path: Path
    timestamp: npt.NDArray[np.object_]
    item: npt.NDArray[np.int64]
    position: npt.NDArray[np.int64]
    click: npt.NDArray[np.float64]
    propensity: npt.NDArray[np.float64]
    user_features: npt.NDArray[np.object_]
    user_context: npt.NDArray[np.float64]
    affinity: npt.NDArray[np.float32]
    item_context: npt.NDArray[np.float64]
    lines: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.item.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.item_context.shape[0])

    @property
    def len_list(self) -> int:
        return int(self.position.max()) + 1 if len(self) else 0

    @property
    def context(self) -> npt.NDArray[np.float64]:
        """User context for reward models: one-hot user features (as ``obp``'s default features)."""
        return self.user_context

    def click_rate(self) -> float:
        """On-policy value of the logging policy: the mean click of its own log."""
        return float(self.click.mean())

    def __repr__(self) -> str:
        return (
            f"OBDLog({self.behavior_policy}/{self.campaign}, n={len(self)}, n_items={self.n_items}, "
            f"len_list={self.len_list}, clicks={int(self.click.sum())})"
        )


def load_obd(root: str | Path, *, behavior_policy: str = "random", campaign: str = "all") -> OBDLog:
    """Read one log of the Open Bandit Dataset.

    Parameters
    ----------
    root : path
        The folder holding ``random/`` and ``bts/`` (e.g. ``<datasets>/open-bandit-dataset-small``).
    behavior_policy : {"random", "bts"}
    campaign : {"all", "men", "women"}

    Raises
    ------
    ConfigError
        Unknown behaviour policy or campaign.
    FileNotFoundError
        The folder or a file is missing.
    DataError
        A row does not fit (names the file and 1-based line).
    """
    import pandas as pd

    check_choice("behavior_policy", behavior_policy, BEHAVIOR_POLICIES)
    check_choice("campaign", campaign, CAMPAIGNS)
    folder = Path(root) / behavior_policy / campaign
    log_path = folder / f"{campaign}.csv"
    item_path = folder / "item_context.csv"
    for p in (log_path, item_path):
        if not p.is_file():
            raise FileNotFoundError(f"{p}: not found (expected the Open Bandit Dataset layout under {root})")

    items = pd.read_csv(item_path, index_col=0)
    if "item_id" not in items.columns:
        raise DataError(f"{item_path}: no 'item_id' column")
    n_items = len(items)
    ids = items["item_id"].to_numpy()
    if not np.array_equal(np.sort(ids), np.arange(n_items)):
        raise DataError(f"{item_path}: item_id must be 0..{n_items - 1}, each once")
    items = items.set_index("item_id").sort_index()
    item_context = _item_context(items, item_path)

    df = pd.read_csv(log_path, index_col=0)
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise DataError(f"{log_path}: missing column(s) {missing}; found {list(df.columns)[:8]}...")
    lines = np.arange(len(df), dtype=np.int64) + 2  # header is line 1

    item = _int_column(df, "item_id", log_path, lines)
    bad = (item < 0) | (item >= n_items)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise DataError(f"{log_path}:{lines[j]}: item_id {item[j]} outside 0..{n_items - 1}")
    position = _int_column(df, "position", log_path, lines)
    if (position < 1).any():
        j = int(np.flatnonzero(position < 1)[0])
        raise DataError(f"{log_path}:{lines[j]}: position {position[j]} < 1 (1-based in the file)")
    click = _float_column(df, "click", log_path, lines)
    bad = ~np.isin(click, (0.0, 1.0))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise DataError(f"{log_path}:{lines[j]}: click is {click[j]}, expected 0 or 1")
    propensity = _float_column(df, "propensity_score", log_path, lines)
    bad = ~((propensity > 0) & (propensity <= 1))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise DataError(f"{log_path}:{lines[j]}: propensity_score is {propensity[j]}, must lie in (0, 1]")

    user_cols = [c for c in df.columns if c.startswith("user_feature")]
    aff_cols = [c for c in df.columns if c.startswith("user-item_affinity")]
    user_features = df[user_cols].astype(str).to_numpy(dtype=object)
    user_context = pd.get_dummies(df[user_cols].astype(str), dtype=np.float64).to_numpy()
    affinity = df[aff_cols].to_numpy(dtype=np.float32) if aff_cols else np.zeros((len(df), 0), np.float32)
    log = OBDLog(
        behavior_policy,
        campaign,
        log_path,
        df["timestamp"].astype(str).to_numpy(dtype=object),
        item,
        position - 1,
        click,
        propensity,
        user_features,
        user_context,
        affinity,
        item_context,
        lines,
    )
    logger.info("loaded %r from %s", log, log_path)
    return log


def _int_column(df: object, name: str, path: Path, lines: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    values = _float_column(df, name, path, lines)
    frac = values != np.round(values)
    if frac.any():
        j = int(np.flatnonzero(frac)[0])
        raise DataError(f"{path}:{lines[j]}: {name} is {values[j]}, expected an integer")
    return values.astype(np.int64)


def _float_column(df: object, name: str, path: Path, lines: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    import pandas as pd

    assert isinstance(df, pd.DataFrame)
    values = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}:{lines[j]}: {name} is missing or not a number ({df[name].iloc[j]!r})")
    return values


def _item_context(items: object, path: Path) -> npt.NDArray[np.float64]:
    import pandas as pd

    assert isinstance(items, pd.DataFrame)
    numeric = [c for c in items.columns if pd.api.types.is_numeric_dtype(items[c])]
    categorical = [c for c in items.columns if c not in numeric]
    parts = [items[numeric].to_numpy(dtype=np.float64)]
    if categorical:
        parts.append(pd.get_dummies(items[categorical].astype(str), dtype=np.float64).to_numpy())
    out = np.concatenate(parts, axis=1)
    if not np.all(np.isfinite(out)):
        raise DataError(f"{path}: an item feature is missing or not a number")
    return out


#: Prior Beta(alpha, beta) parameters of the Bernoulli Thompson sampling policy that ZOZOTOWN ran in
#: production when the dataset was collected, per campaign and item index. Data published by the
#: dataset's authors in the ``obp`` package (``obp/policy/conf/prior_bts.yaml``, Apache-2.0); with
#: them the ``bts`` logging policy's action distribution can be reproduced by simulation.
# fmt: off
ZOZOTOWN_BTS_PRIOR: dict[str, dict[str, tuple[float, ...]]] = {
    "all": {
        "alpha": (
            47, 8, 62, 142, 3, 14, 7, 857, 12, 15, 6, 100, 48, 23, 71, 61, 13, 16, 518, 30,
            7, 4, 23, 8, 10, 11, 11, 18, 121, 11, 11, 10, 14, 9, 204, 58, 3, 19, 42, 1013,
            2, 328, 15, 31, 14, 138, 45, 55, 23, 38, 10, 401, 52, 6, 3, 6, 5, 32, 35, 133,
            52, 820, 43, 195, 8, 42, 40, 4, 32, 30, 9, 22, 6, 23, 5, 54, 8, 22, 65, 246,
        ),
        "beta": (
            12198, 3566, 15993, 35522, 2367, 4609, 3171, 181745, 4372, 4951, 3100, 24665, 13210, 7061,
            18061, 17449, 5644, 6787, 111326, 8776, 3334, 2271, 7389, 2659, 3665, 4724, 3561, 5085,
            27407, 4601, 4756, 4120, 4736, 3788, 45292, 14719, 2189, 5589, 11995, 222255, 2308, 70034,
            4801, 8274, 5421, 31912, 12213, 13576, 6230, 10382, 4141, 85731, 12811, 2707, 2250, 2668,
            2886, 9581, 9465, 28336, 12062, 162793, 12107, 41240, 3162, 11604, 10818, 2923, 8897, 8654,
            4000, 6580, 3174, 6766, 2602, 14506, 3968, 7523, 16532, 51964,
        ),
    },
    "men": {
        "alpha": (
            47, 8, 62, 142, 3, 6, 100, 48, 23, 71, 61, 13, 16, 518, 30, 7, 4, 23, 8, 10,
            11, 11, 18, 121, 11, 4, 32, 30, 9, 22, 6, 23, 5, 54,
        ),
        "beta": (
            12198, 3566, 15993, 35522, 2367, 3100, 24665, 13210, 7061, 18061, 17449, 5644, 6787, 111326,
            8776, 3334, 2271, 7389, 2659, 3665, 4724, 3561, 5085, 27407, 4601, 2923, 8897, 8654, 4000,
            6580, 3174, 6766, 2602, 14506,
        ),
    },
    "women": {
        "alpha": (
            12, 7, 984, 13, 15, 15, 11, 14, 9, 200, 72, 3, 14, 49, 1278, 3, 325, 14, 27, 14,
            169, 48, 47, 18, 40, 12, 447, 46, 5, 3, 5, 7, 35, 34, 99, 30, 880, 51, 182, 6,
            45, 39, 10, 24, 72, 229,
        ),
        "beta": (
            3612, 3173, 204484, 4517, 4765, 5331, 4131, 4728, 4028, 44280, 17918, 2309, 4339, 12922,
            270771, 2480, 68475, 5129, 7367, 5819, 38026, 13047, 11604, 5394, 10912, 4439, 94485, 10700,
            2679, 2319, 2578, 3288, 9566, 9775, 20120, 7317, 172026, 13673, 37329, 3365, 10911, 10734,
            4278, 7574, 16826, 47462,
        ),
    },
}
# fmt: on
