"""SASRec: a causal Transformer over the user's item sequence (Kang & McAuley, ICDM 2018).

The network reads the user's most recent ``max_len`` items, right-aligned (the latest item sits at the
last position), and at every position ``t`` predicts the item that follows it:

    h_t = Transformer(e_1 + p_1, ..., e_t + p_t)[t]            causal self-attention, learned positions
    score(t, i) = <h_t, e_i>                                     the input item table is the output table

Item representations ``e_i`` are an ID embedding (``item_input="id"``), a frozen language-model vector
of the item's text through a learned projection (``"text"``, in the spirit of UniSRec / VQ-Rec; such
items can be scored even when they never occurred in training), the mean of learned embeddings of the
item's attribute tokens (``"attributes"``: category and brand ids, shared by many items, so a rare item
borrows from the frequent ones; RecBole's SASRecF pools feature embeddings likewise, but concatenates
them with the ID and projects them, on the input side only), or a ``+``-joined sum of these
(``"id+text"``, ``"id+attributes"``, ...). The table is tied: the attributes shape both the input and
the output side.

Training uses the full softmax cross-entropy over the whole catalogue at *every* position of each
sequence in one pass (``loss="full"``), instead of treating every prefix as a separate example; for
large catalogues ``loss="sampled"`` scores the target against ``n_negatives`` uniformly drawn items,
drawn for every position (``negative_sharing="position"``), for every sequence (``"sequence"``) or
shared by the batch (``"batch"``).
Optional objectives (all off by default, switched on by their weights):

* ``cl_weight``: contrastive InfoNCE between two augmented views of each sequence
  (``cl_augment="crop+mask+reorder"``, CL4SRec; or ``"dropout"``, DuoRec's unsupervised variant),
* ``adv_weight``: the loss under an FGSM worst-case perturbation of the item table of size
  ``adv_epsilon`` (APR),
* ``category_weight``: multi-task prediction of the next item's category (a catalogue attribute).

Differential privacy (``dp_epsilon`` finite; ``explorec.models.privacy``): DP-SGD with one example per
user, the user's most recent ``max_len + 1`` training items (their earlier items are not used), whose
loss is the mean next-item cross-entropy over its positions, so clipping bounds each user's whole
contribution. Under DP only ``loss="full"`` is allowed and the contrastive and adversarial objectives
(whose losses mix users of a batch) are refused; the cold-user prior is uniform (zeros), since the
training item counts would be released without protection.

Truncation rule: for scoring, a history longer than ``max_len`` keeps its ``max_len`` most recent items.
For training, a sequence of ``n > max_len + 1`` items is cut, from its end backwards, into windows of
``max_len + 1`` items that overlap by one, so every item except the first is a training target exactly
once. Users with an empty history get the cold-user path: the training popularity prior
``log(1 + count_i)`` (no crash, no arbitrary Transformer output).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from explorec.data.interactions import Catalog, Interactions
from explorec.errors import ConfigError, check_choice, check_positive_int, check_range
from explorec.models.adversarial import fgsm_perturbation
from explorec.models.augment import augment, check_ratios, info_nce, parse_methods
from explorec.models.losses import sampled_softmax_loss, sequence_sampled_softmax_loss
from explorec.models.torch_base import (
    SequenceAttention,
    SequenceCache,
    TorchRecommender,
    item_attribute_bags,
    item_categories,
    pad_sequences,
    text_item_vectors,
)
from explorec.models.training import BatchFn
from explorec.models.transformer import BLOCKS, attention_maps, causal_padding_mask

logger = logging.getLogger(__name__)

ITEM_INPUTS = (
    "id",
    "text",
    "id+text",
    "attributes",
    "id+attributes",
    "text+attributes",
    "id+text+attributes",
)
LOSSES = ("full", "sampled")
NEGATIVE_SHARING = ("position", "sequence", "batch")
INITS = ("normal", "xavier")
BATCHINGS = ("length", "random")
PAD_ATTENTIONS = ("masked", "sink")
WEIGHTINGS = ("batch", "position")


# ====================================================================== the network
@dataclass(frozen=True)
class SASRecConfig:
    """Architecture of ``SASRecNet``; index 0 is padding, 1..n_items the items, n_items+1 the mask token."""

    n_items: int
    dim: int = 64
    n_layers: int = 2
    n_heads: int = 2
    max_len: int = 50
    ffn_mult: int = 4
    dropout: float = 0.2
    attn_dropout: float = 0.2
    block: str = "pre-norm"
    init: str = "normal"
    pad_attention: str = "masked"
    item_input: str = "id"
    text_dim: int = 0
    n_attributes: int = 0  # attribute-token vocabulary, when item_input uses attributes
    n_attribute_links: int = 0  # (item, token) pairs
    n_categories: int = 0


class ItemTable(nn.Module):
    """The ``[n_items + 2, D]`` item table: row 0 padding (zeros), rows 1..N items, row N+1 the mask."""

    text: torch.Tensor  # float[N, text_dim] buffer, when item_input uses text
    attr_tokens: torch.Tensor  # int64[links] buffer: every item's token ids, item after item
    attr_offsets: torch.Tensor  # int64[N] buffer: where item i's tokens start in attr_tokens

    def __init__(self, cfg: SASRecConfig) -> None:
        super().__init__()
        self.n_items = cfg.n_items
        parts = cfg.item_input.split("+")
        self.use_id = "id" in parts
        self.use_text = "text" in parts
        self.use_attributes = "attributes" in parts
        if self.use_id:
            self.id_emb = nn.Embedding(cfg.n_items + 2, cfg.dim, padding_idx=0)
            nn.init.normal_(self.id_emb.weight, std=cfg.dim**-0.5)
            with torch.no_grad():
                self.id_emb.weight[0].zero_()
        if self.use_text:
            self.register_buffer("text", torch.zeros(cfg.n_items, cfg.text_dim))  # frozen LM vectors
            self.text_proj = nn.Sequential(nn.Linear(cfg.text_dim, cfg.dim), nn.LayerNorm(cfg.dim))
            self.mask_vec = nn.Parameter(torch.zeros(1, cfg.dim))
        if self.use_attributes:
            self.register_buffer("attr_tokens", torch.zeros(cfg.n_attribute_links, dtype=torch.int64))
            self.register_buffer("attr_offsets", torch.zeros(cfg.n_items, dtype=torch.int64))
            self.attr_emb = nn.EmbeddingBag(cfg.n_attributes, cfg.dim, mode="mean")
            nn.init.normal_(self.attr_emb.weight, std=cfg.dim**-0.5)
            if not (self.use_id or self.use_text):  # the mask token's only learned part
                self.mask_vec = nn.Parameter(torch.zeros(1, cfg.dim))

    def forward(self) -> torch.Tensor:
        parts = []
        if self.use_text:
            items = self.text_proj(self.text)  # [N, D]
            zero = items.new_zeros(1, items.shape[1])  # [1, D]
            parts.append(torch.cat([zero, items, self.mask_vec], dim=0))  # [N+2, D]
        if self.use_attributes:
            items = self.attr_emb(self.attr_tokens, self.attr_offsets)  # [N, D]; no token: zeros
            zero = items.new_zeros(1, items.shape[1])  # [1, D]: the padding row
            mask = zero if self.use_id or self.use_text else self.mask_vec  # [1, D]
            parts.append(torch.cat([zero, items, mask], dim=0))  # [N+2, D]
        if self.use_id:
            parts.append(self.id_emb.weight)  # [N+2, D]
        table = parts[0]
        for part in parts[1:]:
            table = table + part
        return table  # [N+2, D]


class SASRecNet(nn.Module):
    """Item table + learned positions + shared causal Transformer blocks + final layer norm."""

    def __init__(self, cfg: SASRecConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.items = ItemTable(cfg)
        self.pos = nn.Embedding(cfg.max_len, cfg.dim)
        nn.init.normal_(self.pos.weight, std=0.02)
        self.drop = nn.Dropout(cfg.dropout)
        block = BLOCKS[cfg.block]
        self.blocks = nn.ModuleList(
            block(
                cfg.dim,
                cfg.n_heads,
                dropout=cfg.dropout,
                attn_dropout=cfg.attn_dropout,
                ffn_mult=cfg.ffn_mult,
                ffn_dropout=cfg.dropout,
            )
            for _ in range(cfg.n_layers)
        )
        self.ln_f = nn.LayerNorm(cfg.dim)
        self.category_head = nn.Linear(cfg.dim, cfg.n_categories) if cfg.n_categories else None
        if cfg.init == "xavier":  # every matrix, as SASRec's authors and RecTools initialise
            for param in self.parameters():
                if param.dim() > 1:
                    nn.init.xavier_normal_(param)
            if self.items.use_id:
                with torch.no_grad():
                    self.items.id_emb.weight[0].zero_()

    def forward(
        self, seq: torch.Tensor, table: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states of right-aligned sequences.

        Parameters
        ----------
        seq : int64[B, T]
            T <= max_len; 0 = padding on the left.
        table : float[N+2, D], optional
            Item table to use (e.g. adversarially perturbed); ``self.items()`` when None.

        Returns
        -------
        hidden : float[B, T, D]
        table : float[N+2, D]
        """
        if table is None:
            table = self.items()  # [N+2, D]
        groups = length_groups(seq)
        if groups is None:
            return self._encode(seq, table), table  # [B, T, D], [N+2, D]
        # rows of very different lengths: each group of similar lengths at its own width (the same
        # numbers at the real positions, without most of the padding); padding outside a group stays 0
        out = table.new_zeros(seq.shape[0], seq.shape[1], table.shape[1])  # [B, T, D]
        for rows, width in groups:
            out[rows, -width:] = self._encode(seq[rows, -width:], table)
        return out, table

    def _encode(self, seq: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        x = self._embed(seq, table)  # [B, T, D]
        allowed = causal_padding_mask(seq)  # [B, 1, T, T]
        pads = self._pad_log_count(seq)
        for block in self.blocks:
            x = block(x, allowed, pads)  # [B, T, D]
        return cast(torch.Tensor, self.ln_f(x))  # [B, T, D]

    def _pad_log_count(self, seq: torch.Tensor) -> torch.Tensor | None:
        """``float[B]``: log of each sequence's padding up to ``max_len`` (``pad_attention="sink"``)."""
        if self.cfg.pad_attention == "masked":
            return None
        count = self.cfg.max_len - (seq != 0).sum(dim=1)  # [B]; the mask token counts as real
        return torch.log(count.to(torch.float32))  # -inf where there is no padding

    def _embed(self, seq: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        length = seq.shape[1]
        positions = torch.arange(self.cfg.max_len - length, self.cfg.max_len, device=seq.device)  # [T]
        return cast(torch.Tensor, self.drop(table[seq] + self.pos(positions)))  # [B, T, D]

    def attention(self, seq: torch.Tensor) -> list[torch.Tensor]:
        """Each block's attention weights ``float[B, H, T, T]`` for ``seq`` (as ``forward`` reads it)."""
        x = self._embed(seq, self.items())  # [B, T, D]
        return attention_maps(self.blocks, x, causal_padding_mask(seq), self._pad_log_count(seq))[1]


# ====================================================================== the recommender
class SASRec(SequenceAttention, TorchRecommender):
    """Self-attentive sequential recommender with ID, text or ID+text items.

    Parameters
    ----------
    dim, n_layers, n_heads : int
        Hidden size, Transformer blocks, attention heads.
    max_len : int
        Most recent items read per user (see the truncation rule in the module docstring).
    ffn_mult : int
        Width of each block's feed-forward layer in multiples of ``dim`` (4 as in BERT and GPT; the
        SASRec paper and RecTools, whose SASRec the eSASRec benchmark ran, use 1).
    dropout, attn_dropout : float
        Dropout on embeddings / residual branches, and on attention weights.
    block : {"pre-norm", "sasrec"}
        Block layout: ``"pre-norm"`` (GPT-2's ``x + Attn(LN(x))``, ``x + FFN(LN(x))`` with GELU) or
        ``"sasrec"``, the layout of SASRec's authors that RecTools keeps (residuals from the normalised
        input, keys and values from the raw states, ReLU; ``transformer.SASRecBlock``).
    init : {"normal", "xavier"}
        ``"normal"``: item rows N(0, 1/dim), positions N(0, 0.02²), PyTorch's defaults elsewhere;
        ``"xavier"``: Xavier-normal for every matrix (the authors' and RecTools' choice), which starts
        the item table near zero (std ``sqrt(2 / (n_items + dim))``).
    pad_attention : {"masked", "sink"}
        ``"masked"``: a position attends only to real items. ``"sink"``: also to the left padding up to
        ``max_len``, whose states are zero, as RecTools' SASRec does by default (no key-padding mask,
        padded states zeroed before every block): the padding acts as one learned "attend to nothing"
        slot weighted by how much padding there is, i.e. by how short the history is. Computed as one
        extra key with ``+log(max_len - length)`` on its logit, not as ``max_len`` padded columns.
    batching : {"length", "random"}
        ``"length"``: batches drawn from pools of similar lengths (less padding; the loss, a mean over
        a batch's positions, then weighs every *sequence* about equally); ``"random"``: plain shuffled
        batches (as RecTools; every *position* weighs about equally, so long histories count more),
        padded to their longest sequence.
    weighting : {"batch", "position"}
        ``"batch"``: a batch's loss is the mean over its positions, so with ``batching="length"`` a
        position of a short history weighs many times more than one of a long history (each batch, and
        so each sequence, counts about the same); ``"position"``: that mean times the batch's share of
        the epoch's positions, so every position counts the same (what random batches give on average)
        while the batches keep their similar lengths.
    item_input : str
        ``"id"``, ``"text"``, ``"attributes"`` or a ``+``-joined sum of them (``"id+text"``,
        ``"id+attributes"``, ``"text+attributes"``, ``"id+text+attributes"``).
        Item representation: the sum of an ID embedding, a projected frozen text vector and the mean
        embedding of the item's attribute tokens (see the module docstring; with ``"attributes"``
        alone an item without tokens is a zero vector).
    attribute_field : str
        Where each item's attribute tokens are, read only when ``item_input`` uses attributes: a
        catalogue text field split by ``attribute_sep`` (``"attributes"``: the S3-Rec loader's
        space-joined category and brand ids) or a catalogue attribute (one token per item).
    attribute_sep : str, optional
        Token separator of that field (None: any whitespace; e.g. ``"|"`` for MovieLens genres). A
        token listed twice for an item counts twice in its mean. Under DP the bag's backward has no
        ``vmap`` batching rule: the per-user gradients are right but computed one user at a time.
    encoder : str
        Text encoder spec for ``explorec.encoders.item_vectors`` (``"default"`` = all-MiniLM-L6-v2,
        ``"hashing:<dim>"`` for tests); read only when ``item_input`` uses text.
    text_template : str, optional
        Item text template (None: chosen from the catalogue's fields).
    loss : {"full", "sampled"}
        Full softmax over the catalogue, or sampled softmax with ``n_negatives`` shared negatives.
    n_negatives : int
        Uniformly drawn negatives per prediction for ``loss="sampled"``.
    negative_sharing : {"position", "sequence", "batch"}
        ``"position"``: every position of every sequence gets its own ``n_negatives`` (as RecTools'
        SASRec in the eSASRec benchmark); ``"sequence"``: every sequence gets its own set, shared by its
        positions (one batched matrix product: about as cheap as ``"batch"``, with ``batch_size`` times
        more distinct negatives); ``"batch"``: one set shared by the whole batch (cheapest, but an
        epoch then pushes down about ``batch_size x length`` times fewer negatives, and on Beauty it
        plateaued far below, see docs/benchmarks/neural.md).
    cl_weight, cl_temperature : float
        Weight and temperature of the contrastive loss (0 = off).
    cl_augment : str
        ``"crop+mask+reorder"`` (any ``+``-joined subset) or ``"dropout"``.
    crop_ratio, mask_ratio, reorder_ratio : float
        CL4SRec's η, γ, β.
    adv_weight, adv_epsilon : float
        Weight of the adversarial loss (0 = off) and the perturbation size.
    category_attribute : str, optional
        Catalogue attribute predicted as an auxiliary task (ints or strings; one per item).
    category_weight : float
        Weight of that task (0 = off).
    epochs, batch_size, lr, weight_decay, grad_clip : training settings (see ``Trainer``)
    patience : int
        Early stopping: stop after this many *validations* without a better valid NDCG@10.
    validate_every : int
        Validate (full ranking of ``valid``) after every ``validate_every``-th epoch; with it, training
        stops after up to ``patience * validate_every`` epochs without improvement.
    seed : int
        Seeds initialisation, dropout, batch order, augmentations and negatives.
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    num_threads : int, optional
        torch threads for training and scoring.
    progress : bool
        Progress bar during training.
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
    >>> model = SASRec(dim=16, epochs=3, progress=False).fit(split.train)
    >>> model.score([0, 1], history=split.test_history).shape
    (2, 30)
    """

    name = "sasrec"
    uses_history = True
    scores_cold_items = False
    batch_rows = ("input", "target", "category", "view1", "view2")

    def __init__(
        self,
        *,
        dim: int = 64,
        n_layers: int = 2,
        n_heads: int = 2,
        max_len: int = 50,
        ffn_mult: int = 4,
        dropout: float = 0.3,
        attn_dropout: float = 0.2,
        block: str = "pre-norm",
        init: str = "normal",
        pad_attention: str = "masked",
        batching: str = "length",
        weighting: str = "batch",
        item_input: str = "id",
        attribute_field: str = "attributes",
        attribute_sep: str | None = None,
        encoder: str = "default",
        text_template: str | None = None,
        loss: str = "full",
        n_negatives: int = 256,
        negative_sharing: str = "position",
        cl_weight: float = 0.0,
        cl_temperature: float = 1.0,
        cl_augment: str = "crop+mask+reorder",
        crop_ratio: float = 0.6,
        mask_ratio: float = 0.3,
        reorder_ratio: float = 0.6,
        adv_weight: float = 0.0,
        adv_epsilon: float = 0.5,
        category_attribute: str | None = None,
        category_weight: float = 0.0,
        epochs: int = 200,
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        grad_clip: float | None = 1.0,
        patience: int = 5,
        validate_every: int = 1,
        seed: int = 0,
        device: str = "auto",
        num_threads: int | None = None,
        progress: bool = True,
        dp_epsilon: float | None = None,
        dp_delta: float | None = None,
        dp_max_grad_norm: float = 1.0,
    ) -> None:
        self.dim = dim
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.max_len = max_len
        self.ffn_mult = ffn_mult
        self.dropout = dropout
        self.attn_dropout = attn_dropout
        self.block = block
        self.init = init
        self.pad_attention = pad_attention
        self.batching = batching
        self.weighting = weighting
        self.item_input = item_input
        self.attribute_field = attribute_field
        self.attribute_sep = attribute_sep
        self.encoder = encoder
        self.text_template = text_template
        self.loss = loss
        self.n_negatives = n_negatives
        self.negative_sharing = negative_sharing
        self.cl_weight = cl_weight
        self.cl_temperature = cl_temperature
        self.cl_augment = cl_augment
        self.crop_ratio = crop_ratio
        self.mask_ratio = mask_ratio
        self.reorder_ratio = reorder_ratio
        self.adv_weight = adv_weight
        self.adv_epsilon = adv_epsilon
        self.category_attribute = category_attribute
        self.category_weight = category_weight
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.grad_clip = grad_clip
        self.patience = patience
        self.validate_every = validate_every
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
            "n_heads": 1,
            "n_layers": 1,
            "max_len": 8,
            "epochs": 30,
            "lr": 0.01,
            "dropout": 0.1,
            "attn_dropout": 0.0,
            "progress": False,
            "device": "cpu",
        }

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        for name in (
            "dim",
            "n_layers",
            "n_heads",
            "max_len",
            "ffn_mult",
            "n_negatives",
            "batch_size",
            "validate_every",
        ):
            check_positive_int(name, getattr(self, name))
        check_range("dropout", self.dropout, 0.0, 1.0)
        check_range("attn_dropout", self.attn_dropout, 0.0, 1.0)
        check_choice("block", self.block, BLOCKS)
        check_choice("init", self.init, INITS)
        check_choice("pad_attention", self.pad_attention, PAD_ATTENTIONS)
        check_choice("batching", self.batching, BATCHINGS)
        check_choice("weighting", self.weighting, WEIGHTINGS)
        check_choice("item_input", self.item_input, ITEM_INPUTS)
        sep = self.attribute_sep
        if sep is not None and (not isinstance(sep, str) or not sep):
            raise ConfigError(f"attribute_sep must be None (whitespace) or a non-empty string, got {sep!r}")
        check_choice("loss", self.loss, LOSSES)
        check_choice("negative_sharing", self.negative_sharing, NEGATIVE_SHARING)
        for name in ("cl_weight", "adv_weight", "category_weight", "adv_epsilon"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.cl_weight > 0 and self.cl_augment != "dropout":
            parse_methods(self.cl_augment)
            check_ratios(self.crop_ratio, self.mask_ratio, self.reorder_ratio)
        if self.category_weight > 0 and not self.category_attribute:
            raise ConfigError("category_weight > 0 needs category_attribute (a catalogue attribute name)")
        if self._dp_target() is not None:
            if self.loss != "full":
                raise ConfigError(
                    f"dp_epsilon is set: SASRec trains with loss='full' under DP, got {self.loss!r}"
                )
            for name in ("cl_weight", "adv_weight"):
                if getattr(self, name) > 0:
                    raise ConfigError(
                        f"dp_epsilon is set: {name} must be 0 under DP (its loss mixes the users of a "
                        "batch, so per-user clipping would not bound one user's influence), "
                        f"got {getattr(self, name)!r}"
                    )

    # ------------------------------------------------------------------ TorchRecommender hooks
    def _module_config(self, train: Interactions, catalog: Catalog | None) -> dict[str, Any]:
        self._check_params()
        if self._dp_target() is None:
            self.item_prior_ = np.log1p(train.item_counts()).astype(np.float32)
        else:  # the exact counts would be released unprotected: cold users get a uniform prior under DP
            self.item_prior_ = np.zeros(train.n_items, dtype=np.float32)
        parts = self.item_input.split("+")
        self._text_vectors = None
        text_dim = 0
        if "text" in parts:
            self._text_vectors = text_item_vectors(catalog, self.encoder, self.text_template, "SASRec")
            text_dim = int(self._text_vectors.shape[1])
        self._attribute_bags = None
        n_attributes = 0
        if "attributes" in parts:
            tokens, offsets, n_attributes = item_attribute_bags(
                catalog, self.attribute_field, self.attribute_sep, "SASRec"
            )
            self._attribute_bags = (tokens, offsets)
        self._categories = None
        n_categories = 0
        if self.category_weight > 0 and self.category_attribute:
            self._categories, n_categories = item_categories(catalog, self.category_attribute)
        config = SASRecConfig(
            n_items=train.n_items,
            dim=self.dim,
            n_layers=self.n_layers,
            n_heads=self.n_heads,
            max_len=self.max_len,
            ffn_mult=self.ffn_mult,
            dropout=self.dropout,
            attn_dropout=self.attn_dropout,
            block=self.block,
            init=self.init,
            pad_attention=self.pad_attention,
            item_input=self.item_input,
            text_dim=text_dim,
            n_attributes=n_attributes,
            n_attribute_links=0 if self._attribute_bags is None else int(self._attribute_bags[0].size),
            n_categories=n_categories,
        )
        return asdict(config)

    def _build_module(self, config: dict[str, Any]) -> nn.Module:
        return SASRecNet(SASRecConfig(**config))

    def _initialise(self, module: nn.Module, train: Interactions, catalog: Catalog | None) -> None:
        items = cast(SASRecNet, module).items
        if self._text_vectors is not None:
            items.text.copy_(torch.from_numpy(self._text_vectors))
        if self._attribute_bags is not None:
            items.attr_tokens.copy_(torch.from_numpy(self._attribute_bags[0]))
            items.attr_offsets.copy_(torch.from_numpy(self._attribute_bags[1]))

    def _batches(self, train: Interactions, catalog: Catalog | None) -> BatchFn:
        windows = training_windows(train.sequences(), self.max_len)
        if not windows:
            raise ConfigError("SASRec.fit: no user has two or more training interactions to learn from")
        logger.info("SASRec: %d training windows from %d users", len(windows), train.n_users)
        categories = None if self._categories is None else np.concatenate([[-1], self._categories])
        mask_token = train.n_items  # raw index; pad_sequences shifts it to row n_items + 1 of the table
        methods = (
            parse_methods(self.cl_augment) if self.cl_weight > 0 and self.cl_augment != "dropout" else ()
        )
        aug: dict[str, Any] = {
            "methods": methods,
            "eta": self.crop_ratio,
            "gamma": self.mask_ratio,
            "beta": self.reorder_ratio,
        }

        # weighting="position": a batch's mean loss times its share of the positions, so that every
        # position of an epoch weighs the same, whatever the length of the sequences batched with it
        n_batches = -(-len(windows) // self.batch_size)
        positions_per_batch = sum(w.size - 1 for w in windows) / n_batches

        def batches(epoch: int, rng: np.random.Generator) -> list[dict[str, torch.Tensor]]:
            out = []
            if self.batching == "random":
                order = rng.permutation(len(windows))
                plan = [order[i : i + self.batch_size] for i in range(0, order.size, self.batch_size)]
            else:
                plan = length_bucketed_batches([w.size for w in windows], self.batch_size, rng)
            for idx in plan:
                chunk = [windows[i] for i in idx]
                width = max(w.size for w in chunk) - 1
                batch = {
                    "input": torch.from_numpy(pad_sequences([w[:-1] for w in chunk], width)),  # [B, T]
                    "target": torch.from_numpy(pad_sequences([w[1:] for w in chunk], width)),  # [B, T]
                }
                if self.weighting == "position":
                    share = sum(w.size - 1 for w in chunk) / positions_per_batch
                    batch["scale"] = torch.tensor(share, dtype=torch.float32)  # [] (a scalar)
                if categories is not None:
                    batch["category"] = torch.from_numpy(categories[batch["target"].numpy()])  # [B, T]
                if methods:
                    for view in ("view1", "view2"):
                        seqs = [augment(w[:-1], rng, mask_token=mask_token, **aug) for w in chunk]
                        batch[view] = torch.from_numpy(pad_sequences(seqs, width))  # [B, T]
                out.append(batch)
            return out

        return batches

    def _loss(self, module: nn.Module, batch: Any) -> dict[str, torch.Tensor]:
        net = cast(SASRecNet, module)
        target = batch["target"]  # [B, T]
        hidden, table = net(batch["input"])  # [B, T, D], [N+2, D]
        real = target > 0  # [B, T]
        main = self._next_item_loss(hidden, table, target)
        parts = {"next": main.detach()}
        total = main
        if self.adv_weight > 0:
            delta = fgsm_perturbation(main, table, self.adv_epsilon)  # [N+2, D]
            delta[0] = 0.0  # the padding row stays zero
            adv_hidden, adv_table = net(batch["input"], table + delta)
            adv = self._next_item_loss(adv_hidden, adv_table, target)
            total = total + self.adv_weight * adv
            parts["adv"] = adv.detach()
        if self.category_weight > 0:
            cat = batch["category"][real]  # [M]
            assert net.category_head is not None  # built whenever category_weight > 0
            logits = net.category_head(hidden[real])  # [M, n_categories]
            known = cat >= 0
            cat_loss = F.cross_entropy(logits[known], cat[known]) if bool(known.any()) else logits.sum() * 0
            total = total + self.category_weight * cat_loss
            parts["category"] = cat_loss.detach()
        if self.cl_weight > 0:
            if self.cl_augment == "dropout":
                z1 = hidden[:, -1]  # [B, D]
                z2 = net(batch["input"])[0][:, -1]  # [B, D]
            else:
                z1 = net(batch["view1"])[0][:, -1]  # [B, D]
                z2 = net(batch["view2"])[0][:, -1]  # [B, D]
            cl = info_nce(z1, z2, self.cl_temperature)
            total = total + self.cl_weight * cl
            parts["cl"] = cl.detach()
        if "scale" in batch:
            total = total * batch["scale"]
        return {"loss": total, **parts}

    # ------------------------------------------------------------------ differential privacy
    def _dp_examples(self, train: Interactions, catalog: Catalog | None) -> dict[str, torch.Tensor]:
        """One example per user with two or more items: their most recent ``max_len + 1`` items."""
        seqs = [s for s in train.sequences() if s.size >= 2]
        if not seqs:
            raise ConfigError("SASRec.fit: no user has two or more training interactions to learn from")
        windows = [s[-(self.max_len + 1) :] for s in seqs]
        unused = sum(s.size - w.size for s, w in zip(seqs, windows, strict=True))
        logger.info(
            "SASRec (DP): %d users, one example each; %d older training items beyond the most recent "
            "max_len + 1 = %d per user are not used",
            len(windows),
            unused,
            self.max_len + 1,
        )
        target = pad_sequences([w[1:] for w in windows], self.max_len)  # [U, T]
        out = {
            "input": torch.from_numpy(pad_sequences([w[:-1] for w in windows], self.max_len)),  # [U, T]
            "target": torch.from_numpy(target),  # [U, T]
        }
        if self._categories is not None:
            categories = np.concatenate([[-1], self._categories])
            out["category"] = torch.from_numpy(categories[target])  # [U, T]
        return out

    def _dp_trim(self) -> Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
        def trim(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            """Drop the columns that are padding in every row (sequences are right-aligned)."""
            width = max(1, int((batch["target"] > 0).sum(1).max()))
            return {k: v[:, -width:] for k, v in batch.items()}

        return trim

    def _dp_loss(
        self, module: nn.Module, example: dict[str, torch.Tensor], shared: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """Mean next-item cross-entropy over one user's positions (and the category task when on)."""
        net = cast(SASRecNet, module)
        target = example["target"]  # [T]
        hidden, table = net(example["input"][None])  # [1, T, D], [N+2, D]
        h = hidden[0]  # [T, D]
        real = (target > 0).to(h.dtype)  # [T]
        count = real.sum().clamp_min(1.0)
        # scores against the whole table with the padding and mask rows set to -inf, rather than a
        # slice of it: the slice's backward would zero-fill and copy one [N+2, D] gradient per user
        outside = torch.zeros(self.n_items_ + 2, dtype=h.dtype, device=h.device)  # [N+2]
        outside[0] = outside[-1] = float("-inf")
        logits = h @ table.T + outside  # [T, N+2]; target i+1 is the row of item i
        ce = F.cross_entropy(logits, target.clamp_min(1), reduction="none")  # [T]
        loss = (ce * real).sum() / count
        if self.category_weight > 0:
            assert net.category_head is not None  # built whenever category_weight > 0
            cat = example["category"]  # [T], -1 = unknown
            known = real * (cat >= 0).to(h.dtype)  # [T]
            cat_ce = F.cross_entropy(net.category_head(h), cat.clamp_min(0), reduction="none")  # [T]
            loss = loss + self.category_weight * (cat_ce * known).sum() / known.sum().clamp_min(1.0)
        return loss

    def _attention_maps(self, seq: torch.Tensor) -> list[torch.Tensor]:
        return cast(SASRecNet, self.module_).attention(seq)

    def _next_item_loss(
        self, hidden: torch.Tensor, table: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        """Mean cross-entropy of the next item over the real positions; ``hidden`` [B, T, D],
        ``target`` [B, T] in 1..N (0 = padding)."""
        items = table[1 : self.n_items_ + 1]  # [N, D]
        if self.loss == "sampled" and self.negative_sharing == "sequence":
            per_sequence = (hidden.shape[0], self.n_negatives)  # [B, S]
            negatives = torch.randint(0, self.n_items_, per_sequence, device=hidden.device)
            return sequence_sampled_softmax_loss(hidden, items, target - 1, negatives)
        real = target > 0  # [B, T]
        h, t = hidden[real], target[real] - 1  # [M, D], [M]
        if self.loss == "full":
            return F.cross_entropy(h @ items.T, t)  # logits [M, N]
        shape = (self.n_negatives,) if self.negative_sharing == "batch" else (h.shape[0], self.n_negatives)
        negatives = torch.randint(0, self.n_items_, shape, device=hidden.device)  # [S] or [M, S]
        return sampled_softmax_loss(h, items, t, negatives)

    def _forward_scores(
        self, module: nn.Module, users: npt.NDArray[np.int64], history: Interactions
    ) -> torch.Tensor:
        seqs = self._sequences.get(history)
        chunk = [seqs[u] for u in users]
        width = max(1, min(self.max_len, max(s.size for s in chunk)))
        seq = torch.from_numpy(pad_sequences(chunk, width)).to(self.device_)  # [B, T]
        hidden, table = module(seq)  # [B, T, D], [N+2, D]
        scores = hidden[:, -1] @ table[1 : self.n_items_ + 1].T  # [B, N]
        empty = torch.from_numpy(np.array([s.size == 0 for s in chunk])).to(self.device_)  # [B]
        if bool(empty.any()):
            prior = torch.from_numpy(self.item_prior_).to(self.device_)  # [N]
            scores[empty] = prior
        return scores


# ====================================================================== data helpers
#: rows per length group when ``SASRecNet.forward`` splits a batch (see ``length_groups``)
GROUPS = 4
#: split only when the groups compute at most this share of the padded batch
GROUP_GAIN = 0.7


def length_groups(seq: torch.Tensor) -> list[tuple[torch.Tensor, int]] | None:
    """``GROUPS`` groups of rows of similar length, each with its width, or None when not worth it.

    ``seq`` is ``int64[B, T]``, left-padded. The rows are sorted by their number of real positions
    and cut into ``GROUPS`` equal parts; each part needs only its longest row's width. None when that
    would still compute more than ``GROUP_GAIN`` of ``B x T`` (rows of about equal length, such as
    length-bucketed batches), so those batches run exactly as one.
    """
    batch, width = seq.shape
    if batch < 2 * GROUPS:
        return None
    lengths = (seq != 0).sum(dim=1).clamp_min(1)  # [B]
    order = torch.argsort(lengths, stable=True)  # [B]
    parts = [rows for rows in order.tensor_split(GROUPS) if rows.numel()]
    widths = [int(lengths[rows].max()) for rows in parts]
    if sum(r.numel() * w for r, w in zip(parts, widths, strict=True)) > GROUP_GAIN * batch * width:
        return None
    return list(zip(parts, widths, strict=True))


def training_windows(seqs: list[npt.NDArray[np.int64]], max_len: int) -> list[npt.NDArray[np.int64]]:
    """Cut each sequence (of >= 2 items) into windows of at most ``max_len + 1`` items.

    Windows are taken from the end backwards and overlap by one item, so each item after the first is a
    prediction target exactly once and the most recent items are always in a full window.
    """
    size = max_len + 1
    out = []
    for seq in seqs:
        end = seq.size
        while end >= 2:
            start = max(0, end - size)
            out.append(seq[start:end])
            end = start + 1
    return out


def length_bucketed_batches(
    lengths: list[int], batch_size: int, rng: np.random.Generator, *, bucket: int = 32
) -> list[npt.NDArray[np.int64]]:
    """Shuffled batches of indices, each drawn from a pool of similar lengths (less padding to compute).

    The order is shuffled, cut into pools of ``bucket`` batches, each pool sorted by length and cut into
    batches; the batches are then shuffled again.
    """
    order = rng.permutation(len(lengths))
    arr = np.asarray(lengths)
    batches: list[npt.NDArray[np.int64]] = []
    pool = batch_size * bucket
    for start in range(0, order.size, pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(arr[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, chunk.size, batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]
