/* Tests for common/ops.c. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../common/ops.h"
#include "test_helpers.h"

/* The book's 3.3.1 example: softmax of the attention scores of "journey";
 * the book prints four decimals, so 5e-5 is its rounding. */
START_TEST(test_softmax_matches_book) {
    float scores[6] = {0.9544f, 1.4950f, 1.4754f, 0.8434f, 0.7070f, 1.0865f};
    float want[6] = {0.1385f, 0.2379f, 0.2333f, 0.1240f, 0.1082f, 0.1581f};
    float got[6];
    softmax_rows(got, scores, 1, 6);
    float sum = 0;
    for (int i = 0; i < 6; i++) {
        ck_assert_float_eq_tol(got[i], want[i], 5e-5f);
        sum += got[i];
    }
    ck_assert_float_eq_tol(sum, 1.0f, 1e-6f);
}
END_TEST

START_TEST(test_softmax_is_stable_and_handles_masks) {
    float x[2][3] = {{1000.0f, 1000.0f, -INFINITY}, {-INFINITY, -INFINITY, -INFINITY}};
    float y[2][3];
    softmax_rows(&y[0][0], &x[0][0], 2, 3);
    ck_assert_float_eq(y[0][0], 0.5f);
    ck_assert_float_eq(y[0][1], 0.5f);
    ck_assert_float_eq(y[0][2], 0.0f);
    for (int i = 0; i < 3; i++) ck_assert_float_eq(y[1][i], 0.0f);
}
END_TEST

/* softmax_scaled is softmax_rows' kernel, the one attention's fast rows
 * call: softmax of scale * x in place, against the formula in double; a
 * masked (-inf) score anywhere in a row gets exactly 0 from softmax_rows. */
START_TEST(test_softmax_scaled_and_masks_anywhere) {
    float x[5] = {0.5f, -1.25f, 3.0f, 0.0f, 2.0f}, want[5];
    const float scale = 0.7f;
    double sum = 0.0;
    for (int i = 0; i < 5; i++) sum += exp(scale * (double)x[i]);
    for (int i = 0; i < 5; i++) want[i] = (float)(exp(scale * (double)x[i]) / sum);
    softmax_scaled(x, 5, scale);
    for (int i = 0; i < 5; i++) ck_assert_float_eq_tol(x[i], want[i], 1e-6f);
    float masked[5] = {-INFINITY, 1.0f, -INFINITY, 1.0f, -INFINITY}, y[5];
    softmax_rows(y, masked, 1, 5);
    for (int i = 0; i < 5; i++) ck_assert_float_eq(y[i], i % 2 ? 0.5f : 0.0f);
}
END_TEST

START_TEST(test_dot_add_scale_argmax) {
    float a[19], b[19], c[19];
    double want = 0;
    for (int i = 0; i < 19; i++) {
        a[i] = (float)i * 0.5f;
        b[i] = 1.0f - (float)i * 0.1f;
        want += (double)a[i] * b[i];
    }
    ck_assert_float_eq_tol(vec_dot(a, b, 19), (float)want, 1e-4f);
    vec_add(c, a, b, 19);
    ck_assert_float_eq(c[3], a[3] + b[3]);
    vec_scale(c, 2.0f, 19);
    ck_assert_float_eq(c[3], 2 * (a[3] + b[3]));
    float ties[4] = {1, 3, 3, 2};
    ck_assert_int_eq(vec_argmax(ties, 4), 1);
}
END_TEST

/* exp_poly against exp in double on every 61st float of its range
 * [-87, 88] (36 million values; every float, checked once, is within 1.22
 * ulp), within 2 ulp of the correctly rounded result; and its edges. */
START_TEST(test_exp_poly_within_two_ulp) {
    double worst = 0.0;
    float worst_at = 0.0f;
    for (int sign = 0; sign < 2; sign++) {
        const float bound = sign ? -87.0f : 88.0f;
        uint32_t last;
        memcpy(&last, &bound, sizeof last);
        for (uint32_t bits = (uint32_t)sign << 31; bits <= last; bits += 61) {
            float z;
            memcpy(&z, &bits, sizeof z);
            double want = exp((double)z);
            float rounded = (float)want;
            double ulp = (double)nextafterf(rounded, INFINITY) - rounded;
            double err = fabs(exp_poly(z) - want) / ulp;
            if (err > worst) worst = err, worst_at = z;
        }
    }
    ck_assert_msg(worst <= 2.0, "exp_poly is %.2f ulp off at %a", worst, worst_at);
    ck_assert_float_eq(exp_poly(0.0f), 1.0f);
    ck_assert_float_eq(exp_poly(-0.0f), 1.0f);
    /* clamped to [-87, 88]: no overflow or underflow, NaN stays NaN */
    ck_assert_float_eq(exp_poly(-INFINITY), exp_poly(-87.0f));
    ck_assert_float_eq(exp_poly(-1000.0f), exp_poly(-87.0f));
    ck_assert_float_eq(exp_poly(INFINITY), exp_poly(88.0f));
    ck_assert(isfinite(exp_poly(88.0f)) && exp_poly(-87.0f) >= 1.17549435e-38f);
    ck_assert(isnan(exp_poly(NAN)));
}
END_TEST

Suite *ops_suite(void) {
    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("core");
    add_test(tc, test_softmax_matches_book);
    add_test(tc, test_softmax_is_stable_and_handles_masks);
    add_test(tc, test_softmax_scaled_and_masks_anywhere);
    add_test(tc, test_dot_add_scale_argmax);
    add_test(tc, test_exp_poly_within_two_ulp);
    suite_add_tcase(s, tc);
    return s;
}
