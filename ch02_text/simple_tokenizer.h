/* simple_tokenizer.h: the book's first tokenizers (2.2-2.4). Text is split on
 * punctuation, "--" and white space (the regex ([,.:;?_!"()']|--|\s)), and
 * the vocabulary is the sorted set of the pieces. V1 knows only the words it
 * was built from; V2 adds <|endoftext|> and maps unknown words to <|unk|>. */
#ifndef CH02_SIMPLE_TOKENIZER_H
#define CH02_SIMPLE_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>

/* ==== 2.2 Tokenizing text ==== */

typedef struct {
    char **tokens; /* NUL-terminated strings */
    int count;
} TokenList;

/* The section grows its pattern in three steps, each a rule here; the
 * last is the one the tokenizers use. */
typedef enum {
    SPLIT_SPACE,        /* (\s): white space */
    SPLIT_COMMA_PERIOD, /* ([,.]|\s): and commas and periods */
    SPLIT_BOOK,         /* ([,.:;?_!"()']|--|\s): and the other punctuation and "--" */
} SplitRule;

/* re.split with the rule's pattern, whose one group keeps each delimiter:
 * the pieces between delimiters (empty ones too) with every delimiter a
 * piece of its own between them, as Python returns them. Invalid UTF-8
 * stays inside a piece; a NUL byte is a delimiter (pieces are C strings,
 * so none can hold one), which makes it an empty piece. */
TokenList regex_split(const char *text, size_t len, SplitRule rule);
/* Drop the blank pieces (empty or white space only), as the book's
 * [item for item in result if item.strip()]; with strip, also strip the
 * pieces that stay ([item.strip() for ...]). */
void drop_blank(TokenList *list, bool strip);

/* The tokenizers' split: regex_split with SPLIT_BOOK, then drop_blank with
 * strip. A NUL byte separates words like white space. */
TokenList simple_split(const char *text, size_t len);
void token_list_free(TokenList *list);

/* ==== 2.3 Converting tokens into token IDs ====
 * (and 2.4 Adding special context tokens: V2 is the same tokenizer built
 * with_specials) */

typedef struct {
    char **words;  /* id -> word; ids 0..n_words-1 are sorted (strcmp = code point order) */
    int size;      /* vocabulary size, including the special tokens of V2 */
    int n_words;   /* the sorted part */
    int eot_id;    /* <|endoftext|> in V2, -1 in V1 */
    int unk_id;    /* <|unk|> in V2, -1 in V1 */
} SimpleTokenizer;

/* Build the vocabulary from a text: V1, or with_specials V2 (2.4). */
SimpleTokenizer simple_tokenizer_build(const char *text, size_t len, bool with_specials);
void simple_tokenizer_free(SimpleTokenizer *tok);
/* Id of a word, or -1. In V2 "<|endoftext|>" and "<|unk|>" are always the special
 * ids, even when the text had them as words (as the book's dict does). */
int simple_tokenizer_lookup(const SimpleTokenizer *tok, const char *word);

/* Encode text into ids (malloc'd, *n_ids set). V1 has no <|unk|>: an unknown
 * word returns NULL and *unknown_word points at a copy of it (free it). */
int *simple_encode(const SimpleTokenizer *tok, const char *text, size_t len, int *n_ids, char **unknown_word);
/* Join the words with spaces and remove the space before punctuation, as the
 * book's decode does. Returns NULL (and sets *bad_id) on an id out of range. */
char *simple_decode(const SimpleTokenizer *tok, const int *ids, int n_ids, int *bad_id);

#endif
