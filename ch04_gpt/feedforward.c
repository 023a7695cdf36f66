/* feedforward.c: see feedforward.h. */
#include "feedforward.h"

#include <string.h>

#include "../common/matmul.h"
#include "../common/util.h" /* not_implemented, for the student edition's stub */
#include "gelu.h"

/* ==== 4.3 Implementing a feed forward network with GELU activations ==== */

void feedforward_forward(float *out, float *hidden, float *hidden_gelu, const float *in, const FeedForwardParams *p,
                         int N, int C) {
    /* BEGIN EXERCISE 4c: feed forward network (book 4.3) */
    matmul_forward(hidden, in, p->fc1_weight, p->fc1_bias, N, C, 4 * C);
    linear_hook_forward(p->fc1_hook, hidden, in, N);
    gelu_forward(hidden_gelu, hidden, (size_t)N * 4 * C);
    matmul_forward(out, hidden_gelu, p->fc2_weight, p->fc2_bias, N, 4 * C, C);
    linear_hook_forward(p->fc2_hook, out, hidden_gelu, N);
    /* END EXERCISE 4c */
}

/* ==== Added in chapter 5: the backward pass ==== */

void feedforward_backward(float *grad_in, const FeedForwardGrads *grads, float *grad_hidden, float *grad_hidden_gelu,
                          const float *grad_out, const float *in, const float *hidden, const float *hidden_gelu,
                          const FeedForwardParams *p, int N, int C) {
    const size_t n_hidden = (size_t)N * 4 * C;
    /* the forward's three steps, last first; the scratch gradients start
     * from zero because matmul_backward and gelu_backward accumulate */
    memset(grad_hidden_gelu, 0, n_hidden * sizeof(float));
    matmul_backward(grad_hidden_gelu, grads->fc2_weight, grads->fc2_bias, grad_out, hidden_gelu, p->fc2_weight, N, 4 * C, C);
    linear_hook_backward(p->fc2_hook, grad_hidden_gelu, grad_out, hidden_gelu, N);
    memset(grad_hidden, 0, n_hidden * sizeof(float));
    gelu_backward(grad_hidden, hidden, grad_hidden_gelu, n_hidden);
    matmul_backward(grad_in, grads->fc1_weight, grads->fc1_bias, grad_hidden, in, p->fc1_weight, N, C, 4 * C);
    linear_hook_backward(p->fc1_hook, grad_in, grad_hidden, in, N);
}
