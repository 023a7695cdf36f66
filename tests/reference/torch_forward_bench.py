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
    about           what ran: torch's version, threads and CPU kernels, and
                    the BLAS behind it (the file libblas.so.3 resolved to in
                    this process, and OpenBLAS's own version, core and
                    threads when it is OpenBLAS), one line each, then "end";
                    a line starting "WARNING:" when the figures cannot be
                    taken at face value (the reference BLAS)

The first line printed is "ready <torch version> <threads>". Run with
Debian's python3-torch: /usr/bin/python3 torch_forward_bench.py
"""

import ctypes
import os
import re
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


# Which BLAS a resolved libblas.so.3 path is: Debian keeps each in its own
# folder behind the libblas.so.3 alternative.
BLAS_KINDS = (
    ("openblas", "OpenBLAS"),
    ("/blas/", "the reference BLAS (netlib, Debian's libblas3)"),
    ("blis", "BLIS"),
    ("atlas", "ATLAS"),
    ("mkl", "MKL"),
)


def mapped_libraries():
    """Paths of the shared libraries this process has mapped (the kernel
    lists the files themselves, symbolic links resolved)."""
    paths = []
    with open("/proc/self/maps", encoding="utf-8") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            path = fields[5].strip() if len(fields) == 6 else ""
            if ".so" in os.path.basename(path) and path not in paths:
                paths.append(path)
    return paths


def build_setting(pattern):
    """One item of torch.__config__.show(), by a regular expression."""
    match = re.search(pattern, torch.__config__.show())
    return match.group(1) if match else "?"


def openblas_details(libraries):
    """OpenBLAS's own account of the copy this process loaded."""
    for path in libraries:
        if os.path.basename(path).startswith("libopenblas"):
            lib = ctypes.CDLL(path)  # already loaded: the same copy
            lib.openblas_get_config.restype = ctypes.c_char_p
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return (f"{lib.openblas_get_config().decode()}, core {lib.openblas_get_corename().decode()}, "
                    f"{lib.openblas_get_num_threads()} threads")
    return "libopenblas not mapped"


def about():
    """The lines of the `about` command."""
    kernels = build_setting(r"CPU capability usage: ([^\n]+)")
    blas_info = build_setting(r"BLAS_INFO=([^,]+)")
    lines = [
        f"PyTorch {torch.__version__} ({os.path.dirname(torch.__file__)}): {torch.get_num_threads()} threads, "
        f"CPU kernels {kernels}, built with BLAS_INFO={blas_info}"
    ]
    libraries = mapped_libraries()
    blas = [path for path in libraries if os.path.basename(path).startswith("libblas.so")]
    if not blas:
        lines.append("PyTorch's BLAS: no libblas.so.3 in this process (BLAS built in, see BLAS_INFO)")
        return lines
    kind = next((name for key, name in BLAS_KINDS if key in blas[0]), "an unknown BLAS")
    lines.append(f"PyTorch's BLAS: libblas.so.3 is {blas[0]}: {kind}")
    if kind == "OpenBLAS":
        lines.append(f"PyTorch's BLAS: {openblas_details(libraries)}")
    elif kind.startswith("the reference BLAS"):
        lines.append("WARNING: PyTorch runs on the reference BLAS (a few GFLOP/s, tens of times slower than "
                     "OpenBLAS): its figures are not meaningful (make bench installs libopenblas0-pthread "
                     "and points libblas.so.3 at it)")
    return lines


def main():
    torch.set_num_threads(os.cpu_count() or 1)  # Debian's build defaults to 1 here
    torch.manual_seed(123)
    model = GPTModel(CONFIG_124M).eval()
    print(f"ready {torch.__version__} {torch.get_num_threads()}", flush=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=4e-4, weight_decay=0.1)
    for line in sys.stdin:
        words = line.split()
        if words == ["about"]:
            print("\n".join(about() + ["end"]), flush=True)
            continue
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
