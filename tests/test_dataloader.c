/* Tests for ch02_text/dataloader.c: the book's sample counts and batches. */
#include <stdlib.h>
#include <string.h>

#include "../ch02_text/bpe.h"
#include "../ch02_text/dataloader.h"
#include "../ch02_text/utf8.h"
#include "test_helpers.h"

static IntVec verdict_ids;

static void encode_verdict(void) {
    if (!have_data_file("the-verdict.txt") || !have_data_file("gpt2/encoder.json") || !have_data_file("gpt2/vocab.bpe"))
        return;
    char *path = data_file("the-verdict.txt");
    size_t len;
    char *text = read_text_file(path, &len);
    Bpe *bpe = bpe_load_gpt2();
    bpe_encode(bpe, text, len, false, &verdict_ids);
    bpe_free(bpe);
    free(text);
    free(path);
}

static void free_ids(void) { intvec_free(&verdict_ids); }

static int n_samples(int max_length, int stride) {
    TokenDataset ds;
    char err[128];
    ck_assert(dataset_init(&ds, verdict_ids.data, verdict_ids.len, max_length, stride, err, sizeof err));
    return ds.n_samples;
}

START_TEST(test_sample_counts_match_book) {
    ck_assert_uint_eq(verdict_ids.len, 5145);
    ck_assert_int_eq(n_samples(4, 1), 5141);
    ck_assert_int_eq(n_samples(4, 4), 1286);
    ck_assert_int_eq(n_samples(256, 128), 39);
}
END_TEST

START_TEST(test_first_batches_match_book) {
    TokenDataset ds;
    DataLoader dl;
    char err[128];
    ck_assert(dataset_init(&ds, verdict_ids.data, verdict_ids.len, 4, 1, err, sizeof err));
    ck_assert(loader_init(&dl, &ds, 1, false, false, 0, err, sizeof err));
    int x[4], y[4];
    ck_assert_int_eq(loader_next(&dl, x, y), 1);
    int want_x[] = {40, 367, 2885, 1464}, want_y[] = {367, 2885, 1464, 1807};
    ck_assert_int_eq(memcmp(x, want_x, sizeof x), 0);
    ck_assert_int_eq(memcmp(y, want_y, sizeof y), 0);
    ck_assert_int_eq(loader_next(&dl, x, y), 1);
    int want_x2[] = {367, 2885, 1464, 1807};
    ck_assert_int_eq(memcmp(x, want_x2, sizeof x), 0);
    loader_free(&dl);
}
END_TEST

START_TEST(test_batches_cover_every_sample_once) {
    TokenDataset ds;
    DataLoader dl;
    char err[128];
    ck_assert(dataset_init(&ds, verdict_ids.data, verdict_ids.len, 4, 4, err, sizeof err));
    for (int drop_last = 0; drop_last <= 1; drop_last++) {
        ck_assert(loader_init(&dl, &ds, 8, true, drop_last, 123, err, sizeof err));
        ck_assert_int_eq(dl.n_batches, drop_last ? 160 : 161); /* 1286 = 160 * 8 + 6 */
        int x[32], y[32], rows, total = 0, n_batches = 0;
        char *seen = calloc(ds.n_samples, 1);
        while ((rows = loader_next(&dl, x, y)) > 0) {
            n_batches++;
            total += rows;
            for (int r = 0; r < rows; r++) {
                /* a window starts at a multiple of the stride; find which
                 * (the text repeats some 4-token runs, so match the target too) */
                size_t start = (size_t)-1;
                for (int s = 0; s < ds.n_samples && start == (size_t)-1; s++)
                    if (!seen[s] && memcmp(verdict_ids.data + (size_t)s * 4, x + r * 4, 4 * sizeof(int)) == 0 &&
                        memcmp(verdict_ids.data + (size_t)s * 4 + 1, y + r * 4, 4 * sizeof(int)) == 0)
                        start = s;
                ck_assert(start != (size_t)-1);
                seen[start] = 1;
            }
        }
        ck_assert_int_eq(n_batches, dl.n_batches);
        ck_assert_int_eq(total, drop_last ? 1280 : 1286);
        free(seen);
        loader_free(&dl);
    }
}
END_TEST

START_TEST(test_shuffle_is_seeded_and_changes_per_epoch) {
    TokenDataset ds;
    DataLoader a, b;
    char err[128];
    ck_assert(dataset_init(&ds, verdict_ids.data, verdict_ids.len, 4, 4, err, sizeof err));
    ck_assert(loader_init(&a, &ds, 2, true, true, 7, err, sizeof err));
    ck_assert(loader_init(&b, &ds, 2, true, true, 7, err, sizeof err));
    ck_assert_int_eq(memcmp(a.order, b.order, ds.n_samples * sizeof(int)), 0);
    int *epoch1 = malloc(ds.n_samples * sizeof(int));
    memcpy(epoch1, a.order, ds.n_samples * sizeof(int));
    loader_reset(&a);
    ck_assert_int_ne(memcmp(a.order, epoch1, ds.n_samples * sizeof(int)), 0);
    free(epoch1);
    loader_free(&a);
    loader_free(&b);
}
END_TEST

START_TEST(test_bad_numbers_are_reported) {
    TokenDataset ds;
    DataLoader dl;
    char err[128];
    ck_assert(!dataset_init(&ds, verdict_ids.data, verdict_ids.len, 4, -1, err, sizeof err));
    ck_assert_str_eq(err, "stride must be at least 1 (got -1)");
    ck_assert(!dataset_init(&ds, verdict_ids.data, verdict_ids.len, 0, 1, err, sizeof err));
    ck_assert_str_eq(err, "max_length must be at least 1 (got 0)");
    /* a window needs max_length + 1 tokens (its targets are shifted by one) */
    ck_assert(!dataset_init(&ds, verdict_ids.data, verdict_ids.len, 5145, 1, err, sizeof err));
    ck_assert_str_eq(err, "max_length 5145 needs a text of more than 5145 tokens (it has 5145)");
    ck_assert(dataset_init(&ds, verdict_ids.data, verdict_ids.len, 256, 256, err, sizeof err));
    ck_assert(!loader_init(&dl, &ds, 0, false, false, 0, err, sizeof err));
    ck_assert_str_eq(err, "batch size must be at least 1 (got 0)");
    /* 5145 tokens at 256: 20 windows, none a full batch of 1000 */
    ck_assert(!loader_init(&dl, &ds, 1000, false, true, 0, err, sizeof err));
    ck_assert_str_eq(err, "20 samples make no full batch of 1000 (drop_last is on)");
}
END_TEST

Suite *dataloader_suite(void) {
    Suite *s = suite_create("dataloader");
    TCase *tc = tcase_create("verdict");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, encode_verdict, free_ids);
    tcase_add_checked_fixture(tc, require_verdict, NULL);
    tcase_add_checked_fixture(tc, require_gpt2_tokenizer, NULL);
    add_test(tc, test_sample_counts_match_book);
    add_test(tc, test_first_batches_match_book);
    add_test(tc, test_batches_cover_every_sample_once);
    add_test(tc, test_shuffle_is_seeded_and_changes_per_epoch);
    add_test(tc, test_bad_numbers_are_reported);
    suite_add_tcase(s, tc);
    return s;
}
