#!/usr/bin/env python3
"""PyTorch side of `make bench`'s GPT forward comparison.

Builds the book's GPT_CONFIG_124M model (random init, eval mode, no_grad),
then answers commands on standard input so the C benchmark can alternate
with it (ours, PyTorch, ours, ...) without paying Python's start-up each time:

    forward B T     run one forward pass on random ids of shape (B, T);
                    prints "<seconds>" on its own line

The first line printed is "ready <torch version> <threads>". Run with
Debian's python3-torch: /usr/bin/python3 torch_forward_bench.py
"""

import os
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
    for line in sys.stdin:
        words = line.split()
        if words[:1] != ["forward"] or len(words) != 3:
            print(f"error: unknown command {line.strip()!r}", flush=True)
            continue
        batch, tokens = int(words[1]), int(words[2])
        ids = torch.randint(0, CONFIG_124M["vocab_size"], (batch, tokens))
        with torch.no_grad():
            start = time.perf_counter()
            model(ids)
            seconds = time.perf_counter() - start
        print(f"{seconds:.6f}", flush=True)


if __name__ == "__main__":
    main()
