/* generate.c: see generate.h. */
#include "generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/matmul.h"
#include "../common/ops.h"
#include "../common/util.h"
#include "gelu.h"
#include "layernorm.h"

KVCache *kv_cache_create(const GPTConfig *c) {
    KVCache *kv = xcalloc(1, sizeof *kv);
    kv->n_layers = c->n_layers;
    kv->context_length = c->context_length;
    kv->emb_dim = c->emb_dim;
    size_t cache_size = checked_mul(checked_mul(c->n_layers, c->context_length), c->emb_dim);
    kv->keys = xcalloc(cache_size ? cache_size : 1, sizeof(float));
    kv->values = xcalloc(cache_size ? cache_size : 1, sizeof(float));
    const size_t C = c->emb_dim;
    kv->x = xmalloc(C * sizeof(float));
    kv->norm = xmalloc(C * sizeof(float));
    kv->qkv = xmalloc(3 * C * sizeof(float));
    kv->att = xmalloc(c->context_length * sizeof(float));
    kv->context = xmalloc(C * sizeof(float));
    kv->proj = xmalloc(C * sizeof(float));
    kv->fc1 = xmalloc(4 * C * sizeof(float));
    kv->fc1_gelu = xmalloc(4 * C * sizeof(float));
    kv->logits = xmalloc((size_t)c->vocab_size * sizeof(float));
    return kv;
}

void kv_cache_free(KVCache *kv) {
    if (!kv) return;
    free(kv->keys);
    free(kv->values);
    free(kv->x);
    free(kv->norm);
    free(kv->qkv);
    free(kv->att);
    free(kv->context);
    free(kv->proj);
    free(kv->fc1);
    free(kv->fc1_gelu);
    free(kv->logits);
    free(kv);
}

/* Attention of the newest token (its query in qkv) over the cached keys and
 * values of positions 0..length-1 of one layer. */
static void cached_attention(KVCache *kv, const float *keys, const float *values, int length, int n_heads) {
    const int C = kv->emb_dim, head_dim = C / n_heads;
    const float scale = 1.0f / sqrtf((float)head_dim);
    for (int h = 0; h < n_heads; h++) {
        const float *query = kv->qkv + h * head_dim;
        float max = -INFINITY;
        for (int s = 0; s < length; s++) {
            kv->att[s] = vec_dot(query, keys + (size_t)s * C + h * head_dim, head_dim) * scale;
            if (kv->att[s] > max) max = kv->att[s];
        }
        float sum = 0.0f;
        for (int s = 0; s < length; s++) {
            kv->att[s] = expf(kv->att[s] - max);
            sum += kv->att[s];
        }
        float *context = kv->context + h * head_dim;
        for (int i = 0; i < head_dim; i++) context[i] = 0.0f;
        for (int s = 0; s < length; s++) {
            const float *value = values + (size_t)s * C + h * head_dim;
            float w = kv->att[s] / sum;
            for (int i = 0; i < head_dim; i++) context[i] += w * value[i];
        }
    }
}

float *gpt_forward_cached(const GPTModel *m, KVCache *kv, int token) {
    const GPTConfig *c = &m->config;
    const int C = c->emb_dim, pos = kv->length;
    if (pos >= c->context_length) fatal("the KV cache is full (%d tokens)", pos);
    if (token < 0 || token >= c->vocab_size) fatal("token id %d is outside the vocabulary (0..%d)", token, c->vocab_size - 1);
    for (int i = 0; i < C; i++) kv->x[i] = m->tok_emb[(size_t)token * C + i] + m->pos_emb[(size_t)pos * C + i];
    for (int l = 0; l < c->n_layers; l++) {
        const BlockWeights *w = &m->blocks[l];
        float *keys = kv->keys + (size_t)l * c->context_length * C;
        float *values = kv->values + (size_t)l * c->context_length * C;
        layernorm_forward(kv->norm, NULL, NULL, kv->x, w->norm1_scale, w->norm1_shift, 1, C);
        matmul_forward(kv->qkv, kv->norm, w->qkv_weight, w->qkv_bias, 1, C, 3 * C);
        linear_hook_forward(w->qkv_hook, kv->qkv, kv->norm, 1);
        memcpy(keys + (size_t)pos * C, kv->qkv + C, C * sizeof(float));
        memcpy(values + (size_t)pos * C, kv->qkv + 2 * C, C * sizeof(float));
        cached_attention(kv, keys, values, pos + 1, c->n_heads);
        matmul_forward(kv->proj, kv->context, w->out_proj_weight, w->out_proj_bias, 1, C, C);
        linear_hook_forward(w->out_proj_hook, kv->proj, kv->context, 1);
        vec_add(kv->x, kv->x, kv->proj, C);
        layernorm_forward(kv->norm, NULL, NULL, kv->x, w->norm2_scale, w->norm2_shift, 1, C);
        matmul_forward(kv->fc1, kv->norm, w->fc1_weight, w->fc1_bias, 1, C, 4 * C);
        linear_hook_forward(w->fc1_hook, kv->fc1, kv->norm, 1);
        gelu_forward(kv->fc1_gelu, kv->fc1, 4 * (size_t)C);
        matmul_forward(kv->proj, kv->fc1_gelu, w->fc2_weight, w->fc2_bias, 1, 4 * C, C);
        linear_hook_forward(w->fc2_hook, kv->proj, kv->fc1_gelu, 1);
        vec_add(kv->x, kv->x, kv->proj, C);
    }
    layernorm_forward(kv->norm, NULL, NULL, kv->x, m->final_norm_scale, m->final_norm_shift, 1, C);
    sgemm(false, true, 1, C, c->vocab_size, kv->norm, C, m->out_head, C, false, kv->logits, c->vocab_size);
    linear_hook_forward(m->out_head_hook, kv->logits, kv->norm, 1);
    kv->length++;
    return kv->logits;
}

/* Fill the cache from a batched forward pass over ids (the prompt, or a new
 * window), and return the last position's logits. */
static float *prefill(GPTModel *m, KVCache *kv, const int *ids, int n) {
    const GPTConfig *c = &m->config;
    const int C = c->emb_dim;
    gpt_forward(m, ids, 1, n);
    for (int l = 0; l < c->n_layers; l++) {
        const float *qkv = m->block_acts[l].qkv;
        float *keys = kv->keys + (size_t)l * c->context_length * C;
        float *values = kv->values + (size_t)l * c->context_length * C;
        for (int t = 0; t < n; t++) {
            memcpy(keys + (size_t)t * C, qkv + (size_t)t * 3 * C + C, C * sizeof(float));
            memcpy(values + (size_t)t * C, qkv + (size_t)t * 3 * C + 2 * C, C * sizeof(float));
        }
    }
    kv->length = n;
    return m->logits + (size_t)(n - 1) * c->vocab_size;
}

int generate_tokens(GPTModel *m, int *ids, int n_ids, int max_new_tokens, bool use_cache, TokenPicker pick,
                    void *pick_user, void (*on_token)(int token, void *user), void *user) {
    const GPTConfig *c = &m->config;
    if (n_ids < 1) fatal("generation needs at least one token to start from");
    KVCache *kv = use_cache ? kv_cache_create(c) : NULL;
    for (int step = 0; step < max_new_tokens; step++) {
        /* idx_cond = idx[:, -context_size:] */
        int start = n_ids > c->context_length ? n_ids - c->context_length : 0;
        float *logits;
        if (!use_cache) {
            gpt_forward(m, ids + start, 1, n_ids - start);
            logits = m->logits + (size_t)(n_ids - start - 1) * c->vocab_size;
        } else if (step == 0 || start != kv->window_start) {
            kv->window_start = start;
            logits = prefill(m, kv, ids + start, n_ids - start);
        } else {
            logits = gpt_forward_cached(m, kv, ids[n_ids - 1]);
        }
        int next = pick(logits, c->vocab_size, pick_user);
        if (next < 0) break;
        ids[n_ids++] = next;
        if (on_token) on_token(next, user);
    }
    kv_cache_free(kv);
    return n_ids;
}

static int pick_most_likely(float *logits, int vocab_size, void *user) {
    (void)user;
    return vec_argmax(logits, vocab_size);
}

int generate_greedy(GPTModel *m, int *ids, int n_ids, int max_new_tokens, bool use_cache,
                    void (*on_token)(int token, void *user), void *user) {
    return generate_tokens(m, ids, n_ids, max_new_tokens, use_cache, pick_most_likely, NULL, on_token, user);
}
