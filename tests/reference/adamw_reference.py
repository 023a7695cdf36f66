#!/usr/bin/env python3
"""Reference values for ch05's AdamW and gradient clipping.

Runs torch.optim.AdamW (betas 0.9/0.999, eps 1e-8, weight decay 0.1,
lr 0.01) for 10 steps on a 37-element parameter with seeded random
gradients, and clip_grad_norm_ on a gradient, and writes them to a tensor
file (tensor_file.py). Run with Debian's python3-torch:

    /usr/bin/python3 adamw_reference.py ../fixtures/adamw.bin
"""
import sys

import torch

from tensor_file import write_tensor_file


def main(path):
    torch.manual_seed(42)
    p = torch.nn.Parameter(torch.randn(37))
    start = p.detach().clone()
    grads = torch.randn(10, 37) * torch.linspace(0.01, 3.0, 37)
    opt = torch.optim.AdamW([p], lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
    after = []
    for step in range(10):
        p.grad = grads[step].clone()
        opt.step()
        after.append(p.detach().clone())
    q = torch.nn.Parameter(torch.zeros(37))
    q.grad = grads[3].clone() * 10
    norm = torch.nn.utils.clip_grad_norm_([q], max_norm=1.0)
    write_tensor_file(path, {
        "adamw.start": start,
        "adamw.grads": grads,
        "adamw.after": torch.stack(after),
        "clip.grad": grads[3] * 10,
        "clip.norm": norm.reshape(1),
        "clip.clipped": q.grad.detach(),
    })


if __name__ == "__main__":
    main(sys.argv[1])
