/* Tests for ch05_pretrain/sampling.c: the book's toy logits of 5.3, and the
 * statistics of temperature, top-k and top-p sampling. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ch05_pretrain/sampling.h"
#include "../common/ops.h"
#include "test_helpers.h"

/* The book's next-token logits over a 9-word vocabulary
 * ("closer", "every", "effort", "forward", "inches", "moves", "pizza", "toward", "you"). */
static const float BOOK_LOGITS[9] = {4.51f, 0.89f, -1.90f, 6.75f, 1.63f, -1.62f, -1.89f, 6.28f, 1.79f};

START_TEST(test_top_k_matches_book) {
    float logits[9];
    memcpy(logits, BOOK_LOGITS, sizeof logits);
    top_k_filter(logits, 9, 3);
    for (int i = 0; i < 9; i++) {
        bool kept = i == 3 || i == 7 || i == 0; /* top-3 positions [3, 7, 0] */
        ck_assert(kept ? logits[i] == BOOK_LOGITS[i] : isinf(logits[i]) && logits[i] < 0);
    }
    float probs[9];
    softmax_rows(probs, logits, 1, 9);
    const float book[9] = {0.0615f, 0, 0, 0.5775f, 0, 0, 0, 0.3610f, 0};
    assert_all_close("top-3 softmax", probs, book, 9, 0, 5e-5f);
}
END_TEST

/* Ties with the k-th largest stay (logits < min_val is what goes); k <= 0 or
 * k >= V changes nothing. */
START_TEST(test_top_k_keeps_ties) {
    const float x[5] = {1.0f, 3.0f, -2.0f, 3.0f, 2.0f};
    float logits[5];
    memcpy(logits, x, sizeof logits);
    top_k_filter(logits, 5, 1);
    for (int i = 0; i < 5; i++) ck_assert(i == 1 || i == 3 ? logits[i] == x[i] : isinf(logits[i]) && logits[i] < 0);
    memcpy(logits, x, sizeof logits);
    top_k_filter(logits, 5, 3);
    for (int i = 0; i < 5; i++) ck_assert(i != 0 && i != 2 ? logits[i] == x[i] : isinf(logits[i]) && logits[i] < 0);
    for (int k = -1; k <= 6; k += 1) {
        if (k > 0 && k < 5) continue;
        memcpy(logits, x, sizeof logits);
        top_k_filter(logits, 5, k);
        ck_assert_mem_eq(logits, x, sizeof x);
    }
}
END_TEST

START_TEST(test_temperature_zero_is_greedy) {
    Sampler s = {.temperature = 0.0f, .top_k = 3, .top_p = 1.0f, .eos_id = -1};
    rng_seed(&s.rng, 1);
    float logits[9];
    memcpy(logits, BOOK_LOGITS, sizeof logits);
    ck_assert_int_eq(sample_next_token(&s, logits, 9), 3); /* "forward" */
}
END_TEST

/* Sampled frequencies follow softmax(logits / T): with 20000 draws each
 * frequency is within 0.01 (about 3 standard deviations) of its probability. */
static void check_frequencies(float temperature, int top_k, float top_p, const float *want) {
    Sampler s = {.temperature = temperature, .top_k = top_k, .top_p = top_p, .eos_id = -1};
    rng_seed(&s.rng, 123);
    int counts[9] = {0};
    const int draws = 20000;
    for (int d = 0; d < draws; d++) {
        float logits[9];
        memcpy(logits, BOOK_LOGITS, sizeof logits);
        counts[sample_next_token(&s, logits, 9)]++;
    }
    for (int i = 0; i < 9; i++)
        ck_assert_msg(fabs(counts[i] / (double)draws - want[i]) < 0.01, "T=%g k=%d p=%g: token %d drawn %.4f, want %.4f",
                      temperature, top_k, top_p, i, counts[i] / (double)draws, want[i]);
}

START_TEST(test_sampling_frequencies) {
    float probs[9], scaled[9];
    softmax_rows(probs, BOOK_LOGITS, 1, 9);
    check_frequencies(1.0f, 0, 1.0f, probs);
    for (int i = 0; i < 9; i++) scaled[i] = BOOK_LOGITS[i] / 5.0f;
    softmax_rows(probs, scaled, 1, 9);
    check_frequencies(5.0f, 0, 1.0f, probs);
    const float top3[9] = {0.0615f, 0, 0, 0.5775f, 0, 0, 0, 0.3610f, 0};
    check_frequencies(1.0f, 3, 1.0f, top3);
    /* top-p 0.9: "forward" (0.57) and "toward" (0.36) already reach 0.9 */
    softmax_rows(probs, BOOK_LOGITS, 1, 9);
    float nucleus[9] = {0};
    nucleus[3] = probs[3] / (probs[3] + probs[7]);
    nucleus[7] = probs[7] / (probs[3] + probs[7]);
    check_frequencies(1.0f, 0, 0.9f, nucleus);
}
END_TEST

/* Exercise 5.1: softmax_with_temperature at T = 5 against the formula in
 * double, and the book's scaled_probas[2][6], "pizza": tensor(0.0430). */
START_TEST(test_softmax_with_temperature) {
    float probas[9];
    softmax_with_temperature(probas, BOOK_LOGITS, 9, 5.0f);
    double z = 0, want[9];
    for (int i = 0; i < 9; i++) z += exp(BOOK_LOGITS[i] / 5.0);
    for (int i = 0; i < 9; i++) want[i] = exp(BOOK_LOGITS[i] / 5.0) / z;
    for (int i = 0; i < 9; i++) ck_assert_msg(fabs(probas[i] - want[i]) < 1e-6, "%d: %g, want %g", i, probas[i], want[i]);
    ck_assert_msg(fabs(probas[6] - 0.0430) < 5e-5, "pizza: %g, the book prints 0.0430", probas[6]);
    /* in place, as sample_next_token uses it */
    float logits[9];
    memcpy(logits, BOOK_LOGITS, sizeof logits);
    softmax_with_temperature(logits, logits, 9, 5.0f);
    ck_assert_mem_eq(logits, probas, sizeof probas);
}
END_TEST

/* torch.multinomial: never a token of probability 0, and the only token of probability 1. */
START_TEST(test_multinomial_draw) {
    Rng rng;
    rng_seed(&rng, 7);
    const float one_hot[5] = {0, 0, 1, 0, 0}, two[5] = {0, 0.5f, 0, 0.5f, 0};
    int seen[5] = {0};
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(multinomial_draw(&rng, one_hot, 5), 2);
        seen[multinomial_draw(&rng, two, 5)]++;
    }
    ck_assert(seen[0] == 0 && seen[2] == 0 && seen[4] == 0 && seen[1] > 400 && seen[3] > 400);
}
END_TEST

Suite *sampling_suite(void) {
    Suite *s = suite_create("sampling");
    TCase *tc = tcase_create("core");
    add_test(tc, test_top_k_matches_book);
    add_test(tc, test_top_k_keeps_ties);
    add_test(tc, test_temperature_zero_is_greedy);
    add_test(tc, test_sampling_frequencies);
    add_test(tc, test_softmax_with_temperature);
    add_test(tc, test_multinomial_draw);
    suite_add_tcase(s, tc);
    return s;
}
