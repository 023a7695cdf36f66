/* Tests for ch02_text/bpe_train.c: the book's "BPE from scratch". */
#include <stdlib.h>
#include <string.h>

#include "../ch02_text/bpe.h"
#include "../ch02_text/bpe_train.h"
#include "../ch02_text/utf8.h"
#include "test_helpers.h"

static char *verdict;
static size_t verdict_len;
static BpeMerges merges; /* trained once, in the parent */

static void train_on_verdict(void) {
    if (!have_data_file("the-verdict.txt")) return;
    char *path = data_file("the-verdict.txt");
    verdict = read_text_file(path, &verdict_len);
    free(path);
    merges = bpe_train(verdict, verdict_len, 1000);
}

static void free_training(void) {
    bpe_merges_free(&merges);
    free(verdict);
}

static bool same_bytes(const char *a, int na, const char *b, size_t nb) { return (size_t)na == nb && memcmp(a, b, nb) == 0; }

/* The book's trainer reaches 742 merges at vocabulary 1000: its base
 * vocabulary holds chr(0)..chr(255) *and* "Ġ" for the space, 258 entries.
 * Working on bytes, the space byte is "Ġ", so the base is 257 entries (256
 * bytes and <|endoftext|>) and vocabulary 1000 leaves room for one merge
 * more. The first 742 must be exactly the book's
 * (tests/reference/bpe_book_reference.py). */
START_TEST(test_merges_match_the_book) {
    ck_assert_int_eq(merges.n_merges, 743);
    FixtureLines f = fixture_lines("bpe_verdict_1000.txt");
    ck_assert_int_eq(f.count, 742);
    for (int i = 0; i < f.count; i++) {
        char *space = strchr(f.lines[i], ' ');
        char *left, *right;
        size_t nl, nr;
        ck_assert(hex_decode(f.lines[i], space - f.lines[i], &left, &nl));
        ck_assert(hex_decode(space + 1, strlen(space + 1), &right, &nr));
        int l = merges.pairs[i][0], r = merges.pairs[i][1];
        ck_assert_msg(same_bytes(merges.token_bytes[l], merges.token_len[l], left, nl) &&
                          same_bytes(merges.token_bytes[r], merges.token_len[r], right, nr),
                      "merge %d differs from the book's", i);
        free(left);
        free(right);
    }
    fixture_lines_free(&f);
}
END_TEST

START_TEST(test_saved_files_load_and_round_trip) {
    char *dir = make_temp_dir();
    char *out = path_join(dir, "verdict-bpe");
    bpe_train_save(&merges, out);
    Bpe *bpe = bpe_load_dir(out);
    ck_assert_int_eq(bpe_vocab_size(bpe), 1000);
    ck_assert_int_eq(bpe_n_merges(bpe), 743);
    ck_assert_int_eq(bpe_eot_id(bpe), 999);
    const char *text = "Jack embraced beauty through art and life.";
    IntVec ids = {0};
    bpe_encode(bpe, text, strlen(text), false, &ids);
    ck_assert_uint_lt(ids.len, strlen(text)); /* merges were used */
    ByteBuf back = {0};
    ck_assert(bpe_decode(bpe, ids.data, ids.len, &back, NULL));
    ck_assert_str_eq(back.data, text);
    /* the whole training text round-trips too */
    ids.len = back.len = 0;
    bpe_encode(bpe, verdict, verdict_len, false, &ids);
    ck_assert(bpe_decode(bpe, ids.data, ids.len, &back, NULL));
    ck_assert_uint_eq(back.len, verdict_len);
    ck_assert_int_eq(memcmp(back.data, verdict, verdict_len), 0);
    bytebuf_free(&back);
    intvec_free(&ids);
    bpe_free(bpe);
    remove_tree(dir);
    free(out);
    free(dir);
}
END_TEST

START_TEST(test_small_vocabularies) {
    BpeMerges none = bpe_train("aaaa", 4, 257);
    ck_assert_int_eq(none.n_merges, 0);
    bpe_merges_free(&none);
    /* "aaaa": (a,a) occurs 3 times (overlapping, as the book counts) and
     * becomes "aa" twice; (aa,aa) occurs once, is still merged (as in the
     * book), and then the text is one token */
    BpeMerges m = bpe_train("aaaa", 4, 300);
    ck_assert_int_eq(m.n_merges, 2);
    ck_assert_int_eq(m.token_len[256], 2);
    ck_assert_int_eq(m.token_len[257], 4);
    bpe_merges_free(&m);
}
END_TEST

START_TEST(test_unicode_text_trains_on_bytes) {
    const char *text = "日本語 日本語 日本語 ünïcödé ünïcödé";
    BpeMerges m = bpe_train(text, strlen(text), 400);
    ck_assert_int_gt(m.n_merges, 5);
    /* every merged token is made of whole earlier tokens */
    for (int i = 0; i < m.n_merges; i++) {
        int l = m.pairs[i][0], r = m.pairs[i][1];
        ck_assert_int_lt(l, 256 + i);
        ck_assert_int_lt(r, 256 + i);
        ck_assert_int_eq(m.token_len[256 + i], m.token_len[l] + m.token_len[r]);
    }
    bpe_merges_free(&m);
}
END_TEST

START_TEST(test_too_small_vocabulary_exits) { bpe_train("abc", 3, 100); }
END_TEST

Suite *bpe_train_suite(void) {
    Suite *s = suite_create("bpe_train");
    TCase *tc = tcase_create("verdict");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, train_on_verdict, free_training);
    tcase_add_checked_fixture(tc, require_verdict, NULL);
    add_test(tc, test_merges_match_the_book);
    add_test(tc, test_saved_files_load_and_round_trip);
    suite_add_tcase(s, tc);
    TCase *small = tcase_create("small");
    add_test(small, test_small_vocabularies);
    add_test(small, test_unicode_text_trains_on_bytes);
    add_exit_test(small, test_too_small_vocabulary_exits, 1);
    suite_add_tcase(s, small);
    return s;
}
