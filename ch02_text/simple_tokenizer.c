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

/* BEGIN EXERCISE 2a: splitting text into tokens (book 2.2) */
/* The delimiter the rule finds at text[i] (a code point of n bytes,
 * cp): its length in bytes, or 0 when there is none. */
static size_t delimiter_at(SplitRule rule, const char *text, size_t i, size_t len, uint32_t cp, int n) {
    if (is_python_space(cp) || cp == 0) return (size_t)n;
    switch (rule) {
    case SPLIT_SPACE: return 0;
    case SPLIT_COMMA_PERIOD: return text[i] == ',' || text[i] == '.';
    case SPLIT_BOOK:
        if (strchr(",.:;?_!\"()'", text[i])) return 1;
        return text[i] == '-' && i + 1 < len && text[i + 1] == '-' ? 2 : 0;
    }
    return 0;
}

static void push_piece(TokenList *list, int *cap, const char *start, size_t n) {
    if (list->count == *cap) {
        *cap = *cap ? 2 * *cap : 256;
        list->tokens = xrealloc(list->tokens, checked_mul(*cap, sizeof(char *)));
    }
    char *piece = xmalloc(n + 1);
    memcpy(piece, start, n);
    piece[n] = '\0';
    list->tokens[list->count++] = piece;
}
/* END EXERCISE 2a */

TokenList regex_split(const char *text, size_t len, SplitRule rule) {
    /* BEGIN EXERCISE 2a: splitting text into tokens (book 2.2) */
    TokenList list = {0};
    int cap = 0;
    size_t piece_start = 0, i = 0;
    while (i < len) {
        uint32_t cp;
        int n = utf8_decode((const unsigned char *)text + i, len - i, &cp);
        if (n == 0) { /* invalid byte: keep it inside the current piece */
            i++;
            continue;
        }
        size_t delim_len = delimiter_at(rule, text, i, len, cp, n);
        if (delim_len) {
            push_piece(&list, &cap, text + piece_start, i - piece_start);
            push_piece(&list, &cap, text + i, delim_len);
            i += delim_len;
            piece_start = i;
        } else {
            i += n;
        }
    }
    /* re.split always ends with the piece after the last delimiter, even
     * when it is empty */
    push_piece(&list, &cap, text + piece_start, len - piece_start);
    return list;
    /* END EXERCISE 2a */
}

/* The length of the white space at the start of s (Python's str.strip). */
static size_t leading_space(const char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        int n = utf8_decode((const unsigned char *)s + i, len - i, &cp);
        if (n == 0 || !is_python_space(cp)) break;
        i += n;
    }
    return i;
}

/* The length of s without the white space at its end. */
static size_t without_trailing_space(const char *s, size_t len) {
    for (size_t end = len; end > 0;) {
        size_t start = end - 1; /* back to the first byte of the last code point */
        while (start > 0 && ((unsigned char)s[start] & 0xC0) == 0x80 && end - start < 4) start--;
        uint32_t cp;
        int n = utf8_decode((const unsigned char *)s + start, end - start, &cp);
        if (n != (int)(end - start) || !is_python_space(cp)) return end;
        end = start;
    }
    return 0;
}

void drop_blank(TokenList *list, bool strip) {
    int kept = 0;
    for (int i = 0; i < list->count; i++) {
        char *piece = list->tokens[i];
        size_t len = strlen(piece), start = leading_space(piece, len);
        if (start == len) {
            free(piece);
            continue;
        }
        if (strip) {
            size_t end = without_trailing_space(piece, len);
            memmove(piece, piece + start, end - start);
            piece[end - start] = '\0';
        }
        list->tokens[kept++] = piece;
    }
    list->count = kept;
}

TokenList simple_split(const char *text, size_t len) {
    TokenList list = regex_split(text, len, SPLIT_BOOK);
    drop_blank(&list, true);
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
