/* spam_data.h: 6.2 Preparing the dataset and 6.3 Creating data loaders,
 * for classifying SMS messages as spam or not.
 *
 * The SMS Spam Collection has 4825 "ham" and 747 "spam" messages (read as
 * csv.h explains). The book balances it by keeping all the spam and as many
 * ham messages drawn at random, shuffles the 1494, and cuts them 70/10/20
 * into 1045 training, 149 validation and 300 test messages, labels mapped
 * ham -> 0 and spam -> 1. Both draws are pandas' DataFrame.sample with
 * random_state=seed, made with NumPy's stream (common/np_random.h): with
 * the book's seed 123 the rows are the book's.
 *
 * The data set encodes each text with GPT-2's tokenizer and pads it with
 * <|endoftext|> (50256) to one length: the longest training text (120
 * tokens in the book), to which validation and test texts are also cut. */
#ifndef CH06_SPAM_DATA_H
#define CH06_SPAM_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../ch02_text/bpe.h"

enum { LABEL_HAM = 0, LABEL_SPAM = 1 };

typedef struct {
    int label;  /* LABEL_HAM or LABEL_SPAM */
    char *text; /* malloc'd */
} LabeledText;

typedef struct {
    LabeledText *items;
    int n;
} TextSet;

/* The collection: lines "ham<TAB>text" or "spam<TAB>text". Parsing the
 * file's bytes returns false with "line N: reason" in err (and *out empty)
 * on another label or a malformed file; reading the file exits with that
 * message after the file's name. */
bool sms_parse_collection(const char *text, size_t len, TextSet *out, char *err, size_t err_size);
TextSet sms_read_collection(const char *path);
int textset_count(const TextSet *s, int label);
void textset_free(TextSet *s);

/* create_balanced_dataset: as many ham messages as there are spam, drawn at
 * random with the seed (in the order drawn), followed by all the spam. */
TextSet sms_balance(const TextSet *all, uint64_t seed);
/* random_split: shuffle with the seed, then the first int(n * train_frac)
 * train, the next int(n * val_frac) validate, the rest test. */
void textset_split(const TextSet *all, double train_frac, double val_frac, uint64_t seed, TextSet *train, TextSet *val,
                   TextSet *test);
/* The whole of 6.2: read, balance, shuffle and split 70/10/20, with the seed. */
void spam_prepare_splits(const char *sms_path, uint64_t seed, TextSet *train, TextSet *val, TextSet *test);

/* The CSV files of the book's to_csv: a header "Label,Text", then the label
 * as 0 or 1 and the text, quoted where needed. Appended to out, or written
 * to a file atomically. */
void textset_format_csv(const TextSet *s, ByteBuf *out);
void textset_write_csv(const TextSet *s, const char *path);
/* Read such a file back. Parsing its bytes returns false with the reason in
 * err (and *out empty) on a missing header, a label other than 0 or 1 or a
 * malformed row (naming the line); reading the file exits with that message
 * after the file's name. */
bool textset_parse_csv(const char *text, size_t len, TextSet *out, char *err, size_t err_size);
TextSet textset_read_csv(const char *path);

/* 6.3 SpamDataset: every text encoded and padded (or cut) to max_length. */
typedef struct {
    int n, max_length, pad_id;
    int *ids;        /* (n, max_length): a text's tokens, then pad_id */
    int *labels;     /* (n) */
    int longest;     /* the longest encoded text, before any cut */
    int n_truncated; /* texts cut to max_length */
} SpamDataset;

/* max_length <= 0: the longest encoded text of s. Exits when that is 0
 * (every text empty). */
void spam_dataset_init(SpamDataset *ds, const TextSet *s, Bpe *bpe, int max_length, int pad_id);
void spam_dataset_free(SpamDataset *ds);
/* Copy the examples at indices[0..n) into ids (n, max_length) and labels (n). */
void spam_dataset_batch(const SpamDataset *ds, const int *indices, int n, int *ids, int *labels);

#endif
