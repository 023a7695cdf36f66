/* attention.c: chapter 3 in the book's order, the plain version of each
 * section (see attention.h). Everything here is loops over the book's
 * shapes, written to be read next to the notebook, not to be fast: the
 * GPT runs attention_fast.c. */
#include "attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/ops.h"
#include "../common/util.h"

/* ==== 3.3 Attending to different parts of the input with self-attention ==== */

/* 3.3.1 A simple self-attention mechanism without trainable weights */

void simple_context_vector(float *context, float *weights, const float *x, int query, int T, int d) {
    /* BEGIN EXERCISE 3b: simplified self-attention (book 3.3) */
    /* the attention score of each token: how similar it is to the query */
    for (int j = 0; j < T; j++) weights[j] = vec_dot(x + (size_t)query * d, x + (size_t)j * d, d);
    /* softmax rather than dividing by the sum: the weights stay positive
     * and sum to one whatever the scores' signs */
    softmax_rows(weights, weights, 1, T);
    for (int i = 0; i < d; i++) context[i] = 0.0f;
    for (int j = 0; j < T; j++)
        for (int i = 0; i < d; i++) context[i] += weights[j] * x[(size_t)j * d + i];
    /* END EXERCISE 3b */
}

/* 3.3.2 Computing attention weights for all input tokens */

void attention_scores(float *scores, const float *queries, const float *keys, int T, int d) {
    /* BEGIN EXERCISE 3b: simplified self-attention (book 3.3) */
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) scores[(size_t)i * T + j] = vec_dot(queries + (size_t)i * d, keys + (size_t)j * d, d);
    /* END EXERCISE 3b */
}

void attention_context(float *context, const float *weights, const float *values, int T, int d) {
    /* BEGIN EXERCISE 3b: simplified self-attention (book 3.3) */
    for (int i = 0; i < T; i++) {
        float *row = context + (size_t)i * d;
        for (int k = 0; k < d; k++) row[k] = 0.0f;
        for (int j = 0; j < T; j++)
            for (int k = 0; k < d; k++) row[k] += weights[(size_t)i * T + j] * values[(size_t)j * d + k];
    }
    /* END EXERCISE 3b */
}

void simple_attention(float *context, float *weights, const float *x, int T, int d) {
    /* BEGIN EXERCISE 3b: simplified self-attention (book 3.3) */
    attention_scores(weights, x, x, T, d);
    softmax_rows(weights, weights, T, T);
    attention_context(context, weights, x, T, d);
    /* END EXERCISE 3b */
}

/* ==== 3.4 Implementing self-attention with trainable weights ==== */

/* 3.4.1 Computing the attention weights step by step */

void linear_projection(float *out, const float *x, const float *W, const float *bias, int N, int d_in, int d_out) {
    for (int n = 0; n < N; n++)
        for (int j = 0; j < d_out; j++) {
            float sum = bias ? bias[j] : 0.0f;
            for (int i = 0; i < d_in; i++) sum += x[(size_t)n * d_in + i] * W[(size_t)i * d_out + j];
            out[(size_t)n * d_out + j] = sum;
        }
}

/* 3.4.2 Implementing a compact SelfAttention class */

void self_attention_forward(float *out, float *weights, const float *x, const float *W_query, const float *W_key,
                            const float *W_value, int T, int d_in, int d_out) {
    /* BEGIN EXERCISE 3c: self-attention with trainable weights (book 3.4.2) */
    size_t n = (size_t)T * d_out;
    float *queries = xmalloc(3 * n * sizeof(float)), *keys = queries + n, *values = keys + n;
    linear_projection(queries, x, W_query, NULL, T, d_in, d_out);
    linear_projection(keys, x, W_key, NULL, T, d_in, d_out);
    linear_projection(values, x, W_value, NULL, T, d_in, d_out);
    attention_scores(weights, queries, keys, T, d_out);
    /* dividing by sqrt(d_out) keeps the scores' spread independent of the
     * dimension, so softmax does not saturate into one-hot weights (whose
     * gradients are nearly zero) */
    vec_scale(weights, 1.0f / sqrtf((float)d_out), (size_t)T * T);
    softmax_rows(weights, weights, T, T);
    attention_context(out, weights, values, T, d_out);
    free(queries);
    /* END EXERCISE 3c */
}

/* ==== 3.5 Hiding future words with causal attention ==== */

/* 3.5.1 Applying a causal attention mask */

void causal_mask_renormalize(float *weights, int T) {
    /* BEGIN EXERCISE 3d: causal attention mask (book 3.5.1) */
    for (int i = 0; i < T; i++) {
        float *row = weights + (size_t)i * T;
        float sum = 0.0f;
        for (int j = 0; j < T; j++) {
            if (j > i) row[j] = 0.0f;
            sum += row[j];
        }
        for (int j = 0; j <= i; j++) row[j] /= sum;
    }
    /* END EXERCISE 3d */
}

void causal_mask_fill_inf(float *scores, int T) {
    /* BEGIN EXERCISE 3d: causal attention mask (book 3.5.1) */
    for (int i = 0; i < T; i++)
        for (int j = i + 1; j < T; j++) scores[(size_t)i * T + j] = -INFINITY;
    /* END EXERCISE 3d */
}

/* 3.5.2 Masking additional attention weights with dropout */

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

/* 3.5.3 Implementing a compact causal attention class */

/* One sequence, one head: from its queries, keys and values (T,d), the
 * weights (T,T) = softmax(mask(queries keys^T) / sqrt(d)), then the
 * context (T,d) = (weights * dropout) @ values. dropout (T,T) or NULL;
 * weights keep the values before dropout. 3.6.2 runs this once per head. */
static void causal_attention_head(float *context, float *weights, const float *queries, const float *keys,
                                  const float *values, const float *dropout, int T, int d) {
    attention_scores(weights, queries, keys, T, d);
    causal_mask_fill_inf(weights, T);
    vec_scale(weights, 1.0f / sqrtf((float)d), (size_t)T * T);
    softmax_rows(weights, weights, T, T);
    if (!dropout) {
        attention_context(context, weights, values, T, d);
        return;
    }
    /* dropout reaches the context only: a copy of the weights takes it */
    float *dropped = xmalloc((size_t)T * T * sizeof(float));
    for (size_t i = 0; i < (size_t)T * T; i++) dropped[i] = weights[i] * dropout[i];
    attention_context(context, dropped, values, T, d);
    free(dropped);
}

void causal_attention_forward(float *out, const float *x, const float *W_query, const float *W_key,
                              const float *W_value, const float *dropout, int B, int T, int d_in, int d_out) {
    size_t n = (size_t)T * d_out;
    float *queries = xmalloc(3 * n * sizeof(float)), *keys = queries + n, *values = keys + n;
    float *weights = xmalloc((size_t)T * T * sizeof(float));
    /* the batch adds a loop around 3.4.2: each sequence on its own */
    for (int b = 0; b < B; b++) {
        const float *xb = x + (size_t)b * T * d_in;
        linear_projection(queries, xb, W_query, NULL, T, d_in, d_out);
        linear_projection(keys, xb, W_key, NULL, T, d_in, d_out);
        linear_projection(values, xb, W_value, NULL, T, d_in, d_out);
        causal_attention_head(out + (size_t)b * n, weights, queries, keys, values,
                              dropout ? dropout + (size_t)b * T * T : NULL, T, d_out);
    }
    free(weights);
    free(queries);
}

/* ==== 3.6 Extending single-head attention to multi-head attention ==== */

/* 3.6.1 Stacking multiple single-head attention layers */

void multihead_wrapper_forward(float *out, const float *x, const float *const *head_weights, int B, int T, int d_in,
                               int head_dim, int n_heads) {
    const int d_out = n_heads * head_dim;
    float *head_out = xmalloc((size_t)B * T * head_dim * sizeof(float));
    for (int h = 0; h < n_heads; h++) {
        causal_attention_forward(head_out, x, head_weights[3 * h], head_weights[3 * h + 1], head_weights[3 * h + 2],
                                 NULL, B, T, d_in, head_dim);
        /* torch.cat([head(x) for head in self.heads], dim=-1) */
        for (size_t token = 0; token < (size_t)B * T; token++)
            memcpy(out + token * d_out + (size_t)h * head_dim, head_out + token * head_dim, head_dim * sizeof(float));
    }
    free(head_out);
}

/* 3.6.2 Implementing multi-head attention with weight splits */

void multihead_attention_forward_reference(float *out, float *att, const float *x, const MultiHeadAttentionParams *p,
                                           const float *att_dropout, int B, int T, int d_in, int d_out, int n_heads) {
    /* BEGIN EXERCISE 3e: multi-head attention (book 3.6.2) */
    if (d_out % n_heads != 0) fatal("d_out %d is not divisible by n_heads %d", d_out, n_heads);
    const int head_dim = d_out / n_heads;
    const size_t N = (size_t)B * T, head_size = (size_t)T * head_dim;
    float *qkv = xmalloc(N * 3 * d_out * sizeof(float));
    float *queries = xmalloc((size_t)B * n_heads * head_size * sizeof(float));
    float *keys = xmalloc((size_t)B * n_heads * head_size * sizeof(float));
    float *values = xmalloc((size_t)B * n_heads * head_size * sizeof(float));
    float *head_context = xmalloc((size_t)B * n_heads * head_size * sizeof(float));
    float *weights = xmalloc((size_t)T * T * sizeof(float));
    float *context = xmalloc(N * d_out * sizeof(float));

    /* keys = self.W_key(x), queries = ..., values = ...: the three
     * projections at once, (B,T,3*d_out), query | key | value per token */
    linear_projection(qkv, x, p->qkv_weight, p->qkv_bias, (int)N, d_in, 3 * d_out);

    /* .view(b, num_tokens, num_heads, head_dim).transpose(1, 2): each head
     * gets its own (T,head_dim) block, its columns of the projections */
    for (int b = 0; b < B; b++)
        for (int h = 0; h < n_heads; h++)
            for (int t = 0; t < T; t++)
                for (int i = 0; i < head_dim; i++) {
                    const float *token = qkv + ((size_t)b * T + t) * 3 * d_out + (size_t)h * head_dim + i;
                    size_t at = ((size_t)b * n_heads + h) * head_size + (size_t)t * head_dim + i;
                    queries[at] = token[0];
                    keys[at] = token[d_out];
                    values[at] = token[2 * d_out];
                }

    /* per (batch, head): scores = queries @ keys^T, the causal mask,
     * softmax of scores / sqrt(head_dim), dropout, weights @ values:
     * 3.5.3's CausalAttention on each head's slice */
    for (int b = 0; b < B; b++)
        for (int h = 0; h < n_heads; h++) {
            const size_t bh = (size_t)b * n_heads + h;
            const float *dropout = att_dropout ? att_dropout + bh * T * T : NULL;
            causal_attention_head(head_context + bh * head_size, weights, queries + bh * head_size,
                                  keys + bh * head_size, values + bh * head_size, dropout, T, head_dim);
            if (att) memcpy(att + bh * T * T, weights, (size_t)T * T * sizeof(float));
        }

    /* .transpose(1, 2).contiguous().view(b, num_tokens, d_out): the heads'
     * contexts side by side again, head h in columns h*head_dim... */
    for (int b = 0; b < B; b++)
        for (int h = 0; h < n_heads; h++)
            for (int t = 0; t < T; t++)
                memcpy(context + ((size_t)b * T + t) * d_out + (size_t)h * head_dim,
                       head_context + ((size_t)b * n_heads + h) * head_size + (size_t)t * head_dim,
                       head_dim * sizeof(float));

    /* self.out_proj(context_vec): mixes the heads */
    linear_projection(out, context, p->out_proj_weight, p->out_proj_bias, (int)N, d_out, d_out);

    free(context);
    free(weights);
    free(head_context);
    free(values);
    free(keys);
    free(queries);
    free(qkv);
    /* END EXERCISE 3e */
}

/* ==== The fast version: attention_fast.c ==== */

/* ==== Added in chapter 5: backward passes ==== */

void dropout_backward(float *grad_x, const float *mask, long n) {
    /* the forward multiplied each value by its factor, so does the backward */
    for (long i = 0; i < n; i++) grad_x[i] *= mask[i];
}
