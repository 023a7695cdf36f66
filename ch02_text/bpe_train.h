/* bpe_train.h: the book's bonus "BPE from scratch": learn merges from a text
 * until the vocabulary reaches a chosen size, and save them in GPT-2's
 * encoder.json / vocab.bpe format so bpe_load() (and so every later chapter)
 * can use the result.
 *
 * Like the book, training runs over the whole text as one sequence and each
 * step merges the most frequent adjacent pair, the first one seen on a tie.
 * Unlike the book it works on bytes, not characters: the base vocabulary is
 * the 256 bytes (in GPT-2's order), merges follow, and <|endoftext|> comes
 * last, exactly the layout of GPT-2's own files.
 *
 * One more difference: a pair whose bytes some token already has (say "a"+"bc"
 * after "ab"+"c") is skipped, because GPT-2's files map each byte string to
 * one id. */
#ifndef CH02_BPE_TRAIN_H
#define CH02_BPE_TRAIN_H

#include <stddef.h>

typedef struct {
    int n_merges;
    int (*pairs)[2];     /* merge i joins tokens pairs[i][0] and pairs[i][1] into token 256 + i */
    char **token_bytes;  /* id -> bytes, for ids 0 .. 256 + n_merges - 1 */
    int *token_len;
} BpeMerges;

/* Learn up to vocab_size - 257 merges (one slot is for <|endoftext|>). Like
 * the book, a pair seen once is still merged; training stops early only when
 * the text has become one token. vocab_size must be at least 257. */
BpeMerges bpe_train(const char *text, size_t len, int vocab_size);
/* Write DIR/encoder.json and DIR/vocab.bpe (atomically; DIR is created). */
void bpe_train_save(const BpeMerges *merges, const char *dir);
void bpe_merges_free(BpeMerges *merges);

#endif
