/* generate.h: 4.7 Generating text, and the book's bonus key-value cache.
 *
 * Greedy decoding: run the model on the sequence so far, take the most
 * likely next token (argmax of the last position's logits), append it, and
 * repeat. When the sequence outgrows the context, only its last
 * context_length tokens are fed in.
 *
 * Without a cache every step reruns the whole context. With a cache
 * (gpt.h's KVCache), each step runs one new token through the model: the
 * keys and values of the earlier tokens do not change, so they are kept per
 * layer and reused. The two give the same tokens. (Once the context is
 * full, every step shifts all positions by one, so the cache is rebuilt
 * from the new window: GPT-2's absolute position embeddings leave no
 * cheaper exact way.) */
#ifndef CH04_GENERATE_H
#define CH04_GENERATE_H

#include <stdbool.h>

#include "gpt.h"

/* ==== 4.7 Generating text ==== */

/* The book's generate_text_simple: append max_new_tokens tokens to the n_ids
 * tokens in ids (which must have room for them), each the most likely one
 * after the last context_length tokens, the whole window rerun every step.
 * The optional on_token sees each new token as it comes. Returns the new
 * length. */
int generate_text_simple(GPTModel *m, int *ids, int n_ids, int max_new_tokens, void (*on_token)(int token, void *user),
                         void *user);

/* Chooses the next token from the last position's logits (it may change
 * them); -1 stops the generation. */
typedef int (*TokenPicker)(float *logits, int vocab_size, void *user);

/* Append up to max_new_tokens tokens to the n_ids tokens in ids (which must
 * have room for them), each chosen by pick. use_cache selects the KV-cache
 * path. The optional on_token sees each new token as it comes (for
 * streaming output). Returns the new length. */
int generate_tokens(GPTModel *m, int *ids, int n_ids, int max_new_tokens, bool use_cache, TokenPicker pick,
                    void *pick_user, void (*on_token)(int token, void *user), void *user);

/* Greedy generation: generate_text_simple, or with use_cache the KV-cache
 * path of generate_tokens with the most likely token (the same tokens). */
int generate_greedy(GPTModel *m, int *ids, int n_ids, int max_new_tokens, bool use_cache,
                    void (*on_token)(int token, void *user), void *user);

#endif
