/* spam_data.c: see spam_data.h. */
#include "spam_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/np_random.h"
#include "../common/util.h"
#include "csv.h"

static void textset_push(TextSet *s, int *cap, int label, const char *text) {
    if (s->n == *cap) {
        *cap = *cap ? 2 * *cap : 1024;
        s->items = xrealloc(s->items, (size_t)*cap * sizeof(LabeledText));
    }
    s->items[s->n++] = (LabeledText){label, xstrdup(text)};
}

/* Read the file and parse it with parse, exiting with "path: reason" when
 * that fails: the convenience form of the programs. */
static TextSet read_or_exit(const char *path, bool (*parse)(const char *, size_t, TextSet *, char *, size_t)) {
    size_t len;
    char *text = read_file(path, &len);
    TextSet s;
    char err[256];
    if (!parse(text, len, &s, err, sizeof err)) fatal("%s: %s", path, err);
    free(text);
    return s;
}

/* The rows from row `first` on, each "label<TAB or comma>text", labels as
 * label_of maps them (-1: not a label; the message then quotes what_labels). */
static bool rows_to_textset(const CsvTable *t, int first, int (*label_of)(const char *), const char *what_labels,
                            TextSet *out, char *err, size_t err_size) {
    int cap = 0;
    *out = (TextSet){0};
    for (int r = first; r < t->n_rows; r++) {
        const char *label = csv_cell(t, r, 0);
        int value = label_of(label);
        if (value < 0) {
            snprintf(err, err_size, "line %d: label '%.40s' is %s", t->lines[r], label, what_labels);
            textset_free(out);
            return false;
        }
        textset_push(out, &cap, value, csv_cell(t, r, 1));
    }
    return true;
}

static int sms_label(const char *label) {
    return strcmp(label, "ham") == 0 ? LABEL_HAM : strcmp(label, "spam") == 0 ? LABEL_SPAM : -1;
}

bool sms_parse_collection(const char *text, size_t len, TextSet *out, char *err, size_t err_size) {
    CsvTable t;
    *out = (TextSet){0};
    if (!csv_parse(text, len, '\t', 2, &t, err, err_size)) return false;
    bool ok = rows_to_textset(&t, 0, sms_label, "neither ham nor spam", out, err, err_size);
    csv_free(&t);
    return ok;
}

TextSet sms_read_collection(const char *path) { return read_or_exit(path, sms_parse_collection); }

int textset_count(const TextSet *s, int label) {
    int n = 0;
    for (int i = 0; i < s->n; i++) n += s->items[i].label == label;
    return n;
}

void textset_free(TextSet *s) {
    for (int i = 0; i < s->n; i++) free(s->items[i].text);
    free(s->items);
    *s = (TextSet){0};
}

/* pandas' random_state=seed: NumPy's RandomState(seed), which takes 32 bits */
static uint32_t pandas_seed(uint64_t seed) {
    if (seed > UINT32_MAX)
        fatal("seed %llu: pandas' random_state takes 0..%lu", (unsigned long long)seed, (unsigned long)UINT32_MAX);
    return (uint32_t)seed;
}

TextSet sms_balance(const TextSet *all, uint64_t seed) {
    int n_spam = textset_count(all, LABEL_SPAM), n_ham = all->n - n_spam;
    if (n_spam > n_ham) fatal("cannot balance: %d spam messages but only %d ham", n_spam, n_ham);
    int *ham = xmalloc((size_t)(n_ham > 0 ? n_ham : 1) * sizeof(int));
    for (int i = 0, k = 0; i < all->n; i++)
        if (all->items[i].label == LABEL_HAM) ham[k++] = i;
    /* df[ham].sample(n_spam, random_state=seed): the first n_spam of
     * NumPy's permutation of the ham rows */
    int *order = xmalloc((size_t)(n_ham > 0 ? n_ham : 1) * sizeof(int));
    NpRandomState rs;
    np_random_seed(&rs, pandas_seed(seed));
    np_random_permutation(&rs, order, n_ham);
    TextSet out = {0};
    int cap = 0;
    for (int i = 0; i < n_spam; i++) textset_push(&out, &cap, LABEL_HAM, all->items[ham[order[i]]].text);
    for (int i = 0; i < all->n; i++)
        if (all->items[i].label == LABEL_SPAM) textset_push(&out, &cap, LABEL_SPAM, all->items[i].text);
    free(order);
    free(ham);
    return out;
}

static TextSet textset_slice(const TextSet *all, const int *order, int begin, int end) {
    TextSet out = {0};
    int cap = 0;
    for (int i = begin; i < end; i++) textset_push(&out, &cap, all->items[order[i]].label, all->items[order[i]].text);
    return out;
}

void textset_split(const TextSet *all, double train_frac, double val_frac, uint64_t seed, TextSet *train, TextSet *val,
                   TextSet *test) {
    int *order = xmalloc((size_t)(all->n > 0 ? all->n : 1) * sizeof(int));
    NpRandomState rs;
    np_random_seed(&rs, pandas_seed(seed));
    np_random_permutation(&rs, order, all->n); /* df.sample(frac=1, random_state=seed) */
    /* Python's int(len(df) * frac): truncation of the double product */
    int train_end = (int)((double)all->n * train_frac);
    int val_end = train_end + (int)((double)all->n * val_frac);
    if (val_end > all->n) val_end = all->n;
    *train = textset_slice(all, order, 0, train_end);
    *val = textset_slice(all, order, train_end, val_end);
    *test = textset_slice(all, order, val_end, all->n);
    free(order);
}

void spam_prepare_splits(const char *sms_path, uint64_t seed, TextSet *train, TextSet *val, TextSet *test) {
    TextSet all = sms_read_collection(sms_path);
    TextSet balanced = sms_balance(&all, seed);
    textset_split(&balanced, 0.7, 0.1, seed, train, val, test);
    textset_free(&balanced);
    textset_free(&all);
}

void textset_format_csv(const TextSet *s, ByteBuf *out) {
    bytebuf_append(out, "Label,Text\n", 11);
    for (int i = 0; i < s->n; i++) {
        char label[16];
        snprintf(label, sizeof label, "%d,", s->items[i].label);
        bytebuf_append(out, label, strlen(label));
        csv_append_field(out, s->items[i].text, ',');
        bytebuf_append(out, "\n", 1);
    }
}

void textset_write_csv(const TextSet *s, const char *path) {
    ByteBuf out = {0};
    textset_format_csv(s, &out);
    write_file_atomic(path, out.data, out.len);
    bytebuf_free(&out);
}

static int digit_label(const char *label) {
    return strcmp(label, "0") == 0 ? LABEL_HAM : strcmp(label, "1") == 0 ? LABEL_SPAM : -1;
}

bool textset_parse_csv(const char *text, size_t len, TextSet *out, char *err, size_t err_size) {
    CsvTable t;
    *out = (TextSet){0};
    if (!csv_parse(text, len, ',', 2, &t, err, err_size)) return false;
    bool ok = t.n_rows >= 1 && strcmp(csv_cell(&t, 0, 0), "Label") == 0 && strcmp(csv_cell(&t, 0, 1), "Text") == 0;
    if (!ok) snprintf(err, err_size, "no header 'Label,Text' (write the file with `ch06 prepare-spam`)");
    else ok = rows_to_textset(&t, 1, digit_label, "not 0 (not spam) or 1 (spam)", out, err, err_size);
    csv_free(&t);
    return ok;
}

TextSet textset_read_csv(const char *path) { return read_or_exit(path, textset_parse_csv); }

void spam_dataset_init(SpamDataset *ds, const TextSet *s, Bpe *bpe, int max_length, int pad_id) {
    IntVec *encoded = xcalloc((size_t)(s->n > 0 ? s->n : 1), sizeof(IntVec));
    int longest = 0;
    for (int i = 0; i < s->n; i++) {
        bpe_encode(bpe, s->items[i].text, strlen(s->items[i].text), false, &encoded[i]);
        if ((int)encoded[i].len > longest) longest = (int)encoded[i].len;
    }
    if (max_length <= 0) max_length = longest;
    if (max_length <= 0) fatal("every text is empty: no tokens to classify");
    *ds = (SpamDataset){.n = s->n, .max_length = max_length, .pad_id = pad_id, .longest = longest};
    ds->ids = xmalloc(checked_mul(checked_mul((size_t)(s->n > 0 ? s->n : 1), (size_t)max_length), sizeof(int)));
    ds->labels = xmalloc((size_t)(s->n > 0 ? s->n : 1) * sizeof(int));
    for (int i = 0; i < s->n; i++) {
        int *row = ds->ids + (size_t)i * max_length;
        int len = (int)encoded[i].len;
        if (len > max_length) {
            len = max_length; /* encoded_text[:max_length] */
            ds->n_truncated++;
        }
        if (len) memcpy(row, encoded[i].data, (size_t)len * sizeof(int));
        for (int j = len; j < max_length; j++) row[j] = pad_id;
        ds->labels[i] = s->items[i].label;
        intvec_free(&encoded[i]);
    }
    free(encoded);
}

void spam_dataset_free(SpamDataset *ds) {
    free(ds->ids);
    free(ds->labels);
    *ds = (SpamDataset){0};
}

void spam_dataset_batch(const SpamDataset *ds, const int *indices, int n, int *ids, int *labels) {
    const size_t T = (size_t)ds->max_length;
    for (int b = 0; b < n; b++) {
        memcpy(ids + b * T, ds->ids + (size_t)indices[b] * T, T * sizeof(int));
        labels[b] = ds->labels[indices[b]];
    }
}
