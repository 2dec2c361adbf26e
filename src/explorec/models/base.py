"""The base of every recommender: ``fit`` / ``score`` / ``save`` / ``load``.

Template method (as in river): the public methods validate input and keep the books; subclasses
fill in ``_fit``, ``_score`` and, when their learned state is not plain arrays, ``_get_state`` /
``_set_state``. Hyper-parameters are keyword-only constructor arguments stored unchanged under the
same name (as in scikit-learn); learned state ends in ``_`` and is set only in ``fit``.

Saving writes a version folder with ``config.json`` (registry name, hyper-parameters, vocabulary
sizes), ``state.npz`` (arrays) and ``train.npz``, never a pickle, atomically and sealed by a manifest
(:mod:`explorec.persist`); loading builds only registered models.
"""

from __future__ import annotations

import inspect
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from explorec.data.interactions import Catalog, Interactions
from explorec.errors import DataError, NotFittedError, check_indices

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2
#: saves before versioned folders: read (registry-only, unverified), never written
LEGACY_FORMAT_VERSION = 1
CONFIG = "config.json"
STATE = "state.npz"
TRAIN = "train.npz"


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
    #: True when a user the model was not fitted on can be scored from a ``history`` that has them
    #: (no per-user parameters); ``score`` then accepts users up to ``history.n_users``
    folds_in_new_users: ClassVar[bool] = True

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
            The users' known interactions (defaults to the training data). It may extend the user
            vocabulary with new users (cold start), whom models with ``folds_in_new_users`` score.

        Returns
        -------
        float32[B, m]
            Higher is better. Seen items are *not* masked here; the pipeline and the evaluation do it.
        """
        self._check_fitted()
        hist = self.train_ if history is None else history
        n_users = max(self.n_users_, hist.n_users) if self.folds_in_new_users else self.n_users_
        u = check_indices("users", users, n_users)
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

    def check_fitted(self) -> None:
        """Raise ``NotFittedError`` unless ``fit`` (or ``load``) has run."""
        self._check_fitted()

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
            # only learned-state names: a saved file must not be able to overwrite anything else
            if not (k.isidentifier() and k.endswith("_") and not k.startswith("_")):
                raise DataError(f"state array {k!r} is not a learned-state name (ending in '_')")
            setattr(self, k, v)

    def save(
        self,
        path: str | Path,
        *,
        metadata: Mapping[str, Any] | None = None,
        catalog: Catalog | None = None,
        seen: Interactions | None = None,
        item_vectors: npt.NDArray[np.float32] | None = None,
        keep: int = 2,
    ) -> Path:
        """Save atomically as a new version of the folder ``path`` (see :mod:`explorec.persist`).

        Parameters
        ----------
        path : path
            Folder of versions; a reader of it sees the previous complete version or this one.
        metadata : mapping, optional
            JSON-able description of how the model was made (dataset, split, preprocessing,
            metrics), written as ``run.json`` inside the same version.
        catalog : Catalog, optional
            Item titles and fields, so that the saved model can recommend without the dataset.
        seen : Interactions, optional
            Every interaction known per user (over the model's vocabularies), masked by ``recommend``.
        item_vectors : float32[n_items, dim], optional
            Item vectors for re-rankers and policies.
        keep : int
            Complete versions kept in ``path`` after this one becomes current (this one included).

        Returns
        -------
        Path
            The new version folder (``path/v-.../``).
        """
        from explorec.models.saved import write_bundle
        from explorec.persist import save_version

        self._check_fitted()

        def write(folder: Path) -> None:
            self.write_files(folder)
            write_bundle(
                folder, self, metadata=metadata, catalog=catalog, seen=seen, item_vectors=item_vectors
            )

        return save_version(path, write, kind="model", keep=keep)

    def write_files(self, folder: Path) -> None:
        """Write ``config.json``, ``state.npz``, ``train.npz`` and the extras into ``folder`` (not atomic).

        ``save`` calls it inside a temporary version; composite models call it for their parts.
        """
        folder.mkdir(parents=True, exist_ok=True)
        config = {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "params": self.get_params(),
            "n_users": self.n_users_,
            "n_items": self.n_items_,
        }
        (folder / CONFIG).write_text(json.dumps(config, indent=2, default=_json_default))
        np.savez(folder / STATE, allow_pickle=False, **self._get_state())
        save_interactions(self.train_, folder / TRAIN)
        self._save_extra(folder)

    def _save_extra(self, path: Path) -> None:
        """Hook for state that is not a numpy array (e.g. a torch ``state_dict``)."""

    def _load_extra(self, path: Path) -> None:
        """Counterpart of ``_save_extra``."""

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Load the current version of a folder written by ``save`` (or one version folder).

        The manifest is checked first (every file present, unchanged and listed), then the model is
        built from its registry name with parameters checked against its signature: a saved folder
        never names code to run. Any problem raises ``DataError`` naming the file.
        """
        version, _ = open_saved_folder(path)
        model = Recommender.read_files(version)
        if cls is not Recommender and not isinstance(model, cls):
            raise DataError(f"{version / CONFIG}: holds a {type(model).__name__}, not a {cls.__name__}")
        return model

    @staticmethod
    def read_files(folder: Path) -> Recommender:
        """Build a model from the files ``write_files`` wrote (the caller has verified the folder)."""
        from explorec.persist import build, read_json_object, read_npz

        cfg_path = folder / CONFIG
        config = read_json_object(cfg_path)
        if config.get("format_version") == LEGACY_FORMAT_VERSION:
            config = _upgrade_legacy_config(config, cfg_path)
        model = build("model", config, cfg_path)  # refuses import paths and unregistered names first
        if config.get("format_version") != FORMAT_VERSION:
            raise DataError(
                f"{cfg_path}: format_version {config.get('format_version')!r}, expected {FORMAT_VERSION}"
            )
        if not isinstance(model, Recommender):
            raise DataError(f"{cfg_path}: {config.get('name')!r} is not a recommender")
        sizes = {}
        for key in ("n_users", "n_items"):
            value = config.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise DataError(f"{cfg_path}: {key!r} must be a non-negative integer, got {value!r}")
            sizes[key] = value
        train = load_interactions(folder / TRAIN)
        if (train.n_users, train.n_items) != (sizes["n_users"], sizes["n_items"]):
            raise DataError(
                f"{folder / TRAIN}: {train.n_users} users x {train.n_items} items, but {cfg_path} "
                f"says {sizes['n_users']} x {sizes['n_items']}"
            )
        model.train_ = train
        model.n_users_ = sizes["n_users"]
        model.n_items_ = sizes["n_items"]
        state = read_npz(folder / STATE)
        try:
            model._set_state(state)
        except (KeyError, ValueError, TypeError) as exc:
            raise DataError(f"{folder / STATE}: does not fit a {type(model).__name__}: {exc}") from None
        model._load_extra(folder)
        return model


def open_saved_folder(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """The verified version folder ``path`` denotes, and its manifest.

    A folder in the layout before versions (format 1: ``config.json`` with ``format_version`` 1 and
    no manifest) is accepted with a warning and an empty manifest: its files cannot be verified, but
    it is still built only from the model registry.
    """
    from explorec.persist import CURRENT, MANIFEST, read_json_object, resolve_version, verify_manifest

    root = Path(path)
    if not (root / MANIFEST).is_file() and not (root / CURRENT).is_file() and (root / CONFIG).is_file():
        try:
            legacy = read_json_object(root / CONFIG).get("format_version") == LEGACY_FORMAT_VERSION
        except DataError:
            legacy = False
        if legacy:
            logger.warning("%s: a model saved before format %d, without a manifest; its files are "
                           "not verified: save it again", root, FORMAT_VERSION)  # fmt: skip
            return root, {"files": {}, "digest": "", "legacy": True}
    version = resolve_version(root)
    return version, verify_manifest(version)


def _upgrade_legacy_config(config: dict[str, Any], where: Path) -> dict[str, Any]:
    """A format-1 config as format 2: its ``class`` must be exactly the registered class of its ``name``
    (compared as text, never imported)."""
    from explorec.models.registry import MODELS, model_class

    name = config.get("name")
    if not isinstance(name, str) or name not in MODELS:
        raise DataError(f"{where}: 'name' = {name!r} is not a registered model; known: {sorted(MODELS)}")
    klass = model_class(name)
    expected = f"{klass.__module__}.{klass.__qualname__}"
    if config.get("class") != expected:
        raise DataError(
            f"{where}: 'class' = {config.get('class')!r} is not the registered class of {name!r} ({expected})"
        )
    upgraded = {k: v for k, v in config.items() if k != "class"}
    upgraded["format_version"] = FORMAT_VERSION
    return upgraded


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
    """Read what ``save_interactions`` wrote; a corrupt or incomplete file raises ``DataError`` naming it."""
    from explorec.persist import read_npz

    z = read_npz(path)
    try:
        return Interactions(
            z["user"].astype(np.int64, copy=False),
            z["item"].astype(np.int64, copy=False),
            z["timestamp"].astype(np.float64, copy=False),
            z["weight"].astype(np.float32, copy=False),
            z["user_ids"].astype(object),
            z["item_ids"].astype(object),
            z["rating"] if "rating" in z else None,
            bool(z["has_timestamps"]),
        )
    except KeyError as exc:
        raise DataError(f"{path}: array {exc} missing; the file is not saved interactions") from None
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
