"""``TorchRecommender``: a ``Recommender`` whose learned state is a torch ``state_dict``.

A subclass fills in five small hooks and inherits training, scoring, persistence and uncertainty:

=========================================  ==========================================================
``_module_config(train, catalog)``          JSON-able dict that fully describes the architecture
                                            (sizes derived from hyper-parameters and from the data,
                                            e.g. ``n_items``, ``text_dim``)
``_build_module(config)``                   a fresh ``nn.Module`` from that dict (buffers may be zero)
``_initialise(module, train, catalog)``     optional: fill data-derived buffers (e.g. frozen LM item
                                            vectors) before training
``_batches(train, catalog)``                a batch source for ``Trainer.fit``:
                                            ``batches(epoch, rng) -> Iterable[batch]`` or a Dataset
``_loss(module, batch)``                    scalar loss tensor or ``{"loss": total, **parts}``
``_forward_scores(module, users, history)`` ``float[B, n_items]`` tensor for a batch of users
=========================================  ==========================================================

Training hyper-parameters read from the instance (the subclass's ``__init__`` declares and stores them,
so that ``get_params`` sees them): ``epochs``, ``batch_size``, ``lr``, ``weight_decay``, ``grad_clip``,
``patience``, ``validate_every``, ``seed``, ``device`` and ``num_threads``, ``progress`` (defaults in
``TRAINING_DEFAULTS``).

Differential privacy: a model that also declares ``dp_epsilon``, ``dp_delta`` and ``dp_max_grad_norm``
and implements ``_dp_examples`` (one example per user: the user's whole contribution) and ``_dp_loss``
(the loss of one example) trains with DP-SGD (``explorec.models.privacy``) whenever ``dp_epsilon`` is
finite; ``privacy_`` then holds the accountant's report, saved in ``module.json``. With
``dp_epsilon=None`` or ``inf`` the ordinary path below runs, unchanged.

``fit(train, catalog, valid=...)`` early-stops on full-ranking NDCG@10 of ``valid`` with ``train`` as the
users' history (as ``explorec.evaluation.evaluate`` ranks, via ``explorec.ranking``), and restores the
best epoch.

Saving adds ``module.pt`` (``torch.save`` of the ``state_dict``, loaded back with
``torch.load(weights_only=True)``: no pickle of arbitrary objects) and ``module.json`` (the
architecture config and the training history) next to the base class's ``config.json``. On load, an
architecture value that disagrees with the hyper-parameters, or a tensor whose shape disagrees with
the config, raises ``ConfigError`` naming both values.
"""

from __future__ import annotations

import json
import logging
import weakref
from abc import abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from explorec.data.interactions import Catalog, Interactions
from explorec.errors import ConfigError, DataError, check_positive_int
from explorec.models.base import Recommender
from explorec.models.privacy import PrivacyReport
from explorec.models.training import (
    BatchFn,
    Trainer,
    TrainHistory,
    resolve_device,
    seeded,
    torch_threads,
)

logger = logging.getLogger(__name__)

#: training hyper-parameters a TorchRecommender reads from itself, with the defaults used when absent
TRAINING_DEFAULTS: dict[str, Any] = {
    "epochs": 50,
    "batch_size": 256,
    "lr": 1e-3,
    "weight_decay": 0.0,
    "grad_clip": 1.0,
    "patience": 5,
    "validate_every": 1,
    "seed": 0,
    "device": "auto",
    "num_threads": None,
    "progress": True,
    # differential privacy (explorec.models.privacy): off unless a finite dp_epsilon is given
    "dp_epsilon": None,
    "dp_delta": None,
    "dp_max_grad_norm": 1.0,
}

#: ``runner(model, batches, valid, valid_history) -> TrainHistory``: trains ``model.module_`` in place
#: instead of ``Trainer.fit`` (``explorec.distributed`` sets one for the duration of a fit)
TrainRunner = Callable[
    ["TorchRecommender", "BatchFn | torch.utils.data.Dataset[Any]", "Interactions | None", "Interactions"],
    TrainHistory,
]

MODULE_WEIGHTS = "module.pt"
MODULE_CONFIG = "module.json"


class TorchRecommender(Recommender):
    """Base of the neural recommenders (see the module docstring for the hooks).

    Attributes
    ----------
    module_ : nn.Module
        The trained network, in ``eval()`` mode, on ``device_``.
    module_config_ : dict
        The architecture config the module was built from (saved in ``module.json``).
    history_ : TrainHistory
        Per-epoch loss, validation metric and seconds.
    privacy_ : PrivacyReport or None
        The accountant's (ε, δ) of a DP run (``dp_epsilon`` finite), else None.
    device_ : torch.device
        Where the module lives.
    """

    #: users scored per forward pass in ``score``
    score_batch_size: ClassVar[int] = 1024
    #: validation metric (a key of ``EvaluationResult.metrics``) used for early stopping
    valid_metric: ClassVar[str] = "ndcg@10"
    #: keys of a (dict) training batch that hold one row per example: under data parallelism
    #: (``explorec.distributed.fit``) each worker takes its share of these rows and the other entries
    #: whole, so N workers step through the same batches as one process; None: workers take whole
    #: batches in turn
    batch_rows: ClassVar[tuple[str, ...] | None] = None

    module_: nn.Module
    module_config_: dict[str, Any]
    history_: TrainHistory
    privacy_: PrivacyReport | None = None
    device_: torch.device

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _module_config(self, train: Interactions, catalog: Catalog | None) -> dict[str, Any]:
        """JSON-able architecture description; keys named like hyper-parameters are checked on load."""

    @abstractmethod
    def _build_module(self, config: dict[str, Any]) -> nn.Module:
        """A freshly initialised module for ``config`` (called inside the seeded context)."""

    def _initialise(self, module: nn.Module, train: Interactions, catalog: Catalog | None) -> None:
        """Fill data-derived buffers before training (default: nothing)."""

    @abstractmethod
    def _batches(
        self, train: Interactions, catalog: Catalog | None
    ) -> BatchFn | torch.utils.data.Dataset[Any]:
        """The batch source handed to ``Trainer.fit``."""

    @abstractmethod
    def _loss(self, module: nn.Module, batch: Any) -> torch.Tensor | dict[str, torch.Tensor]:
        """Training loss of one batch (already on ``device_``)."""

    @abstractmethod
    def _forward_scores(
        self, module: nn.Module, users: npt.NDArray[np.int64], history: Interactions
    ) -> torch.Tensor:
        """``float[B, n_items]`` scores of every item for ``users``; called under ``no_grad``."""

    # ------------------------------------------------------------------ settings
    def _param(self, name: str) -> Any:
        return getattr(self, name, TRAINING_DEFAULTS[name])

    def _trainer(self) -> Trainer:
        """A ``Trainer`` configured from this model's training hyper-parameters."""
        return Trainer(
            epochs=self._param("epochs"),
            lr=self._param("lr"),
            weight_decay=self._param("weight_decay"),
            grad_clip=self._param("grad_clip"),
            patience=self._param("patience"),
            validate_every=self._param("validate_every"),
            batch_size=self._param("batch_size"),
            metric_name=self.valid_metric,
            seed=self._param("seed"),
            device=self.device_.type if self.device_.index is None else f"cuda:{self.device_.index}",
            num_threads=self._param("num_threads"),
            progress=self._param("progress"),
        )

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        train: Interactions,
        catalog: Catalog | None = None,
        *,
        valid: Interactions | None = None,
        valid_history: Interactions | None = None,
    ) -> Self:
        """Train on ``train``; with ``valid``, early-stop on its NDCG@10 and keep the best epoch.

        Parameters
        ----------
        train : Interactions
        catalog : Catalog, optional
            Item text / attributes for models that read them.
        valid : Interactions, optional
            Held-out interactions (e.g. ``split.valid``) scored with full ranking after each epoch.
        valid_history : Interactions, optional
            The validation users' history (default: ``train``).
        """
        if valid is not None and not valid.same_vocabulary(train):
            raise DataError("fit: valid and train use different user/item vocabularies")
        self._valid = valid
        self._valid_history = valid_history
        try:
            return super().fit(train, catalog)
        finally:
            del self._valid, self._valid_history

    def _dp_target(self) -> float | None:
        """The target ε when DP training is asked for (finite ``dp_epsilon``), else None."""
        from explorec.models.privacy import check_dp_params

        return check_dp_params(
            self._param("dp_epsilon"), self._param("dp_delta"), self._param("dp_max_grad_norm")
        )

    def _fit(self, train: Interactions, catalog: Catalog | None) -> None:
        self.device_ = resolve_device(self._param("device"))
        self.privacy_ = None
        target = self._dp_target()
        seed = int(self._param("seed"))
        with torch_threads(self._param("num_threads")), seeded(seed):
            self.module_config_ = self._module_config(train, catalog)
            module = self._build_module(self.module_config_)
            self._initialise(module, train, catalog)
        self.module_ = module.to(self.device_)
        if target is not None:
            self._fit_private(train, catalog, target)
            return
        valid: Interactions | None = getattr(self, "_valid", None)
        given_history: Interactions | None = getattr(self, "_valid_history", None)
        valid_history = train if given_history is None else given_history
        validate: Callable[[], float] | None = None
        if valid is not None and len(valid):
            validate = lambda: self.validation_metric(valid, valid_history)  # noqa: E731
        batches = self._batches(train, catalog)
        # explorec.distributed.fit sets a runner for one fit (Ray Train); without one, the plain Trainer
        runner: TrainRunner | None = getattr(self, "_train_runner", None)
        if runner is None:
            self.history_ = self._trainer().fit(self.module_, batches, self._loss, validate)
        else:
            self.history_ = runner(self, batches, valid, valid_history)
        self.module_.eval()

    def _fit_untrained(self, train: Interactions, catalog: Catalog | None) -> None:
        """Build and initialise the module without training it (``epochs=0``): the model is what its
        :meth:`_initialise` makes of it (the zero-shot text kNN, a transferred head)."""
        self.device_ = resolve_device(self._param("device"))
        self.privacy_ = None
        with torch_threads(self._param("num_threads")), seeded(int(self._param("seed"))):
            self.module_config_ = self._module_config(train, catalog)
            module = self._build_module(self.module_config_)
            self._initialise(module, train, catalog)
        self.module_ = module.to(self.device_).eval()
        self.history_ = TrainHistory()

    def _fit_private(self, train: Interactions, catalog: Catalog | None, target: float) -> None:
        """DP-SGD with one example per user, the planned epochs in full (no early stopping)."""
        from explorec.models.privacy import DPTrainer

        if getattr(self, "_train_runner", None) is not None:
            # DDP would split a Poisson batch across workers that clip and noise on their own, which
            # this accountant does not describe: refuse rather than train single-process unasked
            raise ConfigError(
                f"{type(self).__name__}: dp_epsilon={target:g} trains in one process; the Ray backend "
                "(--backend ray, explorec.distributed.fit) does not support differential privacy"
            )
        if getattr(self, "_valid", None) is not None:
            logger.warning(
                "%s: dp_epsilon=%g: the validation set is not used (early stopping is disabled under "
                "differential privacy: selecting an epoch on held-out data of the same users would spend "
                "privacy the accountant does not count); all %d epochs run and the last weights are kept",
                type(self).__name__,
                target,
                self._param("epochs"),
            )
        examples = self._dp_examples(train, catalog)
        n_users = int(next(iter(examples.values())).shape[0])
        if n_users == 0:
            raise ConfigError(f"{type(self).__name__}.fit: no user has a training example for DP training")
        given = self._param("dp_delta")
        delta = 1.0 / n_users if given is None else float(given)
        trainer = DPTrainer(
            epochs=check_positive_int("epochs", self._param("epochs")),
            batch_size=check_positive_int("batch_size", self._param("batch_size")),
            lr=self._param("lr"),
            weight_decay=self._param("weight_decay"),
            target_epsilon=target,
            delta=delta,
            max_grad_norm=float(self._param("dp_max_grad_norm")),
            seed=int(self._param("seed")),
            device=self.device_,
            num_threads=self._param("num_threads"),
            progress=self._param("progress"),
        )
        self.history_, self.privacy_ = trainer.fit(
            self.module_, examples, self._dp_loss, self._dp_shared(), self._dp_trim()
        )
        self.module_.eval()

    # ------------------------------------------------------------------ DP hooks
    def _dp_examples(self, train: Interactions, catalog: Catalog | None) -> dict[str, torch.Tensor]:
        """One example per user (row ``u`` of every tensor = that user's whole contribution)."""
        raise ConfigError(f"{type(self).__name__} does not support differential privacy (dp_epsilon)")

    def _dp_loss(
        self, module: nn.Module, example: dict[str, torch.Tensor], shared: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """The loss of one user's example (tensors without a batch dimension)."""
        raise ConfigError(f"{type(self).__name__} does not support differential privacy (dp_epsilon)")

    def _dp_shared(self) -> Callable[[np.random.Generator], dict[str, torch.Tensor]] | None:
        """Batch-level inputs drawn each DP step independently of the data (default: none)."""
        return None

    def _dp_trim(self) -> Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None:
        """Shrinks a DP batch without changing any example's loss (default: none)."""
        return None

    def validation_metric(self, valid: Interactions, history: Interactions) -> float:
        """Full-ranking ``valid_metric`` (NDCG@10) of the current weights on ``valid``.

        Ranks as ``explorec.evaluation.evaluate`` does (history masked except the validation pairs)
        through :func:`explorec.ranking.full_ranking_ndcg`, so models do not import the evaluation
        package (which imports models).
        """
        from explorec.ranking import full_ranking_ndcg

        k = int(self.valid_metric.rpartition("@")[2])
        keys = valid.user * np.int64(valid.n_items) + valid.item
        hist_keys = history.user * np.int64(history.n_items) + history.item
        seen = history.select(~np.isin(hist_keys, keys)).to_csr()
        return full_ranking_ndcg(lambda u: self.score(u, history=history), valid.user, valid.item, seen, k)

    # ------------------------------------------------------------------ score
    def _score(self, users: npt.NDArray[np.int64], history: Interactions) -> npt.NDArray[np.float32]:
        was_training = self.module_.training
        self.module_.eval()
        try:
            return self._score_batches(users, history)
        finally:
            self.module_.train(was_training)

    def _score_batches(self, users: npt.NDArray[np.int64], history: Interactions) -> npt.NDArray[np.float32]:
        out = np.empty((users.size, self.n_items_), dtype=np.float32)
        step = self.score_batch_size
        with torch.no_grad(), torch_threads(self._param("num_threads")):
            for start in range(0, users.size, step):
                chunk = users[start : start + step]
                scores = self._forward_scores(self.module_, chunk, history)  # [b, n_items]
                out[start : start + chunk.size] = scores.float().cpu().numpy()
        return out

    def score_uncertainty(
        self,
        users: npt.ArrayLike,
        *,
        history: Interactions | None = None,
        n_samples: int = 20,
        seed: int = 0,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Mean and standard deviation of every item's score under MC dropout.

        Monte-Carlo dropout (Gal & Ghahramani, 2016): the module runs ``n_samples`` times in train
        mode, so each pass drops a different random subset of units; the spread of the scores
        approximates the posterior predictive spread. With ``dropout=0`` the std is zero.

        Parameters
        ----------
        users : int[B]
        history : Interactions, optional
            Users' histories (default: the training data).
        n_samples : int
            Stochastic forward passes.
        seed : int
            Seeds the dropout masks (torch's generator is forked, global state is left alone).

        Returns
        -------
        mean, std : float32[B, n_items]
        """
        self._check_fitted()
        n_samples = check_positive_int("n_samples", n_samples)
        u = np.asarray(users, dtype=np.int64).reshape(-1)
        if u.size and (u.min() < 0 or u.max() >= self.n_users_):
            raise ConfigError(f"users: indices must lie in [0, {self.n_users_})")
        hist = self.train_ if history is None else history
        was_training = self.module_.training
        self.module_.train()
        try:
            with seeded(seed, self.device_):
                draws = np.stack([self._score_batches(u, hist) for _ in range(n_samples)])  # [S, B, n]
        finally:
            self.module_.train(was_training)
        return draws.mean(axis=0).astype(np.float32), draws.std(axis=0).astype(np.float32)

    # ------------------------------------------------------------------ persistence
    def _upgrade_state(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Rename the tensors of a ``module.pt`` written by an older layout (default: unchanged)."""
        return state

    def _save_extra(self, path: Path) -> None:
        quantized = getattr(self, "quantized_", None)  # set by explorec.models.quantize
        if quantized:
            raise ConfigError(
                f"{type(self).__name__} is quantised ({quantized}) for inference and is not saved; "
                "save the float model and quantise it after loading (load_saved(..., quantize='int8'))"
            )
        state = {k: v.detach().cpu() for k, v in self.module_.state_dict().items()}
        torch.save(state, path / MODULE_WEIGHTS)
        meta: dict[str, Any] = {"config": self.module_config_, "history": self.history_.to_dict()}
        privacy = getattr(self, "privacy_", None)
        if privacy is not None:
            meta["privacy"] = privacy.to_dict()
        (path / MODULE_CONFIG).write_text(json.dumps(meta, indent=2))

    def _load_extra(self, path: Path) -> None:
        from explorec.persist import read_json_object

        meta = read_json_object(path / MODULE_CONFIG)
        config = meta.get("config")
        if not isinstance(config, dict):
            raise DataError(f"{path / MODULE_CONFIG}: 'config' must be a JSON object")
        params = self.get_params()
        for key, saved in config.items():
            if key in params and _as_json(params[key]) != saved:
                raise ConfigError(
                    f"{path / MODULE_CONFIG}: {key}={saved!r} in the saved module, "
                    f"but {key}={params[key]!r} in the model's parameters ({path / 'config.json'})"
                )
        if "n_items" in config and int(config["n_items"]) != self.n_items_:
            raise ConfigError(
                f"{path / MODULE_CONFIG}: n_items={config['n_items']} in the saved module, "
                f"but n_items={self.n_items_} in {path / 'config.json'}"
            )
        try:
            device = resolve_device(self._param("device"))
        except ConfigError:
            logger.warning("device %r unavailable; loading %s on CPU", self._param("device"), path)
            device = torch.device("cpu")
        with seeded(int(self._param("seed"))):
            module = self._build_module(config)
        try:
            state = torch.load(path / MODULE_WEIGHTS, map_location="cpu", weights_only=True)
        except Exception as exc:  # garbled weights fail in many ways (zip, unpickler, storage)
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(f"{path / MODULE_WEIGHTS}: not readable torch weights ({reason})") from None
        load_state_checked(module, self._upgrade_state(state), str(path / MODULE_WEIGHTS))
        self.device_ = device
        self.module_config_ = config
        self.module_ = module.to(device).eval()
        self.history_ = TrainHistory.from_dict(meta.get("history", {}))
        privacy = meta.get("privacy")
        self.privacy_ = PrivacyReport.from_dict(privacy) if isinstance(privacy, dict) else None


def load_state_checked(module: nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """``module.load_state_dict(state)`` with ``ConfigError`` naming the tensor and both shapes."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ConfigError(
            f"{where}: tensors missing {missing}, unexpected {unexpected} for this architecture"
        )
    for key, tensor in state.items():
        if tuple(tensor.shape) != tuple(own[key].shape):
            raise ConfigError(
                f"{where}: {key} has shape {tuple(tensor.shape)} in the saved weights, "
                f"but {tuple(own[key].shape)} in the model built from the config"
            )
    module.load_state_dict(state)


def _as_json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: v.item() if isinstance(v, np.generic) else list(v)))


# ---------------------------------------------------------------------- shared sequence helpers
class SequenceCache:
    """Per-user chronological item sequences of an ``Interactions``, computed once per object.

    ``evaluate`` calls ``score`` once per batch of users with the same ``history`` object; sorting
    the history each time would dominate scoring. The cache holds a weak reference, so a new
    ``Interactions`` (even at a recycled ``id``) is recomputed.
    """

    def __init__(self) -> None:
        self._ref: weakref.ReferenceType[Interactions] | None = None
        self._seqs: list[npt.NDArray[np.int64]] = []

    def get(self, history: Interactions) -> list[npt.NDArray[np.int64]]:
        if self._ref is None or self._ref() is not history:
            self._seqs = history.sequences()
            self._ref = weakref.ref(history)
        return self._seqs


class SequenceAttention:
    """What a causal Transformer recommender's scoring position read of a history (for explanations).

    The sequential models (SASRec, the LM adapter) score every item from the hidden state of the last
    position of the user's right-aligned history; :meth:`history_attention` says how much that
    position's attention read each history item (:func:`explorec.models.transformer.
    last_position_attention`). A subclass supplies ``_attention_maps`` (the blocks' attention weights
    for a padded ``int64[1, T]`` sequence) and has ``max_len``, ``module_``, ``device_``.
    """

    max_len: int

    def _attention_maps(self, seq: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def history_attention(self, sequence: Sequence[int] | npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """``float64[len(sequence)]``: the scoring position's attention over ``sequence`` (oldest first).

        Only the ``max_len`` most recent items are read (the truncation rule of scoring); earlier
        ones get 0. The weights of the read items sum to 1.
        """
        from explorec.models.transformer import last_position_attention

        check = getattr(self, "_check_fitted", None)
        if callable(check):
            check()
        seq = np.asarray(sequence, dtype=np.int64).reshape(-1)
        out = np.zeros(seq.size, dtype=np.float64)
        if seq.size == 0:
            return out
        window = seq[-int(self.max_len) :]
        module: nn.Module = getattr(self, "module_")  # noqa: B009 (set by fit; typed on TorchRecommender)
        device: torch.device = getattr(self, "device_")  # noqa: B009
        padded = torch.from_numpy(pad_sequences([window], window.size)).to(device)  # [1, T]
        was_training = module.training
        module.eval()
        try:
            with torch.no_grad():
                weights = last_position_attention(self._attention_maps(padded))[0]  # [T]
        finally:
            module.train(was_training)
        out[seq.size - window.size :] = weights.double().cpu().numpy()
        return out


def pad_sequences(
    seqs: Sequence[npt.NDArray[np.int64]], max_len: int, *, offset: int = 1
) -> npt.NDArray[np.int64]:
    """Right-aligned ``int64[B, max_len]`` matrix of the most recent ``max_len`` items of each sequence.

    Truncation rule: a sequence longer than ``max_len`` keeps its *last* ``max_len`` items (the most
    recent ones), because next-item prediction depends most on recent behaviour. Items are shifted by
    ``offset`` so that 0 is the padding index; empty sequences give an all-zero row.
    """
    out = np.zeros((len(seqs), max_len), dtype=np.int64)
    for row, seq in enumerate(seqs):
        tail = seq[-max_len:]
        if tail.size:
            out[row, max_len - tail.size :] = tail + offset
    return out


def text_item_vectors(
    catalog: Catalog | None, encoder: str, template: str | None, what: str
) -> npt.NDArray[np.float32]:
    """Frozen language-model vectors of every item (``explorec.encoders.item_vectors``, cached on disk)."""
    if catalog is None:
        raise ConfigError(f"{what}: item_input uses text, so fit() needs the catalog (got catalog=None)")
    from explorec.encoders import item_vectors

    return np.ascontiguousarray(item_vectors(catalog, encoder=encoder, template=template), dtype=np.float32)


def item_attribute_bags(
    catalog: Catalog | None, name: str, sep: str | None, what: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int]:
    """Every item's attribute tokens as ``EmbeddingBag`` input: flat dense ids, per-item offsets, vocab size.

    ``name`` is a text field, whose value ``v`` gives the tokens ``v.split(sep)`` (``sep=None``: any
    whitespace, as the S3-Rec loader's ``attributes`` field of space-joined category and brand ids), or
    else a catalogue attribute, one token per item (its value as text; missing values give none). An
    item without tokens gets an empty bag. Token ids are dense in sorted token order.

    Raises
    ------
    ConfigError
        No catalog, ``name`` is neither a field nor an attribute, or no item has a token.
    """
    if catalog is None:
        raise ConfigError(
            f"{what}: item_input uses attributes, so fit() needs the catalog (got catalog=None)"
        )
    if name in catalog.fields:
        tokens = [[t for t in str(v).split(sep) if t] for v in catalog.field(name)]
    elif name in catalog.attributes:
        tokens = [
            [] if v is None or v == "" or (isinstance(v, float) and np.isnan(v)) else [str(v)]
            for v in catalog.attributes[name].tolist()
        ]
    else:
        raise ConfigError(
            f"{what}: attribute_field={name!r} is neither a catalogue field ({sorted(catalog.fields)}) "
            f"nor an attribute ({sorted(catalog.attributes)})"
        )
    vocab = sorted({t for item in tokens for t in item})
    if not vocab:
        raise ConfigError(f"{what}: catalogue {name!r} has no attribute tokens on any item")
    code = {t: n for n, t in enumerate(vocab)}
    flat = np.fromiter((code[t] for item in tokens for t in item), dtype=np.int64)
    sizes = np.fromiter((len(item) for item in tokens), dtype=np.int64, count=len(tokens))
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    return flat, offsets, len(vocab)


def item_categories(catalog: Catalog | None, attribute: str) -> tuple[npt.NDArray[np.int64], int]:
    """Dense category ids (int64[n_items], -1 = unknown) of a catalogue attribute, and their count."""
    if catalog is None or attribute not in catalog.attributes:
        known = [] if catalog is None else sorted(catalog.attributes)
        raise ConfigError(f"category_attribute={attribute!r} is not a catalogue attribute; known: {known}")
    values = np.asarray(catalog.attributes[attribute])
    missing = np.array([v is None or v == "" or (isinstance(v, float) and np.isnan(v)) for v in values])
    uniq, codes = np.unique(values[~missing].astype(str), return_inverse=True)
    out = np.full(values.size, -1, dtype=np.int64)
    out[~missing] = codes
    return out, int(uniq.size)
