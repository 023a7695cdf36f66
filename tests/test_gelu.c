/* Tests for ch04_gpt/gelu.c: values against PyTorch's fixture and the
 * derivative against central finite differences in double. */
#include <math.h>
#include <stdlib.h>

#include "../ch04_gpt/gelu.h"
#include "../common/tensor_file.h"
#include "test_helpers.h"

/* tanhf and expf are correctly rounded to within an ulp or two, so 1e-6
 * relative (a few ulps) plus 1e-7 absolute near zero is the bound. */
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

START_TEST(test_gelu_backward_matches_finite_differences) {
    for (int i = -80; i <= 80; i++) {
        float x = i * 0.1f, d_out = 1.5f, d_in = 0.25f; /* accumulates onto 0.25 */
        gelu_backward(&d_in, &x, &d_out, 1);
        double h = 1e-5, numeric = (gelu_double(x + h) - gelu_double(x - h)) / (2 * h);
        ck_assert_msg(fabs((d_in - 0.25) - 1.5 * numeric) <= 1e-5 + 1e-5 * fabs(numeric), "x = %g", x);
    }
}
END_TEST

Suite *gelu_suite(void) {
    Suite *s = suite_create("gelu");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_gelu_matches_pytorch);
    tcase_add_test(tc, test_gelu_backward_matches_finite_differences);
    suite_add_tcase(s, tc);
    return s;
}
