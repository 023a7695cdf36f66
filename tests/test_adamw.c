/* Tests for ch05_pretrain/adamw.c: AdamW and clipping against PyTorch
 * (tests/fixtures/adamw.bin from tests/reference/adamw_reference.py) and the
 * learning-rate schedule against appendix D's numbers.
 *
 * Tolerance: each AdamW step is a handful of float32 operations per element,
 * so after 10 steps parameters agree with PyTorch's to a few ulps of their
 * size; 1e-6 relative plus 1e-7 absolute. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ch05_pretrain/adamw.h"
#include "../common/tensor_file.h"
#include "test_helpers.h"

START_TEST(test_adamw_matches_pytorch) {
    char *path = fixture_path("adamw.bin");
    TensorFile fx = tensor_file_read(path);
    const Tensor *start = tensor_file_expect(&fx, "adamw.start", 1, (int[]){37});
    const Tensor *grads = tensor_file_expect(&fx, "adamw.grads", 2, (int[]){10, 37});
    const Tensor *after = tensor_file_expect(&fx, "adamw.after", 2, (int[]){10, 37});
    float params[37];
    memcpy(params, start->data, sizeof params);
    AdamW opt;
    adamw_init(&opt, 37);
    AdamWConfig cfg = adamw_default_config();
    ck_assert_float_eq(cfg.beta1, 0.9f);
    ck_assert_float_eq(cfg.eps, 1e-8f);
    for (int step = 0; step < 10; step++) {
        adamw_step(&opt, params, grads->data + step * 37, &cfg, 0.01f);
        char what[32];
        snprintf(what, sizeof what, "after step %d", step + 1);
        assert_all_close(what, params, after->data + step * 37, 37, 1e-6f, 1e-7f);
    }
    ck_assert_int_eq(opt.step, 10);
    adamw_free(&opt);
    tensor_file_free(&fx);
    free(path);
}
END_TEST

START_TEST(test_clip_grad_norm_matches_pytorch) {
    char *path = fixture_path("adamw.bin");
    TensorFile fx = tensor_file_read(path);
    float g[37];
    memcpy(g, tensor_file_expect(&fx, "clip.grad", 1, (int[]){37})->data, sizeof g);
    float norm = clip_grad_norm(g, 37, 1.0f);
    ck_assert_float_eq_tol(norm, tensor_file_find(&fx, "clip.norm")->data[0], 1e-5f * norm);
    assert_all_close("clipped", g, tensor_file_find(&fx, "clip.clipped")->data, 37, 1e-6f, 1e-8f);
    /* a gradient already inside the bound is left alone */
    float small[3] = {0.1f, 0.2f, -0.2f};
    clip_grad_norm(small, 3, 1.0f);
    ck_assert(small[0] == 0.1f && small[1] == 0.2f && small[2] == -0.2f);
    tensor_file_free(&fx);
    free(path);
}
END_TEST

/* Appendix D: 15 epochs of 9 batches with 20% warm-up = 27 warm-up steps,
 * from 1e-4 up to the peak 0.01, then a cosine down to 0.1 * initial. */
START_TEST(test_schedule_warmup_and_cosine) {
    long total = 15 * 9, warmup = (long)(0.2 * total);
    ck_assert_int_eq(warmup, 27);
    LrSchedule s = {.initial_lr = 1e-4f, .peak_lr = 0.01f, .min_lr = 1e-5f, .warmup_steps = warmup, .total_steps = total};
    ck_assert_float_eq_tol(lr_at_step(&s, 0), 1e-4f, 1e-9f);
    ck_assert_float_eq_tol(lr_at_step(&s, 1), 1e-4f + (0.01f - 1e-4f) / 27, 1e-8f);
    ck_assert_float_eq_tol(lr_at_step(&s, 27), 0.01f, 1e-7f);
    ck_assert_float_eq_tol(lr_at_step(&s, 27 + 54), (0.01f + 1e-5f) / 2, 1e-7f); /* half way down the cosine */
    ck_assert_float_eq_tol(lr_at_step(&s, total), 1e-5f, 1e-9f);
    for (long step = 28; step <= total; step++) ck_assert(lr_at_step(&s, step) <= lr_at_step(&s, step - 1));
}
END_TEST

Suite *adamw_suite(void) {
    Suite *s = suite_create("adamw");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_adamw_matches_pytorch);
    tcase_add_test(tc, test_clip_grad_norm_matches_pytorch);
    tcase_add_test(tc, test_schedule_warmup_and_cosine);
    suite_add_tcase(s, tc);
    return s;
}
