#!/usr/bin/env python3
"""PyTorch side of `make bench`'s GPT forward comparison.

Builds the book's GPT_CONFIG_124M model (random init, eval mode, no_grad),
then answers commands on standard input so the C benchmark can alternate
with it (ours, PyTorch, ours, ...) without paying Python's start-up each time:

    forward B T     run one forward pass on random ids of shape (B, T);
                    prints "<seconds>" on its own line
    train B T       one training step (train mode with dropout 0.1, forward,
                    cross-entropy, backward, AdamW lr 4e-4 wd 0.1), as the
                    book's train_model_simple does; prints "<seconds>"
    memory          prints the process's peak resident memory in MB

The first line printed is "ready <torch version> <threads>". Run with
Debian's python3-torch: /usr/bin/python3 torch_forward_bench.py
"""

import os
import resource
import sys
import time

import torch

from gpt_reference import GPTModel

CONFIG_124M = {
    "vocab_size": 50257,
    "context_length": 1024,
    "emb_dim": 768,
    "n_heads": 12,
    "n_layers": 12,
    "drop_rate": 0.1,
    "qkv_bias": False,
}


def main():
    torch.set_num_threads(os.cpu_count() or 1)  # Debian's build defaults to 1 here
    torch.manual_seed(123)
    model = GPTModel(CONFIG_124M).eval()
    print(f"ready {torch.__version__} {torch.get_num_threads()}", flush=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=4e-4, weight_decay=0.1)
    for line in sys.stdin:
        words = line.split()
        if words == ["memory"]:
            print(f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}", flush=True)
            continue
        if words[:1] not in (["forward"], ["train"]) or len(words) != 3:
            print(f"error: unknown command {line.strip()!r}", flush=True)
            continue
        batch, tokens = int(words[1]), int(words[2])
        ids = torch.randint(0, CONFIG_124M["vocab_size"], (batch, tokens + 1))
        start = time.perf_counter()
        if words[0] == "forward":
            model.eval()
            with torch.no_grad():
                model(ids[:, :-1])
        else:
            model.train()
            optimizer.zero_grad()
            logits = model(ids[:, :-1])
            loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
            loss.backward()
            optimizer.step()
        seconds = time.perf_counter() - start
        print(f"{seconds:.6f}", flush=True)


if __name__ == "__main__":
    main()
