"""Fine-tuned text kNN: the zero-shot text profile with a learned query map that starts at the identity.

Why the LM adapter loses cold items (``docs/benchmarks/language_model.md``, issue 15): its ID
embeddings exist only for items with training interactions, so warm items carry an extra component
that the user vectors learn to align with (97 % of its top 10 are warm items on amazon-scientific's
cold-item split, against 79 % for the zero-shot text kNN, which matches the share of warm items in
the catalogue); and its head starts from random weights, so even without IDs it ranks cold items
among themselves worse than the language model's own space does. This model keeps both failure
modes out by construction:

* **items are their frozen language-model vectors** (optionally plus a residual that starts at zero):
  no per-item parameter, so an item with interactions has nothing a cold item lacks;
* **users start as the text kNN profile**, and a residual map, zero at the start, learns where a
  profile should look (complements, not only look-alikes)::

      p_u = sum_{t=1..n, n-t < max_history} decay^(n-t) * x_{j_t}          profile (as TextKNN)  [d]
      q_u = normalise(p_u + p_u W_q)                                         W_q: d x d, starts at 0
      e_i = normalise(x_i + x_i W_i)     (item_residual=True; else e_i = x_i) W_i: d x d, starts at 0
      s(u, i) = (1 - a) * q_u . e_i + a * z(u, i)                           a = zero_shot_weight

  where the zero-shot score ``z`` is TextKNN's: ``normalise(p_u) . x_i`` (``zero_shot="profile"``) or
  its kernel form, the soft maximum of the similarities of ``x_i`` to each history item
  (``zero_shot="kernel"``, temperature ``kernel_temperature``; ``explorec.models.textknn``); so the
  untrained model (``epochs=0``) *is* ``TextKNN`` with the same ``decay`` and ``max_history``;
* **training matches how it is used**: next-item softmax (temperature ``temperature``) over the items
  with training interactions, with the items already in the prefix masked out of the softmax, as the
  evaluation masks a user's history (without the mask the map learns to point *away* from the
  profile, which is what ranks the history first). ``anchor_l2 * (|W_q|^2 + |W_i|^2)`` pulls the map
  towards the identity, the zero-shot space.

Early stopping (``fit(train, catalog, valid=...)``) reads full-ranking NDCG@10 of ``valid``; on a
cold-item split that is the cold validation items, so the epoch is picked for items never trained on.
The mixing weight ``zero_shot_weight`` is a hyper-parameter; ``bench/cold_start.py --part tuned`` picks
it on validation.
"""

from __future__ import annotations

import logging
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from explorec.data.interactions import Catalog, Interactions
from explorec.encoders import item_vectors, make_encoder
from explorec.errors import ConfigError, check_positive_int, check_range
from explorec.models.textknn import cached_recency_weights, check_scoring, kernel_scores
from explorec.models.torch_base import SequenceCache, TorchRecommender, pad_sequences
from explorec.models.training import BatchFn

logger = logging.getLogger(__name__)


def prefixes(
    seqs: list[npt.NDArray[np.int64]], max_history: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every next-item transition of ``seqs``: right-aligned prefixes (items + 1, 0 = padding) and targets.

    >>> inputs, targets = prefixes([np.array([4, 5, 6])], 2)
    >>> inputs.tolist(), targets.tolist()
    ([[0, 5], [5, 6]], [5, 6])
    """
    rows = [seq[max(0, t - max_history) : t] for seq in seqs for t in range(1, seq.size)]
    targets = np.array([seq[t] for seq in seqs for t in range(1, seq.size)], dtype=np.int64)
    return pad_sequences(rows, max_history), targets


class ProfileNet(nn.Module):
    """Frozen text table, a residual query map and an optional residual item map (both start at 0)."""

    text: torch.Tensor
    warm: torch.Tensor
    decays: torch.Tensor

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        n_items, dim, max_history = int(cfg["n_items"]), int(cfg["text_dim"]), int(cfg["max_history"])
        self.register_buffer("text", torch.zeros(n_items, dim))  # frozen unit LM vectors x_i
        self.register_buffer("warm", torch.zeros(n_items, dtype=torch.bool))  # items with training rows
        steps = torch.arange(max_history - 1, -1, -1, dtype=torch.float32)  # right-aligned: last = 0 steps
        self.register_buffer("decays", float(cfg["decay"]) ** steps)  # [T]
        self.query = nn.Linear(dim, dim, bias=False)  # W_q
        nn.init.zeros_(self.query.weight)
        self.item = nn.Linear(dim, dim, bias=False) if cfg["item_residual"] else None  # W_i
        if self.item is not None:
            nn.init.zeros_(self.item.weight)

    def items(self) -> torch.Tensor:
        """Unit item vectors ``e_i``, ``[N, d]``."""
        if self.item is None:
            return self.text
        return F.normalize(self.text + self.item(self.text), dim=-1)

    def profiles(self, seq: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """Recency-weighted sums of ``table`` rows over right-aligned ``seq`` (0 = padding): ``[B, d]``."""
        padded = torch.cat([torch.zeros_like(table[:1]), table], dim=0)  # [N+1, d], row 0 = padding
        weights = self.decays[-seq.shape[1] :] * (seq > 0)  # [B, T]
        return torch.einsum("bt,btd->bd", weights, padded[seq])  # [B, d]

    def users(self, seq: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Unit query vectors ``q_u``, ``[B, d]``."""
        p = self.profiles(seq, items)  # [B, d]
        return F.normalize(p + self.query(p), dim=-1)

    def anchor(self) -> torch.Tensor:
        """``|W_q|^2 + |W_i|^2``: the squared distance of the maps from the identity."""
        total = self.query.weight.pow(2).sum()
        if self.item is not None:
            total = total + self.item.weight.pow(2).sum()
        return total


class TunedTextKNN(TorchRecommender):
    """Text kNN with a fine-tuned residual query map (see the module docstring for the model).

    Parameters
    ----------
    encoder, template, cache_dir
        Item text encoder spec, template and embedding cache folder (as in ``TextKNN``).
    decay : float in (0, 1]
        Recency decay of the profile (``TextKNN.decay``).
    max_history : int
        Most recent events of a history that form the profile (``TextKNN.max_history``).
    item_residual : bool
        Also learn a residual map of the item vectors (``W_i``); False keeps every item at its frozen
        language-model vector.
    temperature : float
        Softmax temperature on cosine similarities.
    anchor_l2 : float
        Weight of ``|W_q|^2 + |W_i|^2`` in the loss (the pull towards the zero-shot space).
    zero_shot_weight : float in [0, 1]
        Share ``a`` of the zero-shot text kNN score mixed into the fine-tuned one at scoring time.
    zero_shot : {"profile", "kernel"}
        The zero-shot score that is mixed in: TextKNN's ``scoring`` (the profile's cosine, or the
        kernel over the history items). Acts at scoring time only; training does not read it.
    kernel_temperature : float
        ``tau`` of ``zero_shot="kernel"`` (``TextKNN.kernel_temperature``).
    epochs, batch_size, lr, weight_decay, grad_clip, patience, seed, device, num_threads, progress
        Training settings (``explorec.models.training.Trainer``); ``epochs=0`` is the zero-shot model.
    """

    name = "textknn-tuned"
    scores_cold_items = True

    def __init__(
        self,
        *,
        encoder: str = "default",
        template: str | None = None,
        cache_dir: str | None = None,
        decay: float = 0.8,
        max_history: int = 50,
        item_residual: bool = False,
        temperature: float = 0.07,
        anchor_l2: float = 0.0,
        zero_shot_weight: float = 0.0,
        zero_shot: str = "profile",
        kernel_temperature: float = 0.05,
        epochs: int = 20,
        batch_size: int = 1024,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        grad_clip: float | None = 1.0,
        patience: int = 3,
        seed: int = 0,
        device: str = "auto",
        num_threads: int | None = None,
        progress: bool = True,
    ) -> None:
        self.encoder = encoder
        self.template = template
        self.cache_dir = cache_dir
        self.decay = decay
        self.max_history = max_history
        self.item_residual = item_residual
        self.temperature = temperature
        self.anchor_l2 = anchor_l2
        self.zero_shot_weight = zero_shot_weight
        self.zero_shot = zero_shot
        self.kernel_temperature = kernel_temperature
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

    @classmethod
    def contract_params(cls) -> dict[str, Any]:
        return {"encoder": "hashing:128", "epochs": 30, "lr": 1e-2, "batch_size": 64, "progress": False}

    # ------------------------------------------------------------------ hooks
    def _check_params(self) -> None:
        check_positive_int("max_history", self.max_history)
        check_positive_int("batch_size", self.batch_size)
        if not 0 < self.decay <= 1:
            raise ConfigError(f"decay must lie in (0, 1], got {self.decay!r}")
        if not self.temperature > 0:
            raise ConfigError(f"temperature must be > 0, got {self.temperature!r}")
        if not self.anchor_l2 >= 0:
            raise ConfigError(f"anchor_l2 must be >= 0, got {self.anchor_l2!r}")
        check_range("zero_shot_weight", self.zero_shot_weight, 0.0, 1.0)
        check_scoring(self.zero_shot, self.kernel_temperature, "zero_shot")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 0:
            raise ConfigError(f"epochs must be an integer >= 0, got {self.epochs!r}")

    def _module_config(self, train: Interactions, catalog: Catalog | None) -> dict[str, Any]:
        self._check_params()
        if catalog is None:
            raise ConfigError(f"{type(self).__name__}.fit needs the catalog: items are represented by text")
        vectors = item_vectors(
            catalog, encoder=make_encoder(self.encoder), template=self.template, cache_dir=self.cache_dir
        )
        self._text = np.ascontiguousarray(vectors, dtype=np.float32)
        return {
            "n_items": train.n_items,
            "text_dim": int(self._text.shape[1]),
            "max_history": self.max_history,
            "decay": self.decay,
            "item_residual": self.item_residual,
        }

    def _build_module(self, config: dict[str, Any]) -> nn.Module:
        return ProfileNet(config)

    def _initialise(self, module: nn.Module, train: Interactions, catalog: Catalog | None) -> None:
        assert isinstance(module, ProfileNet)  # built by _build_module
        module.text.copy_(torch.from_numpy(self._text))
        module.warm.copy_(torch.from_numpy(train.item_counts() > 0))
        del self._text

    def _fit(self, train: Interactions, catalog: Catalog | None) -> None:
        self._sequences = SequenceCache()
        if self.epochs != 0:
            super()._fit(train, catalog)
            return
        # zero epochs: the maps at the identity, i.e. the zero-shot text kNN
        self._fit_untrained(train, catalog)

    def _batches(self, train: Interactions, catalog: Catalog | None) -> BatchFn:
        inputs, targets = prefixes(train.sequences(), self.max_history)
        if targets.size == 0:
            raise ConfigError("textknn-tuned needs users with at least 2 training interactions")
        lengths = (inputs > 0).sum(axis=1)
        batch_size = self.batch_size

        def batches(epoch: int, rng: np.random.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
            order = rng.permutation(targets.size)
            out = []
            for start in range(0, order.size, batch_size):
                idx = order[start : start + batch_size]
                width = int(lengths[idx].max())  # right-aligned: only the last `width` columns hold items
                out.append((torch.from_numpy(inputs[idx, -width:]), torch.from_numpy(targets[idx])))
            return out

        return batches

    def _loss(self, module: nn.Module, batch: Any) -> dict[str, torch.Tensor]:
        assert isinstance(module, ProfileNet)
        seq, target = batch  # [B, T], [B]
        items = module.items()  # [N, d]
        logits = module.users(seq, items) @ items.T / self.temperature  # [B, N]
        # candidates: items with training rows, minus the prefix's own items (the target stays)
        blocked = (~module.warm).expand_as(logits).clone()  # [B, N]
        rows = torch.arange(seq.shape[0], device=seq.device).unsqueeze(1).expand_as(seq)  # [B, T]
        held = seq > 0
        blocked[rows[held], seq[held] - 1] = True
        blocked[torch.arange(target.numel(), device=seq.device), target] = False
        ce = F.cross_entropy(logits.masked_fill(blocked, float("-inf")), target)
        anchor = module.anchor()
        return {"loss": ce + self.anchor_l2 * anchor, "ce": ce, "anchor": anchor}

    def _forward_scores(
        self, module: nn.Module, users: npt.NDArray[np.int64], history: Interactions
    ) -> torch.Tensor:
        assert isinstance(module, ProfileNet)
        seqs = self._sequences.get(history)
        width = max(1, int(min(self.max_history, max(seqs[u].size for u in users))))
        padded = pad_sequences([seqs[u] for u in users], width)  # [B, width]
        seq = torch.from_numpy(padded).to(self.device_)
        items = module.items()  # [N, d]
        scores = module.users(seq, items) @ items.T  # [B, N]
        a = float(self.zero_shot_weight)
        check_scoring(self.zero_shot, self.kernel_temperature, "zero_shot")  # also after a change since fit
        if a > 0:
            if self.zero_shot == "kernel":
                weights = cached_recency_weights(self, history)[users]  # the profile's events
                table = module.text.detach().cpu().numpy()
                zero_shot = torch.from_numpy(kernel_scores(weights, table, self.kernel_temperature))
                zero_shot = zero_shot.to(scores.device)
            else:
                zero_shot = F.normalize(module.profiles(seq, module.text), dim=-1) @ module.text.T  # [B, N]
            scores = (1 - a) * scores + a * zero_shot
        return scores

    def _load_extra(self, path: Any) -> None:
        super()._load_extra(path)
        self._sequences = SequenceCache()

    def fit(
        self,
        train: Interactions,
        catalog: Catalog | None = None,
        *,
        valid: Interactions | None = None,
        valid_history: Interactions | None = None,
    ) -> Self:
        """Train on ``train`` (see ``TorchRecommender.fit``); ``catalog`` is required (item text)."""
        return super().fit(train, catalog, valid=valid, valid_history=valid_history)
