"""Chapter 3 reference: self-attention, causal attention, multi-head attention.

Usage (from tests/reference):
    /usr/bin/python3 attention_reference.py ../fixtures/attention_ch03.bin

Writes the LLMTNSR1 file named on the command line (see tensor_file.py and
README.md for the tensor list). Everything is float32 and seeded, so a rerun
with the same PyTorch version gives the same bytes.

Layout conventions of the C code:
  * a linear weight is stored (in, out): y = x @ W + b, i.e. the transpose of
    nn.Linear.weight;
  * multi-head attention uses one fused qkv weight (d_in, 3*d_out): columns
    [0, d_out) query, [d_out, 2*d_out) key, [2*d_out, 3*d_out) value; head h
    of each uses columns h*head_dim .. (h+1)*head_dim-1.
"""

import math
import sys

import torch
import torch.nn as nn

from tensor_file import check_round_trip, describe, write_tensor_file


def linear_in_out(linear):
    """nn.Linear weight (out, in) -> C layout (in, out)."""
    return linear.weight.detach().T.contiguous()


def causal_mask(t):
    """True above the diagonal: the positions a query may not attend to."""
    return torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)


class SelfAttentionV1(nn.Module):
    """Raw (d_in, d_out) parameter matrices drawn from torch.rand."""

    def __init__(self, d_in, d_out):
        super().__init__()
        self.W_query = nn.Parameter(torch.rand(d_in, d_out))
        self.W_key = nn.Parameter(torch.rand(d_in, d_out))
        self.W_value = nn.Parameter(torch.rand(d_in, d_out))

    def forward(self, x):
        q = x @ self.W_query
        k = x @ self.W_key
        v = x @ self.W_value
        scores = q @ k.T
        weights = torch.softmax(scores / math.sqrt(k.shape[-1]), dim=-1)
        return weights @ v


class SelfAttentionV2(nn.Module):
    """Same computation with bias-free nn.Linear projections."""

    def __init__(self, d_in, d_out, qkv_bias=False):
        super().__init__()
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)

    def attention_weights(self, x, causal=False):
        q = self.W_query(x)
        k = self.W_key(x)
        scores = q @ k.T
        if causal:
            scores = scores.masked_fill(causal_mask(x.shape[0]), float("-inf"))
        return torch.softmax(scores / math.sqrt(k.shape[-1]), dim=-1)

    def forward(self, x):
        return self.attention_weights(x) @ self.W_value(x)


class CausalAttention(nn.Module):
    """Single-head causal attention over a batch (b, T, d_in)."""

    def __init__(self, d_in, d_out, context_length, dropout, qkv_bias=False):
        super().__init__()
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", causal_mask(context_length))

    def forward(self, x):
        _, t, _ = x.shape
        q = self.W_query(x)
        k = self.W_key(x)
        v = self.W_value(x)
        scores = q @ k.transpose(1, 2)
        scores = scores.masked_fill(self.mask[:t, :t], float("-inf"))
        weights = torch.softmax(scores / math.sqrt(k.shape[-1]), dim=-1)
        weights = self.dropout(weights)
        return weights @ v


class MultiHeadAttentionWrapper(nn.Module):
    """Independent CausalAttention heads, outputs concatenated."""

    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        self.heads = nn.ModuleList(
            CausalAttention(d_in, d_out, context_length, dropout, qkv_bias) for _ in range(num_heads)
        )

    def forward(self, x):
        return torch.cat([head(x) for head in self.heads], dim=-1)


class MultiHeadAttention(nn.Module):
    """Heads split out of one projection each, plus an output projection."""

    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        assert d_out % num_heads == 0
        self.d_out = d_out
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", causal_mask(context_length))

    def split_heads(self, y):
        b, t, _ = y.shape
        return y.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)  # (b, H, T, hd)

    def forward(self, x):
        b, t, _ = x.shape
        q = self.split_heads(self.W_query(x))
        k = self.split_heads(self.W_key(x))
        v = self.split_heads(self.W_value(x))
        scores = q @ k.transpose(2, 3)
        scores = scores.masked_fill(self.mask[:t, :t], float("-inf"))
        weights = torch.softmax(scores / math.sqrt(self.head_dim), dim=-1)
        weights = self.dropout(weights)
        context = (weights @ v).transpose(1, 2).contiguous().view(b, t, self.d_out)
        return self.out_proj(context)

    def fused_qkv_weight(self):
        """(d_in, 3*d_out): query | key | value columns."""
        return torch.cat([linear_in_out(self.W_query), linear_in_out(self.W_key), linear_in_out(self.W_value)], dim=1)

    def fused_qkv_bias(self):
        return torch.cat([self.W_query.bias, self.W_key.bias, self.W_value.bias]).detach()


def main(path):
    torch.set_grad_enabled(False)
    out = {}

    # "Your journey starts with one step"
    x = torch.tensor(
        [
            [0.43, 0.15, 0.89],  # Your
            [0.55, 0.87, 0.66],  # journey
            [0.57, 0.85, 0.64],  # starts
            [0.22, 0.58, 0.33],  # with
            [0.77, 0.25, 0.10],  # one
            [0.05, 0.80, 0.55],  # step
        ],
        dtype=torch.float32,
    )
    batch = torch.stack((x, x), dim=0)
    d_in, d_out = x.shape[1], 2
    context_length = batch.shape[1]
    out["x"] = x
    out["batch"] = batch

    # 3.3 simplified self-attention, no trainable weights
    scores = x @ x.T
    weights = torch.softmax(scores, dim=-1)
    out["simple.scores"] = scores
    out["simple.weights"] = weights
    out["simple.context"] = weights @ x

    # 3.4 SelfAttention_v1
    torch.manual_seed(123)
    sa_v1 = SelfAttentionV1(d_in, d_out).eval()
    out["sa_v1.W_query"] = sa_v1.W_query.detach()
    out["sa_v1.W_key"] = sa_v1.W_key.detach()
    out["sa_v1.W_value"] = sa_v1.W_value.detach()
    out["sa_v1.out"] = sa_v1(x)

    # SelfAttention_v2, and its weights with the causal mask (3.5.1)
    torch.manual_seed(789)
    sa_v2 = SelfAttentionV2(d_in, d_out).eval()
    out["sa_v2.W_query"] = linear_in_out(sa_v2.W_query)
    out["sa_v2.W_key"] = linear_in_out(sa_v2.W_key)
    out["sa_v2.W_value"] = linear_in_out(sa_v2.W_value)
    out["sa_v2.out"] = sa_v2(x)
    causal_weights = sa_v2.attention_weights(x, causal=True)
    # the book's other route: softmax, zero above the diagonal, renormalise rows
    plain = sa_v2.attention_weights(x)
    renorm = plain * torch.tril(torch.ones(6, 6))
    renorm = renorm / renorm.sum(dim=-1, keepdim=True)
    assert torch.allclose(causal_weights, renorm, atol=1e-6)
    out["causal.weights"] = causal_weights

    # 3.5.3 CausalAttention on the batch
    torch.manual_seed(123)
    ca = CausalAttention(d_in, d_out, context_length, 0.0).eval()
    out["causal.W_query"] = linear_in_out(ca.W_query)
    out["causal.W_key"] = linear_in_out(ca.W_key)
    out["causal.W_value"] = linear_in_out(ca.W_value)
    out["causal.out"] = ca(batch)

    # 3.6.1 two stacked CausalAttention heads
    torch.manual_seed(123)
    wrapper = MultiHeadAttentionWrapper(d_in, d_out, context_length, 0.0, num_heads=2).eval()
    for h, head in enumerate(wrapper.heads):
        out[f"wrapper.head{h}.W_query"] = linear_in_out(head.W_query)
        out[f"wrapper.head{h}.W_key"] = linear_in_out(head.W_key)
        out[f"wrapper.head{h}.W_value"] = linear_in_out(head.W_value)
    out["wrapper.out"] = wrapper(batch)

    # 3.6.2 MultiHeadAttention, d_out=2 split into 2 heads of 1
    torch.manual_seed(123)
    mha = MultiHeadAttention(d_in, d_out, context_length, 0.0, num_heads=2).eval()
    out["mha.qkv.weight"] = mha.fused_qkv_weight()
    out["mha.out_proj.weight"] = linear_in_out(mha.out_proj)
    out["mha.out_proj.bias"] = mha.out_proj.bias.detach()
    out["mha.out"] = mha(batch)

    # a realistically shaped case: 64 wide, 4 heads of 16, qkv bias, T=32
    torch.manual_seed(7)
    mha64 = MultiHeadAttention(64, 64, 32, 0.0, num_heads=4, qkv_bias=True).eval()
    x64 = torch.randn(2, 32, 64)
    out["mha64.x"] = x64
    out["mha64.qkv.weight"] = mha64.fused_qkv_weight()
    out["mha64.qkv.bias"] = mha64.fused_qkv_bias()
    out["mha64.out_proj.weight"] = linear_in_out(mha64.out_proj)
    out["mha64.out_proj.bias"] = mha64.out_proj.bias.detach()
    out["mha64.out"] = mha64(x64)

    # Exercise 3.2: the wrapper's two heads one column wide each (d_out=1),
    # after the same seed, so the context vectors are two numbers wide
    torch.manual_seed(123)
    ex3_2 = MultiHeadAttentionWrapper(d_in, 1, context_length, 0.0, num_heads=2).eval()
    for h, head in enumerate(ex3_2.heads):
        out[f"ex3_2.head{h}.W_query"] = linear_in_out(head.W_query)
        out[f"ex3_2.head{h}.W_key"] = linear_in_out(head.W_key)
        out[f"ex3_2.head{h}.W_value"] = linear_in_out(head.W_value)
    out["ex3_2.out"] = ex3_2(batch)

    # cross-check the fused C layout against the modules: recompute mha64 from
    # the stored tensors exactly the way the C code does
    qkv = x64 @ out["mha64.qkv.weight"] + out["mha64.qkv.bias"]
    hd = 16
    ctx = torch.empty(2, 32, 64)
    for h in range(4):
        qh = qkv[:, :, h * hd:(h + 1) * hd]
        kh = qkv[:, :, 64 + h * hd:64 + (h + 1) * hd]
        vh = qkv[:, :, 128 + h * hd:128 + (h + 1) * hd]
        s = (qh @ kh.transpose(1, 2)).masked_fill(causal_mask(32), float("-inf"))
        ctx[:, :, h * hd:(h + 1) * hd] = torch.softmax(s / math.sqrt(hd), dim=-1) @ vh
    manual = ctx @ out["mha64.out_proj.weight"] + out["mha64.out_proj.bias"]
    assert torch.allclose(manual, out["mha64.out"], atol=1e-5), (manual - out["mha64.out"]).abs().max()

    torch.set_printoptions(precision=4, sci_mode=False)
    print("torch", torch.__version__)
    print("sa_v1.out[0]   ", out["sa_v1.out"][0])
    print("sa_v2.out[0]   ", out["sa_v2.out"][0])
    print("causal.weights[1]", out["causal.weights"][1])
    print("causal.out[0,0]", out["causal.out"][0, 0])
    print("wrapper.out[0,0]", out["wrapper.out"][0, 0])
    print("mha.out[0]\n", out["mha.out"][0])
    print("max |mha64.out| =", out["mha64.out"].abs().max().item())
    print("ex3_2.out[0]\n", out["ex3_2.out"][0])

    write_tensor_file(path, out)
    check_round_trip(path, out)
    print(f"wrote {path} ({len(out)} tensors), read back OK")
    print(describe(path))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: attention_reference.py OUTPUT.bin")
    main(sys.argv[1])
