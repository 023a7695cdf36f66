/* fuzz_simple_tokenizer.c: the book's first tokenizers (chapter 2's V1 and
 * V2), built from the input as their training text.
 *
 * Properties, for every input x:
 *   - the vocabulary is x's words, sorted and without repeats, and V2 adds
 *     <|endoftext|> and <|unk|> after them;
 *   - every word looks up to its id (in V2, <|endoftext|> and <|unk|> look
 *     up to the special ids, as the book's dict keeps the later id);
 *   - V1 encodes x itself (every word is known) to one id per word, and
 *     splitting decode(encode(x)) again gives the same words;
 *   - V2 encodes any text, here x with an unknown word added, mapping the
 *     unknown word to <|unk|>. */
#include <stdint.h>
#include <string.h>

#include "../../ch02_text/simple_tokenizer.h"
#include "../../common/util.h"
#include "property.h"

static void check_vocabulary(const SimpleTokenizer *tok, bool v2) {
    PROPERTY(tok->n_words >= 0 && tok->size == tok->n_words + (v2 ? 2 : 0));
    for (int i = 0; i < tok->n_words; i++) {
        PROPERTY(tok->words[i][0] != '\0');
        PROPERTY(i == 0 || strcmp(tok->words[i - 1], tok->words[i]) < 0);
        bool special = v2 && (strcmp(tok->words[i], "<|endoftext|>") == 0 || strcmp(tok->words[i], "<|unk|>") == 0);
        if (!special) PROPERTY(simple_tokenizer_lookup(tok, tok->words[i]) == i);
    }
    if (v2) {
        PROPERTY(tok->eot_id == tok->n_words && tok->unk_id == tok->n_words + 1);
        PROPERTY(simple_tokenizer_lookup(tok, "<|endoftext|>") == tok->eot_id);
        PROPERTY(simple_tokenizer_lookup(tok, "<|unk|>") == tok->unk_id);
    } else {
        PROPERTY(tok->eot_id == -1 && tok->unk_id == -1);
    }
}

static bool same_tokens(const TokenList *a, const TokenList *b) {
    if (a->count != b->count) return false;
    for (int i = 0; i < a->count; i++)
        if (strcmp(a->tokens[i], b->tokens[i]) != 0) return false;
    return true;
}

/* V1 knows every word of its own text, and decoding loses only spacing. */
static void check_v1_round_trip(const SimpleTokenizer *v1, const char *x, size_t n) {
    TokenList words = simple_split(x, n);
    int n_ids = -1;
    char *unknown = NULL;
    int *ids = simple_encode(v1, x, n, &n_ids, &unknown);
    PROPERTY(ids != NULL && unknown == NULL && n_ids == words.count);
    int bad_id = 0;
    char *back = simple_decode(v1, ids, n_ids, &bad_id);
    PROPERTY(back != NULL);
    TokenList again = simple_split(back, strlen(back));
    PROPERTY(same_tokens(&words, &again));
    token_list_free(&again);
    free(back);
    free(ids);
    token_list_free(&words);
}

static void check_v2_unknown(const SimpleTokenizer *v2, const char *x, size_t n) {
    /* white space first, so the added word cannot join x's last word */
    ByteBuf text = {0};
    bytebuf_append(&text, x, n);
    bytebuf_append(&text, " \xE2\x80\x83unknown-word-\x01", 18);
    int n_ids = -1;
    char *unknown = NULL;
    int *ids = simple_encode(v2, text.data, text.len, &n_ids, &unknown);
    PROPERTY(ids != NULL && unknown == NULL && n_ids >= 1);
    for (int i = 0; i < n_ids; i++) PROPERTY(ids[i] >= 0 && ids[i] < v2->size);
    if (simple_tokenizer_lookup(v2, "unknown-word-\x01") < 0) PROPERTY(ids[n_ids - 1] == v2->unk_id);
    free(ids);
    bytebuf_free(&text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *x = size ? (const char *)data : ""; /* never offset a null pointer */
    SimpleTokenizer v1 = simple_tokenizer_build(x, size, false);
    check_vocabulary(&v1, false);
    check_v1_round_trip(&v1, x, size);
    simple_tokenizer_free(&v1);
    SimpleTokenizer v2 = simple_tokenizer_build(x, size, true);
    check_vocabulary(&v2, true);
    check_v2_unknown(&v2, x, size);
    simple_tokenizer_free(&v2);
    return 0;
}
