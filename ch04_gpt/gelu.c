/* gelu.c: see gelu.h. */
#include "gelu.h"

#include <math.h>

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */

/* Below this many values a thread team costs more than it saves. */
#define GELU_PARALLEL_MIN (1L << 16)

void gelu_forward(float *out, const float *in, size_t n) {
#pragma omp parallel for schedule(static) if ((long)n >= GELU_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        out[i] = 0.5f * x * (1.0f + tanhf(GELU_SCALE * (x + 0.044715f * x * x * x)));
    }
}

void gelu_backward(float *d_in, const float *in, const float *d_out, size_t n) {
#pragma omp parallel for schedule(static) if ((long)n >= GELU_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        float u = GELU_SCALE * (x + 0.044715f * x * x * x);
        float t = tanhf(u);
        float du_dx = GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
        float grad = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du_dx;
        d_in[i] += grad * d_out[i];
    }
}
