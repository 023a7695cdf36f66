/* fuzz_spam_csv.c: chapter 6's CSV reading: the SMS Spam Collection
 * (tab-separated, pandas' quoting) and the Label,Text files of the splits.
 *
 * The input is parsed four ways; each must either succeed or return false
 * with a message (exiting, crashing or leaking fails):
 *   - as a table of 2 tab-separated and of 3 comma-separated columns: the
 *     cells written back with csv_append_field parse to the same table;
 *   - as the SMS collection: its messages written as the Label,Text CSV
 *     read back as the same labels and texts, and balancing and splitting
 *     them (when there is no more spam than ham) keeps every message;
 *   - as a Label,Text file directly.
 * Cells are compared as C strings: a NUL byte ends what the programs see. */
#include <stdint.h>
#include <string.h>

#include "../../ch06_finetune/csv.h"
#include "../../ch06_finetune/spam_data.h"
#include "property.h"

static void check_table_round_trip(const char *x, size_t n, char delimiter, int n_cols) {
    CsvTable t, back;
    char err[256] = "";
    if (!csv_parse(x, n, delimiter, n_cols, &t, err, sizeof err)) {
        PROPERTY(err[0] != '\0' && t.n_rows == 0 && t.cells == NULL);
        return;
    }
    ByteBuf out = {0};
    bytebuf_append(&out, "", 0);
    for (int r = 0; r < t.n_rows; r++) {
        for (int c = 0; c < n_cols; c++) {
            if (c) bytebuf_append(&out, &delimiter, 1);
            csv_append_field(&out, csv_cell(&t, r, c), delimiter);
        }
        bytebuf_append(&out, "\n", 1);
    }
    PROPERTY(csv_parse(out.data, out.len, delimiter, n_cols, &back, err, sizeof err));
    PROPERTY(back.n_rows == t.n_rows);
    for (int r = 0; r < t.n_rows; r++)
        for (int c = 0; c < n_cols; c++) PROPERTY(strcmp(csv_cell(&back, r, c), csv_cell(&t, r, c)) == 0);
    csv_free(&back);
    bytebuf_free(&out);
    csv_free(&t);
}

static bool same_texts(const TextSet *a, const TextSet *b) {
    if (a->n != b->n) return false;
    for (int i = 0; i < a->n; i++)
        if (a->items[i].label != b->items[i].label || strcmp(a->items[i].text, b->items[i].text) != 0) return false;
    return true;
}

static void check_splits(const TextSet *all) {
    int n_spam = textset_count(all, LABEL_SPAM);
    if (n_spam > all->n - n_spam) return; /* sms_balance refuses (and exits) */
    TextSet balanced = sms_balance(all, 123), train, val, test;
    PROPERTY(balanced.n == 2 * n_spam && textset_count(&balanced, LABEL_SPAM) == n_spam);
    textset_split(&balanced, 0.7, 0.1, 123, &train, &val, &test);
    PROPERTY(train.n + val.n + test.n == balanced.n);
    textset_free(&train);
    textset_free(&val);
    textset_free(&test);
    textset_free(&balanced);
}

static void check_sms(const char *x, size_t n) {
    TextSet all, back;
    char err[256] = "";
    if (!sms_parse_collection(x, n, &all, err, sizeof err)) {
        PROPERTY(err[0] != '\0' && all.n == 0 && all.items == NULL);
        return;
    }
    for (int i = 0; i < all.n; i++) PROPERTY(all.items[i].label == LABEL_HAM || all.items[i].label == LABEL_SPAM);
    ByteBuf csv = {0};
    textset_format_csv(&all, &csv);
    PROPERTY(textset_parse_csv(csv.data, csv.len, &back, err, sizeof err));
    PROPERTY(same_texts(&all, &back));
    check_splits(&all);
    textset_free(&back);
    bytebuf_free(&csv);
    textset_free(&all);
}

static void check_label_text_csv(const char *x, size_t n) {
    TextSet s;
    char err[256] = "";
    if (textset_parse_csv(x, n, &s, err, sizeof err)) {
        for (int i = 0; i < s.n; i++) PROPERTY(s.items[i].label == LABEL_HAM || s.items[i].label == LABEL_SPAM);
        textset_free(&s);
    } else {
        PROPERTY(err[0] != '\0' && s.n == 0 && s.items == NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *x = size ? (const char *)data : ""; /* never offset a null pointer */
    check_table_round_trip(x, size, '\t', 2);
    check_table_round_trip(x, size, ',', 3);
    check_sms(x, size);
    check_label_text_csv(x, size);
    return 0;
}
