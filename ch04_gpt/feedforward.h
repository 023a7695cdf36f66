/* feedforward.h: 4.3 The feed-forward network of a transformer block:
 * expand to 4C, GELU, project back to C. */
#ifndef CH04_FEEDFORWARD_H
#define CH04_FEEDFORWARD_H

#include "../common/linear_hook.h"

/* ==== 4.3 Implementing a feed forward network with GELU activations ==== */

typedef struct {
    const float *fc1_weight; /* (C, 4C) */
    const float *fc1_bias;   /* (4C) */
    const float *fc2_weight; /* (4C, C) */
    const float *fc2_bias;   /* (C) */
    const LinearHook *fc1_hook, *fc2_hook; /* added in appendix E: side paths (LoRA), NULL when none */
} FeedForwardParams;

/* out (N,C) from in (N,C); hidden and hidden_gelu (N,4C) keep the
 * activations before and after GELU for the backward pass. */
void feedforward_forward(float *out, float *hidden, float *hidden_gelu, const float *in, const FeedForwardParams *p,
                         int N, int C);

/* ==== Added in chapter 5: the backward pass ==== */

/* Gradients of the parameters, the same shapes; accumulated (+=). A NULL
 * pointer skips that gradient: the parameter is frozen. */
typedef struct {
    float *fc1_weight, *fc1_bias, *fc2_weight, *fc2_bias;
} FeedForwardGrads;

/* feedforward_forward's gradient from grad_out (N,C): grad_in (N,C) and
 * grads accumulate (+=); in, hidden and hidden_gelu are the forward's.
 * grad_hidden and grad_hidden_gelu (N,4C) are scratch, overwritten. */
void feedforward_backward(float *grad_in, const FeedForwardGrads *grads, float *grad_hidden, float *grad_hidden_gelu,
                          const float *grad_out, const float *in, const float *hidden, const float *hidden_gelu,
                          const FeedForwardParams *p, int N, int C);

#endif
