/* sampling.c: see sampling.h. */
#include "sampling.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ch04_gpt/generate.h"
#include "../common/ops.h"
#include "../common/util.h"

static int compare_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

void top_k_filter(float *logits, int V, int k) {
    /* BEGIN EXERCISE 5d: top-k sampling (book 5.3.2) */
    if (k <= 0 || k >= V) return;
    float *sorted = xmalloc((size_t)V * sizeof(float));
    memcpy(sorted, logits, (size_t)V * sizeof(float));
    qsort(sorted, V, sizeof(float), compare_desc);
    float min_val = sorted[k - 1];
    for (int i = 0; i < V; i++)
        if (logits[i] < min_val) logits[i] = -INFINITY;
    free(sorted);
    /* END EXERCISE 5d */
}

/* Zero the probabilities outside the smallest set of most likely tokens
 * whose total reaches p (at least one token stays), then renormalise. */
static void top_p_filter(float *probs, int V, float p) {
    float *sorted = xmalloc((size_t)V * sizeof(float));
    memcpy(sorted, probs, (size_t)V * sizeof(float));
    qsort(sorted, V, sizeof(float), compare_desc);
    float cumulative = 0.0f, threshold = sorted[0];
    for (int i = 0; i < V; i++) {
        threshold = sorted[i];
        cumulative += sorted[i];
        if (cumulative >= p) break;
    }
    float kept = 0.0f;
    for (int i = 0; i < V; i++) {
        if (probs[i] < threshold) probs[i] = 0.0f;
        kept += probs[i];
    }
    for (int i = 0; i < V; i++) probs[i] /= kept;
    free(sorted);
}

void softmax_with_temperature(float *probas, const float *logits, int V, float temperature) {
    /* BEGIN EXERCISE 5c: temperature scaling (book 5.3.1) */
    if (probas != logits) memcpy(probas, logits, (size_t)V * sizeof(float));
    vec_scale(probas, 1.0f / temperature, (size_t)V);
    softmax_rows(probas, probas, 1, V);
    /* END EXERCISE 5c */
}

int multinomial_draw(Rng *rng, const float *probas, int V) {
    /* walk the cumulative distribution to a uniform draw */
    float u = rng_uniform(rng), cumulative = 0.0f;
    for (int i = 0; i < V; i++) {
        cumulative += probas[i];
        if (u < cumulative) return i;
    }
    /* u fell in the rounding gap at the top: take the last possible token */
    for (int i = V - 1; i >= 0; i--)
        if (probas[i] > 0.0f) return i;
    return V - 1;
}

int sample_next_token(Sampler *s, float *logits, int V) {
    if (s->temperature <= 0.0f) return vec_argmax(logits, V); /* greedy; top-k cannot change the maximum */
    top_k_filter(logits, V, s->top_k);
    softmax_with_temperature(logits, logits, V, s->temperature);
    if (s->top_p > 0.0f && s->top_p < 1.0f) top_p_filter(logits, V, s->top_p);
    return multinomial_draw(&s->rng, logits, V);
}

static int pick_with_sampler(float *logits, int V, void *user) {
    Sampler *s = user;
    int next = sample_next_token(s, logits, V);
    return next == s->eos_id ? -1 : next;
}

int generate(GPTModel *m, int *ids, int n_ids, int max_new_tokens, Sampler *s, void (*on_token)(int token, void *user),
             void *user) {
    return generate_tokens(m, ids, n_ids, max_new_tokens, true, pick_with_sampler, s, on_token, user);
}
