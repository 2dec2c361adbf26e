"""Two-tower retrieval: a user tower over the history and an item tower over ID, text and attributes.

    v_i = f_item(x_i),  x_i = e_i (ID) + W t_i (frozen LM vector) + Σ_a e_a(attr_a(i))
    u   = f_user(pool(v_{h_1}, ..., v_{h_L}) + Σ_f e_f(feature_f(user)))
    score(u, i) = <u, v_i>

``f_item`` and ``f_user`` are residual MLPs (x + MLP(x)); ``pool`` is the mean of the history's item
vectors or an attention pooling with a learned query and recency positions (single-query attention,
``explorec.models.transformer.attention_weights``, shared with the sequence models). A user with an empty
history gets a learned "no history" vector (plus their features), which is trained on the first event
of every training sequence, so the cold-user path is a real prediction, not a fallback.

Training follows Yi et al., "Sampling-Bias-Corrected Neural Modeling for Large Corpus Item
Recommendations" (RecSys 2019): every (history prefix, next item) pair of the training sequences is an
example; each batch scores its users against the batch's distinct target items (in-batch sampled
softmax) with the log-Q correction ``s(u, i) - log q_i`` (``q_i`` = the item's share of the training
targets, so popular items are not over-penalised as negatives), with L2-normalised towers and a
temperature τ. ``adv_weight`` adds the APR/FGSM adversarial loss on the item vectors.

Differential privacy (``dp_epsilon`` finite; ``explorec.models.privacy``): DP-SGD with one example per
user that groups all of the user's (history prefix, next item) pairs, over their most recent
``max_len + 1`` training items (earlier ones are not used); its loss is the mean over those pairs, so
clipping bounds the user's whole contribution. In-batch negatives would put other users' items into a
user's loss, so under DP every pair is scored against the full catalogue (a full softmax), and the
log-Q correction (which corrects in-batch sampling, and reads every user's item counts) does not
apply; ``adv_weight`` is refused.

Retrieval: ``retrieve(users, k)`` searches the item vectors with ``explorec.index`` (exact or FAISS),
excluding the users' history.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Self, cast

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from explorec.data.interactions import Catalog, Interactions
from explorec.errors import ConfigError, DataError, check_choice, check_positive_int, check_range
from explorec.models.adversarial import fgsm_perturbation
from explorec.models.torch_base import (
    SequenceCache,
    TorchRecommender,
    item_categories,
    pad_sequences,
    text_item_vectors,
)
from explorec.models.training import BatchFn
from explorec.models.transformer import attention_weights

logger = logging.getLogger(__name__)

ITEM_INPUTS = ("id", "text", "id+text")
POOLINGS = ("mean", "attention")


# ====================================================================== the network
@dataclass(frozen=True)
class TwoTowerConfig:
    """Architecture of ``TwoTowerNet``."""

    n_items: int
    dim: int = 64
    hidden: int = 128
    max_len: int = 50
    dropout: float = 0.1
    item_input: str = "id"
    text_dim: int = 0
    pooling: str = "mean"
    normalize: bool = True
    attribute_sizes: list[int] = field(default_factory=list)
    user_feature_sizes: list[int] = field(default_factory=list)


def _mlp(cfg: TwoTowerConfig) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(cfg.dim, cfg.hidden), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, cfg.dim)
    )


class ItemTower(nn.Module):
    """``float[N, D]`` item vectors from ID embeddings, projected LM vectors and attribute embeddings."""

    text: torch.Tensor  # float[N, text_dim] frozen buffer, when item_input uses text
    attributes: torch.Tensor  # int64[N, A] dense attribute codes (0 = unknown)

    def __init__(self, cfg: TwoTowerConfig) -> None:
        super().__init__()
        self.use_id = cfg.item_input in ("id", "id+text")
        self.use_text = cfg.item_input in ("text", "id+text")
        if self.use_id:
            self.id_emb = nn.Embedding(cfg.n_items, cfg.dim)
            nn.init.normal_(self.id_emb.weight, std=cfg.dim**-0.5)
        if self.use_text:
            self.register_buffer("text", torch.zeros(cfg.n_items, cfg.text_dim))
            self.text_proj = nn.Linear(cfg.text_dim, cfg.dim)
        self.register_buffer(
            "attributes", torch.zeros(cfg.n_items, len(cfg.attribute_sizes), dtype=torch.long)
        )
        self.attr_emb = nn.ModuleList(nn.Embedding(size + 1, cfg.dim) for size in cfg.attribute_sizes)
        self.norm = nn.LayerNorm(cfg.dim)
        self.mlp = _mlp(cfg)

    def forward(self) -> torch.Tensor:
        x = torch.zeros(
            self.attributes.shape[0], self.norm.normalized_shape[0], device=self.attributes.device
        )
        if self.use_id:
            x = x + self.id_emb.weight  # [N, D]
        if self.use_text:
            x = x + self.text_proj(self.text)  # [N, D]
        for a, emb in enumerate(self.attr_emb):
            x = x + emb(self.attributes[:, a])  # [N, D]
        x = self.norm(x)  # [N, D]
        return x + self.mlp(x)  # [N, D]


class UserTower(nn.Module):
    """``float[B, D]`` user vectors from pooled history item vectors plus user-feature embeddings."""

    def __init__(self, cfg: TwoTowerConfig) -> None:
        super().__init__()
        self.pooling = cfg.pooling
        self.empty = nn.Parameter(torch.zeros(cfg.dim))  # the "no history" vector
        if cfg.pooling == "attention":
            self.pos = nn.Embedding(cfg.max_len, cfg.dim)
            self.query = nn.Parameter(torch.zeros(cfg.dim))
        self.feat_emb = nn.ModuleList(nn.Embedding(size + 1, cfg.dim) for size in cfg.user_feature_sizes)
        self.norm = nn.LayerNorm(cfg.dim)
        self.mlp = _mlp(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, hist: torch.Tensor, table: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """User vectors ``[B, D]``.

        ``hist`` int64[B, L] right-aligned (0 = padding, i+1 = item i); ``table`` [N, D]; ``feats`` [B, F].
        """
        real = hist > 0  # [B, L]
        vecs = self.drop(table[(hist - 1).clamp_min(0)])  # [B, L, D]
        if self.pooling == "mean":
            weights = real.float()  # [B, L]
        else:
            length = hist.shape[1]
            keys = vecs + self.pos.weight[-length:]  # [B, L, D]
            weights = attention_weights(keys, self.query, real)  # [B, L]
        pooled = (weights[..., None] * vecs).sum(1) / weights.sum(1, keepdim=True).clamp_min(1e-9)  # [B, D]
        empty = ~real.any(1, keepdim=True)  # [B, 1]
        x = torch.where(empty, self.empty.expand_as(pooled), pooled)  # [B, D]
        for f, emb in enumerate(self.feat_emb):
            x = x + emb(feats[:, f])  # [B, D]
        x = self.norm(x)  # [B, D]
        return x + self.mlp(x)  # [B, D]


class TwoTowerNet(nn.Module):
    def __init__(self, cfg: TwoTowerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.item_tower = ItemTower(cfg)
        self.user_tower = UserTower(cfg)

    def item_vectors(self) -> torch.Tensor:
        v = self.item_tower()  # [N, D]
        return F.normalize(v, dim=-1) if self.cfg.normalize else v

    def user_vectors(self, hist: torch.Tensor, table: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        u = self.user_tower(hist, table, feats)  # [B, D]
        return F.normalize(u, dim=-1) if self.cfg.normalize else u


# ====================================================================== the recommender
class TwoTower(TorchRecommender):
    """Two-tower retrieval model trained with in-batch sampled softmax and log-Q correction.

    Parameters
    ----------
    dim, hidden : int
        Output size of both towers; hidden size of their MLPs.
    max_len : int
        Most recent history items pooled per user (older ones are dropped: the truncation rule).
    dropout : float
        Dropout on history item vectors and inside the MLPs.
    item_input : {"id", "text", "id+text"}
        Item tower input; with text, items never seen in training still get vectors.
    encoder, text_template : str
        Text encoder spec and template for ``explorec.encoders.item_vectors``.
    item_attributes : list of str, optional
        Categorical catalogue attributes embedded in the item tower.
    pooling : {"mean", "attention"}
        History pooling.
    normalize : bool
        L2-normalise both towers (scores are cosines; training divides them by ``temperature``).
    temperature : float
        Softmax temperature τ of the in-batch loss.
    logq_correction : bool
        Subtract ``log q_i`` from in-batch logits (Yi et al., 2019).
    adv_weight, adv_epsilon : float
        APR/FGSM adversarial loss on the item vectors (0 = off).
    epochs, batch_size, lr, weight_decay, grad_clip, patience, seed, device, num_threads, progress
        Training settings (``batch_size`` counts (history, next item) examples; under DP, users).
    dp_epsilon : float, optional
        Train with DP-SGD to this ε (per user) over the planned ``epochs``; None or ``inf`` = no DP.
    dp_delta : float, optional
        δ of the guarantee (default ``1 / n_users``, the users with a training example).
    dp_max_grad_norm : float
        Per-user clipping bound C of DP-SGD.

    Examples
    --------
    >>> from explorec.data.toy import known_answer_split
    >>> split = known_answer_split()
    >>> model = TwoTower(dim=16, epochs=3, progress=False).fit(split.train)
    >>> items, scores = model.retrieve([0, 1], 5, history=split.test_history)
    >>> items.shape
    (2, 5)
    """

    name = "two-tower"
    uses_history = True
    folds_in_new_users = False  # per-user feature codes: only users seen in fit
    scores_cold_items = False
    # the batch's distinct targets ("items", "log_q") stay whole: every worker's users share them
    batch_rows = ("hist", "label", "feats")

    def __init__(
        self,
        *,
        dim: int = 64,
        hidden: int = 128,
        max_len: int = 50,
        dropout: float = 0.1,
        item_input: str = "id",
        encoder: str = "default",
        text_template: str | None = None,
        item_attributes: list[str] | None = None,
        pooling: str = "mean",
        normalize: bool = True,
        temperature: float = 0.05,
        logq_correction: bool = True,
        adv_weight: float = 0.0,
        adv_epsilon: float = 0.1,
        epochs: int = 100,
        batch_size: int = 1024,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        grad_clip: float | None = 1.0,
        patience: int = 5,
        seed: int = 0,
        device: str = "auto",
        num_threads: int | None = None,
        progress: bool = True,
        dp_epsilon: float | None = None,
        dp_delta: float | None = None,
        dp_max_grad_norm: float = 1.0,
    ) -> None:
        self.dim = dim
        self.hidden = hidden
        self.max_len = max_len
        self.dropout = dropout
        self.item_input = item_input
        self.encoder = encoder
        self.text_template = text_template
        self.item_attributes = item_attributes
        self.pooling = pooling
        self.normalize = normalize
        self.temperature = temperature
        self.logq_correction = logq_correction
        self.adv_weight = adv_weight
        self.adv_epsilon = adv_epsilon
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.grad_clip = grad_clip
        self.patience = patience
        self.seed = seed
        self.device = device
        self.num_threads = num_threads
        self.progress = progress
        self.dp_epsilon = dp_epsilon
        self.dp_delta = dp_delta
        self.dp_max_grad_norm = dp_max_grad_norm
        self._sequences = SequenceCache()

    @classmethod
    def contract_params(cls) -> dict[str, Any]:
        return {
            "dim": 16,
            "hidden": 32,
            "max_len": 8,
            "epochs": 30,
            "batch_size": 64,
            "lr": 0.01,
            "temperature": 0.1,
            "progress": False,
            "device": "cpu",
        }

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        train: Interactions,
        catalog: Catalog | None = None,
        *,
        valid: Interactions | None = None,
        valid_history: Interactions | None = None,
        user_features: dict[str, np.ndarray] | None = None,
    ) -> Self:
        """As ``TorchRecommender.fit``; ``user_features`` maps a name to one categorical value per user."""
        self._user_features = user_features or {}
        try:
            return super().fit(train, catalog, valid=valid, valid_history=valid_history)
        finally:
            del self._user_features

    def _check_params(self) -> None:
        for name in ("dim", "hidden", "max_len", "batch_size"):
            check_positive_int(name, getattr(self, name))
        check_range("dropout", self.dropout, 0.0, 1.0)
        check_choice("item_input", self.item_input, ITEM_INPUTS)
        check_choice("pooling", self.pooling, POOLINGS)
        if not self.temperature > 0:
            raise ConfigError(f"temperature must be > 0, got {self.temperature!r}")
        if self.adv_weight < 0 or self.adv_epsilon < 0:
            raise ConfigError(
                f"adv_weight and adv_epsilon must be >= 0, got {self.adv_weight}, {self.adv_epsilon}"
            )
        if self._dp_target() is not None and self.adv_weight > 0:
            raise ConfigError(
                "dp_epsilon is set: adv_weight must be 0 under DP (the adversarial perturbation is computed "
                f"from the whole batch's loss, mixing its users), got {self.adv_weight!r}"
            )

    def _module_config(self, train: Interactions, catalog: Catalog | None) -> dict[str, Any]:
        self._check_params()
        counts = train.item_counts().astype(np.float64)
        self.log_q_ = np.log(np.maximum(counts, 1.0) / counts.sum()).astype(np.float32)
        self._text_vectors = None
        text_dim = 0
        if self.item_input != "id":
            self._text_vectors = text_item_vectors(catalog, self.encoder, self.text_template, "TwoTower")
            text_dim = int(self._text_vectors.shape[1])
        attr_codes, attr_sizes = [], []
        for name in self.item_attributes or []:
            codes, size = item_categories(catalog, name)
            attr_codes.append(codes + 1)  # 0 = unknown
            attr_sizes.append(size)
        self._attributes = (
            np.stack(attr_codes, axis=1) if attr_codes else np.zeros((train.n_items, 0), np.int64)
        )
        feat_codes, feat_sizes = [], []
        for name, values in sorted(self._user_features.items()):
            arr = np.asarray(values)
            if arr.shape != (train.n_users,):
                raise DataError(f"user_features[{name!r}] has shape {arr.shape}, expected ({train.n_users},)")
            uniq, codes = np.unique(arr.astype(str), return_inverse=True)
            feat_codes.append(codes.astype(np.int64) + 1)
            feat_sizes.append(int(uniq.size))
        self.user_features_ = (
            np.stack(feat_codes, axis=1) if feat_codes else np.zeros((train.n_users, 0), np.int64)
        )
        config = TwoTowerConfig(
            n_items=train.n_items,
            dim=self.dim,
            hidden=self.hidden,
            max_len=self.max_len,
            dropout=self.dropout,
            item_input=self.item_input,
            text_dim=text_dim,
            pooling=self.pooling,
            normalize=self.normalize,
            attribute_sizes=attr_sizes,
            user_feature_sizes=feat_sizes,
        )
        return asdict(config)

    def _build_module(self, config: dict[str, Any]) -> nn.Module:
        return TwoTowerNet(TwoTowerConfig(**config))

    def _initialise(self, module: nn.Module, train: Interactions, catalog: Catalog | None) -> None:
        net = cast(TwoTowerNet, module)
        if self._text_vectors is not None:
            net.item_tower.text.copy_(torch.from_numpy(self._text_vectors))
        net.item_tower.attributes.copy_(torch.from_numpy(self._attributes))

    def _batches(self, train: Interactions, catalog: Catalog | None) -> BatchFn:
        hist, target, user = prefix_examples(train.sequences(), self.max_len)
        logger.info("TwoTower: %d (history, next item) examples", target.size)
        log_q = torch.from_numpy(self.log_q_)
        feats = torch.from_numpy(self.user_features_)

        def batches(epoch: int, rng: np.random.Generator) -> list[dict[str, torch.Tensor]]:
            order = rng.permutation(target.size)
            out = []
            for start in range(0, order.size, self.batch_size):
                idx = order[start : start + self.batch_size]
                h = hist[idx]
                width = max(1, int((h > 0).sum(1).max()))
                items, label = np.unique(target[idx], return_inverse=True)
                out.append(
                    {
                        "hist": torch.from_numpy(h[:, -width:].astype(np.int64)),  # [B, L]
                        "items": torch.from_numpy(items),  # [U] distinct targets: the in-batch softmax
                        "label": torch.from_numpy(label.astype(np.int64)),  # [B] position in items
                        "log_q": log_q[items],  # [U]
                        "feats": feats[user[idx]],  # [B, F]
                    }
                )
            return out

        return batches

    def _loss(self, module: nn.Module, batch: Any) -> dict[str, torch.Tensor]:
        net = cast(TwoTowerNet, module)
        table = net.item_vectors()  # [N, D]
        main = self._in_batch_loss(net, table, batch)
        if self.adv_weight <= 0:
            return {"loss": main}
        delta = fgsm_perturbation(main, table, self.adv_epsilon)  # [N, D]
        adv = self._in_batch_loss(net, table + delta, batch)
        return {"loss": main + self.adv_weight * adv, "main": main.detach(), "adv": adv.detach()}

    def _in_batch_loss(
        self, net: TwoTowerNet, table: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        users = net.user_vectors(batch["hist"], table, batch["feats"])  # [B, D]
        logits = users @ table[batch["items"]].T  # [B, U]
        if self.normalize:
            logits = logits / self.temperature
        if self.logq_correction:
            logits = logits - batch["log_q"][None, :]  # [B, U]
        return F.cross_entropy(logits, batch["label"])

    # ------------------------------------------------------------------ differential privacy
    def _dp_examples(self, train: Interactions, catalog: Catalog | None) -> dict[str, torch.Tensor]:
        """One example per user with a training item: their most recent ``max_len + 1`` items.

        Position ``t`` of the example is the pair (the up to ``max_len`` items before it, item ``t``),
        so the example holds every (history prefix, next item) pair of those items, the first one with
        an empty history (training the "no history" vector) as in the non-private path.
        """
        seqs = train.sequences()
        users = np.array([u for u, s in enumerate(seqs) if s.size], dtype=np.int64)
        if users.size == 0:
            raise DataError("TwoTower.fit: the training interactions hold no sequences")
        windows = [seqs[u][-(self.max_len + 1) :] for u in users]
        unused = sum(seqs[u].size - w.size for u, w in zip(users, windows, strict=True))
        logger.info(
            "TwoTower (DP): %d users, one example each; %d older training items beyond the most recent "
            "max_len + 1 = %d per user are not used; full softmax, no log-Q correction",
            users.size,
            unused,
            self.max_len + 1,
        )
        return {
            "items": torch.from_numpy(pad_sequences(windows, self.max_len + 1)),  # [U, W], 0 = padding
            "feats": torch.from_numpy(self.user_features_[users]),  # [U, F]
        }

    def _dp_trim(self) -> Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
        def trim(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            """Drop the columns that are padding in every row (sequences are right-aligned)."""
            width = max(1, int((batch["items"] > 0).sum(1).max()))
            return {**batch, "items": batch["items"][:, -width:]}

        return trim

    def _dp_loss(
        self, module: nn.Module, example: dict[str, torch.Tensor], shared: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """Mean full-softmax cross-entropy over one user's (history prefix, next item) pairs."""
        net = cast(TwoTowerNet, module)
        items = example["items"]  # [W], 0 = padding, i + 1 = item i
        width, length = items.shape[0], self.max_len
        padded = torch.cat([items.new_zeros(length), items])  # [L + W]
        hist = padded.unfold(0, length, 1)[:width]  # [W, L]: row t = the L items before position t
        table = net.item_vectors()  # [N, D]
        feats = example["feats"][None].expand(width, -1)  # [W, F]
        users = net.user_vectors(hist, table, feats)  # [W, D]
        logits = users @ table.T  # [W, N]
        if self.normalize:
            logits = logits / self.temperature
        real = (items > 0).to(logits.dtype)  # [W]
        ce = F.cross_entropy(logits, (items - 1).clamp_min(0), reduction="none")  # [W]
        return (ce * real).sum() / real.sum().clamp_min(1.0)

    # ------------------------------------------------------------------ score / retrieve
    def _user_vectors(
        self, net: TwoTowerNet, users: npt.NDArray[np.int64], history: Interactions
    ) -> torch.Tensor:
        seqs = self._sequences.get(history)
        chunk = [seqs[u] for u in users]
        width = max(1, min(self.max_len, max(s.size for s in chunk)))
        hist = torch.from_numpy(pad_sequences(chunk, width)).to(self.device_)  # [B, L]
        feats = torch.from_numpy(self.user_features_[users]).to(self.device_)  # [B, F]
        return net.user_vectors(hist, net.item_vectors(), feats)  # [B, D]

    def _forward_scores(
        self, module: nn.Module, users: npt.NDArray[np.int64], history: Interactions
    ) -> torch.Tensor:
        net = cast(TwoTowerNet, module)
        return self._user_vectors(net, users, history) @ net.item_vectors().T  # [B, N]

    def item_embeddings(self) -> npt.NDArray[np.float32]:
        """``float32[n_items, dim]`` item-tower outputs (unit rows when ``normalize``)."""
        self._check_fitted()
        with torch.no_grad():
            return cast(TwoTowerNet, self.module_.eval()).item_vectors().float().cpu().numpy()

    def user_embeddings(
        self, users: npt.ArrayLike, *, history: Interactions | None = None
    ) -> npt.NDArray[np.float32]:
        """``float32[B, dim]`` user-tower outputs from the users' ``history`` (default: training data)."""
        self._check_fitted()
        u = np.asarray(users, dtype=np.int64).reshape(-1)
        if u.size and (u.min() < 0 or u.max() >= self.n_users_):
            raise ConfigError(f"users: indices must lie in [0, {self.n_users_})")
        hist = self.train_ if history is None else history
        with torch.no_grad():
            net = cast(TwoTowerNet, self.module_.eval())
            return self._user_vectors(net, u, hist).float().cpu().numpy()

    def retrieve(
        self,
        users: npt.ArrayLike,
        k: int,
        *,
        history: Interactions | None = None,
        exclude_seen: bool = True,
        backend: str = "exact",
        **index_options: Any,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Top-``k`` items per user through the index layer (``explorec.index.make_index``).

        Parameters
        ----------
        users : int[B]
        k : int
        history : Interactions, optional
            Users' histories (default: training data); their items are excluded when ``exclude_seen``.
        backend : {"exact", "faiss"}
            Index backend; ``index_options`` go to it (e.g. ``kind="hnsw"``).

        Returns
        -------
        items : int64[B, k]
        scores : float32[B, k]
        """
        from explorec.index import make_index

        hist = self.train_ if history is None else history
        u = np.asarray(users, dtype=np.int64).reshape(-1)
        queries = self.user_embeddings(u, history=hist)
        key = (backend, tuple(sorted(index_options.items())))
        if (
            getattr(self, "_index_key", None) != key
            or getattr(self, "_index_model", None) is not self.module_
        ):
            self._index = make_index(self.item_embeddings(), backend, **index_options)
            self._index_key, self._index_model = key, self.module_
        exclude = hist.to_csr()[u] if exclude_seen else None
        return self._index.search(queries, k, exclude=exclude)


# ====================================================================== data helpers
def prefix_examples(
    seqs: list[npt.NDArray[np.int64]], max_len: int
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every (history prefix, next item) pair of the sequences.

    Returns
    -------
    hist : int32[E, max_len]
        The ``max_len`` items before each target, right-aligned, shifted by one (0 = padding); the first
        event of a sequence has an all-padding history (it trains the cold-user vector).
    target : int64[E]
    user : int64[E]
    """
    hists, targets, users = [], [], []
    for user, seq in enumerate(seqs):
        if seq.size == 0:
            continue
        padded = np.concatenate([np.zeros(max_len, dtype=np.int32), (seq + 1).astype(np.int32)])
        windows = np.lib.stride_tricks.sliding_window_view(padded, max_len)[: seq.size]  # [n, L]
        hists.append(windows)
        targets.append(seq)
        users.append(np.full(seq.size, user, dtype=np.int64))
    if not hists:
        raise DataError("TwoTower.fit: the training interactions hold no sequences")
    return np.concatenate(hists), np.concatenate(targets).astype(np.int64), np.concatenate(users)
