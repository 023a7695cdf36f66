/* generate.c: see generate.h. */
#include "generate.h"

#include "../common/ops.h"
#include "../common/util.h"

/* ==== 4.7 Generating text ==== */

int generate_text_simple(GPTModel *m, int *ids, int n_ids, int max_new_tokens, void (*on_token)(int token, void *user),
                         void *user) {
    /* BEGIN EXERCISE 4e: simple text generation (book 4.7) */
    const GPTConfig *c = &m->config;
    if (n_ids < 1) fatal("generation needs at least one token to start from");
    for (int step = 0; step < max_new_tokens; step++) {
        /* idx_cond = idx[:, -context_size:] */
        int start = n_ids > c->context_length ? n_ids - c->context_length : 0;
        gpt_forward(m, ids + start, 1, n_ids - start);
        /* the last position's logits; the most likely token comes next */
        const float *logits = m->logits + (size_t)(n_ids - start - 1) * c->vocab_size;
        int next = vec_argmax(logits, c->vocab_size);
        ids[n_ids++] = next;
        if (on_token) on_token(next, user);
    }
    return n_ids;
    /* END EXERCISE 4e */
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
            /* the prompt, or a window that has moved on: fill the cache anew */
            kv->window_start = start;
            logits = gpt_prefill(m, kv, ids + start, n_ids - start);
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
    if (!use_cache) return generate_text_simple(m, ids, n_ids, max_new_tokens, on_token, user);
    return generate_tokens(m, ids, n_ids, max_new_tokens, true, pick_most_likely, NULL, on_token, user);
}
