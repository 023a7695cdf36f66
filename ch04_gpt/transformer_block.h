/* transformer_block.h: 4.5 Connecting attention and linear layers in a
 * transformer block. GPT-2's block is "pre-LN": each half normalises its
 * input, transforms it, and adds the result back (the shortcut connection
 * of 4.4, which gives the gradient a path around each branch):
 *   x = x + attention(norm1(x))
 *   x = x + feedforward(norm2(x))
 * In training, dropout (the book's drop_shortcut) zeroes part of each
 * branch before it is added, and attention drops part of its weights.
 *
 * The block's parameters are listed once, with the model's, in gpt.c's
 * parameter table; BlockWeights holds the named views it makes. */
#ifndef CH04_TRANSFORMER_BLOCK_H
#define CH04_TRANSFORMER_BLOCK_H

#include <stdbool.h>

#include "../ch03_attention/attention.h"
#include "../common/arena.h"

/* ==== 4.5 Connecting attention and linear layers in a transformer block ==== */

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
    /* Added in appendix E: side paths on the four linear layers (LoRA:
     * ch06_finetune/lora.h), NULL when none; unused in the gradients */
    const LinearHook *qkv_hook, *out_proj_hook, *fc1_hook, *fc2_hook;
} BlockWeights;

/* What one block's forward pass keeps for the backward pass; N = B*T
 * tokens, and Tk the keys they attend to: T, or past + T after past tokens
 * in a KV cache. */
typedef struct {
    float *norm1, *norm1_mean, *norm1_rstd; /* (N,C), (N), (N) */
    float *qkv;                             /* (N,3C) */
    float *att;                             /* (B,n_heads,T,Tk) */
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
    float *att_dropout;                     /* (B,n_heads,T,Tk) */
    float *att_out_dropout, *ff_out_dropout; /* (N,C) */
} BlockActivations;

/* Lay a's buffers out one after another from arena, for B sequences of T
 * tokens after past cached ones, with the dropout masks when dropout (see
 * common/arena.h: an arena without memory only counts them). */
void block_activations_layout(BlockActivations *a, FloatArena *arena, int B, int T, int past, int C, int n_heads,
                              bool dropout);

/* in and a->out are (B,T,C). When a has dropout masks, they are drawn from
 * rng (which may be NULL when they are not), with probability
 * drop_rate_attn on the attention weights and drop_rate_shortcut on the
 * two branches (the same rate in the chapter; exercise 4.3 parts them).
 * kv is NULL, or (generation, chapter 4's KV cache) this block's attention
 * cache: in's tokens then come after kv->length cached ones, and their keys
 * and values are added to it (multihead_attention_forward_cached). */
void transformer_block_forward(BlockActivations *a, const float *in, const BlockWeights *w, const KVCacheLayer *kv,
                               int B, int T, int C, int n_heads, float drop_rate_attn, float drop_rate_shortcut,
                               Rng *rng);

/* ==== Added in chapter 5: the backward pass ==== */

/* Scratch for the backward pass, overwritten; one set serves every block. */
typedef struct {
    float *grad_branch;            /* (N,C) a branch's gradient, through its dropout */
    float *grad_norm;              /* (N,C) gradient of norm1's or norm2's output */
    float *grad_fc1, *grad_fc1_gelu;  /* (N,4C) */
    MultiHeadAttentionScratch att;
} BlockScratch;

/* Lay the scratch out from arena, as block_activations_layout does. */
void block_scratch_layout(BlockScratch *s, FloatArena *arena, int B, int T, int C, int n_heads);

/* The block's gradient. grad_x (B,T,C) is the gradient of the block's output
 * on entry and of its input on return: each shortcut passes the gradient on
 * unchanged and its branch adds its part. grads (views into the gradient
 * buffer) accumulate (+=). a is the forward's activations (without a KV
 * cache), in its input. */
void transformer_block_backward(float *grad_x, const BlockWeights *grads, const BlockScratch *scratch,
                                const BlockActivations *a, const float *in, const BlockWeights *w, int B, int T, int C,
                                int n_heads);

#endif
