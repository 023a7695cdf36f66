/* transformer_block.h: 4.5 Connecting attention and linear layers in a
 * transformer block. GPT-2's block is "pre-LN": each half normalises its
 * input, transforms it, and adds the result back (the shortcut of 4.4):
 *   x = x + attention(norm1(x))
 *   x = x + feedforward(norm2(x))
 * (Dropout on the two branches is a training matter, chapter 5.) */
#ifndef CH04_TRANSFORMER_BLOCK_H
#define CH04_TRANSFORMER_BLOCK_H

/* Views into the model's parameter buffer. */
typedef struct {
    float *norm1_scale, *norm1_shift;     /* (C) */
    float *qkv_weight, *qkv_bias;         /* (C,3C); (3C) or NULL without qkv bias */
    float *out_proj_weight, *out_proj_bias; /* (C,C), (C) */
    float *norm2_scale, *norm2_shift;     /* (C) */
    float *fc1_weight, *fc1_bias;         /* (C,4C), (4C) */
    float *fc2_weight, *fc2_bias;         /* (4C,C), (C) */
} BlockWeights;

/* What one block's forward pass keeps for the backward pass; N = B*T tokens. */
typedef struct {
    float *norm1, *norm1_mean, *norm1_rstd; /* (N,C), (N), (N) */
    float *qkv;                             /* (N,3C) */
    float *att;                             /* (B,n_heads,T,T) */
    float *context;                         /* (N,C) heads side by side */
    float *att_out;                         /* (N,C) after the output projection */
    float *residual1;                       /* (N,C) x + att_out */
    float *norm2, *norm2_mean, *norm2_rstd; /* (N,C), (N), (N) */
    float *fc1, *fc1_gelu;                  /* (N,4C) */
    float *ff_out;                          /* (N,C) */
    float *out;                             /* (N,C) residual1 + ff_out */
} BlockActivations;

/* in and a->out are (B,T,C). */
void transformer_block_forward(BlockActivations *a, const float *in, const BlockWeights *w, int B, int T, int C,
                               int n_heads);

#endif
