"""LM adapter: a light trainable head over frozen language-model item vectors (UniSRec-style).

"Pretrain, then fine-tune": the sentence encoder (all-MiniLM-L6-v2 by default) stays frozen; a small
head learns, from user histories, how to turn its text vectors into recommendation vectors. Because an
item's representation is computed from its text, items never seen in training keep working, and the
head transfers to another catalogue (``LMAdapter.transfer``).

Architecture (Hou et al., *Towards Universal Sequence Representation Learning for Recommender
Systems* (UniSRec), KDD 2022, eqs. 1-4, and Kang & McAuley, *SASRec*, ICDM 2018)::

    x_i                   frozen unit text vector of item i                       [d_text]
    x~_i^k = (x_i - b_k) W_k               parametric whitening, expert k = 1..K  [D]
    g_i = softmax(x_i W_g)                 gate over the K experts                 [K]
    t_i = sum_k g_i^k x~_i^k               mixture-of-experts text representation   [D]
    e_i = t_i + m_i * z_i                  hybrid: z_i learned ID embedding, m_i = 1 for items with
                                           training interactions (warm), 0 for cold items
    h_u = Transformer(e_{j_1} + p_1, ..., e_{j_n} + p_n)[n]   causal, learned positions p
    s(u, i) = cos(h_u, e_i)

Training minimises the softmax cross-entropy of the next item at every position (temperature ``tau``)
over all warm items (``n_negatives=None``), or a sampled softmax against ``n_negatives`` uniformly
drawn warm items shared by the batch. Cold items are never negatives, so training does not push their
text representations down. ``id_dropout`` hides the ID embedding of a random share of items at each
step, so the text path alone must rank well — what a cold item has.

One code path serves warm and cold items: the caller only ever calls ``score``.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Self, cast

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from explorec.data.interactions import Catalog, Interactions
from explorec.encoders import item_vectors, make_encoder
from explorec.errors import ConfigError, check_positive_int, check_range
from explorec.models.losses import sampled_softmax_loss
from explorec.models.torch_base import SequenceAttention, SequenceCache, TorchRecommender, pad_sequences
from explorec.models.training import BatchFn
from explorec.models.transformer import Block, attention_maps, causal_padding_mask

logger = logging.getLogger(__name__)

#: tensors that belong to one catalogue and are not carried over by ``transfer``
ITEM_TENSORS = ("text", "warm", "id_emb.weight")
#: block tensor names of adapters saved before the blocks were shared, and their names now
_LEGACY_BLOCK_NAMES = {"norm1": "ln1", "qkv": "attn.qkv", "out": "attn.out", "norm2": "ln2", "ffn.2": "ffn.3"}
_LEGACY_BLOCK_KEY = re.compile(r"^(blocks\.\d+\.)(norm1|qkv|out|norm2|ffn\.2)\.")


def _rename_block_key(match: re.Match[str]) -> str:
    return f"{match.group(1)}{_LEGACY_BLOCK_NAMES[match.group(2)]}."


def windows(seqs: list[npt.NDArray[np.int64]], max_len: int) -> list[npt.NDArray[np.int64]]:
    """Training windows of at most ``max_len + 1`` items, tiled back from the end of each sequence.

    A history longer than the encoder's reach still trains on all of its transitions: the last window
    ends at the latest item, the one before it at the first item of the last window, and so on.
    Windows with fewer than 2 items (no transition) are dropped.

    >>> [w.tolist() for w in windows([np.arange(6)], 2)]
    [[3, 4, 5], [1, 2, 3], [0, 1]]
    """
    out = []
    for seq in seqs:
        end = seq.size
        while end >= 2:
            out.append(seq[max(0, end - max_len - 1) : end])
            end -= max_len
    return out


class MoEAdapter(nn.Module):
    """Parametric whitening + mixture of experts (UniSRec eqs. 1-2): ``[N, d_text] -> [N, D]``."""

    def __init__(self, text_dim: int, dim: int, n_experts: int, dropout: float) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(n_experts, text_dim))  # b_k
        self.proj = nn.Parameter(torch.empty(n_experts, text_dim, dim))  # W_k
        nn.init.xavier_uniform_(self.proj.view(-1, dim))
        self.gate = nn.Linear(text_dim, n_experts, bias=False)  # W_g
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(x)  # [N, d_text]
        k, d_text, dim = self.proj.shape
        # (x - b_k) W_k = x W_k - b_k W_k: one [N, d_text] x [d_text, K*D] product, no [N, K, d_text] tensor
        stacked = self.proj.permute(1, 0, 2).reshape(d_text, k * dim)  # [d_text, K*D]
        shift = torch.einsum("kd,kdo->ko", self.bias, self.proj)  # [K, D]
        experts = (x @ stacked).view(-1, k, dim) - shift  # [N, K, D]
        gate = torch.softmax(self.gate(x), dim=-1).unsqueeze(-1)  # [N, K, 1]
        return (gate * experts).sum(dim=1)  # [N, D]


class AdapterNet(nn.Module):
    """Frozen text table, MoE adapter, hybrid ID embeddings and a causal sequence encoder."""

    text: torch.Tensor
    warm: torch.Tensor

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        n_items, text_dim, dim = int(cfg["n_items"]), int(cfg["text_dim"]), int(cfg["dim"])
        self.register_buffer("text", torch.zeros(n_items, text_dim))  # frozen LM vectors
        self.register_buffer("warm", torch.zeros(n_items))  # m_i
        self.adapter = MoEAdapter(text_dim, dim, int(cfg["n_experts"]), float(cfg["dropout"]))
        self.id_emb = nn.Embedding(n_items, dim)
        nn.init.zeros_(self.id_emb.weight)
        self.use_id = bool(cfg["use_id"])
        self.id_dropout = float(cfg["id_dropout"])
        self.pos = nn.Embedding(int(cfg["max_len"]), dim)
        nn.init.normal_(self.pos.weight, std=0.02)
        dropout = float(cfg["dropout"])
        self.blocks = nn.ModuleList(
            Block(dim, int(cfg["n_heads"]), dropout=dropout, attn_dropout=dropout, ffn_mult=2)
            for _ in range(int(cfg["n_layers"]))
        )
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(float(cfg["dropout"]))

    def items(self) -> torch.Tensor:
        """Representation ``e_i`` of every item, ``[N, D]`` (ID part only for warm items)."""
        reps = self.adapter(self.text)  # [N, D]
        if not self.use_id:
            return reps
        mask = self.warm
        if self.training and self.id_dropout > 0:
            mask = mask * (torch.rand_like(mask) >= self.id_dropout)
        return reps + mask.unsqueeze(1) * self.id_emb.weight  # [N, D]

    def encode(self, seq: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Hidden state at every position of right-aligned sequences ``seq`` (0 = padding): ``[B, T, D]``."""
        x = self._embed(seq, items)  # [B, T, D]
        allowed = causal_padding_mask(seq)  # [B, 1, T, T]
        for block in self.blocks:
            x = block(x, allowed)
        return self.norm(x)  # [B, T, D]

    def _embed(self, seq: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        t = seq.shape[1]
        table = torch.cat([torch.zeros_like(items[:1]), items], dim=0)  # [N+1, D], row 0 = padding
        x = table[seq] + self.pos.weight[-t:].unsqueeze(0)  # [B, T, D]
        return cast(torch.Tensor, self.drop(x))

    def attention(self, seq: torch.Tensor) -> list[torch.Tensor]:
        """Each block's attention weights ``float[B, H, T, T]`` for ``seq`` (as scoring reads it)."""
        x = self._embed(seq, F.normalize(self.items(), dim=-1))  # [B, T, D]: scoring's unit items
        return attention_maps(self.blocks, x, causal_padding_mask(seq))[1]


class LMAdapter(SequenceAttention, TorchRecommender):
    """UniSRec-style adapter over frozen LM vectors, hybrid with ID embeddings (see the module docstring).

    Parameters
    ----------
    encoder, template, cache_dir
        Item text encoder spec, template and embedding cache folder (as in ``TextKNN``).
    dim : int
        Hidden size ``D``.
    n_experts : int
        Experts ``K`` of the whitening mixture.
    n_layers, n_heads : int
        Causal Transformer blocks and attention heads (``dim`` divisible by ``n_heads``).
    max_len : int
        Most recent items of a history that the encoder reads.
    dropout : float
        Dropout on text vectors, embeddings, attention and feed-forward layers.
    use_id : bool
        Add learned ID embeddings to warm items (hybrid scoring); False = text only.
    id_dropout : float
        Share of items whose ID embedding is hidden at each training step.
    temperature : float
        Softmax temperature ``tau`` on cosine similarities.
    n_negatives : int, optional
        None: softmax over every warm item; an int: sampled softmax with that many shared negatives.
    epochs, batch_size, lr, weight_decay, grad_clip, patience, seed, device, num_threads, progress
        Training settings (``explorec.models.training.Trainer``); ``epochs=0`` builds the head without
        training it (used by ``transfer`` for zero-shot transfer). Every step passes the whole item
        table through the adapter (the softmax needs every warm item), a cost independent of the batch
        size, hence the large default batch.
    """

    name = "lm-adapter"
    scores_cold_items = True
    #: head weights of the source model while ``transfer`` builds a target model
    _transfer_state: dict[str, torch.Tensor] | None = None

    def __init__(
        self,
        *,
        encoder: str = "default",
        template: str | None = None,
        cache_dir: str | None = None,
        dim: int = 128,
        n_experts: int = 4,
        n_layers: int = 2,
        n_heads: int = 2,
        max_len: int = 50,
        dropout: float = 0.2,
        use_id: bool = True,
        id_dropout: float = 0.5,
        temperature: float = 0.07,
        n_negatives: int | None = None,
        epochs: int = 40,
        batch_size: int = 512,
        lr: float = 2e-3,
        weight_decay: float = 0.0,
        grad_clip: float | None = 1.0,
        patience: int = 5,
        seed: int = 0,
        device: str = "auto",
        num_threads: int | None = None,
        progress: bool = True,
    ) -> None:
        self.encoder = encoder
        self.template = template
        self.cache_dir = cache_dir
        self.dim = dim
        self.n_experts = n_experts
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.max_len = max_len
        self.dropout = dropout
        self.use_id = use_id
        self.id_dropout = id_dropout
        self.temperature = temperature
        self.n_negatives = n_negatives
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
        return {
            "encoder": "hashing:128",
            "dim": 32,
            "n_layers": 1,
            "epochs": 15,
            "lr": 3e-3,
            "progress": False,
        }

    # ------------------------------------------------------------------ hooks
    def _check_params(self) -> None:
        for name in ("dim", "n_experts", "n_layers", "n_heads", "max_len", "batch_size"):
            check_positive_int(name, getattr(self, name))
        if self.dim % self.n_heads:
            raise ConfigError(f"dim ({self.dim}) must be divisible by n_heads ({self.n_heads})")
        check_range("dropout", self.dropout, 0.0, 0.95)
        check_range("id_dropout", self.id_dropout, 0.0, 1.0)
        if not self.temperature > 0:
            raise ConfigError(f"temperature must be > 0, got {self.temperature!r}")
        if self.n_negatives is not None:
            check_positive_int("n_negatives", self.n_negatives)
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 0:
            raise ConfigError(f"epochs must be an integer >= 0, got {self.epochs!r}")

    def _module_config(self, train: Interactions, catalog: Catalog | None) -> dict[str, Any]:
        self._check_params()
        if catalog is None:
            raise ConfigError(f"{type(self).__name__}.fit needs the catalog: items are represented by text")
        encoder = make_encoder(self.encoder)
        self._text = item_vectors(catalog, encoder=encoder, template=self.template, cache_dir=self.cache_dir)
        return {
            "n_items": train.n_items,
            "text_dim": int(self._text.shape[1]),
            "dim": self.dim,
            "n_experts": self.n_experts,
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            "max_len": self.max_len,
            "dropout": self.dropout,
            "use_id": self.use_id,
            "id_dropout": self.id_dropout,
        }

    def _build_module(self, config: dict[str, Any]) -> nn.Module:
        return AdapterNet(config)

    def _initialise(self, module: nn.Module, train: Interactions, catalog: Catalog | None) -> None:
        assert isinstance(module, AdapterNet)  # built by _build_module
        text = torch.from_numpy(self._text)
        module.text.copy_(text)
        # without training no ID embedding is learned: every item then counts as cold
        warm = train.item_counts() > 0 if self.epochs > 0 else np.zeros(train.n_items, dtype=bool)
        module.warm.copy_(torch.from_numpy(warm).float())
        with torch.no_grad():
            module.adapter.bias.copy_(text.mean(dim=0).expand_as(module.adapter.bias))
        source = self._transfer_state
        if source is not None:
            shared = {k: v for k, v in source.items() if k not in ITEM_TENSORS}
            module.load_state_dict(shared, strict=False)
            with torch.no_grad():
                # keep each expert's learned offset from the catalogue's mean text vector, but centre it
                # on the new catalogue (a text table's mean is a per-domain statistic)
                module.adapter.bias.add_(text.mean(dim=0) - source["text"].mean(dim=0))
        self._warm_items = torch.from_numpy(np.flatnonzero(train.item_counts() > 0))
        del self._text

    def _fit(self, train: Interactions, catalog: Catalog | None) -> None:
        self._sequences = SequenceCache()
        if self.epochs != 0:
            super()._fit(train, catalog)
            return
        # zero epochs: the (possibly transferred) head as it is, untrained on this data
        self._fit_untrained(train, catalog)

    def _batches(self, train: Interactions, catalog: Catalog | None) -> BatchFn:
        seqs = windows(train.sequences(), self.max_len)
        if not seqs:
            raise ConfigError("lm-adapter needs users with at least 2 training interactions")
        # inputs are items 1..n-1 of a sequence, targets items 2..n (both shifted by 1: 0 = padding)
        inputs = pad_sequences([s[:-1] for s in seqs], self.max_len)
        targets = pad_sequences([s[1:] for s in seqs], self.max_len)
        lengths = np.array([s.size - 1 for s in seqs])
        batch_size = self.batch_size

        def batches(epoch: int, rng: np.random.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
            # length-bucketed batches (random order within a length, then batches shuffled): little padding
            order = np.lexsort((rng.random(len(seqs)), lengths))
            chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
            out = []
            for c in rng.permutation(len(chunks)):
                idx = chunks[c]
                width = int(lengths[idx].max())  # right-aligned: only the last `width` columns hold items
                out.append((torch.from_numpy(inputs[idx, -width:]), torch.from_numpy(targets[idx, -width:])))
            return out

        return batches

    def _loss(self, module: nn.Module, batch: Any) -> torch.Tensor:
        assert isinstance(module, AdapterNet)
        seq, target = batch  # [B, T], [B, T]
        items = F.normalize(module.items(), dim=-1)  # [N, D]
        hidden = module.encode(seq, items)[target > 0]  # [P, D] positions with a next item
        hidden = F.normalize(hidden, dim=-1)
        labels = target[target > 0] - 1  # [P] raw item indices
        warm = self._warm_items.to(seq.device)
        if self.n_negatives is None:
            candidates = warm  # [C]
            logits = hidden @ items[candidates].T / self.temperature  # [P, C]
            position = torch.full((items.shape[0],), -1, dtype=torch.long, device=seq.device)
            position[candidates] = torch.arange(candidates.numel(), device=seq.device)
            return F.cross_entropy(logits, position[labels])
        negatives = warm[torch.randint(warm.numel(), (self.n_negatives,), device=seq.device)]  # [S]
        return sampled_softmax_loss(hidden, items, labels, negatives, self.temperature)

    def _forward_scores(
        self, module: nn.Module, users: npt.NDArray[np.int64], history: Interactions
    ) -> torch.Tensor:
        assert isinstance(module, AdapterNet)
        seqs = self._sequences.get(history)
        padded = pad_sequences([seqs[u] for u in users], self.max_len)  # [B, max_len]
        width = max(1, int(min(self.max_len, max(seqs[u].size for u in users))))
        seq = torch.from_numpy(padded[:, -width:]).to(self.device_)  # [B, width]: no all-padding columns
        items = F.normalize(module.items(), dim=-1)  # [N, D]
        user = F.normalize(module.encode(seq, items)[:, -1], dim=-1)  # [B, D]
        return user @ items.T  # [B, N]

    def _attention_maps(self, seq: torch.Tensor) -> list[torch.Tensor]:
        assert isinstance(self.module_, AdapterNet)
        return self.module_.attention(seq)

    def _load_extra(self, path: Any) -> None:
        super()._load_extra(path)
        self._sequences = SequenceCache()

    def _upgrade_state(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Saves made before the shared ``explorec.models.transformer.Block`` used the adapter's own
        block names (``norm1``, ``qkv``, ``out``, ``norm2``, ``ffn.2``); they load unchanged in value."""
        return {_LEGACY_BLOCK_KEY.sub(_rename_block_key, key): value for key, value in state.items()}

    # ------------------------------------------------------------------ transfer
    def transfer(
        self,
        train: Interactions,
        catalog: Catalog,
        *,
        epochs: int = 0,
        valid: Interactions | None = None,
        **overrides: Any,
    ) -> LMAdapter:
        """A new adapter for another catalogue that starts from this one's head.

        The whitening/MoE adapter, positions and Transformer are copied; the text table is re-encoded
        from ``catalog``, the whitening biases move by the difference of the two catalogues' mean text
        vectors, and ID embeddings start at zero (every target item starts cold). With
        ``epochs=0`` nothing is trained on the target (zero-shot transfer: ``train`` only supplies the
        vocabulary); with ``epochs > 0`` the copy is fine-tuned on ``train`` (a small share of target
        data, say), early-stopping on ``valid`` when given.

        Parameters
        ----------
        train : Interactions
            Target-domain training interactions (may be tiny).
        catalog : Catalog
            Target catalogue with item text.
        epochs : int
            Fine-tuning epochs on ``train`` (0 = zero-shot).
        valid : Interactions, optional
            Target validation interactions for early stopping.
        **overrides
            Other hyper-parameters to change (``template`` for the target dataset, ``lr``, ...).
        """
        self._check_fitted()
        params = {**self.get_params(), **overrides, "epochs": epochs}
        target = type(self)(**params)
        target._transfer_state = {k: v.detach().cpu() for k, v in self.module_.state_dict().items()}
        try:
            return target.fit(train, catalog, valid=valid)
        finally:
            target._transfer_state = None

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
