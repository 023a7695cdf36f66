/* transformer_block.h: 4.5 Connecting attention and linear layers in a
 * transformer block. GPT-2's block is "pre-LN": each half normalises its
 * input, transforms it, and adds the result back (the shortcut of 4.4):
 *   x = x + attention(norm1(x))
 *   x = x + feedforward(norm2(x))
 * In training, dropout (the book's drop_shortcut) zeroes part of each
 * branch before it is added, and attention drops part of its weights. */
#ifndef CH04_TRANSFORMER_BLOCK_H
#define CH04_TRANSFORMER_BLOCK_H

#include "../ch03_attention/attention.h"

/* Views into the model's parameter buffer (or, for the gradients, into its
 * twin of the same layout). In the gradients, a NULL pointer means that
 * parameter is frozen: the backward pass skips its gradient (the gradient
 * flowing back to the block's input is computed all the same). */
typedef struct {
    float *norm1_scale, *norm1_shift;     /* (C) */
    float *qkv_weight, *qkv_bias;         /* (C,3C); (3C) or NULL without qkv bias */
    float *out_proj_weight, *out_proj_bias; /* (C,C), (C) */
    float *norm2_scale, *norm2_shift;     /* (C) */
    float *fc1_weight, *fc1_bias;         /* (C,4C), (4C) */
    float *fc2_weight, *fc2_bias;         /* (4C,C), (C) */
    /* side paths on the four linear layers (LoRA: ch06_finetune/lora.h),
     * NULL when none; unused in the gradients */
    const LinearHook *qkv_hook, *out_proj_hook, *fc1_hook, *fc2_hook;
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
    /* Training only, else NULL (all three or none): dropout factors, 0 or
     * 1/(1-p), on the attention weights and on the two branches. With them,
     * att_out and ff_out hold the branches after dropout. */
    float *att_dropout;                     /* (B,n_heads,T,T) */
    float *att_out_dropout, *ff_out_dropout; /* (N,C) */
} BlockActivations;

/* in and a->out are (B,T,C). When a has dropout masks, they are drawn from
 * rng with probability drop_rate (rng may be NULL when they are not). */
void transformer_block_forward(BlockActivations *a, const float *in, const BlockWeights *w, int B, int T, int C,
                               int n_heads, float drop_rate, Rng *rng);

/* Scratch for the backward pass, overwritten; one set serves every block. */
typedef struct {
    float *grad_branch;            /* (N,C) a branch's gradient, through its dropout */
    float *grad_norm;              /* (N,C) gradient of norm1's or norm2's output */
    float *grad_fc1, *grad_fc1_gelu;  /* (N,4C) */
    MultiHeadAttentionScratch att;
} BlockScratch;

/* The block's gradient. grad_x (B,T,C) is the gradient of the block's output
 * on entry and of its input on return: each shortcut passes the gradient on
 * unchanged and its branch adds its part. grads (views into the gradient
 * buffer) accumulate (+=). a is the forward's activations, in its input. */
void transformer_block_backward(float *grad_x, const BlockWeights *grads, const BlockScratch *scratch,
                                const BlockActivations *a, const float *in, const BlockWeights *w, int B, int T, int C,
                                int n_heads);

#endif
