"""The shared attention pieces: parity with torch's reference encoder layer, the mask, the pooling."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from explorec.errors import ConfigError
from explorec.models.transformer import Block, SASRecBlock, attention_weights, causal_padding_mask


def _torch_attention_like(block: Block) -> nn.MultiheadAttention:
    """torch's multi-head attention with ``block``'s qkv and out projections copied in."""
    dim, heads = block.attn.out.in_features, block.attn.n_heads
    reference = nn.MultiheadAttention(dim, heads, batch_first=True).eval()
    with torch.no_grad():
        reference.in_proj_weight.copy_(block.attn.qkv.weight)
        reference.in_proj_bias.copy_(block.attn.qkv.bias)
        reference.out_proj.weight.copy_(block.attn.out.weight)
        reference.out_proj.bias.copy_(block.attn.out.bias)
    return reference


def test_block_equals_torchs_pre_norm_encoder_layer() -> None:
    torch.manual_seed(0)
    dim, heads, length = 8, 2, 5
    block = Block(dim, heads, dropout=0.0, attn_dropout=0.0, ffn_mult=4).eval()
    reference = nn.TransformerEncoderLayer(
        dim, heads, dim_feedforward=4 * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
    ).eval()
    with torch.no_grad():
        reference.self_attn.in_proj_weight.copy_(block.attn.qkv.weight)
        reference.self_attn.in_proj_bias.copy_(block.attn.qkv.bias)
        reference.self_attn.out_proj.weight.copy_(block.attn.out.weight)
        reference.self_attn.out_proj.bias.copy_(block.attn.out.bias)
        reference.linear1.load_state_dict(block.ffn[0].state_dict())
        reference.linear2.load_state_dict(block.ffn[3].state_dict())
        reference.norm1.load_state_dict(block.ln1.state_dict())
        reference.norm2.load_state_dict(block.ln2.state_dict())
        x = torch.randn(3, length, dim)
        seq = torch.ones(3, length, dtype=torch.long)  # no padding: the mask is the causal one
        ours = block(x, causal_padding_mask(seq))
        future = torch.ones(length, length, dtype=torch.bool).triu(1)  # True = may NOT attend
        theirs = reference(x, src_mask=future)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_state_dict_layout_is_sasrecs() -> None:
    keys = set(Block(4, 2, dropout=0.1, attn_dropout=0.1).state_dict())
    assert keys == {
        f"{name}.{p}"
        for name in ("ln1", "attn.qkv", "attn.out", "ln2", "ffn.0", "ffn.3")
        for p in ("weight", "bias")
    }
    with pytest.raises(ConfigError, match=r"dim \(6\) must be a multiple of n_heads \(4\)"):
        Block(6, 4, dropout=0.0, attn_dropout=0.0)


def test_mask_by_hand() -> None:
    allowed = causal_padding_mask(torch.tensor([[0, 3, 5], [2, 4, 6]]))
    assert allowed.shape == (2, 1, 3, 3)
    t, f = True, False
    # row 0: the padded position sees only itself; later positions see real earlier ones
    assert allowed[0, 0].tolist() == [[t, f, f], [f, t, f], [f, t, t]]
    assert allowed[1, 0].tolist() == [[t, f, f], [t, t, f], [t, t, t]]


def test_attention_pooling_weights_by_hand() -> None:
    keys = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]], [[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]])
    query = torch.tensor([math.sqrt(2) * math.log(3), 0.0])  # logits ln 3, 0 and (masked) 5 ln 3
    real = torch.tensor([[True, True, False], [False, False, False]])
    weights = attention_weights(keys, query, real)
    torch.testing.assert_close(weights[0], torch.tensor([0.75, 0.25, 0.0]))
    torch.testing.assert_close(weights[1], torch.zeros(3))  # no real position: zeros, not NaN


def test_attention_weights_equal_torchs_multi_head_attention_weights() -> None:
    torch.manual_seed(1)
    dim, heads, length = 8, 2, 5
    block = Block(dim, heads, dropout=0.0, attn_dropout=0.0).eval()
    reference = _torch_attention_like(block)
    with torch.no_grad():
        x = torch.randn(2, length, dim)
        seq = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5]])  # the first row is padded on the left
        allowed = causal_padding_mask(seq)
        ours = block.attn.weights(x, allowed)  # [B, H, T, T]
        _, theirs = reference(
            x,
            x,
            x,
            attn_mask=~allowed.repeat(1, heads, 1, 1).view(-1, length, length),
            average_attn_weights=False,
        )
        # the weights are the ones forward applies: weights @ values reproduces its output
        v = block.attn.qkv(x).split(dim, dim=2)[2].view(2, length, heads, dim // heads).transpose(1, 2)
        mixed = block.attn.out((ours @ v).transpose(1, 2).reshape(2, length, dim))
        torch.testing.assert_close(mixed, block.attn(x, allowed), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    assert torch.all(ours[0, :, 2:, :2] == 0)  # padded keys get no weight
    torch.testing.assert_close(ours.sum(-1), torch.ones(2, heads, length))


def test_last_position_attention_by_hand() -> None:
    from explorec.models.transformer import last_position_attention

    # block 1: the last position reads position 0, the others read themselves;
    # block 2: the last position reads only itself (whose state already holds position 0)
    a1 = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    a2 = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    maps = [a1.expand(1, 2, 3, 3), a2.expand(1, 2, 3, 3)]  # [B=1, H=2, T, T], the same in both heads
    assert last_position_attention(maps).tolist() == [[1.0, 0.0, 0.0]]  # rollout: a2 @ a1
    assert last_position_attention(maps, "mean").tolist() == [[0.5, 0.0, 0.5]]
    # the residual identity halves what the attention read and hands the rest to the last item
    assert last_position_attention(maps, "residual-rollout").tolist() == [[0.5, 0.0, 0.5]]
    heads = torch.stack([a1, a2]).unsqueeze(0)  # [1, 2, T, T]: two heads that disagree
    assert last_position_attention([heads]).tolist() == [[0.5, 0.0, 0.5]]  # averaged over heads
    with pytest.raises(
        ConfigError, match="method must be 'rollout', 'residual-rollout' or 'mean', got 'max'"
    ):
        last_position_attention(maps, "max")


def test_sasrec_block_is_the_authors_layout_on_torchs_multi_head_attention() -> None:
    """RecTools' ``SASRecTransformerLayer`` written out with torch's attention: queries from LN1(x), keys
    and values from x, residuals from the normalised inputs, ReLU feed-forward."""
    torch.manual_seed(2)
    dim, heads, length = 8, 2, 5
    block = SASRecBlock(dim, heads, dropout=0.0, attn_dropout=0.0, ffn_mult=1).eval()
    assert set(block.state_dict()) == set(Block(dim, heads, dropout=0.0, attn_dropout=0.0).state_dict())
    mha = _torch_attention_like(block)
    with torch.no_grad():
        for norm in (block.ln1, block.ln2):  # not the identity, so a swapped norm would show
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
        x = torch.randn(2, length, dim)
        seq = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5]])
        allowed = causal_padding_mask(seq)
        q = block.ln1(x)
        attended, weights = mha(
            q,
            x,
            x,
            attn_mask=~allowed.repeat(1, heads, 1, 1).view(-1, length, length),
            average_attn_weights=False,
        )
        h = q + attended
        f = block.ln2(h)
        expected = f + block.ffn[3](torch.relu(block.ffn[0](f)))
        torch.testing.assert_close(block(x, allowed), expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(block.attention_weights(x, allowed), weights, rtol=1e-5, atol=1e-5)
        # and it is not the pre-norm block with the same weights
        pre = Block(dim, heads, dropout=0.0, attn_dropout=0.0, ffn_mult=1).eval()
        pre.load_state_dict(block.state_dict())
        assert not torch.allclose(pre(x, allowed), block(x, allowed), atol=1e-3)


@pytest.mark.parametrize("layout", [Block, SASRecBlock])
def test_padding_sink_equals_attending_to_zeroed_padding_columns(layout: type[nn.Module]) -> None:
    """pad_log_count is RecTools' default: no key-padding mask, padded states zeroed, every sequence
    padded to max_len. One sink key with +log(count) must give the real positions the same outputs."""
    torch.manual_seed(3)
    dim, heads, max_len = 8, 2, 7
    block = layout(dim, heads, dropout=0.0, attn_dropout=0.0).eval()
    for norm in (block.ln1, block.ln2):
        with torch.no_grad():
            norm.bias.uniform_(-0.5, 0.5)  # LN(0) = bias: a zero bias would hide a wrong sink state
    seq = torch.tensor([[0, 0, 3, 4], [0, 1, 2, 5], [6, 7, 8, 9]])  # 4 columns, max_len 7
    x = torch.randn(3, 4, dim) * (seq != 0)[..., None]
    count = max_len - (seq != 0).sum(1)  # [5, 4, 3]
    with torch.no_grad():
        ours = block(x, causal_padding_mask(seq), torch.log(count.float()))
        full = torch.cat([torch.zeros(3, max_len - 4, dim), x], dim=1)  # left-padded to max_len
        causal = torch.ones(max_len, max_len, dtype=torch.bool).tril()[None, None]  # padding not masked
        theirs = block(full, causal.expand(3, 1, -1, -1))[:, -4:]
        for row, n_real in enumerate((seq != 0).sum(1).tolist()):
            torch.testing.assert_close(ours[row, -n_real:], theirs[row, -n_real:], rtol=1e-5, atol=1e-5)
        # the explanation weights: the real keys' shares of the same softmax, rescaled to sum to 1
        w = block.attention_weights(x, causal_padding_mask(seq), torch.log(count.float()))
        w_full = block.attention_weights(full, causal.expand(3, 1, -1, -1))[:, :, -4:, -4:]
        w_full = w_full * (seq != 0)[:, None, None, :]
        torch.testing.assert_close(w[0, :, 2:], (w_full / w_full.sum(-1, keepdim=True))[0, :, 2:])
        # without the sink the outputs differ: the padding took part of the attention
        assert not torch.allclose(block(x, causal_padding_mask(seq))[0, 2:], ours[0, 2:], atol=1e-3)
