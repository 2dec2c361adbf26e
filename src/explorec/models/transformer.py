"""The attention pieces shared by the neural recommenders: one Transformer block, one mask, one pooling.

SASRec (``explorec.models.sasrec``) and the LM adapter (``explorec.models.adapter``) run the same
pre-norm causal Transformer block (Vaswani et al., 2017, with the pre-norm placement of GPT-2)::

    x = x + Dropout(Attn(LN1(x)))           causal multi-head self-attention, padding keys hidden
    x = x + Dropout(FFN(LN2(x)))            FFN = Linear(D, m D) -> GELU -> Dropout -> Linear(m D, D)

They differ only in settings: SASRec uses ``ffn_mult=4`` with dropout inside the FFN and a separate
attention dropout; the adapter uses ``ffn_mult=2``, no FFN dropout and its one dropout rate for
attention. SASRec can instead run its authors' block (``SASRecBlock``, ``block="sasrec"``), which
RecTools keeps: ``q = LN1(x); x = q + Attn(q, x, x); f = LN2(x); x = f + Dropout(FFN(f))`` with ReLU.
Either block can let every position also attend to the zeroed left padding (``pad_log_count``: one
sink key counted once per padded position, as RecTools' SASRec without a key-padding mask). The
two-tower model's history pooling is single-query scaled dot-product attention
(``attention_weights``), which is the same attention without projections.

The state-dict layout of a block is ``ln1``, ``attn.qkv``, ``attn.out``, ``ln2``, ``ffn.0``,
``ffn.3`` (SASRec's layout since its first release). Parameters are created in the order
qkv, out, ffn.0, ffn.3, so a seeded model draws the same initial weights it drew before the blocks
were shared.

Examples
--------
>>> import torch
>>> block = Block(8, 2, dropout=0.0, attn_dropout=0.0).eval()
>>> seq = torch.tensor([[0, 3, 5]])
>>> block(torch.randn(1, 3, 8), causal_padding_mask(seq)).shape
torch.Size([1, 3, 8])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from explorec.errors import ConfigError

#: how :func:`last_position_attention` combines the blocks by default (see its docstring)
ATTENTION_METHOD = "rollout"


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention under a boolean mask ``allowed`` (True = may attend)."""

    def __init__(self, dim: int, n_heads: int, attn_dropout: float) -> None:
        super().__init__()
        if dim % n_heads:
            raise ConfigError(f"dim ({dim}) must be a multiple of n_heads ({n_heads})")
        self.n_heads = n_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.attn_dropout = attn_dropout

    def _project(
        self, x: torch.Tensor, kv: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries from ``x``; keys and values from ``kv`` (``x`` itself when None): 3 x ``[B, T, D]``."""
        dim = x.shape[2]
        if kv is None:
            q, k, v = self.qkv(x).split(dim, dim=2)
            return q, k, v
        q = F.linear(x, self.qkv.weight[:dim], self.qkv.bias[:dim])  # [B, T, D]
        k, v = self._key_values(kv)  # 2 x [B, T, D]
        return q, k, v

    def _key_values(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of ``z`` (``float[..., D]``): the last two thirds of the qkv projection."""
        dim = z.shape[-1]
        k, v = F.linear(z, self.qkv.weight[dim:], self.qkv.bias[dim:]).split(dim, dim=-1)
        return k, v

    def _keys_and_mask(
        self,
        k: torch.Tensor,
        v: torch.Tensor,
        allowed: torch.Tensor,
        sink: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Head-split keys and values, and the mask; with ``sink``, one more key slot in front.

        ``sink = (state, log_count)``: the left padding's positions all hold the same state (``float[D]``,
        what the block's attention reads at a zeroed position), so their keys and values are one
        key/value pair counted ``count`` times: a slot whose logit gets ``+log(count)`` (``float[B]``;
        ``-inf`` where a sequence has no padding) is the same softmax as attending to every padded position.
        """
        batch, length, dim = k.shape  # [B, T, D]
        heads = (batch, length, self.n_heads, dim // self.n_heads)
        k, v = (z.view(heads).transpose(1, 2) for z in (k, v))  # 2 x [B, H, T, D/H]
        if sink is None:
            return k, v, allowed
        state, log_count = sink  # [D], [B]
        ks, vs = self._key_values(state)  # 2 x [D]
        one = (1, self.n_heads, 1, dim // self.n_heads)
        k = torch.cat([ks.view(one).expand(batch, -1, -1, -1), k], dim=2)  # [B, H, T+1, D/H]
        v = torch.cat([vs.view(one).expand(batch, -1, -1, -1), v], dim=2)  # [B, H, T+1, D/H]
        real = torch.zeros(allowed.shape, dtype=k.dtype, device=k.device).masked_fill(~allowed, float("-inf"))
        pad = log_count.to(k.dtype).view(batch, 1, 1, 1).expand(-1, 1, length, 1)  # [B, 1, T, 1]
        return k, v, torch.cat([pad, real], dim=3)  # mask [B, 1, T, T+1]

    def forward(
        self,
        x: torch.Tensor,
        allowed: torch.Tensor,
        kv: torch.Tensor | None = None,
        sink: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        batch, length, dim = x.shape  # [B, T, D]
        q, k, v = self._project(x, kv)  # 3 x [B, T, D]
        q = q.view(batch, length, self.n_heads, dim // self.n_heads).transpose(1, 2)  # [B, H, T, D/H]
        k, v, mask = self._keys_and_mask(k, v, allowed, sink)  # [B, H, T(+1), D/H] x 2
        p = self.attn_dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)  # [B, H, T, D/H]
        return self.out(y.transpose(1, 2).reshape(batch, length, dim))  # [B, T, D]

    def weights(
        self,
        x: torch.Tensor,
        allowed: torch.Tensor,
        kv: torch.Tensor | None = None,
        sink: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """The attention weights ``forward`` applies (without dropout): ``float[B, H, T, T]``.

        Row ``t`` of head ``h`` is ``softmax(q_t k^T / sqrt(D/H))`` over the keys ``allowed`` lets
        ``t`` see; ``F.scaled_dot_product_attention`` computes the same weights without returning them.
        With ``sink``, the share that went to the padding is left out and the rest rescaled to sum to 1:
        the weights among the real positions.
        """
        batch, length, dim = x.shape  # [B, T, D]
        q, k, v = self._project(x, kv)  # [B, T, D] each
        q = q.view(batch, length, self.n_heads, dim // self.n_heads).transpose(1, 2)  # [B, H, T, D/H]
        k, _, mask = self._keys_and_mask(k, v, allowed, sink)
        logits = q @ k.transpose(-2, -1) / (dim // self.n_heads) ** 0.5  # [B, H, T, T(+1)]
        if sink is None:  # mask: bool[B, 1, T, T]
            return torch.softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)  # [B, H, T, T]
        return torch.softmax(logits[..., 1:] + mask[..., 1:], dim=-1)  # float mask [B, 1, T, T+1]


class Block(nn.Module):
    """Pre-norm Transformer block: ``x + Attn(LN(x))``, then ``x + FFN(LN(x))``.

    Parameters
    ----------
    dim, n_heads : int
        Hidden size and attention heads (``dim`` divisible by ``n_heads``).
    dropout : float
        Dropout on both residual branches.
    attn_dropout : float
        Dropout on the attention weights.
    ffn_mult : int
        Width of the feed-forward layer in multiples of ``dim``.
    ffn_dropout : float
        Dropout between the two feed-forward layers (0 = none).
    activation : type of nn.Module
        The feed-forward layer's non-linearity (GELU; ``SASRecBlock`` passes ReLU).
    """

    def __init__(
        self,
        dim: int,
        n_heads: int,
        *,
        dropout: float,
        attn_dropout: float,
        ffn_mult: int = 4,
        ffn_dropout: float = 0.0,
        activation: type[nn.Module] = nn.GELU,
    ) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, n_heads, attn_dropout)
        self.ln2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, ffn_mult * dim),
            activation(),
            nn.Dropout(ffn_dropout),
            nn.Linear(ffn_mult * dim, dim),
        )
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, allowed: torch.Tensor, pad_log_count: torch.Tensor | None = None
    ) -> torch.Tensor:
        q, kv = self._attn_inputs(x)
        x = x + self.drop(self.attn(q, allowed, kv=kv, sink=self._sink(x, pad_log_count)))  # [B, T, D]
        return x + self.drop(self.ffn(self.ln2(x)))  # [B, T, D]

    def _attn_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What the attention reads: queries, and keys and values (None = the queries' input)."""
        return self.ln1(x), None

    def _pad_state(self, x: torch.Tensor) -> torch.Tensor:
        """What the keys and values read at a zeroed (padded) position: ``float[D]``; LN1(0) = its bias."""
        return self.ln1.bias

    def _sink(
        self, x: torch.Tensor, pad_log_count: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        return None if pad_log_count is None else (self._pad_state(x), pad_log_count)

    def attention_weights(
        self, x: torch.Tensor, allowed: torch.Tensor, pad_log_count: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The weights this block's attention applies to ``x``: ``float[B, H, T, T]``."""
        q, kv = self._attn_inputs(x)
        return self.attn.weights(q, allowed, kv=kv, sink=self._sink(x, pad_log_count))


class SASRecBlock(Block):
    """The block of SASRec's authors (Kang & McAuley's code; RecTools' ``SASRecTransformerLayer``)::

        q = LN1(x);  x = q + Attn(queries q, keys and values x)
        f = LN2(x);  x = f + Dropout(FFN(f))        FFN = Linear(D, m D) -> ReLU -> Dropout -> Linear(m D, D)

    Unlike the pre-norm :class:`Block` (whose layers it reuses, with ReLU), both residuals start from
    the *normalised* input, and keys and values read the un-normalised states. Same state-dict layout
    and parameter order as ``Block``, so ``ln1``, ``attn``, ``ln2`` and ``ffn`` mean the same in both.
    """

    def __init__(
        self,
        dim: int,
        n_heads: int,
        *,
        dropout: float,
        attn_dropout: float,
        ffn_mult: int = 1,
        ffn_dropout: float = 0.0,
    ) -> None:
        super().__init__(
            dim,
            n_heads,
            dropout=dropout,
            attn_dropout=attn_dropout,
            ffn_mult=ffn_mult,
            ffn_dropout=ffn_dropout,
            activation=nn.ReLU,
        )

    def forward(
        self, x: torch.Tensor, allowed: torch.Tensor, pad_log_count: torch.Tensor | None = None
    ) -> torch.Tensor:
        q, kv = self._attn_inputs(x)  # [B, T, D] x 2
        x = q + self.attn(q, allowed, kv=kv, sink=self._sink(x, pad_log_count))  # [B, T, D]
        f = self.ln2(x)  # [B, T, D]
        return f + self.drop(self.ffn(f))  # [B, T, D]

    def _attn_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.ln1(x), x  # keys and values read the raw states

    def _pad_state(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[2])  # a zeroed position's raw state is 0


#: block layout name -> class (SASRec's ``block`` parameter)
BLOCKS: dict[str, type[Block]] = {"pre-norm": Block, "sasrec": SASRecBlock}


def attention_maps(
    blocks: Iterable[nn.Module],
    x: torch.Tensor,
    allowed: torch.Tensor,
    pad_log_count: torch.Tensor | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run ``blocks`` over ``x`` and record each block's attention: ``(output, [float[B, H, T, T]])``."""
    maps = []
    for block in blocks:
        assert isinstance(block, Block)
        maps.append(block.attention_weights(x, allowed, pad_log_count))
        x = block(x, allowed, pad_log_count)
    return x, maps


def last_position_attention(maps: Sequence[torch.Tensor], method: str = ATTENTION_METHOD) -> torch.Tensor:
    """How much the last position (the one that scores) read each input position: ``float[B, T]``.

    ``maps`` are the blocks' attention weights in order (:func:`attention_maps`), each averaged over
    its heads first. ``method``:

    * ``"rollout"`` (the default): attention rollout without the residual term, ``A_L ... A_2 A_1``,
      last row: block ``l`` reads the states of block ``l - 1``, so its weights are passed down to
      the input items those states attended to. Rows sum to 1 over the real positions.
    * ``"mean"``: the mean over blocks of the last row of each block's attention.
    * ``"residual-rollout"``: Abnar & Zuidema's (2020) rollout with the residual connection,
      ``prod_l (A_l + I) / 2``.
    """
    heads = [m.mean(dim=1) for m in maps]  # L x [B, T, T]
    if method == "mean":
        return torch.stack([h[:, -1] for h in heads]).mean(dim=0)  # [B, T]
    if method not in ("rollout", "residual-rollout"):
        raise ConfigError(f"method must be 'rollout', 'residual-rollout' or 'mean', got {method!r}")
    flow = heads[0]  # [B, T, T]
    eye = torch.eye(flow.shape[-1], dtype=flow.dtype, device=flow.device)
    if method == "residual-rollout":
        flow = (flow + eye) / 2
    for h in heads[1:]:
        step = (h + eye) / 2 if method == "residual-rollout" else h
        flow = step @ flow  # [B, T, T]
    return flow[:, -1]  # [B, T]


def causal_padding_mask(seq: torch.Tensor) -> torch.Tensor:
    """``bool[B, 1, T, T]``: position t attends to real (non-zero) positions <= t, and always to itself.

    ``seq`` is ``int64[B, T]`` with 0 = padding. A padded query would see no key at all; letting every
    position see itself keeps softmax rows finite (no NaN), and padded positions are never read.
    """
    length = seq.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=seq.device).tril()  # [T, T]
    real = (seq != 0)[:, None, None, :]  # [B, 1, 1, T]
    return (causal & real) | torch.eye(length, dtype=torch.bool, device=seq.device)  # [B, 1, T, T]


def attention_weights(keys: torch.Tensor, query: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Single-query scaled dot-product attention weights ``softmax(K q / sqrt(D))`` over real positions.

    Parameters
    ----------
    keys : float[B, L, D]
    query : float[D]
    real : bool[B, L]
        False positions get weight 0; a row without any real position gets all zeros (not NaN).

    Returns
    -------
    float[B, L]
    """
    logits = keys @ query / keys.shape[-1] ** 0.5  # [B, L]
    return torch.softmax(logits.masked_fill(~real, float("-inf")), dim=1).nan_to_num(0.0)  # [B, L]
