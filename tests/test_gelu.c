/* Tests for ch04_gpt/gelu.c: values against PyTorch's fixture and the
 * derivative against central finite differences in double. */
#include <math.h>
#include <stdlib.h>

#include "../ch04_gpt/gelu.h"
#include "../common/tensor_file.h"
#include "test_helpers.h"

/* gelu_forward is a handful of float operations (x / (1 + e^(-2u)), with
 * exp_poly within 2 ulp), so 1e-6 relative (a few ulps) plus 1e-7 absolute
 * near zero is the bound; the fixture holds the float64 result rounded. */
START_TEST(test_gelu_matches_pytorch) {
    char *path = fixture_path("gpt_small.bin");
    TensorFile fx = tensor_file_read(path);
    const Tensor *in = tensor_file_expect(&fx, "gelu.in", 1, (int[]){1000});
    const Tensor *want = tensor_file_expect(&fx, "gelu.out", 1, (int[]){1000});
    float out[1000];
    gelu_forward(out, in->data, 1000);
    assert_all_close("gelu.out", out, want->data, 1000, 1e-6f, 1e-7f);
    tensor_file_free(&fx);
    free(path);
}
END_TEST

static double gelu_double(double x) { return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }

/* Both directions on a dense grid, every 1e-4 over [-12, 12], against
 * double: the forward within the bound above (the worst error measured on
 * 3.6 million floats in this range is 0.17 of it; tanhf's 0.5 x (1 +
 * tanh u) reached 0.77, losing digits where tanh u is near -1), the
 * derivative within 1e-6 plus 1e-6 relative (observed 2.5e-7). */
START_TEST(test_gelu_dense_grid_against_double) {
    enum { N = 240001 };
    float *x = malloc(N * sizeof(float)), *out = malloc(N * sizeof(float)), *grad_in = malloc(N * sizeof(float));
    float *grad_out = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++) x[i] = -12.0f + 1e-4f * i, grad_in[i] = 0.0f, grad_out[i] = 1.0f;
    gelu_forward(out, x, N);
    gelu_backward(grad_in, x, grad_out, N);
    const double c = sqrt(2 / M_PI);
    for (int i = 0; i < N; i++) {
        double xd = x[i], want = gelu_double(xd);
        ck_assert_msg(fabs(out[i] - want) <= 1e-7 + 1e-6 * fabs(want), "gelu(%a) = %.9g, want %.9g", x[i], out[i], want);
        double t = tanh(c * (xd + 0.044715 * xd * xd * xd));
        double slope = 0.5 * (1 + t) + 0.5 * xd * (1 - t * t) * c * (1 + 3 * 0.044715 * xd * xd);
        ck_assert_msg(fabs(grad_in[i] - slope) <= 1e-6 + 1e-6 * fabs(slope), "gelu'(%a) = %.9g, want %.9g", x[i], grad_in[i],
                      slope);
    }
    free(x), free(out), free(grad_in), free(grad_out);
}
END_TEST

START_TEST(test_gelu_backward_matches_finite_differences) {
    for (int i = -80; i <= 80; i++) {
        float x = i * 0.1f, grad_out = 1.5f, grad_in = 0.25f; /* accumulates onto 0.25 */
        gelu_backward(&grad_in, &x, &grad_out, 1);
        double h = 1e-5, numeric = (gelu_double(x + h) - gelu_double(x - h)) / (2 * h);
        ck_assert_msg(fabs((grad_in - 0.25) - 1.5 * numeric) <= 1e-5 + 1e-5 * fabs(numeric), "x = %g", x);
    }
}
END_TEST

Suite *gelu_suite(void) {
    Suite *s = suite_create("gelu");
    TCase *tc = tcase_create("core");
    add_test(tc, test_gelu_matches_pytorch);
    add_test(tc, test_gelu_dense_grid_against_double);
    add_test(tc, test_gelu_backward_matches_finite_differences);
    suite_add_tcase(s, tc);
    return s;
}
