/* notebook.h: what `ch05 walkthrough` and `ch05 exercise` print alike, the
 * book's notebooks (ch05.ipynb, exercise-solutions.ipynb) cell by cell,
 * beyond common/printing.h: values in PyTorch's print format, and 5.3's toy vocabulary with its
 * sampling counts. */
#ifndef CH05_NOTEBOOK_H
#define CH05_NOTEBOOK_H

#include <stdint.h>

#include "../common/printing.h" /* section() and cell() */

/* A vector of n floats as print(tensor) shows it: "tensor([0.0615, 0.0000])",
 * 4 decimals, or "7.4541e-05" when the nonzero magnitudes span more than a
 * factor of 1000 or go below 1e-4 (PyTorch's choice of scientific notation),
 * all values as wide as the widest, lines wrapped at 80 columns. Then a newline. */
void print_torch_vector(const float *x, int n);
/* A 0-dimensional tensor the same way: "tensor(0.0430)". */
void print_torch_scalar(float x);

/* 5.3's example: a vocabulary of nine words and the logits a model might
 * give for the word after "every effort moves you". */
enum { TOY_VOCAB_SIZE = 9 };
extern const char *const TOY_VOCAB[TOY_VOCAB_SIZE];
extern const float TOY_NEXT_TOKEN_LOGITS[TOY_VOCAB_SIZE];

/* The book's print_sampled_tokens: 1000 tokens drawn from probas (over the
 * toy vocabulary) by a generator seeded with seed, and a line "N x word" for
 * each word up to the last one drawn, or for at least minlength words
 * (torch.bincount's minlength). The counts are written to counts when it is
 * not NULL. */
void print_sampled_tokens(const float *probas, uint64_t seed, int minlength, int counts[TOY_VOCAB_SIZE]);

#endif
