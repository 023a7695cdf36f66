"""Chapter 6 (the book's chapters 6 and 7) reference: a classification head
on a small GPT with all but its last block frozen, three AdamW steps of the
book's train_classifier_simple, and the instruction-finetuning loss with
ignored padding.

Usage (from tests/reference):
    /usr/bin/python3 ch06_classifier_reference.py ../fixtures/ch06_classifier.bin

The GPT is the one of gpt_grad_reference.py (vocab 300, context 32, 64
channels, 4 heads, 2 layers, qkv bias; manual_seed(123), LayerNorms moved off
1/0) with drop_rate 0. As the book's section 6.5 does:
    torch.manual_seed(123)
    head = torch.nn.Linear(64, 2)          # replaces out_head
    every parameter: requires_grad = False
    the last block, the final norm and the head: requires_grad = True
and the logits are the head's output at the last position. The optimiser is
torch.optim.AdamW over every parameter (frozen ones have no gradient and are
skipped) with lr 1e-3 and weight decay 0.1.

Writes, in the C layout of gpt_reference.py:
    config (6), the GPT's parameters (names of gpt_small.bin), head.weight
    (2,64) (nn.Linear's layout, as the C head), head.bias (2)
    inputs (3,4,12): three batches of token ids, each row a text padded with
    the pad id 299 at its end; labels (3,4)
    logits (4,2): the first batch's last-token logits before training
    grad.<name>: the first batch's gradients of the trainable tensors
    losses (3): each step's loss before its update
    final.<name>: the trainable tensors after the three steps
    sensitive.<name>: the flat indices of the elements where AdamW turns
    rounding noise into steps (see sensitive()), for the tensors that have any
    instruct.seqs (3,7) and instruct.lengths (3): three token lists (padded
    with -1 in the file only), instruct.inputs and instruct.targets (3,7):
    the book's custom_collate_fn of them (pad 299, ignore_index -100),
    instruct.loss: F.cross_entropy of the GPT's vocabulary logits on them
    (ignore_index -100 is its default), instruct.grad.out_head.weight and
    instruct.grad.tok_emb.weight: its gradients.
It also reruns the three steps in float64 and prints how far PyTorch's own
float32 results are from those.
"""

import copy
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from gpt_grad_reference import grads_c_layout
from gpt_reference import CONFIG, GPTModel, layer_norms, parameters_c_layout
from tensor_file import check_round_trip, describe, write_tensor_file

LR, WEIGHT_DECAY = 1e-3, 0.1
STEPS, BATCH, TOKENS = 3, 4, 12
PAD = 299
SENSITIVE = 1e-6


def hidden(model, idx):
    """The GPT up to its final norm (the head replaced)."""
    t = idx.shape[1]
    x = model.tok_emb(idx) + model.pos_emb(torch.arange(t))
    x = model.drop_emb(x)
    for block in model.blocks:
        x = block(x)
    return model.final_norm(x)


def classify(model, head, idx):
    return head(hidden(model, idx)[:, -1, :])


def trainable_names(cfg):
    last = f"blocks.{cfg['n_layers'] - 1}."
    return lambda name: name.startswith(last) or name.startswith("final_norm.")


def make_batches(cfg):
    g = torch.Generator().manual_seed(7)
    inputs = torch.randint(0, PAD, (STEPS, BATCH, TOKENS), generator=g)
    lengths = torch.randint(3, TOKENS + 1, (STEPS, BATCH), generator=g)
    for s in range(STEPS):
        for b in range(BATCH):
            inputs[s, b, lengths[s, b]:] = PAD
    labels = torch.randint(0, 2, (STEPS, BATCH), generator=g)
    return inputs, labels


def sensitive(name, grad, emb_dim):
    """1 where the AdamW update is rounding noise blown up: a first gradient
    that is not zero but below SENSITIVE (lr * g / (|g| + eps) makes its
    rounding up to lr/eps times larger), and the key part of the qkv bias,
    whose gradient is exactly zero in exact arithmetic (softmax ignores a
    constant added to every score of a query)."""
    g = grad.flatten().abs()
    mask = (g > 0) & (g < SENSITIVE)
    if name.endswith("att.qkv.bias"):
        mask[emb_dim:2 * emb_dim] = True
    return torch.nonzero(mask).flatten().float()


def train(model, head, inputs, labels, cfg):
    """The book's loop for the three batches; returns the losses, the first
    batch's logits and gradients (C layout, trainable tensors only)."""
    is_trainable = trainable_names(cfg)
    for p in model.parameters():
        p.requires_grad = False
    for p in model.blocks[-1].parameters():
        p.requires_grad = True
    for p in model.final_norm.parameters():
        p.requires_grad = True
    optimizer = torch.optim.AdamW(list(model.parameters()) + list(head.parameters()), lr=LR, weight_decay=WEIGHT_DECAY)
    losses, first_logits, first_grads = [], None, None
    model.train()
    for s in range(STEPS):
        optimizer.zero_grad()
        logits = classify(model, head, inputs[s])
        loss = F.cross_entropy(logits, labels[s])
        loss.backward()
        if s == 0:
            first_logits = logits.detach().clone()
            # grads_c_layout wants every .grad; frozen ones are None: zeros in their place
            for p in model.parameters():
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
            grads = grads_c_layout(model, cfg)
            for p in model.parameters():
                if not p.requires_grad:
                    p.grad = None
            first_grads = {k: v for k, v in grads.items() if is_trainable(k)}
            first_grads["head.weight"] = head.weight.grad.detach().clone()
            first_grads["head.bias"] = head.bias.grad.detach().clone()
        optimizer.step()
        losses.append(loss.item())
    return torch.tensor(losses), first_logits, first_grads


def collate(seqs, pad, ignore_index=-100, allowed_max_length=None):
    """The book's custom_collate_fn, as the chapter describes it."""
    longest = max(len(s) + 1 for s in seqs)
    inputs, targets = [], []
    for s in seqs:
        padded = s + [pad] * (longest - len(s))
        x = torch.tensor(padded[:-1])
        y = torch.tensor(padded[1:])
        pads = torch.nonzero(y == pad).flatten()
        if pads.numel() > 1:
            y[pads[1:]] = ignore_index
        if allowed_max_length is not None:
            x, y = x[:allowed_max_length], y[:allowed_max_length]
        inputs.append(x)
        targets.append(y)
    return torch.stack(inputs), torch.stack(targets)


def main(path):
    cfg = dict(CONFIG, drop_rate=0.0)
    torch.manual_seed(123)
    model = GPTModel(cfg)
    with torch.no_grad():
        for norm in layer_norms(model):
            norm.scale.copy_(1.0 + 0.1 * torch.randn(cfg["emb_dim"]))
            norm.shift.copy_(0.1 * torch.randn(cfg["emb_dim"]))
    out = {}
    out["config"] = torch.tensor(
        [cfg["vocab_size"], cfg["context_length"], cfg["emb_dim"], cfg["n_heads"], cfg["n_layers"], int(cfg["qkv_bias"])],
        dtype=torch.float32,
    )
    # clone: parameters_c_layout's tensors may share storage with the
    # parameters, which training changes in place
    out.update({k: v.clone() for k, v in parameters_c_layout(model, cfg).items()})

    # the instruction loss first, on the untouched model with its vocabulary head
    seqs = [[5, 17, 42, 8, 99, 3, 250], [7, 7, 31], [120, 4, 66, 9, 1]]
    inputs_i, targets_i = collate(seqs, PAD)
    model.zero_grad(set_to_none=True)
    loss_i = F.cross_entropy(model(inputs_i).flatten(0, 1), targets_i.flatten())
    loss_i.backward()
    padded_seqs = torch.full((3, 7), -1.0)
    for i, s in enumerate(seqs):
        padded_seqs[i, : len(s)] = torch.tensor(s, dtype=torch.float32)
    out["instruct.seqs"] = padded_seqs
    out["instruct.lengths"] = torch.tensor([len(s) for s in seqs], dtype=torch.float32)
    out["instruct.inputs"] = inputs_i.float()
    out["instruct.targets"] = targets_i.float()
    out["instruct.loss"] = loss_i.detach().reshape(1)
    out["instruct.grad.out_head.weight"] = model.out_head.weight.grad.detach().clone()
    out["instruct.grad.tok_emb.weight"] = model.tok_emb.weight.grad.detach().clone()
    model.zero_grad(set_to_none=True)

    torch.manual_seed(123)
    head = nn.Linear(cfg["emb_dim"], 2)
    out["head.weight"] = head.weight.detach().clone()
    out["head.bias"] = head.bias.detach().clone()
    inputs, labels = make_batches(cfg)
    out["inputs"] = inputs.float()
    out["labels"] = labels.float()

    model64, head64 = copy.deepcopy(model).double(), copy.deepcopy(head).double()
    losses, logits, grads = train(model, head, inputs, labels, cfg)
    out["logits"] = logits
    for name, g in grads.items():
        out["grad." + name] = g
    out["losses"] = losses
    final = {k: v.clone() for k, v in parameters_c_layout(model, cfg).items() if trainable_names(cfg)(k)}
    final["head.weight"] = head.weight.detach().clone()
    final["head.bias"] = head.bias.detach().clone()
    for name, v in final.items():
        out["final." + name] = v
    for name, g in grads.items():
        idx = sensitive(name, g, cfg["emb_dim"])
        if idx.numel():
            out["sensitive." + name] = idx

    write_tensor_file(path, out)
    check_round_trip(path, out)

    # PyTorch's own float32 rounding: the same three steps in float64
    losses64, _, _ = train(model64, head64, inputs, labels, cfg)
    final64 = {k: v for k, v in parameters_c_layout(model64, cfg).items() if trainable_names(cfg)(k)}
    final64["head.weight"] = head64.weight.detach()
    final64["head.bias"] = head64.bias.detach()
    print("torch", torch.__version__)
    print("losses", losses.tolist(), "float64", losses64.tolist())
    print("instruct loss %.8f" % loss_i.item())
    for name, v in final.items():
        mask = torch.ones(v.numel(), dtype=torch.bool)
        if "sensitive." + name in out:
            mask[out["sensitive." + name].long()] = False
        err = (v.double() - final64[name]).abs().flatten()
        print("  final.%-28s float32 error %.2e (%.2e where not sensitive; %d sensitive)"
              % (name, err.max().item(), err[mask].max().item(), int((~mask).sum().item())))
    print(f"wrote {path} ({len(out)} tensors), read back OK")
    print(describe(path))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: ch06_classifier_reference.py OUTPUT.bin")
    main(sys.argv[1])
