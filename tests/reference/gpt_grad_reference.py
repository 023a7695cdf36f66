"""Chapter 5 reference: the gradients of a small GPT's loss, by autograd.

Usage (from tests/reference):
    /usr/bin/python3 gpt_grad_reference.py ../fixtures/gpt_grads.bin

Builds the model of gpt_reference.py (vocab 300, context 32, 64 channels,
4 heads, 2 layers, qkv bias, eval mode so dropout is off), runs one batch
(inputs and targets (2,16)), takes the book's loss
    torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
and writes, in the C layout of gpt_reference.py (linear weights (in, out),
qkv fused, out_head (vocab, emb)):
    config, the parameters (same names as gpt_small.bin), input_ids, targets,
    loss (1), logits (2,16,300), grad.<name> for every parameter;
    tied.loss (1) and tied.grad.tok_emb.weight (300,64): the same batch with
    the head tied to the token embedding (logits = x @ tok_emb.weight^T), whose
    gradient then collects both uses.
Float32, seeded; it also reruns everything in float64 and prints how far
PyTorch's own float32 gradients are from those.
"""

import sys

import torch
import torch.nn.functional as F

from attention_reference import linear_in_out
from gpt_reference import CONFIG, GPTModel, layer_norms, parameters_c_layout
from tensor_file import check_round_trip, describe, write_tensor_file


def grad_in_out(linear):
    """The gradient of nn.Linear's (out, in) weight, in the C layout (in, out)."""
    return linear.weight.grad.T


def grads_c_layout(model, cfg):
    """Every parameter's .grad under the names and layout of parameters_c_layout."""
    g = {}
    g["tok_emb.weight"] = model.tok_emb.weight.grad
    g["pos_emb.weight"] = model.pos_emb.weight.grad
    for l, block in enumerate(model.blocks):
        b = f"blocks.{l}"
        att = block.att
        g[b + ".norm1.scale"] = block.norm1.scale.grad
        g[b + ".norm1.shift"] = block.norm1.shift.grad
        g[b + ".att.qkv.weight"] = torch.cat([grad_in_out(att.W_query), grad_in_out(att.W_key), grad_in_out(att.W_value)], 1)
        if cfg["qkv_bias"]:
            g[b + ".att.qkv.bias"] = torch.cat([att.W_query.bias.grad, att.W_key.bias.grad, att.W_value.bias.grad])
        g[b + ".att.out_proj.weight"] = grad_in_out(att.out_proj)
        g[b + ".att.out_proj.bias"] = att.out_proj.bias.grad
        g[b + ".norm2.scale"] = block.norm2.scale.grad
        g[b + ".norm2.shift"] = block.norm2.shift.grad
        g[b + ".ff.fc1.weight"] = grad_in_out(block.ff.fc1)
        g[b + ".ff.fc1.bias"] = block.ff.fc1.bias.grad
        g[b + ".ff.fc2.weight"] = grad_in_out(block.ff.fc2)
        g[b + ".ff.fc2.bias"] = block.ff.fc2.bias.grad
    g["final_norm.scale"] = model.final_norm.scale.grad
    g["final_norm.shift"] = model.final_norm.shift.grad
    g["out_head.weight"] = model.out_head.weight.grad  # (vocab, emb), like the weight
    return {k: v.detach().clone().contiguous() for k, v in g.items()}


def loss_and_grads(model, cfg, input_ids, targets, tied):
    model.tied = tied
    model.zero_grad(set_to_none=True)
    logits = model(input_ids)
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
    loss.backward()
    model.tied = False
    if tied:  # the untied head took no part
        model.out_head.weight.grad = torch.zeros_like(model.out_head.weight)
    return loss.detach(), logits.detach(), grads_c_layout(model, cfg)


def main(path):
    cfg = CONFIG
    torch.manual_seed(123)
    model = GPTModel(cfg).eval()
    with torch.no_grad():
        # as gpt_reference.py: move the LayerNorms off scale 1, shift 0
        for norm in layer_norms(model):
            norm.scale.copy_(1.0 + 0.1 * torch.randn(cfg["emb_dim"]))
            norm.shift.copy_(0.1 * torch.randn(cfg["emb_dim"]))
    input_ids = torch.randint(0, cfg["vocab_size"], (2, 16))
    targets = torch.randint(0, cfg["vocab_size"], (2, 16))

    out = {}
    out["config"] = torch.tensor(
        [cfg["vocab_size"], cfg["context_length"], cfg["emb_dim"], cfg["n_heads"], cfg["n_layers"], int(cfg["qkv_bias"])],
        dtype=torch.float32,
    )
    out.update(parameters_c_layout(model, cfg))
    out["input_ids"] = input_ids.float()
    out["targets"] = targets.float()
    loss, logits, grads = loss_and_grads(model, cfg, input_ids, targets, tied=False)
    out["loss"] = loss.reshape(1)
    out["logits"] = logits
    for name, g in grads.items():
        out["grad." + name] = g
    tied_loss, _, tied_grads = loss_and_grads(model, cfg, input_ids, targets, tied=True)
    out["tied.loss"] = tied_loss.reshape(1)
    out["tied.grad.tok_emb.weight"] = tied_grads["tok_emb.weight"]

    write_tensor_file(path, out)
    check_round_trip(path, out)

    # PyTorch's own float32 rounding: the same in float64
    model64 = model.double()
    loss64, _, grads64 = loss_and_grads(model64, cfg, input_ids, targets, tied=False)
    print("torch", torch.__version__)
    print("loss %.8f (float64 %.8f)" % (loss.item(), loss64.item()))
    worst = 0.0
    for name, g in grads.items():
        g64 = grads64[name]
        scale = g64.abs().max().item()
        err = (g.double() - g64).abs().max().item()
        worst = max(worst, err / scale)
        print("  grad.%-28s max|g| %.3e  float32 error / max|g| %.2e" % (name, scale, err / scale))
    print("worst float32 error relative to the tensor's max |grad|: %.2e" % worst)
    print(f"wrote {path} ({len(out)} tensors), read back OK")
    print(describe(path))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gpt_grad_reference.py OUTPUT.bin")
    main(sys.argv[1])
