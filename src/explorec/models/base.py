"""The base of every recommender: ``fit`` / ``score`` / ``save`` / ``load``.

Template method (as in river): the public methods validate input and keep the books; subclasses
fill in ``_fit``, ``_score`` and, when their learned state is not plain arrays, ``_get_state`` /
``_set_state``. Hyper-parameters are keyword-only constructor arguments stored unchanged under the
same name (as in scikit-learn); learned state ends in ``_`` and is set only in ``fit``.

Saving writes a directory with ``config.json`` (class, hyper-parameters, vocabulary sizes) and
``state.npz`` (arrays), never a pickle.
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from explorec.data.interactions import Catalog, Interactions
from explorec.errors import DataError, NotFittedError, check_indices

FORMAT_VERSION = 1


class Recommender(ABC):
    """Scores every item for a batch of users.

    Subclasses implement ``_fit(train, catalog)`` and ``_score(users, history) -> float32[B, n_items]``.

    ``score(users, history=...)`` lets a model read a user's interactions from ``history`` instead of
    the training data (fold-in): item-based, text and sequential models use it, so that a test user's
    validation item counts as history without refitting. Models with per-user parameters ignore it.
    """

    #: name in the model registry
    name: ClassVar[str] = ""
    #: True when ``_score`` can use a ``history`` other than the training data
    uses_history: ClassVar[bool] = True
    #: True when items never seen in training get meaningful scores (from their text)
    scores_cold_items: ClassVar[bool] = False

    train_: Interactions
    n_users_: int
    n_items_: int

    @classmethod
    def contract_params(cls) -> dict[str, Any]:
        """Hyper-parameters that keep the shared contract tests fast (few epochs, small dims)."""
        return {}

    # ------------------------------------------------------------------ parameters
    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters as passed to the constructor."""
        sig = inspect.signature(type(self).__init__)
        return {
            p: getattr(self, p)
            for p in sig.parameters
            if p != "self" and sig.parameters[p].kind is inspect.Parameter.KEYWORD_ONLY
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ fit / score
    def fit(self, train: Interactions, catalog: Catalog | None = None) -> Self:
        """Learn from ``train`` (and the item text of ``catalog`` where the model uses it)."""
        if len(train) == 0:
            raise DataError(f"{type(self).__name__}.fit: the training interactions are empty")
        if catalog is not None and catalog.n_items != train.n_items:
            raise DataError(
                f"{type(self).__name__}.fit: catalog has {catalog.n_items} items, "
                f"interactions {train.n_items}"
            )
        self.train_ = train
        self.n_users_ = train.n_users
        self.n_items_ = train.n_items
        self._fit(train, catalog)
        return self

    def score(
        self,
        users: npt.ArrayLike,
        items: npt.ArrayLike | None = None,
        *,
        history: Interactions | None = None,
    ) -> npt.NDArray[np.float32]:
        """Scores of ``items`` (all items when None) for each user.

        Parameters
        ----------
        users : int[B]
            Internal user indices.
        items : int[m], optional
            Internal item indices to score; all ``n_items`` when None.
        history : Interactions, optional
            The users' known interactions (defaults to the training data).

        Returns
        -------
        float32[B, m]
            Higher is better. Seen items are *not* masked here; the pipeline and the evaluation do it.
        """
        self._check_fitted()
        u = check_indices("users", users, self.n_users_)
        hist = self.train_ if history is None else history
        if hist.n_items != self.n_items_:
            raise DataError(f"history has {hist.n_items} items, the model was fitted on {self.n_items_}")
        scores = np.asarray(self._score(u, hist), dtype=np.float32)
        if items is None:
            return scores
        it = check_indices("items", items, self.n_items_)
        return scores[:, it]

    @abstractmethod
    def _fit(self, train: Interactions, catalog: Catalog | None) -> None: ...

    @abstractmethod
    def _score(self, users: npt.NDArray[np.int64], history: Interactions) -> npt.NDArray[np.float32]: ...

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_items_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() first")

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> dict[str, np.ndarray]:
        """Learned arrays to save (default: every public attribute ending in ``_`` that is an array)."""
        return {
            k: v
            for k, v in vars(self).items()
            if k.endswith("_") and not k.startswith("_") and isinstance(v, np.ndarray)
        }

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        for k, v in state.items():
            setattr(self, k, v)

    def save(self, path: str | Path) -> Path:
        """Write ``config.json`` and ``state.npz`` (plus the training interactions) into ``path``."""
        self._check_fitted()
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        config = {
            "format_version": FORMAT_VERSION,
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "name": self.name,
            "params": self.get_params(),
            "n_users": self.n_users_,
            "n_items": self.n_items_,
        }
        (out / "config.json").write_text(json.dumps(config, indent=2, default=_json_default))
        np.savez(out / "state.npz", allow_pickle=False, **self._get_state())
        save_interactions(self.train_, out / "train.npz")
        self._save_extra(out)
        return out

    def _save_extra(self, path: Path) -> None:
        """Hook for state that is not a numpy array (e.g. a torch ``state_dict``)."""

    def _load_extra(self, path: Path) -> None:
        """Counterpart of ``_save_extra``."""

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Load a model written by ``save``; the class is read from ``config.json``."""
        src = Path(path)
        cfg_path = src / "config.json"
        if not cfg_path.is_file():
            raise FileNotFoundError(f"{cfg_path}: no saved model here (expected config.json and state.npz)")
        config = json.loads(cfg_path.read_text())
        if config.get("format_version") != FORMAT_VERSION:
            raise DataError(
                f"{cfg_path}: format_version {config.get('format_version')!r}, expected {FORMAT_VERSION}"
            )
        from explorec.models.registry import resolve_class

        klass = resolve_class(config["class"])
        if cls is not Recommender and not issubclass(klass, cls):
            raise DataError(f"{cfg_path}: holds a {klass.__name__}, not a {cls.__name__}")
        model = klass(**config["params"])
        model.train_ = load_interactions(src / "train.npz")
        model.n_users_ = int(config["n_users"])
        model.n_items_ = int(config["n_items"])
        with np.load(src / "state.npz", allow_pickle=False) as z:
            model._set_state({k: z[k] for k in z.files})
        model._load_extra(src)
        return model


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in config.json")


def save_interactions(data: Interactions, path: str | Path) -> None:
    """Write interactions and their vocabularies to ``.npz`` (strings as unicode arrays, no pickle)."""
    arrays: dict[str, np.ndarray] = {
        "user": data.user,
        "item": data.item,
        "timestamp": data.timestamp,
        "weight": data.weight,
        "user_ids": data.user_ids.astype(str),
        "item_ids": data.item_ids.astype(str),
        "has_timestamps": np.array(data.has_timestamps),
    }
    if data.rating is not None:
        arrays["rating"] = data.rating
    np.savez_compressed(path, allow_pickle=False, **arrays)


def load_interactions(path: str | Path) -> Interactions:
    """Read what ``save_interactions`` wrote."""
    with np.load(path, allow_pickle=False) as z:
        return Interactions(
            z["user"],
            z["item"],
            z["timestamp"],
            z["weight"],
            z["user_ids"].astype(object),
            z["item_ids"].astype(object),
            z["rating"] if "rating" in z.files else None,
            bool(z["has_timestamps"]),
        )
