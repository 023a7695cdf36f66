/* ops.h: simple elementwise and row-wise math on float arrays. */
#ifndef COMMON_OPS_H
#define COMMON_OPS_H

#include <stddef.h>

/* Softmax over each of `rows` rows of `cols` values, numerically stable
 * (subtract the row max). out may equal in. */
void softmax_rows(float *out, const float *in, int rows, int cols);

/* out[i] = a[i] + b[i]; out may alias a or b. */
void vec_add(float *out, const float *a, const float *b, size_t n);
/* x[i] *= scale */
void vec_scale(float *x, float scale, size_t n);
/* Dot product with independent accumulators, so it vectorises under strict
 * floating point (no -ffast-math needed). */
float vec_dot(const float *a, const float *b, size_t n);
/* Index of the largest value (the first one on ties). */
int vec_argmax(const float *x, int n);

#endif
