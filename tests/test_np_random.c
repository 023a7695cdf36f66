/* Tests for common/np_random.c: NumPy's legacy stream, against numbers
 * NumPy 1.24 prints (np.random.RandomState(seed) ... in the comments). */
#include <stdlib.h>

#include "../common/np_random.h"
#include "test_helpers.h"

/* RandomState(seed).randint(0, 2**32, size=3, dtype=np.uint32): the raw
 * words. 5489 is MT19937's reference seed (its published first output
 * 3499211612); 123 is the book's. */
START_TEST(test_words_match_numpy) {
    const struct {
        uint32_t seed, words[3];
    } cases[] = {{5489, {3499211612u, 581869302u, 3890346734u}}, {123, {2991312382u, 3062119789u, 1228959102u}}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        NpRandomState rs;
        np_random_seed(&rs, cases[c].seed);
        for (int i = 0; i < 3; i++) ck_assert_uint_eq(np_random_u32(&rs), cases[c].words[i]);
    }
}
END_TEST

/* The whole 624-word state is used up and regenerated after 624 draws:
 * the stream goes on (no word repeats the first block's pattern) and stays
 * reproducible. */
START_TEST(test_stream_continues_past_one_block) {
    NpRandomState a, b;
    np_random_seed(&a, 123);
    np_random_seed(&b, 123);
    int equal_neighbours = 0;
    uint32_t prev = 0;
    for (int i = 0; i < 3 * 624; i++) {
        uint32_t x = np_random_u32(&a);
        ck_assert_uint_eq(x, np_random_u32(&b));
        equal_neighbours += i > 0 && x == prev;
        prev = x;
    }
    ck_assert_int_eq(equal_neighbours, 0);
}
END_TEST

static void check_permutation(uint32_t seed, int n, const int *head, int n_head, int at, const int *middle,
                              int n_middle) {
    NpRandomState rs;
    np_random_seed(&rs, seed);
    int *p = malloc((size_t)n * sizeof(int));
    char *seen = calloc((size_t)n, 1);
    np_random_permutation(&rs, p, n);
    for (int i = 0; i < n; i++) {
        ck_assert(p[i] >= 0 && p[i] < n && !seen[p[i]]);
        seen[p[i]] = 1;
    }
    for (int i = 0; i < n_head; i++) ck_assert_int_eq(p[i], head[i]);
    for (int i = 0; i < n_middle; i++) ck_assert_int_eq(p[at + i], middle[i]);
    free(seen);
    free(p);
}

/* RandomState(seed).permutation(n), at the sizes of the book's two draws:
 * the 4825 ham rows (of which sample(747) keeps the first 747) and the
 * 1494 balanced rows (sample(frac=1)). */
START_TEST(test_permutation_matches_numpy) {
    check_permutation(123, 10, (const int[]){4, 0, 7, 5, 8, 3, 1, 6, 9, 2}, 10, 0, NULL, 0);
    check_permutation(0, 5, (const int[]){2, 0, 1, 3, 4}, 5, 0, NULL, 0);
    check_permutation(123, 4825, (const int[]){3720, 3580, 4182, 3858, 4713}, 5, 742,
                      (const int[]){4073, 2852, 1086, 3530, 3865}, 5);
    check_permutation(123, 1494, (const int[]){263, 627, 887, 925, 1050}, 5, 1491, (const int[]){1346, 1406, 1389}, 3);
}
END_TEST

START_TEST(test_interval_stays_in_range) {
    NpRandomState rs;
    np_random_seed(&rs, 7);
    ck_assert_uint_eq(np_random_interval(&rs, 0), 0);
    int hits[6] = {0};
    for (int i = 0; i < 6000; i++) {
        uint32_t v = np_random_interval(&rs, 5);
        ck_assert_uint_le(v, 5);
        hits[v]++;
    }
    /* each of the 6 values about 1000 times (sd 29): all between 850 and 1150 */
    for (int v = 0; v < 6; v++) ck_assert_msg(hits[v] > 850 && hits[v] < 1150, "value %d drawn %d times", v, hits[v]);
}
END_TEST

Suite *np_random_suite(void) {
    Suite *s = suite_create("np_random");
    TCase *tc = tcase_create("core");
    add_test(tc, test_words_match_numpy);
    add_test(tc, test_stream_continues_past_one_block);
    add_test(tc, test_permutation_matches_numpy);
    add_test(tc, test_interval_stays_in_range);
    suite_add_tcase(s, tc);
    return s;
}
