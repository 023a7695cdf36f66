/* ops.c: see ops.h. */
#include "ops.h"

#include <math.h>

#include "util.h"

void softmax_scaled(float *x, int n, float scale) {
    /* BEGIN EXERCISE 3a: softmax (book 3.3.1) */
    float peak = -INFINITY;
#pragma omp simd reduction(max : peak)
    for (int i = 0; i < n; i++) {
        x[i] *= scale;
        peak = x[i] > peak ? x[i] : peak;
    }
    /* exp_poly, not expf: these loops vectorise (the sums in another order) */
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < n; i++) {
        x[i] = exp_poly(x[i] - peak);
        sum += x[i];
    }
    const float inv = 1.0f / sum;
    for (int i = 0; i < n; i++) x[i] *= inv;
    /* END EXERCISE 3a */
}

void softmax_rows(float *out, const float *in, int rows, int cols) {
    /* BEGIN EXERCISE 3a: softmax (book 3.3.1) */
    /* exp_poly stops at e^-87: a weight at most that (the peak's weight
     * is 1, so the sum is at least 1) is one exp_poly cannot tell from 0,
     * which is what a -inf score must give */
    const float unresolved = exp_poly(-87.0f);
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * cols;
        float *y = out + (size_t)r * cols;
        float max = -INFINITY;
        for (int c = 0; c < cols; c++)
            if (x[c] > max) max = x[c];
        /* a row of all -inf (fully masked) has no defined softmax; give zeros */
        if (max == -INFINITY) {
            for (int c = 0; c < cols; c++) y[c] = 0.0f;
            continue;
        }
        if (y != x) memmove(y, x, (size_t)cols * sizeof(float));
        softmax_scaled(y, cols, 1.0f);
        for (int c = 0; c < cols; c++)
            if (y[c] <= unresolved) y[c] = 0.0f;
    }
    /* END EXERCISE 3a */
}

void vec_add(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void vec_scale(float *x, float scale, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] *= scale;
}

float vec_dot(const float *a, const float *b, size_t n) {
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += a[i + k] * b[i + k];
    float sum = 0.0f;
    for (; i < n; i++) sum += a[i] * b[i];
    for (int k = 0; k < 8; k++) sum += acc[k];
    return sum;
}

int vec_argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}
