/* printing.h: what every chapter's walkthrough prints alike, so that its
 * output can be read beside the book's notebook: a banner for each section,
 * "In [N]: what the cell does" before a cell's output (N the cell's number
 * in the notebook, its execution count; our own remarks are lines that
 * start with "# "), and numbers as Python and PyTorch print them. */
#ifndef COMMON_PRINTING_H
#define COMMON_PRINTING_H

#include <stddef.h>

/* "\n== title ==" */
void section(const char *title);
/* "In [n]: what" */
void cell(int n, const char *what);

/* "124,441,346": n with thousands separators, as Python's f"{n:,}" (in buf). */
const char *with_commas(size_t n, char buf[32]);

/* A Python str's repr: 'word', or "it's" when it holds a single quote and
 * no double quote; backslashes, that quote and control characters escaped. */
void print_repr(const char *s);
/* "[1, 2, 3]": ints as Python prints a list of them (no newline). */
void write_int_list(const int *x, size_t n);

/* A (rows, cols) int matrix as PyTorch prints it, "tensor([[5211,  345],\n
 * [ 423,  640]])": every number as wide as the widest, later rows indented
 * under the first. write_int_tensor adds no newline (two can share a line,
 * as in a printed list); print_int_tensor does. */
void write_int_tensor(const int *x, int rows, int cols);
void print_int_tensor(const int *x, int rows, int cols);

#endif
