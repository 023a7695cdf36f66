/* feedforward.h: 4.3 The feed-forward network of a transformer block:
 * expand to 4C, GELU, project back to C. */
#ifndef CH04_FEEDFORWARD_H
#define CH04_FEEDFORWARD_H

typedef struct {
    const float *fc1_weight; /* (C, 4C) */
    const float *fc1_bias;   /* (4C) */
    const float *fc2_weight; /* (4C, C) */
    const float *fc2_bias;   /* (C) */
} FeedForwardParams;

/* out (N,C) from in (N,C); hidden and hidden_gelu (N,4C) keep the
 * activations before and after GELU for the backward pass. */
void feedforward_forward(float *out, float *hidden, float *hidden_gelu, const float *in, const FeedForwardParams *p,
                         int N, int C);

#endif
