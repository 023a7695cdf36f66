/* Tests for ch05_pretrain/adamw.c: AdamW and clipping against PyTorch, and
 * appendix D's learning-rate schedule and training loop against the book's
 * code run in PyTorch (tests/fixtures/adamw.bin, from
 * tests/reference/adamw_reference.py) and the numbers appendix D prints.
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

/* D.3's worked example: G = [[1, 2], [2, 4]] has norm sqrt(25) = 5, so
 * max_norm 1 scales it by 1/5. PyTorch's clip_grad_norm_ (which ours
 * follows) divides by norm + 1e-6, which moves the result by 2e-7 of
 * itself: 1e-6 relative. */
START_TEST(test_clip_grad_norm_book_example) {
    float G[4] = {1, 2, 2, 4};
    const float book[4] = {0.2f, 0.4f, 0.4f, 0.8f};
    ck_assert_float_eq(clip_grad_norm(G, 4, 1.0f), 5.0f);
    assert_all_close("G'", G, book, 4, 1e-6f, 0);
}
END_TEST

/* D.2: the learning rate of every step of the book's run (15 epochs of 9
 * batches, 27 warm-up steps from 1e-4 to the peak 0.01, then a cosine down
 * to 1e-5), against the book's loop run in Python (appendix_d.d2_lrs).
 * Ours computes the warm-up in float and the cosine in double rounded to
 * float, a few roundings of 6e-8 each (measured: 1.2e-7 at worst): 1e-6
 * relative. One step off is 2e-4 of the value or more anywhere, and 20%
 * near the end. */
START_TEST(test_schedule_is_the_books) {
    TensorFile fx = read_fixture("adamw.bin");
    const Tensor *book = tensor_file_expect(&fx, "appendix_d.d2_lrs", 1, (int[]){135});
    LrSchedule s = {.initial_lr = 1e-4f, .peak_lr = 0.01f, .min_lr = 1e-5f, .warmup_steps = 27, .total_steps = 135};
    float lrs[135];
    for (long step = 0; step < 135; step++) lrs[step] = lr_at_step(&s, step);
    assert_all_close("D.2 learning rates", lrs, book->data, 135, 1e-6f, 0);
    tensor_file_free(&fx);
}
END_TEST

/* D.4's train_model, step for step: the learning rate by warm-up or
 * cosine (the book's final run: peak 0.001, initial and minimum 1e-5, 27
 * warm-up steps of 135), the gradient clipped to norm 1 from the end of the
 * warm-up on, then AdamW with weight decay 0.1, as train.c does it; against
 * PyTorch's torch.optim.AdamW and clip_grad_norm_ in the book's loop, on
 * seeded gradients (appendix_d.*). The parameters move by ~1e-3 a step;
 * clipping one step early or late moves them by 4e-3 by the end, a learning
 * rate one step off by 4e-4. Float32 rounding over 135 steps: measured
 * 7e-8 of their size at worst (they are between 0.1 and 1.2), and the
 * learning rates 2e-7: 1e-6 relative, as above. */
START_TEST(test_appendix_d_loop_matches_pytorch) {
    TensorFile fx = read_fixture("adamw.bin");
    enum { n = 8, steps = 135 };
    const Tensor *start = tensor_file_expect(&fx, "appendix_d.start", 1, (int[]){n});
    const Tensor *grads = tensor_file_expect(&fx, "appendix_d.grads", 2, (int[]){steps, n});
    const Tensor *lrs = tensor_file_expect(&fx, "appendix_d.lrs", 1, (int[]){steps});
    const Tensor *after = tensor_file_expect(&fx, "appendix_d.after", 2, (int[]){steps, n});
    LrSchedule schedule = {
        .initial_lr = 1e-5f, .peak_lr = 1e-3f, .min_lr = 1e-5f, .warmup_steps = 27, .total_steps = steps};
    AdamWConfig cfg = adamw_default_config(); /* weight decay 0.1 */
    AdamW opt;
    adamw_init(&opt, n);
    float params[n], grad[n];
    memcpy(params, start->data, sizeof params);
    for (long step = 0; step < steps; step++) {
        char what[48];
        float lr = lr_at_step(&schedule, step);
        snprintf(what, sizeof what, "the learning rate of step %ld", step);
        assert_all_close(what, &lr, lrs->data + step, 1, 1e-6f, 0);
        memcpy(grad, grads->data + step * n, sizeof grad);
        if (step >= schedule.warmup_steps) clip_grad_norm(grad, n, 1.0f);
        adamw_step(&opt, params, grad, &cfg, lr);
        snprintf(what, sizeof what, "after step %ld", step);
        assert_all_close(what, params, after->data + step * n, n, 1e-6f, 1e-7f);
    }
    adamw_free(&opt);
    tensor_file_free(&fx);
}
END_TEST

Suite *adamw_suite(void) {
    Suite *s = suite_create("adamw");
    TCase *tc = tcase_create("core");
    add_test(tc, test_adamw_matches_pytorch);
    add_test(tc, test_clip_grad_norm_matches_pytorch);
    add_test(tc, test_clip_grad_norm_book_example);
    add_test(tc, test_schedule_is_the_books);
    add_test(tc, test_appendix_d_loop_matches_pytorch);
    suite_add_tcase(s, tc);
    return s;
}
