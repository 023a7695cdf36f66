/* attention.c: see attention.h. */
#include "attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/matmul.h"
#include "../common/ops.h"
#include "../common/util.h"

void attention_scores(float *scores, const float *queries, const float *keys, int T, int d) {
    sgemm(false, true, T, T, d, queries, d, keys, d, false, scores, T);
}

void attention_context(float *context, const float *weights, const float *values, int T, int d) {
    sgemm(false, false, T, d, T, weights, T, values, d, false, context, d);
}

void simple_attention(float *context, float *weights, const float *x, int T, int d) {
    attention_scores(weights, x, x, T, d);
    softmax_rows(weights, weights, T, T);
    attention_context(context, weights, x, T, d);
}

void causal_mask_renormalize(float *weights, int T) {
    for (int i = 0; i < T; i++) {
        float *row = weights + (size_t)i * T;
        float sum = 0.0f;
        for (int j = 0; j < T; j++) {
            if (j > i) row[j] = 0.0f;
            sum += row[j];
        }
        for (int j = 0; j <= i; j++) row[j] /= sum;
    }
}

void causal_mask_fill_inf(float *scores, int T) {
    for (int i = 0; i < T; i++)
        for (int j = i + 1; j < T; j++) scores[(size_t)i * T + j] = -INFINITY;
}

void self_attention_forward(float *out, float *weights, const float *x, const float *W_query, const float *W_key,
                            const float *W_value, int T, int d_in, int d_out, bool causal) {
    size_t n = (size_t)T * d_out;
    float *q = xmalloc(3 * n * sizeof(float)), *k = q + n, *v = k + n;
    matmul_forward(q, x, W_query, NULL, T, d_in, d_out);
    matmul_forward(k, x, W_key, NULL, T, d_in, d_out);
    matmul_forward(v, x, W_value, NULL, T, d_in, d_out);
    attention_scores(weights, q, k, T, d_out);
    /* scaling by sqrt(d_out) keeps the scores' spread independent of the
     * dimension, so softmax does not saturate into one-hot weights */
    vec_scale(weights, 1.0f / sqrtf((float)d_out), (size_t)T * T);
    if (causal) causal_mask_fill_inf(weights, T);
    softmax_rows(weights, weights, T, T);
    attention_context(out, weights, v, T, d_out);
    free(q);
}

void dropout_forward(float *x, float *mask, long n, float p, Rng *rng) {
    if (p <= 0.0f) {
        if (mask)
            for (long i = 0; i < n; i++) mask[i] = 1.0f;
        return;
    }
    float keep_scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    for (long i = 0; i < n; i++) {
        float factor = rng_uniform(rng) < p ? 0.0f : keep_scale;
        x[i] *= factor;
        if (mask) mask[i] = factor;
    }
}

void dropout_mask(float *mask, long n, float p, Rng *rng) {
    if (p <= 0.0f) {
        for (long i = 0; i < n; i++) mask[i] = 1.0f;
        return;
    }
    float keep_scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    for (long i = 0; i < n; i++) mask[i] = rng_uniform(rng) < p ? 0.0f : keep_scale;
}

void dropout_backward(float *d_x, const float *mask, long n) {
    /* the forward multiplied each value by its factor, so does the backward */
    for (long i = 0; i < n; i++) d_x[i] *= mask[i];
}

/* Attention of one head of one sequence; below this much work per call an
 * OpenMP region costs more than it saves. */
#define ATTENTION_PARALLEL_MIN_WORK (1L << 18)

void attention_forward(float *out, float *att, const float *att_dropout, const float *qkv, int B, int T, int C,
                       int n_heads) {
    const int head_dim = C / n_heads;
    const float scale = 1.0f / sqrtf((float)head_dim);
    const size_t row = 3 * (size_t)C; /* floats per token in qkv */
    long work = (long)B * n_heads * T * T * head_dim;
#pragma omp parallel for collapse(2) schedule(dynamic) if (work >= ATTENTION_PARALLEL_MIN_WORK)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < n_heads; h++) {
            const float *seq = qkv + (size_t)b * T * row;
            for (int t = 0; t < T; t++) {
                const float *query = seq + t * row + h * head_dim;
                float *weights = att + (((size_t)b * n_heads + h) * T + t) * T;
                /* causal: token t attends to tokens 0..t only */
                float max = -INFINITY;
                for (int s = 0; s <= t; s++) {
                    const float *key = seq + s * row + C + h * head_dim;
                    weights[s] = vec_dot(query, key, head_dim) * scale;
                    if (weights[s] > max) max = weights[s];
                }
                float sum = 0.0f;
                for (int s = 0; s <= t; s++) {
                    weights[s] = expf(weights[s] - max);
                    sum += weights[s];
                }
                float inv = 1.0f / sum;
                for (int s = 0; s <= t; s++) weights[s] *= inv;
                for (int s = t + 1; s < T; s++) weights[s] = 0.0f;
                /* in training, dropout on the weights (3.5.2) reaches the
                 * context only; att keeps the softmax for the backward pass */
                const float *drop = att_dropout ? att_dropout + (weights - att) : NULL;
                float *context = out + ((size_t)b * T + t) * C + h * head_dim;
                for (int i = 0; i < head_dim; i++) context[i] = 0.0f;
                for (int s = 0; s <= t; s++) {
                    const float *value = seq + s * row + 2 * C + h * head_dim;
                    float w = drop ? weights[s] * drop[s] : weights[s];
                    for (int i = 0; i < head_dim; i++) context[i] += w * value[i];
                }
            }
        }
}

/* The gradient, one (b, h) at a time, as matrices: with Q, K, V (T,hd) that
 * head's queries, keys and values, A (T,T) its weights, M the dropout
 * factors (all ones without dropout) and W = A * M, the forward pass is
 *   S = scale Q K^T (causal),  A = softmax_rows(S),  O = W V
 * and its gradient, given dO:
 *   dV = W^T dO
 *   dA = (dO V^T) * M
 *   dS[t,s] = scale A[t,s] (dA[t,s] - sum_r A[t,r] dA[t,r])   (softmax's Jacobian)
 *   dQ = dS K,  dK = dS^T Q
 * Four matrix products, done by sgemm (the fast kernel) instead of loops;
 * it computes the zeros above the diagonal too, which costs less than
 * loops that skip them. */
void attention_backward(float *d_qkv, float *d_att, const float *d_out, const float *qkv, const float *att,
                        const float *att_dropout, int B, int T, int C, int n_heads) {
    const int head_dim = C / n_heads;
    const float scale = 1.0f / sqrtf((float)head_dim);
    const int row = 3 * C; /* floats per token in qkv */
    long work = (long)B * n_heads * T * T * head_dim;
    /* each (b, h) writes only head h's columns of sequence b, and its own
     * T x T scratch: no races. sgemm runs on one thread inside the loop. */
#pragma omp parallel for collapse(2) schedule(dynamic) if (work >= ATTENTION_PARALLEL_MIN_WORK)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < n_heads; h++) {
            const size_t bh = ((size_t)b * n_heads + h) * T * T;
            const float *Q = qkv + (size_t)b * T * row + h * head_dim, *K = Q + C, *V = Q + 2 * C;
            float *dQ = d_qkv + (size_t)b * T * row + h * head_dim, *dK = dQ + C, *dV = dQ + 2 * C;
            const float *dO = d_out + (size_t)b * T * C + h * head_dim;
            const float *A = att + bh, *M = att_dropout ? att_dropout + bh : NULL;
            float *dS = d_att + bh;
            /* dV = W^T dO, with W = A * M (A is zero above the diagonal) */
            const float *W = A;
            if (M) {
                for (size_t i = 0; i < (size_t)T * T; i++) dS[i] = A[i] * M[i];
                W = dS;
            }
            sgemm(true, false, T, head_dim, T, W, T, dO, C, false, dV, row);
            /* dA = (dO V^T) * M, then dS row by row over the causal part */
            sgemm(false, true, T, T, head_dim, dO, C, V, row, false, dS, T);
            for (int t = 0; t < T; t++) {
                const float *a = A + (size_t)t * T;
                float *ds = dS + (size_t)t * T;
                if (M)
                    for (int s = 0; s <= t; s++) ds[s] *= M[(size_t)t * T + s];
                const float weighted = vec_dot(a, ds, t + 1);
                for (int s = 0; s <= t; s++) ds[s] = scale * a[s] * (ds[s] - weighted);
                for (int s = t + 1; s < T; s++) ds[s] = 0.0f;
            }
            sgemm(false, false, T, head_dim, T, dS, T, K, row, false, dQ, row);
            sgemm(true, false, T, head_dim, T, dS, T, Q, row, false, dK, row);
        }
}

void multihead_wrapper_forward(float *out, const float *x, const float *const *head_weights, int B, int T, int d_in,
                               int head_dim, int n_heads) {
    int d_out = n_heads * head_dim;
    float *head_out = xmalloc((size_t)T * head_dim * sizeof(float));
    float *weights = xmalloc((size_t)T * T * sizeof(float));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < n_heads; h++) {
            self_attention_forward(head_out, weights, x + (size_t)b * T * d_in, head_weights[3 * h],
                                   head_weights[3 * h + 1], head_weights[3 * h + 2], T, d_in, head_dim, true);
            /* torch.cat([head(x) for head in heads], dim=-1) */
            for (int t = 0; t < T; t++)
                memcpy(out + ((size_t)b * T + t) * d_out + h * head_dim, head_out + (size_t)t * head_dim,
                       head_dim * sizeof(float));
        }
    free(weights);
    free(head_out);
}

void multihead_attention_forward(float *out, MultiHeadAttentionCache *cache, const float *x,
                                 const MultiHeadAttentionParams *p, int B, int T, int d_in, int d_out, int n_heads) {
    if (d_out % n_heads != 0) fatal("d_out %d is not divisible by n_heads %d", d_out, n_heads);
    matmul_forward(cache->qkv, x, p->qkv_weight, p->qkv_bias, B * T, d_in, 3 * d_out);
    attention_forward(cache->context, cache->att, cache->att_dropout, cache->qkv, B, T, d_out, n_heads);
    matmul_forward(out, cache->context, p->out_proj_weight, p->out_proj_bias, B * T, d_out, d_out);
}

void multihead_attention_backward(float *d_x, const MultiHeadAttentionGrads *grads,
                                  const MultiHeadAttentionScratch *scratch, const float *d_output, const float *x,
                                  const MultiHeadAttentionCache *cache, const MultiHeadAttentionParams *p, int B, int T,
                                  int d_in, int d_out, int n_heads) {
    const int N = B * T;
    /* the three steps of the forward pass, last first; matmul_backward
     * accumulates, so the context's gradient starts from zero */
    memset(scratch->d_context, 0, (size_t)N * d_out * sizeof(float));
    matmul_backward(scratch->d_context, grads->out_proj_weight, grads->out_proj_bias, d_output, cache->context,
                    p->out_proj_weight, N, d_out, d_out);
    attention_backward(scratch->d_qkv, scratch->d_att, scratch->d_context, cache->qkv, cache->att, cache->att_dropout,
                       B, T, d_out, n_heads);
    matmul_backward(d_x, grads->qkv_weight, grads->qkv_bias, scratch->d_qkv, x, p->qkv_weight, N, d_in, 3 * d_out);
}
