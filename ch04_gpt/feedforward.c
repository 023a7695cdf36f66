/* feedforward.c: see feedforward.h. */
#include "feedforward.h"

#include "../common/matmul.h"
#include "gelu.h"

void feedforward_forward(float *out, float *hidden, float *hidden_gelu, const float *in, const FeedForwardParams *p,
                         int N, int C) {
    matmul_forward(hidden, in, p->fc1_weight, p->fc1_bias, N, C, 4 * C);
    gelu_forward(hidden_gelu, hidden, (size_t)N * 4 * C);
    matmul_forward(out, hidden_gelu, p->fc2_weight, p->fc2_bias, N, 4 * C, C);
}
