/* attention_fast.c: chapter 3's causal multi-head attention (3.6.2) as the
 * GPT of chapters 4 to 6 runs it, the KV cache that generation keeps
 * (chapter 4), its backward pass (chapter 5) and the LoRA side paths on its
 * projections (appendix E). See attention.h.
 *
 * ==== The fast version: why and how ====
 * attention.c's multihead_attention_forward_reference follows the book:
 * it copies each head's queries, keys and values out, computes all T x T
 * scores, overwrites the upper half with -inf, exponentiates all of them
 * and multiplies by plain loops. This file computes the same thing (the
 * tests hold it to the reference) with four changes:
 *   - The products go to sgemm (common/matmul.c): blocked, SIMD, and with
 *     the weights read once per block of rows instead of once per row; the
 *     projections (x @ [W_query | W_key | W_value]) are one call.
 *   - No copies for the heads: head h's queries, keys and values are read
 *     in place from the projected qkv, every 3C floats a row (the book's
 *     view and transpose are only a change of stride).
 *   - The mask costs nothing: query rows go in blocks of 64, and a block of
 *     rows t0..t1-1 multiplies keys 0..t1-1 only, so the masked upper
 *     triangle, almost half the scores, is never computed; the softmax of
 *     row t covers its t+1 unmasked scores (softmax_scaled, whose loops
 *     vectorise) and writes zeros after them.
 *   - The (batch, head) pairs are independent, so OpenMP threads take one
 *     pair at a time, each writing its own part of the output.
 * The backward pass is built the same way, under chapter 5's banner. With
 * a KV cache the same code runs with the keys and values read from the
 * cache, and the queries those of the new tokens only. */
#include "attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/matmul.h"
#include "../common/ops.h"
#include "../common/util.h"

/* The module's two projections, each with its side path when it has one:
 * defined at the end, under appendix E's banner. */
static void projection_forward(float *out, const float *in, const float *weight, const float *bias,
                               const LinearHook *side_path, int N, int d_in, int d_out);
static void projection_backward(float *grad_in, float *grad_weight, float *grad_bias, const float *grad_out, const float *in,
                                const float *weight, const LinearHook *side_path, int N, int in_dim, int out_dim);

/* Attention of one head of one sequence; below this much work per call an
 * OpenMP region costs more than it saves. */
#define ATTENTION_PARALLEL_MIN_WORK (1L << 18)

/* The forward pass works on blocks of this many query rows: the block of
 * rows t0..t1-1 needs keys 0..t1-1 only, so its products skip all of the
 * masked upper triangle but the block's own corner. */
#define ATTENTION_ROW_BLOCK 64

/* Row t of one head's weights, holding its raw scores q_t . k_s for s <= t:
 * scaled, softmaxed over s <= t, and zero above the diagonal (s = t+1..T-1). */
static void causal_softmax_row(float *w, int t, int T, float scale) {
    softmax_scaled(w, t + 1, scale);
    for (int s = t + 1; s < T; s++) w[s] = 0.0f;
}

/* Where the heads read the keys and values: token t of sequence b at
 * keys + b * seq + t * row (the values likewise), head h's from column
 * h * head_dim on. In the projected qkv they sit beside the queries; in a
 * KV cache (chapter 4's, below) they have rows of their own. */
typedef struct {
    const float *keys, *values;
    size_t seq; /* floats from one sequence to the next */
    int row;    /* floats from one token to the next */
} KeyValueRows;

/* The heads' contexts of T tokens that come after `past` others: the
 * queries in qkv (B,T,3C) are tokens past..past+T-1, and the Tk = past + T
 * keys and values those before them and they. One (b, h) at a time, as
 * matrices: with Q (T,hd), K and V (Tk,hd) that head's,
 *   A = softmax_rows(scale Q K^T, causal),  O = (A * M) V
 * a block of query rows at a time, both products by sgemm. att and
 * att_dropout are (B,n_heads,T,Tk). past is 0 but for a KV cache. */
static void causal_attention(float *out, float *att, const float *att_dropout, const float *qkv, KeyValueRows kv,
                             int B, int T, int past, int C, int n_heads) {
    const int head_dim = C / n_heads, Tk = past + T;
    const float scale = 1.0f / sqrtf((float)head_dim);
    const int row = 3 * C; /* floats per token in qkv */
    long work = (long)B * n_heads * T * Tk * head_dim;
    /* each (b, h) writes only its own T x Tk weights and head h's columns of
     * sequence b's output: no races. sgemm runs on one thread inside the loop. */
#pragma omp parallel if (work >= ATTENTION_PARALLEL_MIN_WORK)
    {
        /* with dropout, a block's weights times their factors (rows x k1) */
        float *dropped = att_dropout ? xmalloc((size_t)ATTENTION_ROW_BLOCK * Tk * sizeof(float)) : NULL;
#pragma omp for collapse(2) schedule(dynamic)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < n_heads; h++) {
                const size_t bh = ((size_t)b * n_heads + h) * T * Tk;
                const float *Q = qkv + (size_t)b * T * row + h * head_dim;
                const float *K = kv.keys + b * kv.seq + h * head_dim, *V = kv.values + b * kv.seq + h * head_dim;
                float *O = out + (size_t)b * T * C + h * head_dim;
                for (int t0 = 0; t0 < T; t0 += ATTENTION_ROW_BLOCK) {
                    const int t1 = t0 + ATTENTION_ROW_BLOCK < T ? t0 + ATTENTION_ROW_BLOCK : T, rows = t1 - t0;
                    const int k1 = past + t1; /* the keys the block's last row sees */
                    /* the block's scores against keys 0..k1-1, then its weights */
                    float *A = att + bh + (size_t)t0 * Tk;
                    sgemm(false, true, rows, head_dim, k1, Q + (size_t)t0 * row, row, K, kv.row, false, A, Tk);
                    for (int t = t0; t < t1; t++) causal_softmax_row(A + (size_t)(t - t0) * Tk, past + t, Tk, scale);
                    /* in training, dropout on the weights (3.5.2) reaches the
                     * context only; att keeps the softmax for the backward pass */
                    const float *W = A;
                    int ldw = Tk;
                    if (att_dropout) {
                        const float *M = att_dropout + bh + (size_t)t0 * Tk;
                        for (int r = 0; r < rows; r++) {
                            const float *a = A + (size_t)r * Tk, *m = M + (size_t)r * Tk;
                            float *w = dropped + (size_t)r * k1;
                            for (int s = 0; s < k1; s++) w[s] = a[s] * m[s];
                        }
                        W = dropped;
                        ldw = k1;
                    }
                    /* the block's contexts: its weights (zero after each row's own token) times values 0..k1-1 */
                    sgemm(false, false, rows, k1, head_dim, W, ldw, V, kv.row, false, O + (size_t)t0 * C, C);
                }
            }
        free(dropped);
    }
}

void attention_forward(float *out, float *att, const float *att_dropout, const float *qkv, int B, int T, int C,
                       int n_heads) {
    const KeyValueRows in_qkv = {qkv + C, qkv + 2 * C, (size_t)T * 3 * C, 3 * C};
    causal_attention(out, att, att_dropout, qkv, in_qkv, B, T, 0, C, n_heads);
}

/* The module: project, attend, project. Its code is the cached module's
 * below, with no cache. */
void multihead_attention_forward(float *out, MultiHeadAttentionCache *cache, const float *x,
                                 const MultiHeadAttentionParams *p, int B, int T, int d_in, int d_out, int n_heads) {
    multihead_attention_forward_cached(out, cache, NULL, x, p, B, T, d_in, d_out, n_heads);
}

/* ==== Added in chapter 4: a KV cache for generation ==== */

void multihead_attention_forward_cached(float *out, MultiHeadAttentionCache *cache, const KVCacheLayer *kv,
                                        const float *x, const MultiHeadAttentionParams *p, int B, int T, int d_in,
                                        int d_out, int n_heads) {
    if (d_out % n_heads != 0) fatal("d_out %d is not divisible by n_heads %d", d_out, n_heads);
    projection_forward(cache->qkv, x, p->qkv_weight, p->qkv_bias, p->qkv_hook, B * T, d_in, 3 * d_out);
    if (!kv) {
        attention_forward(cache->context, cache->att, cache->att_dropout, cache->qkv, B, T, d_out, n_heads);
    } else {
        if (kv->length + T > kv->capacity)
            fatal("the KV cache holds %d tokens: %d more do not fit after %d", kv->capacity, T, kv->length);
        /* the new tokens' keys and values join the cached ones, row for row */
        const size_t seq = (size_t)kv->capacity * d_out;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                const float *projected = cache->qkv + ((size_t)b * T + t) * 3 * d_out;
                const size_t at = b * seq + (size_t)(kv->length + t) * d_out;
                memcpy(kv->keys + at, projected + d_out, d_out * sizeof(float));
                memcpy(kv->values + at, projected + 2 * d_out, d_out * sizeof(float));
            }
        const KeyValueRows cached = {kv->keys, kv->values, seq, d_out};
        causal_attention(cache->context, cache->att, cache->att_dropout, cache->qkv, cached, B, T, kv->length, d_out,
                         n_heads);
    }
    projection_forward(out, cache->context, p->out_proj_weight, p->out_proj_bias, p->out_proj_hook, B * T, d_out,
                       d_out);
}

/* ==== Added in chapter 5: backward passes ==== */

/* The gradient, one (b, h) at a time, as matrices: with Q, K, V (T,hd) that
 * head's queries, keys and values, A (T,T) its weights, M the dropout
 * factors (all ones without dropout) and W = A * M, the forward pass is
 *   S = scale Q K^T (causal),  A = softmax_rows(S),  O = W V
 * and its gradient, given grad_O:
 *   grad_V = W^T grad_O
 *   grad_A = (grad_O V^T) * M
 *   grad_S[t,s] = scale A[t,s] (grad_A[t,s] - sum_r A[t,r] grad_A[t,r])   (softmax's Jacobian)
 *   grad_Q = grad_S K,  grad_K = grad_S^T Q
 * Four matrix products, done by sgemm (the fast kernel) instead of loops,
 * on the forward's blocks of query rows: rows t0..t1-1 of W and grad_S are zero
 * from column t1 on, so each block's products stop at key t1. A block adds
 * its share to grad_V and grad_K rows 0..t1-1; the last block, which reaches every
 * row, goes first and sets them. */
void attention_backward(float *grad_qkv, float *grad_att, const float *grad_out, const float *qkv, const float *att,
                        const float *att_dropout, int B, int T, int C, int n_heads) {
    const int head_dim = C / n_heads;
    const float scale = 1.0f / sqrtf((float)head_dim);
    const int row = 3 * C; /* floats per token in qkv */
    const int last_t0 = (T - 1) / ATTENTION_ROW_BLOCK * ATTENTION_ROW_BLOCK;
    long work = (long)B * n_heads * T * T * head_dim;
    /* each (b, h) writes only head h's columns of sequence b, and its own
     * T x T scratch: no races. sgemm runs on one thread inside the loop. */
#pragma omp parallel for collapse(2) schedule(dynamic) if (work >= ATTENTION_PARALLEL_MIN_WORK)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < n_heads; h++) {
            const size_t bh = ((size_t)b * n_heads + h) * T * T;
            const float *Q = qkv + (size_t)b * T * row + h * head_dim, *K = Q + C, *V = Q + 2 * C;
            float *grad_Q = grad_qkv + (size_t)b * T * row + h * head_dim, *grad_K = grad_Q + C, *grad_V = grad_Q + 2 * C;
            const float *grad_O = grad_out + (size_t)b * T * C + h * head_dim;
            for (int t0 = last_t0; t0 >= 0; t0 -= ATTENTION_ROW_BLOCK) {
                const int t1 = t0 + ATTENTION_ROW_BLOCK < T ? t0 + ATTENTION_ROW_BLOCK : T, rows = t1 - t0;
                const bool first = t0 == last_t0;
                const float *A = att + bh + (size_t)t0 * T;
                const float *M = att_dropout ? att_dropout + bh + (size_t)t0 * T : NULL;
                float *grad_S = grad_att + bh + (size_t)t0 * T;
                /* grad_V += W^T grad_O over the block's rows, with W = A * M */
                const float *W = A;
                if (M) {
                    for (int r = 0; r < rows; r++) {
                        const float *a = A + (size_t)r * T, *m = M + (size_t)r * T;
                        float *w = grad_S + (size_t)r * T;
                        for (int s = 0; s < t1; s++) w[s] = a[s] * m[s];
                    }
                    W = grad_S;
                }
                sgemm(true, false, t1, rows, head_dim, W, T, grad_O + (size_t)t0 * C, C, !first, grad_V, row);
                /* grad_A = (grad_O V^T) * M, then grad_S row by row over the causal part */
                sgemm(false, true, rows, head_dim, t1, grad_O + (size_t)t0 * C, C, V, row, false, grad_S, T);
                for (int t = t0; t < t1; t++) {
                    const float *a = A + (size_t)(t - t0) * T;
                    float *ds = grad_S + (size_t)(t - t0) * T;
                    if (M)
                        for (int s = 0; s <= t; s++) ds[s] *= M[(size_t)(t - t0) * T + s];
                    const float weighted = vec_dot(a, ds, t + 1);
                    for (int s = 0; s <= t; s++) ds[s] = scale * a[s] * (ds[s] - weighted);
                    for (int s = t + 1; s < T; s++) ds[s] = 0.0f;
                }
                sgemm(false, false, rows, t1, head_dim, grad_S, T, K, row, false, grad_Q + (size_t)t0 * row, row);
                sgemm(true, false, t1, rows, head_dim, grad_S, T, Q + (size_t)t0 * row, row, !first, grad_K, row);
            }
        }
}

void multihead_attention_backward(float *grad_x, const MultiHeadAttentionGrads *grads,
                                  const MultiHeadAttentionScratch *scratch, const float *grad_output, const float *x,
                                  const MultiHeadAttentionCache *cache, const MultiHeadAttentionParams *p, int B, int T,
                                  int d_in, int d_out, int n_heads) {
    const int N = B * T;
    /* the three steps of the forward pass, last first; matmul_backward
     * accumulates, so the context's gradient starts from zero */
    memset(scratch->grad_context, 0, (size_t)N * d_out * sizeof(float));
    projection_backward(scratch->grad_context, grads->out_proj_weight, grads->out_proj_bias, grad_output, cache->context,
                        p->out_proj_weight, p->out_proj_hook, N, d_out, d_out);
    attention_backward(scratch->grad_qkv, scratch->grad_att, scratch->grad_context, cache->qkv, cache->att, cache->att_dropout,
                       B, T, d_out, n_heads);
    projection_backward(grad_x, grads->qkv_weight, grads->qkv_bias, scratch->grad_qkv, x, p->qkv_weight, p->qkv_hook, N,
                        d_in, 3 * d_out);
}

/* ==== Added in appendix E: LoRA side paths ====
 * LoRA finetunes a frozen linear layer by training a small side path next
 * to it: out = in @ weight + bias + side_path(in). What the side path is
 * belongs to ch06_finetune/lora.c (common/linear_hook.h); the module only
 * calls it, after each of its two projections, and in the backward pass
 * adds the side path's share of the input gradient. NULL: no side path. */

static void projection_forward(float *out, const float *in, const float *weight, const float *bias,
                               const LinearHook *side_path, int N, int d_in, int d_out) {
    matmul_forward(out, in, weight, bias, N, d_in, d_out);
    linear_hook_forward(side_path, out, in, N);
}

static void projection_backward(float *grad_in, float *grad_weight, float *grad_bias, const float *grad_out, const float *in,
                                const float *weight, const LinearHook *side_path, int N, int in_dim, int out_dim) {
    matmul_backward(grad_in, grad_weight, grad_bias, grad_out, in, weight, N, in_dim, out_dim);
    linear_hook_backward(side_path, grad_in, grad_out, in, N);
}
