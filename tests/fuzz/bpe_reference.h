/* bpe_reference.h: a second, deliberately plain BPE encoder for the fuzz
 * harnesses to compare bpe_encode with. It cuts the text with the public
 * pre-tokenizer, then in each piece joins the leftmost adjacent pair of
 * lowest merge rank until no pair is a token: the definition, as the book's
 * loop, without the library's word cache and its heap for long pieces. Each
 * join rescans the ranks of all pairs, O(n^2) for a piece of n bytes:
 * pieces longer than max_piece are not compared. */
#ifndef TESTS_FUZZ_BPE_REFERENCE_H
#define TESTS_FUZZ_BPE_REFERENCE_H

#include <limits.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

#include "../../ch02_text/bpe.h"

/* Append the ids of one piece (n <= max_piece). parts[k] is where part k
 * starts (parts[n_parts] is the end); rank[k] is the rank of parts k and
 * k+1 joined, looked up again only for the pairs a join changes. */
static void reference_merge(const Bpe *bpe, const char *piece, size_t n, size_t *parts, int *rank, IntVec *out) {
    size_t n_parts = n;
    for (size_t k = 0; k <= n; k++) parts[k] = k;
    for (size_t k = 0; k + 1 < n_parts; k++) rank[k] = bpe_merge_rank(bpe, piece + k, 2);
    for (;;) {
        size_t best = 0;
        for (size_t k = 1; k + 1 < n_parts; k++)
            if (rank[k] < rank[best]) best = k;
        if (n_parts < 2 || rank[best] == INT_MAX) break;
        /* parts best and best+1 become one: drop boundary best+1 and pair best+1 */
        memmove(parts + best + 1, parts + best + 2, (n_parts - best - 1) * sizeof(size_t));
        if (best + 3 <= n_parts) memmove(rank + best + 1, rank + best + 2, (n_parts - best - 3) * sizeof(int));
        n_parts--;
        if (best + 1 < n_parts) rank[best] = bpe_merge_rank(bpe, piece + parts[best], parts[best + 2] - parts[best]);
        if (best > 0) rank[best - 1] = bpe_merge_rank(bpe, piece + parts[best - 1], parts[best + 1] - parts[best - 1]);
    }
    for (size_t k = 0; k < n_parts; k++) intvec_push(out, bpe_lookup(bpe, piece + parts[k], parts[k + 1] - parts[k]));
}

/* Pre-tokenize and merge text that holds no special token; false when a
 * piece is longer than max_piece. */
static bool reference_encode_ordinary(const Bpe *bpe, const char *text, size_t len, size_t max_piece, size_t *parts,
                                      int *rank, IntVec *out) {
    for (size_t i = 0; i < len;) {
        size_t end = bpe_next_piece(text, len, i);
        if (end - i > max_piece) return false;
        reference_merge(bpe, text + i, end - i, parts, rank, out);
        i = end;
    }
    return true;
}

/* The ids of valid UTF-8 text as bpe_encode should give them: with
 * allow_special, each <|endoftext|> is its id and the text between them is
 * encoded on its own. False (out unspecified) when a piece is longer than
 * max_piece. */
static bool reference_encode(const Bpe *bpe, const char *text, size_t len, bool allow_special, size_t max_piece,
                             IntVec *out) {
    size_t *parts = xmalloc((max_piece + 1) * sizeof(size_t));
    int *rank = xmalloc((max_piece + 1) * sizeof(int));
    const size_t special_len = strlen(BPE_ENDOFTEXT);
    bool ok = true;
    for (size_t i = 0; ok;) {
        const char *special =
            allow_special && bpe_eot_id(bpe) >= 0 ? memmem(text + i, len - i, BPE_ENDOFTEXT, special_len) : NULL;
        size_t end = special ? (size_t)(special - text) : len;
        ok = reference_encode_ordinary(bpe, text + i, end - i, max_piece, parts, rank, out);
        if (!special) break;
        intvec_push(out, bpe_eot_id(bpe));
        i = end + special_len;
    }
    free(rank);
    free(parts);
    return ok;
}

#endif
