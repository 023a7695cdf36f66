/* attention.h: chapter 3, Coding attention mechanisms.
 *
 * The chapter builds attention up in steps, and so does this file: first on
 * one sequence of T tokens with d-dimensional embeddings (matrices (T, d)),
 * then batched and split into heads. Weights are stored (in, out), so a
 * projection is x @ W. */
#ifndef CH03_ATTENTION_H
#define CH03_ATTENTION_H

#include <stdbool.h>

#include "../common/linear_hook.h"
#include "../common/rng.h"

/* ---- 3.3 and 3.4: one sequence ---------------------------------------- */

/* scores (T,T) = queries (T,d) @ keys (T,d)^T: every query against every key. */
void attention_scores(float *scores, const float *queries, const float *keys, int T, int d);

/* context (T,d) = weights (T,T) @ values (T,d): each output row is the
 * weighted sum of the value rows. */
void attention_context(float *context, const float *weights, const float *values, int T, int d);

/* 3.3 Simplified self-attention without trainable weights: the inputs are
 * queries, keys and values at once. weights is (T,T), context (T,d). */
void simple_attention(float *context, float *weights, const float *x, int T, int d);

/* 3.4 Self-attention with trainable weights (and 3.5's causal version):
 * q = x W_query, k = x W_key, v = x W_value, weights = softmax(q k^T / sqrt(d_out))
 * with, when causal, the future masked out. x is (T,d_in), each W (d_in,d_out),
 * out (T,d_out), weights (T,T). */
void self_attention_forward(float *out, float *weights, const float *x, const float *W_query, const float *W_key,
                            const float *W_value, int T, int d_in, int d_out, bool causal);

/* ---- 3.5 Hiding future words with causal attention ---------------------- */

/* The first way: zero the weights above the diagonal after softmax, then
 * renormalise each row to sum to one. */
void causal_mask_renormalize(float *weights, int T);
/* The second way: set the scores above the diagonal to -inf before softmax,
 * which gives the same weights with one pass. */
void causal_mask_fill_inf(float *scores, int T);

/* 3.5.2 Dropout: zero each value with probability p and scale the survivors
 * by 1/(1-p), so the expected sum is unchanged. mask (optional, same size)
 * records the factor applied to each value, for the backward pass. */
void dropout_forward(float *x, float *mask, long n, float p, Rng *rng);
/* The factors alone (0 or 1/(1-p), the same draws as dropout_forward), for
 * dropout that another loop applies later: attention's weights. */
void dropout_mask(float *mask, long n, float p, Rng *rng);
/* Its gradient, in place like the forward: d_x[i] *= mask[i]. */
void dropout_backward(float *d_x, const float *mask, long n);

/* ---- 3.6 Multi-head attention --------------------------------------------- */

/* The core of causal multi-head attention over a batch, as a GPT uses it.
 * qkv is (B,T,3C): per token the query, key and value, each C wide and split
 * into n_heads heads of C/n_heads. out is (B,T,C), the heads' contexts side
 * by side; att is (B,n_heads,T,T), the attention weights (zero above the
 * diagonal), kept for the backward pass. att_dropout is NULL, or in training
 * the dropout factors (B,n_heads,T,T) from dropout_mask: the contexts then
 * use att * att_dropout, while att keeps the weights before dropout. */
void attention_forward(float *out, float *att, const float *att_dropout, const float *qkv, int B, int T, int C,
                       int n_heads);
/* Its gradient: d_qkv (B,T,3C) is overwritten with the gradient of qkv,
 * given d_out (B,T,C), the gradient of out, and the forward's qkv, att and
 * att_dropout. d_att is scratch the size of att (B,n_heads,T,T): the
 * gradient of each (batch, head)'s weights, so the pairs can run in
 * parallel without sharing anything. */
void attention_backward(float *d_qkv, float *d_att, const float *d_out, const float *qkv, const float *att,
                        const float *att_dropout, int B, int T, int C, int n_heads);

/* 3.6.1 Stacking single heads: each head h has its own W_query/W_key/W_value
 * (d_in, head_dim), given as head_weights[3*h + 0..2]; out (B,T,n_heads*head_dim)
 * holds the heads' causal contexts side by side. */
void multihead_wrapper_forward(float *out, const float *x, const float *const *head_weights, int B, int T, int d_in,
                               int head_dim, int n_heads);

/* 3.6.2 One module with split weights: a fused (d_in, 3*d_out) projection to
 * queries, keys and values (bias optional), the heads, and an output
 * projection (d_out, d_out) with bias. */
typedef struct {
    const float *qkv_weight;      /* (d_in, 3*d_out): [query | key | value] */
    const float *qkv_bias;        /* (3*d_out) or NULL */
    const float *out_proj_weight; /* (d_out, d_out) */
    const float *out_proj_bias;   /* (d_out) */
    /* side paths on the two projections (LoRA), NULL when none */
    const LinearHook *qkv_hook, *out_proj_hook;
} MultiHeadAttentionParams;

/* Buffers the forward pass fills and the backward pass reads. */
typedef struct {
    float *qkv;     /* (B,T,3*d_out) */
    float *att;     /* (B,n_heads,T,T) */
    float *context; /* (B,T,d_out), before the output projection */
    const float *att_dropout; /* NULL, or dropout factors on att (B,n_heads,T,T), filled by the caller */
} MultiHeadAttentionCache;

/* out (B,T,d_out) from x (B,T,d_in). */
void multihead_attention_forward(float *out, MultiHeadAttentionCache *cache, const float *x,
                                 const MultiHeadAttentionParams *p, int B, int T, int d_in, int d_out, int n_heads);

/* Gradients of the parameters, the same shapes; accumulated (+=). A NULL
 * pointer skips that gradient: the parameter is frozen. */
typedef struct {
    float *qkv_weight, *qkv_bias; /* qkv_bias NULL when the module has none */
    float *out_proj_weight, *out_proj_bias;
} MultiHeadAttentionGrads;

/* Scratch for the backward pass, overwritten. */
typedef struct {
    float *d_qkv;     /* (B,T,3*d_out) */
    float *d_context; /* (B,T,d_out) */
    float *d_att;     /* (B,n_heads,T,T) */
} MultiHeadAttentionScratch;

/* The module's gradients from d_output (B,T,d_out), the gradient of out:
 * d_x (B,T,d_in, or NULL) and grads accumulate (+=), which is what a
 * shortcut connection needs. x and cache are the forward pass's. */
void multihead_attention_backward(float *d_x, const MultiHeadAttentionGrads *grads,
                                  const MultiHeadAttentionScratch *scratch, const float *d_output, const float *x,
                                  const MultiHeadAttentionCache *cache, const MultiHeadAttentionParams *p, int B, int T,
                                  int d_in, int d_out, int n_heads);

#endif
