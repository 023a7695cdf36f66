/* tensor.h: float32 row-major tensors with a shape. Deliberately thin: a
 * tensor is a shape and a pointer, so layers can also work on raw views into
 * one big parameter buffer (as llm.c does) without copying. */
#ifndef COMMON_TENSOR_H
#define COMMON_TENSOR_H

#include <stddef.h>
#include <stdio.h>

#include "rng.h"

#define TENSOR_MAX_DIMS 4

typedef struct {
    int ndim;
    int shape[TENSOR_MAX_DIMS];
    size_t size;   /* number of elements: the product of the shape */
    float *data;   /* row-major; owned unless the tensor is a view */
    int owns_data;
} Tensor;

/* A zero-filled tensor. Exits with a clear message on a bad shape or no memory. */
Tensor tensor_zeros(int ndim, const int shape[]);
/* Shorthands for the common ranks. */
Tensor tensor_zeros1(int d0);
Tensor tensor_zeros2(int d0, int d1);
Tensor tensor_zeros3(int d0, int d1, int d2);
/* A tensor that borrows data (not freed by tensor_free). */
Tensor tensor_view(float *data, int ndim, const int shape[]);
void tensor_free(Tensor *t);

/* Same data, new shape with the same number of elements (exits otherwise). */
Tensor tensor_reshape(const Tensor *t, int ndim, const int shape[]);
/* "[8, 4, 256]" into buf. */
const char *tensor_shape_str(const Tensor *t, char *buf, size_t bufsize);
/* Print like PyTorch: "tensor([[0.4300, 0.1500], ...])" with `decimals` digits. */
void tensor_print(FILE *out, const Tensor *t, int decimals);

/* Initialisers drawing from rng. */
void tensor_fill_normal(Tensor *t, Rng *rng, float mean, float std);
void tensor_fill_uniform(Tensor *t, Rng *rng, float lo, float hi);

#endif
