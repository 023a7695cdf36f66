"""Appendix E (LoRA) reference: low-rank adapters on every linear layer of a
small GPT, in both of chapter 6's finetuning modes.

Usage (from tests/reference):
    /usr/bin/python3 ch06_lora_reference.py ../fixtures/ch06_lora.bin

The GPT is the one of ch06_classifier_reference.py (vocab 300, context 32,
64 channels, 4 heads, 2 layers, qkv bias; manual_seed(123), LayerNorms moved
off 1/0; drop_rate 0) with its 2-class head nn.Linear(64, 2). Every linear
layer gets an adapter of rank 4, alpha 8, as the book's appendix E does it:
the layer's output plus (alpha / rank) * (x @ A @ B), A (in, rank) from
kaiming_uniform_(a=sqrt(5)), every original parameter frozen. B is NOT zero
here (the book starts it at zero, which would make every gradient of A zero
and the test weak): normal(0, 0.05), seeded.

Classification: the layers adapted are W_query, W_key, W_value, out_proj,
fc1, fc2 of each block and the head; the loss is the cross entropy of the
last token's logits. Instruction finetuning: the same block adapters and
one on the vocabulary head (out_head, 64 -> 300, no bias), the loss over
every position with targets -100 ignored.

Writes (the C layout: linear weights (in, out), see gpt_reference.py):
    config (6), the GPT's parameters (names of gpt_small.bin), head.weight
    (2,64) and head.bias (2) (nn.Linear's layout)
    lora.blocks.L.att.qkv.A (64,12) = [A_q | A_k | A_v] and .B (12,64) =
    [B_q; B_k; B_v] (the C code's fused query/key/value adapter);
    lora.blocks.L.att.out_proj.A/B, lora.blocks.L.ff.fc1.A/B,
    lora.blocks.L.ff.fc2.A/B; lora.head.A (64,4), lora.head.B (4,2);
    lora.out_head.A (64,4), lora.out_head.B (4,300)
    inputs (4,12) (texts padded with 299), labels (4); logits (4,2); loss (1)
    grad.lora.<name>.A / .B: the classification loss's gradients
    instruct.inputs (2,10), instruct.targets (2,10), instruct.loss (1),
    instruct.grad.lora.<name>.A / .B: the instruction loss's gradients
It also prints how far PyTorch's float32 results are from float64's.
"""

import copy
import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from gpt_reference import CONFIG, GPTModel, layer_norms, parameters_c_layout
from tensor_file import check_round_trip, describe, write_tensor_file

RANK, ALPHA = 4, 8.0
PAD = 299


class LoRA(nn.Module):
    """(alpha / rank) * (x @ A @ B), A (in, rank), B (rank, out)."""

    def __init__(self, in_dim, out_dim):
        super().__init__()
        self.A = nn.Parameter(torch.empty(in_dim, RANK))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.B = nn.Parameter(0.05 * torch.randn(RANK, out_dim))  # the book: zeros

    def forward(self, x):
        return (ALPHA / RANK) * (x @ self.A @ self.B)


class WithLoRA(nn.Module):
    def __init__(self, linear):
        super().__init__()
        self.linear = linear
        self.lora = LoRA(linear.in_features, linear.out_features)

    def forward(self, x):
        return self.linear(x) + self.lora(x)


def add_lora(model, head):
    """Wrap every linear layer; returns {C name: LoRA module} in C order."""
    adapters = {}
    for l, block in enumerate(model.blocks):
        att, ff = block.att, block.ff
        for name in ("W_query", "W_key", "W_value", "out_proj"):
            setattr(att, name, WithLoRA(getattr(att, name)))
        ff.fc1, ff.fc2 = WithLoRA(ff.fc1), WithLoRA(ff.fc2)
        adapters[f"blocks.{l}.att.qkv"] = (att.W_query.lora, att.W_key.lora, att.W_value.lora)
        adapters[f"blocks.{l}.att.out_proj"] = (att.out_proj.lora,)
        adapters[f"blocks.{l}.ff.fc1"] = (ff.fc1.lora,)
        adapters[f"blocks.{l}.ff.fc2"] = (ff.fc2.lora,)
    head = WithLoRA(head)
    adapters["head"] = (head.lora,)
    out_head = LoRA(model.out_head.in_features, model.out_head.out_features)
    adapters["out_head"] = (out_head,)
    return head, out_head, adapters


def c_layout(parts, grad=False):
    """A side by side (in, parts*rank), B stacked (parts*rank, out)."""
    pick = (lambda p: p.grad) if grad else (lambda p: p.detach())
    return torch.cat([pick(m.A) for m in parts], dim=1), torch.cat([pick(m.B) for m in parts], dim=0)


def hidden(model, idx):
    x = model.tok_emb(idx) + model.pos_emb(torch.arange(idx.shape[1]))
    for block in model.blocks:
        x = block(x)
    return model.final_norm(x)


def losses(model, head, out_head, inputs, labels, inputs_i, targets_i):
    logits = head(hidden(model, inputs)[:, -1, :])
    loss = F.cross_entropy(logits, labels)
    h = hidden(model, inputs_i)
    vocab_logits = h @ model.out_head.weight.T + out_head(h)
    loss_i = F.cross_entropy(vocab_logits.flatten(0, 1), targets_i.flatten())
    return logits, loss, loss_i


def gradients(loss, adapters):
    for parts in adapters.values():
        for m in parts:
            m.A.grad = m.B.grad = None
    loss.backward()
    out = {}
    for name, parts in adapters.items():
        if parts[0].A.grad is None:  # not on this loss's path
            continue
        out[name + ".A"], out[name + ".B"] = c_layout(parts, grad=True)
    return out


def main(path):
    cfg = dict(CONFIG, drop_rate=0.0)
    torch.manual_seed(123)
    model = GPTModel(cfg)
    with torch.no_grad():
        for norm in layer_norms(model):
            norm.scale.copy_(1.0 + 0.1 * torch.randn(cfg["emb_dim"]))
            norm.shift.copy_(0.1 * torch.randn(cfg["emb_dim"]))
    torch.manual_seed(123)
    head = nn.Linear(cfg["emb_dim"], 2)
    out = {}
    out["config"] = torch.tensor(
        [cfg["vocab_size"], cfg["context_length"], cfg["emb_dim"], cfg["n_heads"], cfg["n_layers"], int(cfg["qkv_bias"])],
        dtype=torch.float32,
    )
    out.update({k: v.clone() for k, v in parameters_c_layout(model, cfg).items()})
    out["head.weight"] = head.weight.detach().clone()
    out["head.bias"] = head.bias.detach().clone()

    torch.manual_seed(5)
    head, out_head, adapters = add_lora(model, head)
    for p in list(model.parameters()) + list(head.parameters()):
        p.requires_grad = False
    for parts in adapters.values():
        for m in parts:
            m.A.requires_grad = m.B.requires_grad = True
    for name, parts in adapters.items():
        out["lora." + name + ".A"], out["lora." + name + ".B"] = c_layout(parts)

    g = torch.Generator().manual_seed(7)
    inputs = torch.randint(0, PAD, (4, 12), generator=g)
    for b, n in enumerate([12, 5, 9, 3]):
        inputs[b, n:] = PAD
    labels = torch.tensor([1, 0, 0, 1])
    inputs_i = torch.randint(0, PAD, (2, 10), generator=g)
    targets_i = torch.randint(0, PAD, (2, 10), generator=g)
    targets_i[0, 7:] = -100
    targets_i[1, 9:] = -100
    out["inputs"], out["labels"] = inputs.float(), labels.float()
    out["instruct.inputs"], out["instruct.targets"] = inputs_i.float(), targets_i.float()

    def run(mdl, hd, oh, ad):
        logits, loss, loss_i = losses(mdl, hd, oh, inputs, labels, inputs_i, targets_i)
        return logits.detach(), loss.detach(), gradients(loss, ad), loss_i.detach(), gradients(loss_i, ad)

    model64, head64, out_head64 = copy.deepcopy((model, head, out_head))
    adapters64 = {}
    for name in adapters:  # the same modules, found again in the copies
        if name == "head":
            adapters64[name] = (head64.lora,)
        elif name == "out_head":
            adapters64[name] = (out_head64,)
        else:
            l, rest = int(name.split(".")[1]), ".".join(name.split(".")[2:])
            blk = model64.blocks[l]
            adapters64[name] = {
                "att.qkv": (blk.att.W_query.lora, blk.att.W_key.lora, blk.att.W_value.lora),
                "att.out_proj": (blk.att.out_proj.lora,),
                "ff.fc1": (blk.ff.fc1.lora,),
                "ff.fc2": (blk.ff.fc2.lora,),
            }[rest]

    logits, loss, grads, loss_i, grads_i = run(model, head, out_head, adapters)
    out["logits"], out["loss"], out["instruct.loss"] = logits, loss.reshape(1), loss_i.reshape(1)
    for k, v in grads.items():
        out["grad.lora." + k] = v
    for k, v in grads_i.items():
        out["instruct.grad.lora." + k] = v
    write_tensor_file(path, out)
    check_round_trip(path, out)

    for m in (model64, head64, out_head64):
        m.double()
    logits64, loss64, grads64, loss_i64, grads_i64 = run(model64, head64, out_head64, adapters64)
    print("torch", torch.__version__)
    print("loss %.8f (float64 %.8f), instruct loss %.8f (float64 %.8f)" % (loss, loss64, loss_i, loss_i64))
    print("logits float32 error %.2e" % (logits.double() - logits64).abs().max().item())
    for label, g32, g64 in (("classification", grads, grads64), ("instruction", grads_i, grads_i64)):
        for k in g32:
            scale = g64[k].abs().max().item()
            err = (g32[k].double() - g64[k]).abs().max().item()
            print("  %-15s %-28s |g| max %.3e, float32 error %.2e of it" % (label, k, scale, err / scale))
    print(f"wrote {path} ({len(out)} tensors), read back OK")
    print(describe(path))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: ch06_lora_reference.py OUTPUT.bin")
    main(sys.argv[1])
