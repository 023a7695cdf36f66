/* fuzz_bpe_roundtrip.c: GPT-2's text path on any bytes: UTF-8 repair, the
 * pre-tokenizer and BPE encoding with the real GPT-2 vocabulary (loaded once
 * from $DATA_DIR/gpt2).
 *
 * Properties, for every input x, with clean = x repaired as Python's
 * bytes.decode("utf-8", errors="replace") does (utf8_sanitize, checked
 * against Python by tests/fixtures/utf8_replace.txt):
 *   - clean is valid UTF-8, is x itself when x is valid, and repairing it
 *     again changes nothing;
 *   - the pre-tokenizer cuts clean into non-empty pieces that start and end
 *     on code point boundaries;
 *   - decode(encode(x)) == clean, with and without <|endoftext|> allowed;
 *     without it no id is <|endoftext|>, with it there is one per
 *     occurrence in clean;
 *   - the ids are those of tests/fuzz/bpe_reference.h's plain encoder (for
 *     texts whose pieces are at most REFERENCE_MAX_PIECE bytes long; longer
 *     ones would make it slow);
 *   - encoding again, now from the warm word cache, gives the same ids. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../../ch02_text/bpe.h"
#include "../../ch02_text/utf8.h"
#include "bpe_reference.h"
#include "property.h"

#define REFERENCE_MAX_PIECE 256

static Bpe *gpt2;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    gpt2 = bpe_load_gpt2(); /* exits with a message naming the file when DATA_DIR lacks it */
    return 0;
}

static void check_repair(const char *x, size_t n, const char *clean, size_t clean_len) {
    PROPERTY(utf8_is_valid(clean, clean_len));
    if (utf8_is_valid(x, n)) PROPERTY(clean_len == n && memcmp(clean, x, n) == 0);
    size_t again_len;
    char *again = utf8_sanitize(clean, clean_len, &again_len);
    PROPERTY(again_len == clean_len && memcmp(again, clean, clean_len) == 0);
    free(again);
}

static bool is_continuation_byte(char c) { return ((unsigned char)c & 0xC0) == 0x80; }

static void check_pieces(const char *clean, size_t len) {
    for (size_t i = 0; i < len;) {
        size_t end = bpe_next_piece(clean, len, i);
        PROPERTY(end > i && end <= len);
        PROPERTY(end == len || !is_continuation_byte(clean[end]));
        i = end;
    }
}

static size_t count_endoftext(const char *s, size_t len) {
    const size_t k = strlen(BPE_ENDOFTEXT);
    size_t count = 0;
    for (const char *p = s, *end = s + len; (p = memmem(p, end - p, BPE_ENDOFTEXT, k)) != NULL; p += k) count++;
    return count;
}

static bool same_ids(const IntVec *a, const IntVec *b) {
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len * sizeof(int)) == 0);
}

/* Decoding gives back exactly the repaired text. */
static void check_decodes_to(const IntVec *ids, const char *clean, size_t clean_len) {
    ByteBuf back = {0};
    int bad_id = 0;
    PROPERTY(bpe_decode(gpt2, ids->data, ids->len, &back, &bad_id));
    PROPERTY(back.len == clean_len && (clean_len == 0 || memcmp(back.data, clean, clean_len) == 0));
    bytebuf_free(&back);
}

/* The same ids as the plain encoder, when its pieces are short enough. */
static void check_matches_reference(const IntVec *ids, const char *clean, size_t clean_len, bool allow_special) {
    IntVec want = {0};
    if (reference_encode(gpt2, clean, clean_len, allow_special, REFERENCE_MAX_PIECE, &want))
        PROPERTY(same_ids(&want, ids));
    intvec_free(&want);
}

/* Ordinary text first, from a cold cache (so a failure reproduces from this
 * input alone), then again from the warm cache, then with <|endoftext|>
 * allowed (also warm: the cheap run, which matters on long inputs). */
static void check_encoding(const char *x, size_t n, const char *clean, size_t clean_len) {
    IntVec ordinary = {0}, warm = {0}, special = {0};
    bpe_clear_cache(gpt2);
    bpe_encode(gpt2, x, n, false, &ordinary);
    for (size_t k = 0; k < ordinary.len; k++) PROPERTY(ordinary.data[k] != bpe_eot_id(gpt2));
    check_decodes_to(&ordinary, clean, clean_len);
    check_matches_reference(&ordinary, clean, clean_len, false);
    bpe_encode(gpt2, x, n, false, &warm);
    PROPERTY(same_ids(&warm, &ordinary));

    bpe_encode(gpt2, x, n, true, &special);
    size_t n_eot = 0, n_occurrences = count_endoftext(clean, clean_len);
    for (size_t k = 0; k < special.len; k++) n_eot += special.data[k] == bpe_eot_id(gpt2);
    PROPERTY(n_eot == n_occurrences);
    check_decodes_to(&special, clean, clean_len);
    if (n_occurrences) check_matches_reference(&special, clean, clean_len, true);
    else PROPERTY(same_ids(&special, &ordinary));
    intvec_free(&special);
    intvec_free(&warm);
    intvec_free(&ordinary);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *x = size ? (const char *)data : ""; /* never offset a null pointer */
    size_t clean_len;
    char *clean = utf8_sanitize(x, size, &clean_len);
    check_repair(x, size, clean, clean_len);
    check_pieces(clean, clean_len);
    check_encoding(x, size, clean, clean_len);
    free(clean);
    return 0;
}
