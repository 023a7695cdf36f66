#!/usr/bin/env python3
"""Reference values for ch05's AdamW, gradient clipping and appendix D's
learning-rate schedule.

- adamw.*: torch.optim.AdamW (betas 0.9/0.999, eps 1e-8, weight decay 0.1,
  lr 0.01) for 10 steps on a 37-element parameter with seeded random
  gradients; clip.*: clip_grad_norm_ on a gradient.
- appendix_d.lrs: the learning rates of appendix D's D.2 loop, computed with
  the book's code and its numbers: 15 epochs of 9 batches (The Verdict at
  context 256, batch 2), 20% warm-up (27 steps) from initial_lr 1e-4 to
  peak_lr 0.01, then a cosine down to min_lr = 0.1 * initial_lr.
- appendix_d.*: D.4's train_model loop around torch.optim.AdamW(lr=peak_lr,
  weight_decay=0.1) with the book's final run's settings (peak 0.001,
  initial_lr and min_lr 1e-5, the same 135 steps and 27 warm-up steps):
  each step sets the learning rate by warm-up or cosine, clips the gradient
  to norm 1 from the end of the warm-up on (global_step >= warmup_steps, the
  repository's corrected version), then steps. The model is replaced by an
  8-element parameter and the loss's gradients by seeded random ones whose
  norms spread from 0.1 to 10, so clipping sometimes acts and sometimes not.

Writes them to a tensor file (tensor_file.py). Run with Debian's python3-torch:

    /usr/bin/python3 adamw_reference.py ../fixtures/adamw.bin
"""
import math
import sys

import torch

from tensor_file import check_round_trip, describe, write_tensor_file

N_EPOCHS, BATCHES = 15, 9  # appendix D: len(train_loader) is 9


def book_lrs(initial_lr, peak_lr, min_lr, warmup_steps, total_steps):
    """Appendix D's learning rate at each step: a straight line from
    initial_lr up towards peak_lr over the warm-up steps, then half a cosine
    from peak_lr down towards min_lr (which only step total_steps, one past
    the last, would reach). The same arithmetic as the book's loop."""
    increment = (peak_lr - initial_lr) / warmup_steps

    def at(step):
        if step < warmup_steps:
            return initial_lr + step * increment
        done = (step - warmup_steps) / (total_steps - warmup_steps)
        return min_lr + (peak_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * done))

    return [at(step) for step in range(total_steps)]


def appendix_d_loop():
    total_steps = N_EPOCHS * BATCHES
    warmup_steps = int(0.2 * total_steps)
    peak_lr, initial_lr, min_lr = 0.001, 1e-5, 1e-5
    torch.manual_seed(123)
    p = torch.nn.Parameter(torch.randn(8))
    start = p.detach().clone()
    scales = torch.logspace(-1.5, 0.5, total_steps)[torch.randperm(total_steps)]
    # the last warm-up step and the first after it get norms well above 1,
    # so clipping one step early or late changes the result
    scales[warmup_steps - 1] = scales[warmup_steps] = 3.0
    grads = torch.randn(total_steps, 8) * scales.unsqueeze(1)
    optimizer = torch.optim.AdamW([p], lr=peak_lr, weight_decay=0.1)
    lrs = book_lrs(initial_lr, peak_lr, min_lr, warmup_steps, total_steps)
    after = []
    for global_step in range(total_steps):
        for param_group in optimizer.param_groups:
            param_group["lr"] = lrs[global_step]
        optimizer.zero_grad()
        p.grad = grads[global_step].clone()
        if global_step >= warmup_steps:
            torch.nn.utils.clip_grad_norm_([p], max_norm=1.0)
        optimizer.step()
        after.append(p.detach().clone())
    norms = grads.norm(dim=1)
    assert norms[warmup_steps - 1] > 1 and norms[warmup_steps] > 1
    clipped = sum(1 for s in range(warmup_steps, total_steps) if norms[s] > 1.0)
    assert 20 < clipped < total_steps - warmup_steps - 20, clipped  # clipping acts on some steps, not all
    return {
        "appendix_d.start": start,
        "appendix_d.grads": grads,
        "appendix_d.lrs": torch.tensor(lrs, dtype=torch.float64),
        "appendix_d.after": torch.stack(after),
    }


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
    total_steps = N_EPOCHS * BATCHES
    warmup_steps = int(0.2 * total_steps)
    assert warmup_steps == 27  # the notebook prints 27
    d2_lrs = book_lrs(1e-4, 0.01, 0.1 * 1e-4, warmup_steps, total_steps)
    tensors = {
        "adamw.start": start,
        "adamw.grads": grads,
        "adamw.after": torch.stack(after),
        "clip.grad": grads[3] * 10,
        "clip.norm": norm.reshape(1),
        "clip.clipped": q.grad.detach(),
        "appendix_d.d2_lrs": torch.tensor(d2_lrs, dtype=torch.float64),
        **appendix_d_loop(),
    }
    write_tensor_file(path, tensors)
    check_round_trip(path, tensors)
    print(describe(path))


if __name__ == "__main__":
    main(sys.argv[1])
