/* Tests for the cross entropy's ignore index (ch05_pretrain/loss.c), which
 * chapter 7's collate function relies on: the book's numbers of section 7.3,
 * and that an ignored position adds nothing to the loss or the gradient;
 * and exercise 7.2's prompts masked out of it. */
#include <math.h>
#include <string.h>

#include "../ch05_pretrain/loss.h"
#include "../ch06_finetune/instruction_data.h"
#include "../common/rng.h"
#include "gradient_check.h"
#include "test_helpers.h"

START_TEST(test_book_example_ignores_minus_100) {
    const float logits[6] = {-1.0f, 1.0f, -0.5f, 1.5f, -0.5f, 1.5f};
    float probs[6], losses[3];
    /* loss_1: two positions */
    float loss_1 = cross_entropy_forward(NULL, probs, logits, (const int[]){0, 1}, 2, 2);
    ck_assert_msg(fabsf(loss_1 - 1.1269f) < 5e-5f, "loss_1 %.6f, the book's 1.1269", loss_1);
    /* loss_2: a third position counts */
    float loss_2 = cross_entropy_forward(NULL, probs, logits, (const int[]){0, 1, 1}, 3, 2);
    ck_assert_msg(fabsf(loss_2 - 0.7936f) < 5e-5f, "loss_2 %.6f, the book's 0.7936", loss_2);
    /* loss_3: the third position ignored, the mean over the other two */
    float loss_3 = cross_entropy_forward(losses, probs, logits, (const int[]){0, 1, -100}, 3, 2);
    ck_assert_float_eq(loss_3, loss_1);
    ck_assert_float_eq(losses[2], 0.0f);
    /* exactly: (log(1 + e^-2) + log(1 + e^2)) / 2 */
    ck_assert_double_eq_tol(loss_3, (log1p(exp(-2.0)) + log1p(exp(2.0))) / 2, 1e-6);
}
END_TEST

/* The gradient: ignored rows are zero, the others are those of the loss
 * without the ignored rows (divided by the positions counted). */
START_TEST(test_ignored_rows_get_zero_gradient) {
    enum { N = 5, V = 6 };
    Rng rng;
    rng_seed(&rng, 11);
    float logits[N * V], probs[N * V], d[N * V];
    rng_fill_normal(&rng, logits, N * V, 0.0f, 2.0f);
    const int targets[N] = {3, -100, 0, -100, 5};
    float loss = cross_entropy_forward(NULL, probs, logits, targets, N, V);
    cross_entropy_backward(d, probs, targets, N, V);
    for (int j = 0; j < V; j++) {
        ck_assert_float_eq(d[1 * V + j], 0.0f);
        ck_assert_float_eq(d[3 * V + j], 0.0f);
    }
    /* the same three rows alone */
    float kept[3 * V], kept_probs[3 * V], kept_d[3 * V];
    const int rows[3] = {0, 2, 4}, kept_targets[3] = {3, 0, 5};
    for (int r = 0; r < 3; r++) memcpy(kept + r * V, logits + rows[r] * V, V * sizeof(float));
    float kept_loss = cross_entropy_forward(NULL, kept_probs, kept, kept_targets, 3, V);
    cross_entropy_backward(kept_d, kept_probs, kept_targets, 3, V);
    ck_assert_float_eq_tol(loss, kept_loss, 1e-6f);
    for (int r = 0; r < 3; r++) assert_all_close("grad_logits", d + rows[r] * V, kept_d + r * V, V, 1e-6f, 1e-7f);
    /* each row's gradient sums to zero, and in place works too */
    float buffer[N * V];
    memcpy(buffer, logits, sizeof logits);
    cross_entropy_forward(NULL, buffer, buffer, targets, N, V);
    cross_entropy_backward(buffer, buffer, targets, N, V);
    assert_all_close("in place", buffer, d, N * V, 0, 0);
}
END_TEST

/* Finite differences of a double-precision mean over the counted rows. */
typedef struct {
    double *logits;
    const int *targets;
    int N, V;
} Ref;

static double ref_loss(void *ctx) {
    const Ref *r = ctx;
    double total = 0.0;
    int counted = 0;
    for (int i = 0; i < r->N; i++) {
        if (r->targets[i] == -100) continue;
        const double *x = r->logits + (size_t)i * r->V;
        double max = x[0], sum = 0.0;
        for (int j = 1; j < r->V; j++) max = fmax(max, x[j]);
        for (int j = 0; j < r->V; j++) sum += exp(x[j] - max);
        total += log(sum) + max - x[r->targets[i]];
        counted++;
    }
    return total / counted;
}

START_TEST(test_ignore_index_gradient_matches_finite_differences) {
    enum { N = 4, V = 5 };
    Rng rng;
    rng_seed(&rng, 3);
    float logits[N * V], probs[N * V], d[N * V];
    double logits64[N * V], numeric[N * V];
    rng_fill_normal(&rng, logits, N * V, 0.0f, 1.5f);
    const int targets[N] = {-100, 2, 4, -100};
    for (int i = 0; i < N * V; i++) logits64[i] = logits[i];
    cross_entropy_forward(NULL, probs, logits, targets, N, V);
    cross_entropy_backward(d, probs, targets, N, V);
    Ref ref = {logits64, targets, N, V};
    for (int i = 0; i < N * V; i++) numeric[i] = central_difference(&logits64[i], 1e-5, ref_loss, &ref);
    assert_gradient_close("grad_logits", d, numeric, N * V, 1e-5);
}
END_TEST

/* Every position ignored: PyTorch's 0/0, NaN, and a zero gradient. */
/* Exercise 7.2's masking through the loss: a batch collated and then
 * masked (collate_mask_prompts) counts only the positions from each
 * prompt's last token on, up to the first end-of-text: the mean of those
 * positions' cross entropies, computed here in double from the logits;
 * unmasked, every position but the padding after the first counts. */
START_TEST(test_masked_prompts_leave_the_responses_loss) {
    enum { B = 2, V = 12, PAD = 11 };
    const int a[] = {1, 2, 3, 4, 5, 6}, b[] = {7, 8, 9, 10};
    const int *seqs[B] = {a, b};
    const int lengths[B] = {6, 4}, prompts[B] = {3, 2}; /* prompt tokens: 1 2 3 | 7 8 */
    const int T = collate_length(lengths, B, 0);
    int inputs[B * 6], targets[B * 6], masked[B * 6];
    collate_batch(seqs, lengths, B, T, PAD, inputs, targets);
    memcpy(masked, targets, sizeof targets);
    collate_mask_prompts(masked, B, T, prompts);
    Rng rng;
    rng_seed(&rng, 17);
    float logits[B * 6 * V], probs[B * 6 * V];
    rng_fill_normal(&rng, logits, B * T * V, 0.0f, 1.5f);
    /* the response's positions: a's 2.. (targets 4 5 6 PAD), b's 1.. (targets 9 10 PAD) */
    const int counted[][2] = {{0, 2}, {0, 3}, {0, 4}, {0, 5}, {1, 1}, {1, 2}, {1, 3}};
    double want = 0;
    for (size_t k = 0; k < sizeof counted / sizeof counted[0]; k++) {
        const int n = counted[k][0] * T + counted[k][1];
        const float *l = logits + (size_t)n * V;
        double max = l[0], sum = 0;
        for (int v = 1; v < V; v++) max = fmax(max, l[v]);
        for (int v = 0; v < V; v++) sum += exp(l[v] - max);
        want += log(sum) + max - l[targets[n]];
    }
    want /= (double)(sizeof counted / sizeof counted[0]);
    float loss = cross_entropy_forward(NULL, probs, logits, masked, B * T, V);
    ck_assert_msg(fabs(loss - want) < 1e-5, "masked loss %.7f, the responses' %.7f", loss, want);
    float unmasked = cross_entropy_forward(NULL, probs, logits, targets, B * T, V);
    ck_assert_msg(fabs(unmasked - want) > 1e-3, "masking changed nothing: %.7f", unmasked);
}
END_TEST

START_TEST(test_all_ignored_is_nan) {
    const float logits[4] = {1, 2, 3, 4};
    float probs[4], d[4];
    const int targets[2] = {-100, -100};
    ck_assert(isnan(cross_entropy_forward(NULL, probs, logits, targets, 2, 2)));
    cross_entropy_backward(d, probs, targets, 2, 2);
    for (int i = 0; i < 4; i++) ck_assert_float_eq(d[i], 0.0f);
}
END_TEST

/* Only -100 is special: another negative target is still an error. */
START_TEST(test_other_negative_target_exits) {
    const float logits[4] = {0};
    float probs[4];
    cross_entropy_forward(NULL, probs, logits, (const int[]){0, -1}, 2, 2);
}
END_TEST

Suite *ch06_loss_suite(void) {
    Suite *s = suite_create("ch06_loss");
    TCase *tc = tcase_create("ignore_index");
    add_test(tc, test_book_example_ignores_minus_100);
    add_test(tc, test_ignored_rows_get_zero_gradient);
    add_test(tc, test_ignore_index_gradient_matches_finite_differences);
    add_test(tc, test_masked_prompts_leave_the_responses_loss);
    add_test(tc, test_all_ignored_is_nan);
    add_exit_test(tc, test_other_negative_target_exits, 1);
    suite_add_tcase(s, tc);
    return s;
}
