/* Tests for ch04_gpt/generate.c: greedy generation reproduces PyTorch's
 * tokens (the smallest top-1/top-2 logit gap along the fixture's sequence is
 * 1.3e-3, far above float32 error, so the ids must match exactly), with and
 * without the KV cache, including past the context length. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ch04_gpt/generate.h"
#include "test_helpers.h"


static TensorFile fx;
static void load_fixture(void) { fx = read_fixture("gpt_small.bin"); }
static void free_fixture(void) { tensor_file_free(&fx); }

static void check_generation(bool tied, bool use_cache, const char *expected) {
    GPTModel *m = gpt_from_fixture(&fx, tied, 0.1f);
    const Tensor *prompt = tensor_file_expect(&fx, "generate.prompt", 2, (int[]){1, 5});
    const Tensor *want = tensor_file_expect(&fx, expected, 2, (int[]){1, 45});
    int ids[45];
    for (int i = 0; i < 5; i++) ids[i] = (int)prompt->data[i];
    int n = generate_greedy(m, ids, 5, 40, use_cache, NULL, NULL);
    ck_assert_int_eq(n, 45);
    for (int i = 0; i < 45; i++)
        ck_assert_msg(ids[i] == (int)want->data[i], "%s (%s cache): token %d is %d, PyTorch %d", expected,
                      use_cache ? "with" : "without", i, ids[i], (int)want->data[i]);
    gpt_free(m);
}

START_TEST(test_greedy_without_cache_matches_pytorch) { check_generation(false, false, "generate.out"); }
END_TEST

START_TEST(test_greedy_with_cache_matches_pytorch) { check_generation(false, true, "generate.out"); }
END_TEST

START_TEST(test_tied_generation_matches_pytorch) {
    check_generation(true, false, "generate_tied.out");
    check_generation(true, true, "generate_tied.out");
}
END_TEST

/* The cached step's logits equal the full forward's at every position. */
START_TEST(test_cached_logits_equal_full_forward) {
    GPTModel *m = gpt_from_fixture(&fx, false, 0.1f);
    int ids[32];
    for (int i = 0; i < 32; i++) ids[i] = (int)tensor_file_find(&fx, "input_ids")->data[i];
    gpt_forward(m, ids, 1, 32); /* the batch's two rows as one 32-token sequence */
    float *full = malloc(32 * 300 * sizeof(float));
    memcpy(full, m->logits, 32 * 300 * sizeof(float));
    KVCache *kv = kv_cache_create(&m->config);
    for (int t = 0; t < 32; t++) {
        const float *logits = gpt_forward_cached(m, kv, ids[t]);
        char what[32];
        snprintf(what, sizeof what, "position %d", t);
        assert_all_close(what, logits, full + t * 300, 300, 1e-5f, 2e-5f);
    }
    ck_assert_int_eq(kv->length, 32);
    kv_cache_free(kv);
    free(full);
    gpt_free(m);
}
END_TEST

/* A prompt run in one prefill, then one token at a time: every position's
 * logits equal the full forward's, and the model's activations of the last
 * step are one token's. */
START_TEST(test_prefill_then_steps_equal_full_forward) {
    GPTModel *m = gpt_from_fixture(&fx, true, 0.1f);
    int ids[32];
    for (int i = 0; i < 32; i++) ids[i] = (int)tensor_file_find(&fx, "input_ids")->data[i];
    gpt_forward(m, ids, 1, 32);
    float *full = malloc(32 * 300 * sizeof(float));
    memcpy(full, m->logits, 32 * 300 * sizeof(float));
    KVCache *kv = kv_cache_create(&m->config);
    const float *logits = gpt_prefill(m, kv, ids, 20);
    assert_all_close("prefill, all positions", m->logits, full, 20 * 300, 1e-5f, 2e-5f);
    ck_assert_ptr_eq(logits, m->logits + 19 * 300);
    for (int t = 20; t < 32; t++) {
        char what[32];
        snprintf(what, sizeof what, "position %d", t);
        assert_all_close(what, gpt_forward_cached(m, kv, ids[t]), full + t * 300, 300, 1e-5f, 2e-5f);
        ck_assert_int_eq(m->B * m->T, 1);
        ck_assert_int_eq(m->past, t);
    }
    ck_assert_int_eq(kv->length, 32);
    /* a new prefill starts the cache over */
    gpt_prefill(m, kv, ids, 3);
    ck_assert_int_eq(kv->length, 3);
    assert_all_close("prefill again", m->logits, full, 3 * 300, 1e-5f, 2e-5f);
    kv_cache_free(kv);
    free(full);
    gpt_free(m);
}
END_TEST

/* A cached step keeps nothing to go back through. */
START_TEST(test_backward_after_cached_step_exits) {
    GPTModel *m = gpt_from_fixture(&fx, false, 0.1f);
    KVCache *kv = kv_cache_create(&m->config);
    gpt_prefill(m, kv, (int[]){1, 2}, 2);
    float *grad_logits = gpt_forward_cached(m, kv, 3);
    gpt_backward(m, grad_logits);
}
END_TEST

START_TEST(test_full_cache_exits) {
    GPTModel *m = gpt_from_fixture(&fx, false, 0.1f);
    KVCache *kv = kv_cache_create(&m->config);
    for (int t = 0; t <= 32; t++) gpt_forward_cached(m, kv, 1);
}
END_TEST

Suite *generate_suite(void) {
    Suite *s = suite_create("generate");
    TCase *tc = tcase_create("pytorch");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, load_fixture, free_fixture);
    add_test(tc, test_greedy_without_cache_matches_pytorch);
    add_test(tc, test_greedy_with_cache_matches_pytorch);
    add_test(tc, test_tied_generation_matches_pytorch);
    add_test(tc, test_cached_logits_equal_full_forward);
    add_test(tc, test_prefill_then_steps_equal_full_forward);
    add_exit_test(tc, test_full_cache_exits, 1);
    add_exit_test(tc, test_backward_after_cached_step_exits, 1);
    suite_add_tcase(s, tc);
    return s;
}
