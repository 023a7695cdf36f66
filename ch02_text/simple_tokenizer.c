/* simple_tokenizer.c: see simple_tokenizer.h. */
#include "simple_tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "utf8.h"

/* ==== 2.2 Tokenizing text ==== */

/* Python's \s and str.strip() treat these code points as white space. */
static bool is_python_space(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

static bool is_split_punct(char c) { return c && strchr(",.:;?_!\"()'", c) != NULL; }

static void push_token(TokenList *list, int *cap, const char *start, size_t n) {
    if (n == 0) return;
    if (list->count == *cap) {
        *cap = *cap ? 2 * *cap : 256;
        list->tokens = xrealloc(list->tokens, checked_mul(*cap, sizeof(char *)));
    }
    char *tok = xmalloc(n + 1);
    memcpy(tok, start, n);
    tok[n] = '\0';
    list->tokens[list->count++] = tok;
}

TokenList simple_split(const char *text, size_t len) {
    TokenList list = {0};
    int cap = 0;
    size_t word_start = 0, i = 0;
    while (i < len) {
        uint32_t cp;
        int n = utf8_decode((const unsigned char *)text + i, len - i, &cp);
        if (n == 0) { /* invalid byte: keep it inside the current word */
            i++;
            continue;
        }
        int delim_len = 0;
        if (is_split_punct(text[i])) delim_len = 1;
        else if (text[i] == '-' && i + 1 < len && text[i + 1] == '-') delim_len = 2;
        /* A NUL byte ends a word too: Python would keep it inside one, but
         * words are C strings here, and "a\0b" would silently become "a". */
        if (delim_len || is_python_space(cp) || cp == 0) {
            push_token(&list, &cap, text + word_start, i - word_start);
            if (delim_len) push_token(&list, &cap, text + i, delim_len);
            i += delim_len ? delim_len : n;
            word_start = i;
        } else {
            i += n;
        }
    }
    push_token(&list, &cap, text + word_start, len - word_start);
    return list;
}

void token_list_free(TokenList *list) {
    for (int i = 0; i < list->count; i++) free(list->tokens[i]);
    free(list->tokens);
    *list = (TokenList){0};
}

/* ==== 2.3 Converting tokens into token IDs ==== */

static int compare_strings(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* SimpleTokenizerV1's vocabulary: the text's words, sorted, each once, the
 * id of a word its place in that order. Room is left for 2.4's two special
 * tokens. */
static SimpleTokenizer build_vocabulary(const char *text, size_t len) {
    TokenList list = simple_split(text, len);
    /* qsort's array may not be NULL even for no items, and a text with no
     * words (empty, or only white space) has none */
    if (list.count > 0) qsort(list.tokens, list.count, sizeof(char *), compare_strings);
    SimpleTokenizer tok = {0};
    tok.words = xmalloc(checked_mul(list.count + 2, sizeof(char *)));
    for (int i = 0; i < list.count; i++) {
        if (tok.n_words > 0 && strcmp(tok.words[tok.n_words - 1], list.tokens[i]) == 0) free(list.tokens[i]);
        else tok.words[tok.n_words++] = list.tokens[i];
    }
    free(list.tokens);
    tok.size = tok.n_words;
    tok.eot_id = tok.unk_id = -1;
    return tok;
}

void simple_tokenizer_free(SimpleTokenizer *tok) {
    for (int i = 0; i < tok->size; i++) free(tok->words[i]);
    free(tok->words);
    *tok = (SimpleTokenizer){0};
}

int simple_tokenizer_lookup(const SimpleTokenizer *tok, const char *word) {
    /* V2's special tokens first: the book's vocabulary is a dict built from
     * the sorted words followed by the two specials, so when the text itself
     * has "<|endoftext|>" as a word, the later (special) id wins. */
    for (int i = tok->n_words; i < tok->size; i++)
        if (strcmp(tok->words[i], word) == 0) return i;
    char *const *hit = bsearch(&word, tok->words, tok->n_words, sizeof(char *), compare_strings);
    return hit ? (int)(hit - tok->words) : -1;
}

int *simple_encode(const SimpleTokenizer *tok, const char *text, size_t len, int *n_ids, char **unknown_word) {
    TokenList list = simple_split(text, len);
    int *ids = xmalloc(checked_mul(list.count, sizeof(int)));
    *n_ids = list.count;
    if (unknown_word) *unknown_word = NULL;
    for (int i = 0; i < list.count; i++) {
        ids[i] = simple_tokenizer_lookup(tok, list.tokens[i]);
        if (ids[i] < 0 && tok->unk_id >= 0) ids[i] = tok->unk_id;
        if (ids[i] < 0) {
            if (unknown_word) *unknown_word = xstrdup(list.tokens[i]);
            free(ids);
            ids = NULL;
            break;
        }
    }
    token_list_free(&list);
    return ids;
}

char *simple_decode(const SimpleTokenizer *tok, const int *ids, int n_ids, int *bad_id) {
    /* V1's decode drops the space before , . ? ! " ( ) ' ; V2's also before : ; */
    const char *no_space_before = tok->unk_id >= 0 ? ",.:;?!\"()'" : ",.?!\"()'";
    ByteBuf out = {0};
    bytebuf_append(&out, "", 0);
    for (int i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= tok->size) {
            if (bad_id) *bad_id = ids[i];
            bytebuf_free(&out);
            return NULL;
        }
        const char *word = tok->words[ids[i]];
        bool glue = strlen(word) == 1 && strchr(no_space_before, word[0]);
        if (i > 0 && !glue) bytebuf_append(&out, " ", 1);
        bytebuf_append(&out, word, strlen(word));
    }
    return out.data;
}

/* ==== 2.4 Adding special context tokens ====
 * SimpleTokenizerV2 is V1 with two more tokens at the end of the
 * vocabulary, <|endoftext|> between texts and <|unk|> for words the
 * vocabulary lacks. The rest of V2 is in the functions above, where V1 and
 * V2 differ by a line: lookup finds the specials first, encode maps an
 * unknown word to <|unk|> instead of failing, and decode also glues ':'
 * and ';' to the word before. */

SimpleTokenizer simple_tokenizer_build(const char *text, size_t len, bool with_specials) {
    SimpleTokenizer tok = build_vocabulary(text, len);
    if (with_specials) {
        tok.eot_id = tok.size;
        tok.words[tok.size++] = xstrdup("<|endoftext|>");
        tok.unk_id = tok.size;
        tok.words[tok.size++] = xstrdup("<|unk|>");
    }
    return tok;
}
