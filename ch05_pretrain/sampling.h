/* sampling.h: 5.3 Decoding strategies to control randomness. Greedy
 * decoding always takes the most likely token; sampling draws from the
 * softmax of the logits, reshaped by
 *   top-k:        keep only the k largest logits,
 *   temperature:  divide the logits by T (T < 1 sharpens, T > 1 flattens),
 *   top-p:        keep the smallest set of tokens whose probability sums to p. */
#ifndef CH05_SAMPLING_H
#define CH05_SAMPLING_H

#include "../ch04_gpt/gpt.h"
#include "../common/rng.h"

typedef struct {
    float temperature; /* 0: greedy (argmax) */
    int top_k;         /* 0: off */
    float top_p;       /* 1 (or 0): off */
    int eos_id;        /* stop after generating this id; -1: never */
    Rng rng;
} Sampler;

/* The book's softmax_with_temperature: softmax(logits / temperature) into
 * probas (V values; it may be logits itself). */
void softmax_with_temperature(float *probas, const float *logits, int V, float temperature);
/* torch.multinomial(probas, num_samples=1): one token drawn from rng with
 * the probabilities probas (V values that sum to 1). */
int multinomial_draw(Rng *rng, const float *probas, int V);

/* Keep the k largest logits (ties with the k-th kept, as the book's
 * torch.where(logits < min_val, -inf, logits) does), set the rest to -inf;
 * k <= 0 or k >= V leaves the logits as they are. */
void top_k_filter(float *logits, int V, int k);
/* The next token for these logits (which the sampler may overwrite). */
int sample_next_token(Sampler *s, float *logits, int V);

/* The book's generate(): extend ids (n_ids tokens; room for max_new more)
 * with the KV cache, stopping early at the sampler's eos_id. Temperature 0
 * gives exactly ch04's greedy tokens. on_token (may be NULL) sees each new
 * token. Returns the new length. */
int generate(GPTModel *m, int *ids, int n_ids, int max_new_tokens, Sampler *s, void (*on_token)(int token, void *user),
             void *user);

#endif
