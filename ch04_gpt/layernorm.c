/* layernorm.c: see layernorm.h. */
#include "layernorm.h"

#include <math.h>
#include <stddef.h>

#include "../common/util.h" /* not_implemented, for the student edition's stub */

/* ==== 4.2 Normalizing activations with layer normalization ==== */

void layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *scale, const float *shift,
                       int N, int C) {
    /* BEGIN EXERCISE 4a: layer normalization (book 4.2) */
    /* rows are independent; threads pay off only for a batch of rows */
#pragma omp parallel for schedule(static) if ((long)N * C >= (1L << 16))
    for (int i = 0; i < N; i++) {
        const float *x = in + (size_t)i * C;
        float *y = out + (size_t)i * C;
        /* Two passes (mean, then variance around it), in double: when a
         * row's mean is large next to its spread, x - mean in float would
         * cancel most of the digits. This costs little beside the matrix
         * multiplications. */
        double sum = 0.0;
        for (int c = 0; c < C; c++) sum += x[c];
        double m = sum / C;
        double var_sum = 0.0;
        for (int c = 0; c < C; c++) var_sum += (x[c] - m) * (x[c] - m);
        double r = 1.0 / sqrt(var_sum / C + LAYERNORM_EPS);
        for (int c = 0; c < C; c++) y[c] = (float)((x[c] - m) * r) * scale[c] + shift[c];
        if (mean) mean[i] = (float)m;
        if (rstd) rstd[i] = (float)r;
    }
    /* END EXERCISE 4a */
}

/* ==== Added in chapter 5: the backward pass ==== */

void layernorm_backward(float *grad_in, float *grad_scale, float *grad_shift, const float *grad_out, const float *in,
                        const float *mean, const float *rstd, const float *scale, int N, int C) {
    /* serial over rows: every row adds to grad_scale and grad_shift (cheap next
     * to the matrix multiplications around it) */
    for (int i = 0; i < N; i++) {
        const float *x = in + (size_t)i * C, *grad_y = grad_out + (size_t)i * C;
        float *grad_x = grad_in + (size_t)i * C;
        const float m = mean[i], r = rstd[i];
        float sum_g = 0.0f, sum_g_xhat = 0.0f;
        /* simd: lets the compiler reorder the two sums into vector lanes */
        if (grad_scale) {
#pragma omp simd reduction(+ : sum_g, sum_g_xhat)
            for (int c = 0; c < C; c++) {
                float xhat = (x[c] - m) * r, g = grad_y[c] * scale[c];
                sum_g += g;
                sum_g_xhat += g * xhat;
                grad_scale[c] += grad_y[c] * xhat;
                grad_shift[c] += grad_y[c];
            }
        } else { /* frozen: the input's gradient only */
#pragma omp simd reduction(+ : sum_g, sum_g_xhat)
            for (int c = 0; c < C; c++) {
                float xhat = (x[c] - m) * r, g = grad_y[c] * scale[c];
                sum_g += g;
                sum_g_xhat += g * xhat;
            }
        }
        const float mean_g = sum_g / C, mean_g_xhat = sum_g_xhat / C;
        for (int c = 0; c < C; c++) {
            float xhat = (x[c] - m) * r;
            grad_x[c] += r * (grad_y[c] * scale[c] - mean_g - xhat * mean_g_xhat);
        }
    }
}
