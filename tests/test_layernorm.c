/* Tests for ch04_gpt/layernorm.c against the fixture's float64 reference
 * (tests/fixtures/gpt_small.bin). Its rows include one with mean 5 and
 * standard deviation 0.01, where a float32 mean would lose 9 bits to
 * cancellation (PyTorch's float32 layer norm is 5e-5 off there); ours
 * accumulates in double, so 1e-5 relative plus 1e-5 absolute holds. */
#include <math.h>
#include <stdlib.h>

#include "../ch04_gpt/layernorm.h"
#include "../common/rng.h"
#include "../common/tensor_file.h"
#include "gradient_check.h"
#include "test_helpers.h"

/* PyTorch's LayerNorm(64) on a (4, 64) input (tests/fixtures/gpt_small.bin):
 * runs layernorm_forward on it. The input and PyTorch's output point into
 * fx, which the test frees. */
typedef struct {
    TensorFile fx;
    const float *in, *want;
    float out[4 * 64], mean[4], rstd[4];
} LayerNormCase;

static void run_layernorm_fixture(LayerNormCase *t) {
    char *path = fixture_path("gpt_small.bin");
    t->fx = tensor_file_read(path);
    free(path);
    t->in = tensor_file_expect(&t->fx, "layernorm.in", 2, (int[]){4, 64})->data;
    t->want = tensor_file_expect(&t->fx, "layernorm.out", 2, (int[]){4, 64})->data;
    layernorm_forward(t->out, t->mean, t->rstd, t->in, tensor_file_find(&t->fx, "layernorm.scale")->data,
                      tensor_file_find(&t->fx, "layernorm.shift")->data, 4, 64);
}

START_TEST(test_layernorm_matches_pytorch) {
    LayerNormCase t;
    run_layernorm_fixture(&t);
    assert_all_close("layernorm.out", t.out, t.want, 4 * 64, 1e-5f, 1e-5f);
    for (int r = 0; r < 4; r++) {
        double m = 0;
        for (int c = 0; c < 64; c++) m += t.in[r * 64 + c];
        ck_assert_double_eq_tol(t.mean[r], m / 64, 1e-4 * fabs(m / 64) + 1e-6);
        ck_assert(isfinite(t.rstd[r]) && t.rstd[r] > 0);
    }
    tensor_file_free(&t.fx);
}
END_TEST

/* The same fixture at a bound that a layer norm in float32 (as PyTorch's)
 * also meets: on the mean-5 row a float mean is some 1e-6 off, which
 * dividing by the standard deviation 0.01 makes 1e-4 (up to 1.7e-4 seen
 * with a plain two-pass float loop). 5e-4 relative plus 5e-4 absolute
 * leaves room for other summation orders, and a real mistake still shows
 * (the unbiased variance is 0.8% off, eps left out 10% on that row, a
 * missing scale or shift far more). mean and rstd are what the backward
 * pass reads. */
START_TEST(test_layernorm_matches_pytorch_in_float) {
    LayerNormCase t;
    run_layernorm_fixture(&t);
    assert_all_close("layernorm.out", t.out, t.want, 4 * 64, 5e-4f, 5e-4f);
    for (int r = 0; r < 4; r++) {
        const float *x = t.in + r * 64;
        double m = 0, v = 0;
        for (int c = 0; c < 64; c++) m += x[c] / 64.0;
        for (int c = 0; c < 64; c++) v += (x[c] - m) * (x[c] - m) / 64.0;
        ck_assert_double_eq_tol(t.mean[r], m, 1e-4 * fabs(m) + 1e-6);
        ck_assert_double_eq_tol(t.rstd[r], 1 / sqrt(v + LAYERNORM_EPS), 1e-3 / sqrt(v + LAYERNORM_EPS));
    }
    tensor_file_free(&t.fx);
}
END_TEST

START_TEST(test_layernorm_normalises_rows) {
    float in[2 * 6] = {1, 2, 3, 4, 5, 6, -10, 0, 10, 20, 30, 40}, out[12];
    float ones[6] = {1, 1, 1, 1, 1, 1}, zeros[6] = {0};
    layernorm_forward(out, NULL, NULL, in, ones, zeros, 2, 6);
    for (int r = 0; r < 2; r++) {
        float m = 0, v = 0;
        for (int c = 0; c < 6; c++) m += out[r * 6 + c] / 6;
        for (int c = 0; c < 6; c++) v += (out[r * 6 + c] - m) * (out[r * 6 + c] - m) / 6;
        ck_assert_float_eq_tol(m, 0.0f, 1e-6f);
        ck_assert_float_eq_tol(v, 1.0f, 1e-4f); /* biased variance; eps makes it just under 1 */
    }
}
END_TEST

/* ---- the gradient ---------------------------------------------------------------- */

/* loss = sum(layernorm(in) * G), all in double. */
typedef struct {
    double *in, *scale, *shift;
    const double *G;
    int N, C;
} LayerNormRef;

static double layernorm_ref_loss(void *ctx) {
    const LayerNormRef *r = ctx;
    double loss = 0.0;
    for (int i = 0; i < r->N; i++) {
        const double *x = r->in + (size_t)i * r->C;
        double mean = 0.0, var = 0.0;
        for (int c = 0; c < r->C; c++) mean += x[c] / r->C;
        for (int c = 0; c < r->C; c++) var += (x[c] - mean) * (x[c] - mean) / r->C;
        double rstd = 1.0 / sqrt(var + LAYERNORM_EPS);
        for (int c = 0; c < r->C; c++)
            loss += ((x[c] - mean) * rstd * r->scale[c] + r->shift[c]) * r->G[(size_t)i * r->C + c];
    }
    return loss;
}

/* Against central differences of a double-precision layer norm (h = 1e-5:
 * exact to ~1e-9). The float32 backward rounds each of its few operations
 * per element, so 1e-4 of the gradient's scale holds with room, while a
 * wrong term (say, the unbiased variance's C-1) is off by 1e-2 and more.
 * The rows have means far from 0 and different spreads; grad_in, grad_scale and
 * grad_shift accumulate onto what is there. */
START_TEST(test_layernorm_backward_matches_finite_differences) {
    enum { N = 4, C = 8 };
    Rng rng;
    rng_seed(&rng, 11);
    float in[N * C], scale[C], shift[C], G[N * C], out[N * C], mean[N], rstd[N];
    float grad_in[N * C], grad_scale[C], grad_shift[C];
    double in64[N * C], scale64[C], shift64[C], G64[N * C], numeric[N * C];
    rng_fill_normal(&rng, in, N * C, 0, 1);
    for (int c = 0; c < C; c++) {
        in[c] = 3.0f + 0.1f * in[c];  /* row 0: mean 3, spread 0.1 */
        in[C + c] *= 5.0f;           /* row 1: spread 5 */
    }
    rng_fill_normal(&rng, scale, C, 1, 0.3f);
    rng_fill_normal(&rng, shift, C, 0, 0.3f);
    rng_fill_normal(&rng, G, N * C, 0, 1);
    for (int i = 0; i < N * C; i++) in64[i] = in[i], G64[i] = G[i], grad_in[i] = 0.25f;
    for (int c = 0; c < C; c++) scale64[c] = scale[c], shift64[c] = shift[c], grad_scale[c] = grad_shift[c] = 0.25f;
    layernorm_forward(out, mean, rstd, in, scale, shift, N, C);
    layernorm_backward(grad_in, grad_scale, grad_shift, G, in, mean, rstd, scale, N, C);
    for (int i = 0; i < N * C; i++) grad_in[i] -= 0.25f;
    for (int c = 0; c < C; c++) grad_scale[c] -= 0.25f, grad_shift[c] -= 0.25f;

    LayerNormRef ref = {in64, scale64, shift64, G64, N, C};
    for (int i = 0; i < N * C; i++) numeric[i] = central_difference(&in64[i], 1e-5, layernorm_ref_loss, &ref);
    assert_gradient_close("grad_in", grad_in, numeric, N * C, 1e-4);
    for (int c = 0; c < C; c++) numeric[c] = central_difference(&scale64[c], 1e-5, layernorm_ref_loss, &ref);
    assert_gradient_close("grad_scale", grad_scale, numeric, C, 1e-4);
    for (int c = 0; c < C; c++) numeric[c] = central_difference(&shift64[c], 1e-5, layernorm_ref_loss, &ref);
    assert_gradient_close("grad_shift", grad_shift, numeric, C, 1e-4);
}
END_TEST

Suite *layernorm_suite(void) {
    Suite *s = suite_create("layernorm");
    TCase *tc = tcase_create("core");
    add_test(tc, test_layernorm_matches_pytorch);
    add_test(tc, test_layernorm_matches_pytorch_in_float);
    add_test(tc, test_layernorm_normalises_rows);
    add_test(tc, test_layernorm_backward_matches_finite_differences);
    suite_add_tcase(s, tc);
    return s;
}
