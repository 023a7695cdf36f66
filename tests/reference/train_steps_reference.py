"""Chapter 5 reference: ten AdamW training steps of a small GPT.

Usage (from tests/reference):
    /usr/bin/python3 train_steps_reference.py ../fixtures/train_steps.bin

Builds the model of gpt_reference.py (vocab 300, context 32, 64 channels,
4 heads, 2 layers, qkv bias, untied head) with drop_rate 0, so that training
mode is the same computation as evaluation and no random numbers are drawn
after the set-up. The weights are seeded as in gpt_grad_reference.py
(manual_seed(123), PyTorch's default init, LayerNorms moved off 1/0).

The ten batches come from one seeded token stream, cut as the book's data
loader cuts text (windows of 16, stride 16, targets shifted by one token).
The stream uses only 8 of the 300 token ids, so the model has something to
learn in ten steps and the losses move (5.99 down to 4.68).

Then ten steps of the book's training loop (train_model_simple):
    optimizer.zero_grad()
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
    loss.backward()
    optimizer.step()
with torch.optim.AdamW(lr=1e-3, weight_decay=0.1) (betas 0.9/0.999, eps 1e-8),
recording each step's loss (computed before that step's update).

Writes, in the C layout of gpt_reference.py:
    config (6) = [vocab, context, emb, heads, layers, qkv_bias]
    drop_rate (1) = 0
    adamw (4) = [lr, weight_decay, beta1, beta2]   (eps is 1e-8)
    the parameters before training, under the names of gpt_small.bin
    inputs, targets (10,2,16): the batches, token ids as float32
    losses (10)
    final.<name> for a few parameters after the ten steps
    sensitive.<name> (k): for those of them that have any, the flat indices
        of the elements where AdamW blows rounding noise up (see sensitive()),
        which the C test holds to a looser bound
It also reruns the ten steps in float64 and prints how far PyTorch's own
float32 losses and final parameters are from those: the scale of rounding
that the C test's tolerances must allow for.
"""

import copy
import sys

import torch
import torch.nn.functional as F

from gpt_grad_reference import grads_c_layout
from gpt_reference import CONFIG, GPTModel, layer_norms, parameters_c_layout
from tensor_file import check_round_trip, describe, write_tensor_file

LR = 1e-3
WEIGHT_DECAY = 0.1
STEPS = 10
BATCH, TOKENS = 2, 16
ALPHABET = 8  # how many distinct token ids the stream uses
SENSITIVE = 1e-6  # |first gradient| below this (100 x AdamW's eps): see sensitive()

# parameters stored after training: one of each kind of layout
FINAL = [
    "tok_emb.weight",          # (300,64): rows of unseen tokens only decay
    "pos_emb.weight",          # (32,64): rows 16.. get no gradient
    "blocks.0.att.qkv.weight", # (64,192): three nn.Linear fused
    "blocks.0.att.qkv.bias",
    "blocks.1.norm2.scale",
    "blocks.1.ff.fc2.weight",  # (256,64): transposed nn.Linear
    "final_norm.shift",
    "out_head.weight",         # (300,64): not transposed
]


def make_batches(cfg):
    alphabet = torch.randperm(cfg["vocab_size"])[:ALPHABET]
    stream = alphabet[torch.randint(0, ALPHABET, (STEPS * BATCH * TOKENS + 1,))]
    windows = torch.arange(STEPS * BATCH).reshape(STEPS, BATCH, 1) * TOKENS + torch.arange(TOKENS)
    return stream[windows], stream[windows + 1]


def train(model, cfg, inputs, targets):
    """The book's loop for ten batches; returns the losses (before each step)
    and the first step's gradients (C layout)."""
    model.train()  # drop_rate 0: the same as eval()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    losses = []
    for step in range(STEPS):
        optimizer.zero_grad()
        logits = model(inputs[step])
        loss = F.cross_entropy(logits.flatten(0, 1), targets[step].flatten())
        loss.backward()
        if step == 0:
            first_grads = grads_c_layout(model, cfg)
        optimizer.step()
        losses.append(loss.detach().clone())
    return torch.stack(losses), first_grads


def sensitive(name, grad, cfg):
    """Indices (flat) of the elements whose AdamW update is rounding noise
    blown up, which no two float32 implementations agree on:
      * those whose first gradient is not zero but below SENSITIVE: there
        the first step, lr * g / (|g| + eps), turns the gradient's rounding
        error into a parameter error up to lr/eps times larger (1e5 at g = 0);
      * the key part of the qkv bias: adding a constant to every key adds
        the same q.b to all of a query's scores, which softmax ignores, so
        its gradient is exactly zero and float32 computes noise (~1e-9 to
        1e-6) that AdamW normalises into steps of up to lr.
    """
    g = grad.flatten().abs()
    mask = (g > 0) & (g < SENSITIVE)
    if name.endswith("att.qkv.bias"):
        c = cfg["emb_dim"]
        mask[c:2 * c] = True
    return torch.nonzero(mask).flatten()


def main(path):
    cfg = dict(CONFIG, drop_rate=0.0)
    torch.manual_seed(123)
    model = GPTModel(cfg)
    with torch.no_grad():
        # as gpt_reference.py: move the LayerNorms off scale 1, shift 0
        for norm in layer_norms(model):
            norm.scale.copy_(1.0 + 0.1 * torch.randn(cfg["emb_dim"]))
            norm.shift.copy_(0.1 * torch.randn(cfg["emb_dim"]))
    inputs, targets = make_batches(cfg)
    model64 = copy.deepcopy(model).double()

    out = {}
    out["config"] = torch.tensor(
        [cfg["vocab_size"], cfg["context_length"], cfg["emb_dim"], cfg["n_heads"], cfg["n_layers"], int(cfg["qkv_bias"])],
        dtype=torch.float32,
    )
    out["drop_rate"] = torch.tensor([cfg["drop_rate"]])
    out["adamw"] = torch.tensor([LR, WEIGHT_DECAY, 0.9, 0.999])
    # cloned: some of parameters_c_layout's tensors share the parameters' storage
    out.update({name: p.clone() for name, p in parameters_c_layout(model, cfg).items()})
    out["inputs"] = inputs.float()
    out["targets"] = targets.float()

    losses, first_grads = train(model, cfg, inputs, targets)
    out["losses"] = losses
    final = parameters_c_layout(model, cfg)
    for name in FINAL:
        out["final." + name] = final[name]
    for name in FINAL:
        idx = sensitive(name, first_grads[name], cfg)
        if len(idx):
            out["sensitive." + name] = idx.float()

    write_tensor_file(path, out)
    check_round_trip(path, out)

    # PyTorch's own float32 rounding: the same ten steps in float64
    losses64, _ = train(model64, cfg, inputs, targets)
    final64 = parameters_c_layout(model64, cfg)
    print("torch", torch.__version__)
    print("step  loss (float32)  float64 - float32")
    for step in range(STEPS):
        print("%4d  %.7f      %+.2e" % (step + 1, losses[step].item(), losses64[step].item() - losses[step].item()))
    worst_loss = (losses.double() - losses64).abs().max().item()
    print("losses: max |float32 - float64| = %.2e" % worst_loss)
    worst_all = 0.0
    print("final parameters, max |float32 - float64|: over all elements, and over all but the sensitive ones")
    print("(see sensitive(); how many there are)")
    for name, p in final.items():
        diff = (p.double() - final64[name]).abs().flatten()
        idx = sensitive(name, first_grads[name], cfg)
        err = diff.max().item()
        rest = diff.clone()
        rest[idx] = 0
        worst_all = max(worst_all, rest.max().item())
        mark = "*" if name in FINAL else " "
        print("  %s final.%-28s max|p| %.3f  all %.2e  others %.2e  (%d sensitive)"
              % (mark, name, p.abs().max().item(), err, rest.max().item(), len(idx)))
    print("worst over the others: %.2e (* = stored)" % worst_all)
    print(f"wrote {path} ({len(out)} tensors), read back OK")
    print(describe(path))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: train_steps_reference.py OUTPUT.bin")
    main(sys.argv[1])
