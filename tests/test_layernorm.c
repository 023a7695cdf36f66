/* Tests for ch04_gpt/layernorm.c against the fixture's float64 reference
 * (tests/fixtures/gpt_small.bin). Its rows include one with mean 5 and
 * standard deviation 0.01, where a float32 mean would lose 9 bits to
 * cancellation (PyTorch's float32 layer norm is 5e-5 off there); ours
 * accumulates in double, so 1e-5 relative plus 1e-5 absolute holds. */
#include <math.h>
#include <stdlib.h>

#include "../ch04_gpt/layernorm.h"
#include "../common/tensor_file.h"
#include "test_helpers.h"

START_TEST(test_layernorm_matches_pytorch) {
    char *path = fixture_path("gpt_small.bin");
    TensorFile fx = tensor_file_read(path);
    const Tensor *in = tensor_file_expect(&fx, "layernorm.in", 2, (int[]){4, 64});
    const Tensor *want = tensor_file_expect(&fx, "layernorm.out", 2, (int[]){4, 64});
    float out[4 * 64], mean[4], rstd[4];
    layernorm_forward(out, mean, rstd, in->data, tensor_file_find(&fx, "layernorm.scale")->data,
                      tensor_file_find(&fx, "layernorm.shift")->data, 4, 64);
    assert_all_close("layernorm.out", out, want->data, 4 * 64, 1e-5f, 1e-5f);
    for (int r = 0; r < 4; r++) {
        double m = 0;
        for (int c = 0; c < 64; c++) m += in->data[r * 64 + c];
        ck_assert_double_eq_tol(mean[r], m / 64, 1e-4 * fabs(m / 64) + 1e-6);
        ck_assert(isfinite(rstd[r]) && rstd[r] > 0);
    }
    tensor_file_free(&fx);
    free(path);
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

Suite *layernorm_suite(void) {
    Suite *s = suite_create("layernorm");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_layernorm_matches_pytorch);
    tcase_add_test(tc, test_layernorm_normalises_rows);
    suite_add_tcase(s, tc);
    return s;
}
