/* layernorm.c: see layernorm.h. */
#include "layernorm.h"

#include <math.h>
#include <stddef.h>

void layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *scale, const float *shift,
                       int N, int C) {
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
}
