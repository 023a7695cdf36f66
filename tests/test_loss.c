/* Tests for ch05_pretrain/loss.c: cross entropy against PyTorch's
 * F.cross_entropy (tests/fixtures/gpt_grads.bin, made by
 * tests/reference/gpt_grad_reference.py) and its gradient against finite
 * differences of a double-precision reference. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ch05_pretrain/loss.h"
#include "../common/rng.h"
#include "../common/tensor_file.h"
#include "gradient_check.h"
#include "test_helpers.h"

/* The mean cross entropy in double. */
typedef struct {
    double *logits;
    const int *targets;
    int N, V;
} CrossEntropyRef;

static double cross_entropy_ref(void *ctx) {
    const CrossEntropyRef *r = ctx;
    double total = 0.0;
    for (int i = 0; i < r->N; i++) {
        const double *x = r->logits + (size_t)i * r->V;
        double max = x[0], sum = 0.0;
        for (int j = 1; j < r->V; j++) max = fmax(max, x[j]);
        for (int j = 0; j < r->V; j++) sum += exp(x[j] - max);
        total += log(sum) + max - x[r->targets[i]];
    }
    return total / r->N;
}

/* The loss of the fixture's logits: PyTorch computed it in float32 with its
 * own summation order; one or two ulps of a value near 6 is 1e-6, so 1e-5
 * relative is a bound a wrong formula cannot meet. */
START_TEST(test_cross_entropy_matches_pytorch) {
    char *path = fixture_path("gpt_grads.bin");
    TensorFile fx = tensor_file_read(path);
    const Tensor *logits = tensor_file_expect(&fx, "logits", 3, (int[]){2, 16, 300});
    const Tensor *t = tensor_file_expect(&fx, "targets", 2, (int[]){2, 16});
    int targets[32];
    for (int i = 0; i < 32; i++) targets[i] = (int)t->data[i];
    float *probs = malloc(32 * 300 * sizeof(float)), losses[32];
    float loss = cross_entropy_forward(losses, probs, logits->data, targets, 32, 300);
    float want = tensor_file_find(&fx, "loss")->data[0];
    ck_assert_msg(close_enough(loss, want, 1e-5f, 0), "loss %.8g, PyTorch %.8g", loss, want);
    double mean = 0;
    for (int i = 0; i < 32; i++) mean += losses[i] / 32.0;
    ck_assert_double_eq_tol(mean, loss, 1e-5);
    for (int i = 0; i < 32; i++) {
        double sum = 0;
        for (int j = 0; j < 300; j++) sum += probs[i * 300 + j];
        ck_assert_double_eq_tol(sum, 1.0, 1e-5);
    }
    free(probs);
    tensor_file_free(&fx);
    free(path);
}
END_TEST

/* grad_logits against central differences of the double-precision loss. The
 * analytic gradient is a float32 softmax minus one-hot, divided by N: a few
 * ulps of values below 1/N, so 1e-5 of the scale holds. A logit of 60 makes
 * one row's softmax nearly one-hot, and one of -60 a probability near 0. */
START_TEST(test_cross_entropy_backward_matches_finite_differences) {
    enum { N = 4, V = 7 };
    Rng rng;
    rng_seed(&rng, 5);
    float logits[N * V], probs[N * V], grad_logits[N * V];
    double logits64[N * V], numeric[N * V];
    rng_fill_normal(&rng, logits, N * V, 0.0f, 2.0f);
    logits[3] = 60.0f;
    logits[2 * V + 1] = -60.0f;
    const int targets[N] = {3, 0, 6, 2};
    for (int i = 0; i < N * V; i++) logits64[i] = logits[i];
    cross_entropy_forward(NULL, probs, logits, targets, N, V);
    cross_entropy_backward(grad_logits, probs, targets, N, V);
    CrossEntropyRef ref = {logits64, targets, N, V};
    for (int i = 0; i < N * V; i++) numeric[i] = central_difference(&logits64[i], 1e-5, cross_entropy_ref, &ref);
    assert_gradient_close("grad_logits", grad_logits, numeric, N * V, 1e-5);
}
END_TEST

/* Huge logits must not overflow: the max is subtracted first. */
START_TEST(test_cross_entropy_is_stable) {
    float logits[2 * 3] = {1000.0f, 0.0f, -1000.0f, 88.0f, 89.0f, 90.0f}, probs[6], losses[2];
    const int targets[2] = {1, 2};
    float loss = cross_entropy_forward(losses, probs, logits, targets, 2, 3);
    ck_assert_float_eq_tol(losses[0], 1000.0f, 1e-3f);
    /* log(e^-2 + e^-1 + 1) */
    ck_assert_float_eq_tol(losses[1], (float)log(exp(-2.0) + exp(-1.0) + 1.0), 1e-6f);
    ck_assert_float_eq_tol(loss, (losses[0] + losses[1]) / 2, 1e-3f);
    ck_assert_float_eq(probs[0], 1.0f);
    ck_assert_float_eq(probs[2], 0.0f);
}
END_TEST

/* probs may be the logits buffer and grad_logits the probs buffer: a training
 * step then needs one (N,V) buffer. */
START_TEST(test_cross_entropy_in_place) {
    enum { N = 3, V = 5 };
    Rng rng;
    rng_seed(&rng, 8);
    float logits[N * V], probs[N * V], grad_logits[N * V], buffer[N * V];
    rng_fill_normal(&rng, logits, N * V, 0.0f, 1.0f);
    memcpy(buffer, logits, sizeof logits);
    const int targets[N] = {4, 0, 2};
    float loss = cross_entropy_forward(NULL, probs, logits, targets, N, V);
    cross_entropy_backward(grad_logits, probs, targets, N, V);
    float loss_in_place = cross_entropy_forward(NULL, buffer, buffer, targets, N, V);
    cross_entropy_backward(buffer, buffer, targets, N, V);
    ck_assert_float_eq(loss_in_place, loss);
    assert_all_close("in-place grad_logits", buffer, grad_logits, N * V, 0, 0);
}
END_TEST

START_TEST(test_target_outside_vocabulary_exits) {
    float logits[4] = {0}, probs[4];
    const int targets[2] = {1, 2};
    cross_entropy_forward(NULL, probs, logits, targets, 2, 2);
}
END_TEST

Suite *loss_suite(void) {
    Suite *s = suite_create("loss");
    TCase *tc = tcase_create("core");
    add_test(tc, test_cross_entropy_matches_pytorch);
    add_test(tc, test_cross_entropy_backward_matches_finite_differences);
    add_test(tc, test_cross_entropy_is_stable);
    add_test(tc, test_cross_entropy_in_place);
    add_exit_test(tc, test_target_outside_vocabulary_exits, 1);
    suite_add_tcase(s, tc);
    return s;
}
