/* Tests for common/matmul.c: sgemm against the plain triple loop. */
#include <math.h>
#include <stdlib.h>

#include "../common/matmul.h"
#include "../common/rng.h"
#include "test_helpers.h"

START_TEST(test_sgemm_matches_reference_small) {
    Rng rng;
    rng_seed(&rng, 1);
    const int M = 7, N = 5, K = 3;
    float A[7 * 3], B[3 * 5], C[7 * 5], R[7 * 5];
    rng_fill_uniform(&rng, A, 21, -1, 1);
    rng_fill_uniform(&rng, B, 15, -1, 1);
    sgemm(false, false, M, N, K, A, K, B, N, false, C, N);
    sgemm_reference(false, false, M, N, K, A, K, B, N, false, R, N);
    for (int i = 0; i < M * N; i++) ck_assert_float_eq_tol(C[i], R[i], 1e-5f);
}
END_TEST

Suite *matmul_suite(void) {
    Suite *s = suite_create("matmul");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_sgemm_matches_reference_small);
    suite_add_tcase(s, tc);
    return s;
}
