"""Chapter 4 reference: a small GPT model, its intermediates and greedy generation.

Usage (from tests/reference):
    /usr/bin/python3 gpt_reference.py ../fixtures/gpt_small.bin

Writes the LLMTNSR1 file named on the command line (see tensor_file.py and
README.md for the tensor list). Float32, eval mode (dropout off), seeded.

Layout conventions of the C code:
  * linear weights are stored (in, out): y = x @ W + b (transpose of
    nn.Linear.weight), EXCEPT out_head.weight, which stays (vocab, emb) so the
    C code can tie it to tok_emb.weight (logits = x @ out_head.weight^T);
  * the attention's query/key/value projections are fused into one
    (emb, 3*emb) weight and (3*emb) bias, columns query | key | value, head h
    of each at columns h*head_dim .. (h+1)*head_dim-1.
"""

import math
import sys

import numpy as np
import torch
import torch.nn as nn

from attention_reference import MultiHeadAttention, linear_in_out
from tensor_file import check_round_trip, describe, write_tensor_file

CONFIG = {
    "vocab_size": 300,
    "context_length": 32,
    "emb_dim": 64,
    "n_heads": 4,
    "n_layers": 2,
    "drop_rate": 0.1,
    "qkv_bias": True,
}


class LayerNorm(nn.Module):
    """Normalise the last dimension (biased variance), then scale and shift."""

    def __init__(self, emb_dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(emb_dim))
        self.shift = nn.Parameter(torch.zeros(emb_dim))

    def forward(self, x):
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True, unbiased=False)
        return self.scale * (x - mean) / torch.sqrt(var + self.eps) + self.shift


class GELU(nn.Module):
    """The tanh approximation of GELU."""

    def forward(self, x):
        c = math.sqrt(2.0 / math.pi)
        return 0.5 * x * (1.0 + torch.tanh(c * (x + 0.044715 * x ** 3)))


class FeedForward(nn.Module):
    def __init__(self, emb_dim):
        super().__init__()
        self.fc1 = nn.Linear(emb_dim, 4 * emb_dim)
        self.gelu = GELU()
        self.fc2 = nn.Linear(4 * emb_dim, emb_dim)

    def forward(self, x):
        return self.fc2(self.gelu(self.fc1(x)))


class TransformerBlock(nn.Module):
    """Pre-LayerNorm block: attention and feed-forward, each with a shortcut."""

    def __init__(self, cfg):
        super().__init__()
        self.att = MultiHeadAttention(
            d_in=cfg["emb_dim"],
            d_out=cfg["emb_dim"],
            context_length=cfg["context_length"],
            dropout=cfg["drop_rate"],
            num_heads=cfg["n_heads"],
            qkv_bias=cfg["qkv_bias"],
        )
        self.ff = FeedForward(cfg["emb_dim"])
        self.norm1 = LayerNorm(cfg["emb_dim"])
        self.norm2 = LayerNorm(cfg["emb_dim"])
        self.drop_shortcut = nn.Dropout(cfg["drop_rate"])

    def forward(self, x, record=None, prefix=""):
        h = self.norm1(x)
        a = self.att(h)
        x = x + self.drop_shortcut(a)
        h2 = self.norm2(x)
        f = self.ff(h2)
        x = x + self.drop_shortcut(f)
        if record is not None:
            record[prefix + ".norm1"] = h
            record[prefix + ".att"] = a
            record[prefix + ".norm2"] = h2
            record[prefix + ".ff"] = f
            record[prefix] = x
        return x


class GPTModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.tok_emb = nn.Embedding(cfg["vocab_size"], cfg["emb_dim"])
        self.pos_emb = nn.Embedding(cfg["context_length"], cfg["emb_dim"])
        self.drop_emb = nn.Dropout(cfg["drop_rate"])
        self.blocks = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg["n_layers"]))
        self.final_norm = LayerNorm(cfg["emb_dim"])
        self.out_head = nn.Linear(cfg["emb_dim"], cfg["vocab_size"], bias=False)
        self.tied = False  # True: logits = x @ tok_emb.weight^T

    def forward(self, idx, record=None):
        _, t = idx.shape
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(t))
        if record is not None:
            record["out.embeddings"] = x
        x = self.drop_emb(x)
        for l, block in enumerate(self.blocks):
            x = block(x, record, f"out.blocks.{l}")
        x = self.final_norm(x)
        head = self.tok_emb.weight if self.tied else self.out_head.weight
        logits = x @ head.T
        if record is not None:
            record["out.final_norm"] = x
            record["out.logits"] = logits
        return logits


def generate_text_simple(model, idx, max_new_tokens, context_size):
    """Greedy decoding: crop to the context, take the last position's argmax."""
    for _ in range(max_new_tokens):
        idx_cond = idx[:, -context_size:]
        logits = model(idx_cond)[:, -1, :]
        next_id = torch.argmax(logits, dim=-1, keepdim=True)
        idx = torch.cat((idx, next_id), dim=1)
    return idx


def layer_norms(model):
    for block in model.blocks:
        yield block.norm1
        yield block.norm2
    yield model.final_norm


def parameters_c_layout(model, cfg):
    p = {}
    p["tok_emb.weight"] = model.tok_emb.weight
    p["pos_emb.weight"] = model.pos_emb.weight
    for l, block in enumerate(model.blocks):
        b = f"blocks.{l}"
        p[b + ".norm1.scale"] = block.norm1.scale
        p[b + ".norm1.shift"] = block.norm1.shift
        p[b + ".att.qkv.weight"] = block.att.fused_qkv_weight()
        if cfg["qkv_bias"]:
            p[b + ".att.qkv.bias"] = block.att.fused_qkv_bias()
        p[b + ".att.out_proj.weight"] = linear_in_out(block.att.out_proj)
        p[b + ".att.out_proj.bias"] = block.att.out_proj.bias
        p[b + ".norm2.scale"] = block.norm2.scale
        p[b + ".norm2.shift"] = block.norm2.shift
        p[b + ".ff.fc1.weight"] = linear_in_out(block.ff.fc1)
        p[b + ".ff.fc1.bias"] = block.ff.fc1.bias
        p[b + ".ff.fc2.weight"] = linear_in_out(block.ff.fc2)
        p[b + ".ff.fc2.bias"] = block.ff.fc2.bias
    p["final_norm.scale"] = model.final_norm.scale
    p["final_norm.shift"] = model.final_norm.shift
    p["out_head.weight"] = model.out_head.weight  # (vocab, emb): NOT transposed
    return {k: v.detach().contiguous() for k, v in p.items()}


def main(path):
    torch.set_grad_enabled(False)
    cfg = CONFIG
    out = {}
    out["config"] = torch.tensor(
        [cfg["vocab_size"], cfg["context_length"], cfg["emb_dim"], cfg["n_heads"], cfg["n_layers"], int(cfg["qkv_bias"])],
        dtype=torch.float32,
    )

    torch.manual_seed(123)
    model = GPTModel(cfg).eval()
    # LayerNorms start at scale=1, shift=0; move them so they are really tested
    for norm in layer_norms(model):
        norm.scale.copy_(1.0 + 0.1 * torch.randn(cfg["emb_dim"]))
        norm.shift.copy_(0.1 * torch.randn(cfg["emb_dim"]))
    out.update(parameters_c_layout(model, cfg))

    input_ids = torch.randint(0, cfg["vocab_size"], (2, 16))
    out["input_ids"] = input_ids.float()
    record = {}
    logits = model(input_ids, record)
    order = ["out.embeddings"]
    for l in range(cfg["n_layers"]):
        b = f"out.blocks.{l}"
        order += [b + ".norm1", b + ".att", b + ".norm2", b + ".ff", b]
    order += ["out.final_norm", "out.logits"]
    for name in order:
        out[name] = record[name]

    # the same forward pass recomputed from the stored C-layout tensors only
    check_c_layout_forward(out, cfg, logits)

    # standalone GELU: dense grid plus large magnitudes (computed in float64,
    # rounded to float32)
    big = torch.tensor([-1000.0, -100.0, -30.0, -10.0, -7.0, 7.0, 10.0, 30.0, 100.0, 1000.0])
    gelu_in = torch.cat([torch.linspace(-6.0, 6.0, 990), big]).float()
    out["gelu.in"] = gelu_in
    out["gelu.out"] = GELU()(gelu_in.double()).float()
    gelu_f32_diff = (GELU()(gelu_in) - out["gelu.out"]).abs().max().item()

    # standalone LayerNorm: rows with different means/scales and a constant row
    ln_in = torch.stack(
        [
            torch.randn(64),
            5.0 + 0.01 * torch.randn(64),
            -50.0 + 100.0 * torch.randn(64),
            torch.full((64,), 3.0),
        ]
    ).float()
    ln = LayerNorm(64)
    ln.scale.copy_(1.0 + 0.5 * torch.randn(64))
    ln.shift.copy_(0.5 * torch.randn(64))
    out["layernorm.in"] = ln_in
    out["layernorm.scale"] = ln.scale.detach().clone()
    out["layernorm.shift"] = ln.shift.detach().clone()
    out["layernorm.out"] = ln.double()(ln_in.double()).float()
    ln_f32_diff = (ln.float()(ln_in) - out["layernorm.out"]).abs().max().item()

    # greedy generation: 5 prompt tokens + 40 new ones (crosses context 32)
    prompt = torch.randint(0, cfg["vocab_size"], (1, 5))
    out["generate.prompt"] = prompt.float()
    gen = generate_text_simple(model, prompt, 40, cfg["context_length"])
    out["generate.out"] = gen.float()
    model.tied = True
    gen_tied = generate_text_simple(model, prompt, 40, cfg["context_length"])
    out["generate_tied.out"] = gen_tied.float()
    # extra: the tied model's last-position logits for the prompt (the first
    # generation step). With random embeddings the tied model just repeats the
    # prompt's last token, so the ids alone say little about the tied head.
    out["generate_tied.logits"] = model(prompt)[:, -1, :]
    model.tied = False

    # how close is the greedy choice? (a small margin would make the C
    # generation test fragile)
    margins = greedy_margins(model, prompt, gen, cfg["context_length"])
    model.tied = True
    margins_tied = greedy_margins(model, prompt, gen_tied, cfg["context_length"])
    model.tied = False

    print("torch", torch.__version__)
    print("max |out.logits| =", logits.abs().max().item())
    print("max |out.blocks.1| =", record["out.blocks.1"].abs().max().item())
    print("gelu: max |float32 - float64| =", gelu_f32_diff)
    print("layernorm: max |float32 - float64| =", ln_f32_diff)
    print("generate.out      ", gen[0].tolist())
    print("generate_tied.out ", gen_tied[0].tolist())
    print("smallest top1-top2 logit gap: untied %.4g, tied %.4g" % (min(margins), min(margins_tied)))

    write_tensor_file(path, out)
    check_round_trip(path, out)
    print(f"wrote {path} ({len(out)} tensors), read back OK")
    print(describe(path))


def greedy_margins(model, prompt, generated, context_size):
    margins = []
    for n in range(prompt.shape[1], generated.shape[1]):
        logits = model(generated[:, :n][:, -context_size:])[0, -1]
        top2 = torch.topk(logits, 2).values
        margins.append((top2[0] - top2[1]).item())
    return margins


def check_c_layout_forward(t, cfg, logits):
    """Recompute the logits from the stored tensors the way the C code will."""
    ids = t["input_ids"].long()
    c, nh = cfg["emb_dim"], cfg["n_heads"]
    hd = c // nh
    n = ids.shape[1]

    def ln(x, p):
        mean = x.mean(-1, keepdim=True)
        var = ((x - mean) ** 2).mean(-1, keepdim=True)
        return (x - mean) / torch.sqrt(var + 1e-5) * t[p + ".scale"] + t[p + ".shift"]

    def gelu(x):
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)))

    mask = torch.triu(torch.ones(n, n, dtype=torch.bool), 1)
    x = t["tok_emb.weight"][ids] + t["pos_emb.weight"][:n]
    for l in range(cfg["n_layers"]):
        b = f"blocks.{l}"
        qkv = ln(x, b + ".norm1") @ t[b + ".att.qkv.weight"] + t[b + ".att.qkv.bias"]
        ctx = torch.empty_like(x)
        for h in range(nh):
            q = qkv[..., h * hd:(h + 1) * hd]
            k = qkv[..., c + h * hd:c + (h + 1) * hd]
            v = qkv[..., 2 * c + h * hd:2 * c + (h + 1) * hd]
            s = (q @ k.transpose(1, 2) / math.sqrt(hd)).masked_fill(mask, float("-inf"))
            ctx[..., h * hd:(h + 1) * hd] = torch.softmax(s, -1) @ v
        x = x + ctx @ t[b + ".att.out_proj.weight"] + t[b + ".att.out_proj.bias"]
        hdn = gelu(ln(x, b + ".norm2") @ t[b + ".ff.fc1.weight"] + t[b + ".ff.fc1.bias"])
        x = x + hdn @ t[b + ".ff.fc2.weight"] + t[b + ".ff.fc2.bias"]
    x = ln(x, "final_norm")
    manual = x @ t["out_head.weight"].T
    diff = (manual - logits).abs().max().item()
    assert diff < 1e-4, diff
    print("C-layout recomputation matches the module: max |diff| =", diff)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gpt_reference.py OUTPUT.bin")
    main(sys.argv[1])
