#!/usr/bin/env python3
"""Reference merges for ch02's BPE trainer, following the algorithm of the
book's bonus notebook "BPE from scratch" (written here from its description):

  * every space except one at position 0 becomes "Ġ", other characters stay;
  * the base vocabulary is chr(0)..chr(255), then the text's other characters
    in sorted order, then "Ġ" if still missing, then <|endoftext|>;
  * each step counts adjacent pairs over the whole text, takes the most
    frequent one (the first seen on a tie), gives it the next id and replaces
    it left to right without overlaps, until the vocabulary has vocab_size ids.

Writes one merge per line as "<hex bytes of left> <hex bytes of right>",
where "Ġ" stands for the space byte, so the C trainer (which works on bytes)
can compare. Standard library only:

  python3 bpe_book_reference.py ../../data/the-verdict.txt 1000 > ../fixtures/bpe_verdict_1000.txt
"""
import sys
from collections import Counter


def train(text, vocab_size):
    chars = [("Ġ" if c == " " else c) for i, c in enumerate(text) if c != " " or i != 0]
    vocab = [chr(i) for i in range(256)]
    vocab += [c for c in sorted(set(chars)) if c not in vocab]
    if "Ġ" not in vocab:
        vocab.append("Ġ")
    vocab.append("<|endoftext|>")
    index = {s: i for i, s in enumerate(vocab)}
    seq = [index[c] for c in chars]
    merges = []
    while len(vocab) < vocab_size:
        counts = Counter(zip(seq, seq[1:]))
        if not counts:
            break
        pair = max(counts.items(), key=lambda kv: kv[1])[0]
        new_id = len(vocab)
        vocab.append(vocab[pair[0]] + vocab[pair[1]])
        merges.append(pair)
        out, i = [], 0
        while i < len(seq):
            if i + 1 < len(seq) and (seq[i], seq[i + 1]) == pair:
                out.append(new_id)
                i += 2
            else:
                out.append(seq[i])
                i += 1
        seq = out
    return vocab, merges


def to_bytes(token):
    return token.replace("Ġ", " ").encode("utf-8")


def main():
    path, vocab_size = sys.argv[1], int(sys.argv[2])
    with open(path, encoding="utf-8") as f:
        text = f.read()
    vocab, merges = train(text, vocab_size)
    print(f"# {len(merges)} merges of the book's BPE on {path.split('/')[-1]} at vocab_size {vocab_size}")
    for left, right in merges:
        print(to_bytes(vocab[left]).hex(), to_bytes(vocab[right]).hex())


if __name__ == "__main__":
    main()
