/* Tests for common/rng.c. */
#include <math.h>
#include <stdlib.h>

#include "../common/rng.h"
#include "test_helpers.h"

START_TEST(test_same_seed_same_stream) {
    Rng a, b, c;
    rng_seed(&a, 123);
    rng_seed(&b, 123);
    rng_seed(&c, 124);
    int same_as_other_seed = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = rng_next_u64(&a);
        ck_assert_uint_eq(x, rng_next_u64(&b));
        same_as_other_seed += x == rng_next_u64(&c);
    }
    ck_assert_int_eq(same_as_other_seed, 0);
}
END_TEST

/* With n = 100000 draws the sample mean of U(0,1) has standard deviation
 * 0.29/sqrt(n) = 0.0009 and that of N(0,1) 0.0032; the bounds below are
 * about 5 sigma, so the test is deterministic in practice (and seeded). */
START_TEST(test_uniform_and_normal_moments) {
    Rng rng;
    rng_seed(&rng, 7);
    const int n = 100000;
    double sum = 0, sum_n = 0, sum_n2 = 0;
    for (int i = 0; i < n; i++) {
        float u = rng_uniform(&rng);
        ck_assert(u >= 0.0f && u < 1.0f);
        sum += u;
        float z = rng_normal(&rng);
        ck_assert(isfinite(z));
        sum_n += z;
        sum_n2 += (double)z * z;
    }
    ck_assert_double_eq_tol(sum / n, 0.5, 0.005);
    ck_assert_double_eq_tol(sum_n / n, 0.0, 0.016);
    ck_assert_double_eq_tol(sum_n2 / n, 1.0, 0.03);
}
END_TEST

START_TEST(test_below_stays_in_range_and_hits_all) {
    Rng rng;
    rng_seed(&rng, 1);
    int seen[7] = {0};
    for (int i = 0; i < 7000; i++) {
        uint64_t k = rng_below(&rng, 7);
        ck_assert_uint_lt(k, 7);
        seen[k]++;
    }
    for (int k = 0; k < 7; k++) ck_assert_int_gt(seen[k], 800);
}
END_TEST

START_TEST(test_shuffle_is_a_permutation) {
    Rng rng;
    rng_seed(&rng, 5);
    int items[100], count[100] = {0};
    for (int i = 0; i < 100; i++) items[i] = i;
    rng_shuffle(&rng, items, 100);
    int moved = 0;
    for (int i = 0; i < 100; i++) {
        count[items[i]]++;
        moved += items[i] != i;
    }
    for (int i = 0; i < 100; i++) ck_assert_int_eq(count[i], 1);
    ck_assert_int_gt(moved, 90);
}
END_TEST

Suite *rng_suite(void) {
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("core");
    add_test(tc, test_same_seed_same_stream);
    add_test(tc, test_uniform_and_normal_moments);
    add_test(tc, test_below_stays_in_range_and_hits_all);
    add_test(tc, test_shuffle_is_a_permutation);
    suite_add_tcase(s, tc);
    return s;
}
