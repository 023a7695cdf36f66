/* attention.h: chapter 3, Coding attention mechanisms.
 *
 * In the book's order, section by section (3.1 and 3.2 have no code), the
 * plain version of each idea: loops over the book's shapes that follow its
 * PyTorch code step by step (attention.c). After the book's sections come
 * what later chapters add: the fast version the GPT runs
 * (attention_fast.c), chapter 5's backward passes and appendix E's LoRA
 * side paths, each under its own banner.
 *
 * Shapes: one sequence is T tokens with d-dimensional embeddings (T,d); a
 * batch puts B in front (B,T,d). Weights are stored (in, out), so a
 * projection is x @ W (nn.Linear keeps the transpose). */
#ifndef CH03_ATTENTION_H
#define CH03_ATTENTION_H

#include <stdbool.h>

#include "../common/linear_hook.h"
#include "../common/rng.h"

/* ==== 3.3 Attending to different parts of the input with self-attention ==== */

/* 3.3.1 A simple self-attention mechanism without trainable weights */

/* The context vector of token `query` of x (T,d): its attention scores are
 * the dot products of x[query] with every row of x, weights (T) their
 * softmax, context (d) the rows of x summed with those weights. */
void simple_context_vector(float *context, float *weights, const float *x, int query, int T, int d);

/* 3.3.2 Computing attention weights for all input tokens */

/* scores (T,T) = queries (T,d) @ keys (T,d)^T: every query against every key. */
void attention_scores(float *scores, const float *queries, const float *keys, int T, int d);
/* context (T,d) = weights (T,T) @ values (T,d): each output row is the
 * weighted sum of the value rows. */
void attention_context(float *context, const float *weights, const float *values, int T, int d);
/* All of 3.3.1 at once: x (T,d) is queries, keys and values; weights
 * (T,T) = softmax of each row of x x^T, context (T,d). */
void simple_attention(float *context, float *weights, const float *x, int T, int d);

/* ==== 3.4 Implementing self-attention with trainable weights ==== */

/* 3.4.1 Computing the attention weights step by step */

/* out (N,d_out) = x (N,d_in) @ W (d_in,d_out) (+ bias (d_out), or NULL):
 * a query, key or value for each of N tokens. */
void linear_projection(float *out, const float *x, const float *W, const float *bias, int N, int d_in, int d_out);

/* 3.4.2 Implementing a compact SelfAttention class */

/* SelfAttention_v1 and _v2 (the same computation; v2 only draws its
 * weights differently): queries, keys and values are x (T,d_in) times
 * W_query, W_key, W_value (d_in,d_out); weights (T,T) = softmax(queries
 * keys^T / sqrt(d_out)); out (T,d_out) = weights @ values. */
void self_attention_forward(float *out, float *weights, const float *x, const float *W_query, const float *W_key,
                            const float *W_value, int T, int d_in, int d_out);

/* ==== 3.5 Hiding future words with causal attention ==== */

/* 3.5.1 Applying a causal attention mask */

/* The first way: zero the weights (T,T) above the diagonal after softmax,
 * then renormalise each row to sum to one. */
void causal_mask_renormalize(float *weights, int T);
/* The second way: set the scores (T,T) above the diagonal to -inf before
 * softmax, which gives the same weights in one pass. */
void causal_mask_fill_inf(float *scores, int T);

/* 3.5.2 Masking additional attention weights with dropout */

/* Zero each of x's n values with probability p and scale the survivors
 * by 1/(1-p), so the expected sum is unchanged. mask (optional, n values)
 * records the factor applied to each value, for the backward pass. */
void dropout_forward(float *x, float *mask, long n, float p, Rng *rng);
/* The factors alone (0 or 1/(1-p), the same draws as dropout_forward), for
 * dropout that a later loop applies: attention's weights. */
void dropout_mask(float *mask, long n, float p, Rng *rng);

/* 3.5.3 Implementing a compact causal attention class */

/* CausalAttention on a batch: for each sequence of x (B,T,d_in), 3.4.2's
 * attention with 3.5.1's -inf mask before the softmax, and 3.5.2's dropout
 * on the weights after it. dropout is NULL (no dropout, as in evaluation)
 * or the factors (B,T,T) from dropout_mask. out is (B,T,d_out). */
void causal_attention_forward(float *out, const float *x, const float *W_query, const float *W_key,
                              const float *W_value, const float *dropout, int B, int T, int d_in, int d_out);

/* ==== 3.6 Extending single-head attention to multi-head attention ==== */

/* 3.6.1 Stacking multiple single-head attention layers */

/* MultiHeadAttentionWrapper: n_heads CausalAttention heads (3.5.3, no
 * dropout), head h with its own W_query, W_key, W_value (d_in,head_dim)
 * given as head_weights[3*h + 0, 1, 2]; out (B,T,n_heads*head_dim) holds
 * the heads' outputs side by side, head h in columns h*head_dim... */
void multihead_wrapper_forward(float *out, const float *x, const float *const *head_weights, int B, int T, int d_in,
                               int head_dim, int n_heads);

/* 3.6.2 Implementing multi-head attention with weight splits */

/* MultiHeadAttention's weights. The three projections are stored side by
 * side as one (d_in, 3*d_out) matrix, [W_query | W_key | W_value], the
 * layout of OpenAI's GPT-2 checkpoints; head h of each uses its columns
 * h*head_dim... (head_dim = d_out/n_heads). */
typedef struct {
    const float *qkv_weight;      /* (d_in, 3*d_out): [query | key | value] */
    const float *qkv_bias;        /* (3*d_out) or NULL (the book's qkv_bias=False) */
    const float *out_proj_weight; /* (d_out, d_out) */
    const float *out_proj_bias;   /* (d_out) */
    /* Added in appendix E: LoRA side paths on the two projections, NULL
     * when none. Only the fast version below applies them; the book's
     * chapter 3 module has none. */
    const LinearHook *qkv_hook, *out_proj_hook;
} MultiHeadAttentionParams;

/* MultiHeadAttention.forward, step by step on plain loops: out (B,T,d_out)
 * from x (B,T,d_in). att (B,n_heads,T,T, or NULL) receives the attention
 * weights before dropout; att_dropout is NULL or the dropout factors
 * (B,n_heads,T,T) from dropout_mask. The reference the fast
 * multihead_attention_forward is tested against (tests/test_attention.c). */
void multihead_attention_forward_reference(float *out, float *att, const float *x, const MultiHeadAttentionParams *p,
                                           const float *att_dropout, int B, int T, int d_in, int d_out, int n_heads);

/* ==== The fast version (attention_fast.c) ====
 * 3.6.2's module as the GPT of chapters 4 to 6 runs it: the same results
 * (to rounding), by sgemm on blocks of rows, skipping the masked half,
 * over OpenMP threads. attention_fast.c says why each change is faster. */

/* The core of causal multi-head attention over a batch, from the projected
 * queries, keys and values to the heads' contexts. qkv is (B,T,3C): per
 * token the query, key and value, each C wide and split into n_heads heads
 * of C/n_heads. out is (B,T,C), the heads' contexts side by side; att is
 * (B,n_heads,T,T), the attention weights (zero above the diagonal), kept
 * for the backward pass. att_dropout is NULL, or in training the dropout
 * factors (B,n_heads,T,T) from dropout_mask: the contexts then use
 * att * att_dropout, while att keeps the weights before dropout. */
void attention_forward(float *out, float *att, const float *att_dropout, const float *qkv, int B, int T, int C,
                       int n_heads);

/* Buffers the forward pass fills and the backward pass reads. */
typedef struct {
    float *qkv;               /* (B,T,3*d_out) */
    float *att;               /* (B,n_heads,T,T) */
    float *context;           /* (B,T,d_out), before the output projection */
    const float *att_dropout; /* NULL, or dropout factors on att (B,n_heads,T,T), filled by the caller */
} MultiHeadAttentionCache;

/* The module: out (B,T,d_out) from x (B,T,d_in), with the side paths of
 * p (appendix E) when set. */
void multihead_attention_forward(float *out, MultiHeadAttentionCache *cache, const float *x,
                                 const MultiHeadAttentionParams *p, int B, int T, int d_in, int d_out, int n_heads);

/* ==== Added in chapter 4: a KV cache for generation ====
 * Generating text (4.7) runs the model once per new token, and the keys
 * and values of the tokens before it do not change. The book's bonus
 * material keeps them, per attention layer, so that each step projects
 * only the new token: one row of queries, keys and values instead of the
 * whole sequence's. The module below is the fast one with a cache; the
 * same attention code serves both. */

/* One attention layer's cache: the keys and values of the first `length`
 * tokens of each of the batch's sequences. */
typedef struct {
    float *keys, *values; /* (B, capacity, d_out): row t of a sequence holds its token t's */
    int capacity;         /* rows per sequence: the most tokens it can hold */
    int length;           /* rows filled so far */
} KVCacheLayer;

/* multihead_attention_forward for tokens that come after the cached ones:
 * x (B,T,d_in) holds tokens kv->length..kv->length+T-1 of each sequence
 * (kv->length + T <= kv->capacity). Their keys and values are written into
 * those rows of kv, and their queries attend to rows 0..kv->length+T-1,
 * each up to its own token (causal). cache->att is (B,n_heads,T,
 * kv->length+T), att_dropout likewise. kv->length is left as it was: the
 * caller moves it on (a GPT does once every layer has seen the tokens).
 * kv NULL is multihead_attention_forward. No backward pass goes through a
 * cached forward: it is for generation. */
void multihead_attention_forward_cached(float *out, MultiHeadAttentionCache *cache, const KVCacheLayer *kv,
                                        const float *x, const MultiHeadAttentionParams *p, int B, int T, int d_in,
                                        int d_out, int n_heads);

/* ==== Added in chapter 5: backward passes ==== */

/* 3.5.2's dropout: grad_x (n) *= mask, the factors its forward applied. */
void dropout_backward(float *grad_x, const float *mask, long n);

/* attention_forward's gradient: grad_qkv (B,T,3C) is overwritten with the
 * gradient of qkv, given grad_out (B,T,C), the gradient of out, and the
 * forward's qkv, att and att_dropout. grad_att is scratch the size of att
 * (B,n_heads,T,T): the gradient of each (batch, head)'s weights, so the
 * pairs can run in parallel without sharing anything. */
void attention_backward(float *grad_qkv, float *grad_att, const float *grad_out, const float *qkv, const float *att,
                        const float *att_dropout, int B, int T, int C, int n_heads);

/* Gradients of the module's parameters, the same shapes; accumulated (+=).
 * A NULL pointer skips that gradient: the parameter is frozen. */
typedef struct {
    float *qkv_weight, *qkv_bias; /* qkv_bias NULL when the module has none */
    float *out_proj_weight, *out_proj_bias;
} MultiHeadAttentionGrads;

/* Scratch for the backward pass, overwritten. */
typedef struct {
    float *grad_qkv;     /* (B,T,3*d_out) */
    float *grad_context; /* (B,T,d_out) */
    float *grad_att;     /* (B,n_heads,T,T) */
} MultiHeadAttentionScratch;

/* multihead_attention_forward's gradients from grad_output (B,T,d_out), the
 * gradient of out: grad_x (B,T,d_in, or NULL) and grads accumulate (+=),
 * which is what a shortcut connection needs; so do the side paths' own
 * gradients (appendix E). x and cache are the forward pass's. */
void multihead_attention_backward(float *grad_x, const MultiHeadAttentionGrads *grads,
                                  const MultiHeadAttentionScratch *scratch, const float *grad_output, const float *x,
                                  const MultiHeadAttentionCache *cache, const MultiHeadAttentionParams *p, int B, int T,
                                  int d_in, int d_out, int n_heads);

/* ==== Added in appendix E: LoRA side paths ====
 * The two hooks in MultiHeadAttentionParams (qkv_hook, out_proj_hook):
 * multihead_attention_forward adds hook(in) to each projection's output,
 * and multihead_attention_backward passes the gradient through them
 * (common/linear_hook.h; ch06_finetune/lora.c sets them). */

#endif
