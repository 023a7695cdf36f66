/* Tests for ch03_attention/attention.c against the book's numbers and the
 * PyTorch fixture tests/fixtures/attention_ch03.bin
 * (tests/reference/attention_reference.py).
 *
 * Tolerance: the sums here have at most 64 terms of order 1, and PyTorch
 * adds them in another order, so float32 results differ by a few ulps
 * (~1e-7 relative); 1e-5 relative plus 1e-6 absolute (for values near 0)
 * leaves room without hiding a real error, which is of order 1e-2 or more. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ch03_attention/attention.h"
#include "../common/ops.h"
#include "../common/tensor_file.h"
#include "test_helpers.h"

#define REL 1e-5f
#define ABS 1e-6f

static TensorFile fx;
static void load_fixture(void) {
    char *path = fixture_path("attention_ch03.bin");
    fx = tensor_file_read(path);
    free(path);
}
static void free_fixture(void) { tensor_file_free(&fx); }

static const float *get(const char *name) {
    const Tensor *t = tensor_file_find(&fx, name);
    ck_assert_msg(t != NULL, "fixture has no %s", name);
    return t->data;
}

START_TEST(test_simple_attention_book_numbers) {
    float context[18], weights[36];
    simple_attention(context, weights, get("x"), 6, 3);
    assert_all_close("simple.weights", weights, get("simple.weights"), 36, REL, ABS);
    assert_all_close("simple.context", context, get("simple.context"), 18, REL, ABS);
    /* the book prints z(2) = [0.4419, 0.6515, 0.5683] */
    const float book_z2[3] = {0.4419f, 0.6515f, 0.5683f};
    assert_all_close("book z2", context + 3, book_z2, 3, 0, 5e-5f);
    float scores[36];
    attention_scores(scores, get("x"), get("x"), 6, 3);
    assert_all_close("simple.scores", scores, get("simple.scores"), 36, REL, ABS);
}
END_TEST

START_TEST(test_self_attention_v1_and_v2) {
    float out[12], weights[36];
    self_attention_forward(out, weights, get("x"), get("sa_v1.W_query"), get("sa_v1.W_key"), get("sa_v1.W_value"), 6, 3,
                           2, false);
    assert_all_close("sa_v1.out", out, get("sa_v1.out"), 12, REL, ABS);
    self_attention_forward(out, weights, get("x"), get("sa_v2.W_query"), get("sa_v2.W_key"), get("sa_v2.W_value"), 6, 3,
                           2, false);
    assert_all_close("sa_v2.out", out, get("sa_v2.out"), 12, REL, ABS);
    /* 3.5.1: renormalising the masked weights gives the causal weights ... */
    causal_mask_renormalize(weights, 6);
    assert_all_close("renormalised causal weights", weights, get("causal.weights"), 36, REL, ABS);
    /* ... and so does masking the scores with -inf before softmax */
    self_attention_forward(out, weights, get("x"), get("sa_v2.W_query"), get("sa_v2.W_key"), get("sa_v2.W_value"), 6, 3,
                           2, true);
    assert_all_close("-inf causal weights", weights, get("causal.weights"), 36, REL, ABS);
}
END_TEST

START_TEST(test_causal_attention_and_wrapper) {
    float out[2 * 6 * 4];
    const float *one_head[3] = {get("causal.W_query"), get("causal.W_key"), get("causal.W_value")};
    multihead_wrapper_forward(out, get("batch"), one_head, 2, 6, 3, 2, 1);
    assert_all_close("causal.out", out, get("causal.out"), 24, REL, ABS);
    const float *two_heads[6] = {get("wrapper.head0.W_query"), get("wrapper.head0.W_key"), get("wrapper.head0.W_value"),
                                 get("wrapper.head1.W_query"), get("wrapper.head1.W_key"), get("wrapper.head1.W_value")};
    multihead_wrapper_forward(out, get("batch"), two_heads, 2, 6, 3, 2, 2);
    assert_all_close("wrapper.out", out, get("wrapper.out"), 48, REL, ABS);
}
END_TEST

static void run_mha(const char *prefix, const float *x, int B, int T, int d_in, int d_out, int n_heads, bool bias) {
    char name[64];
#define FX(suffix) (snprintf(name, sizeof name, "%s.%s", prefix, suffix), get(name))
    MultiHeadAttentionParams p = {FX("qkv.weight"), bias ? FX("qkv.bias") : NULL, FX("out_proj.weight"),
                                  FX("out_proj.bias")};
    size_t n = (size_t)B * T;
    MultiHeadAttentionCache cache = {malloc(n * 3 * d_out * sizeof(float)),
                                     malloc((size_t)B * n_heads * T * T * sizeof(float)), malloc(n * d_out * sizeof(float))};
    float *out = malloc(n * d_out * sizeof(float));
    multihead_attention_forward(out, &cache, x, &p, B, T, d_in, d_out, n_heads);
    assert_all_close(prefix, out, FX("out"), n * d_out, REL, ABS);
#undef FX
    /* every attention row sums to one and is zero above the diagonal */
    for (int r = 0; r < B * n_heads * T; r++) {
        float sum = 0;
        for (int s = 0; s < T; s++) {
            float w = cache.att[(size_t)r * T + s];
            if (s > r % T) ck_assert_float_eq(w, 0.0f);
            sum += w;
        }
        ck_assert_float_eq_tol(sum, 1.0f, 1e-5f);
    }
    free(out);
    free(cache.qkv);
    free(cache.att);
    free(cache.context);
}

START_TEST(test_multihead_attention_module) {
    run_mha("mha", get("batch"), 2, 6, 3, 2, 2, false);
    /* the book prints the first sequence's first row as [0.3190, 0.4858] */
    run_mha("mha64", get("mha64.x"), 2, 32, 64, 64, 4, true);
}
END_TEST

/* 3.6: the wrapper of heads and the fused module are the same computation:
 * fuse the wrapper's head weights into one qkv matrix, make the output
 * projection the identity, and the outputs agree. */
START_TEST(test_wrapper_equals_fused_module) {
    const int d_in = 3, head_dim = 2, n_heads = 2, d_out = 4;
    float qkv_weight[3 * 12] = {0}, identity[16] = {0}, zero_bias[4] = {0};
    const char *kinds[3] = {"W_query", "W_key", "W_value"};
    for (int h = 0; h < n_heads; h++)
        for (int k = 0; k < 3; k++) {
            char name[64];
            snprintf(name, sizeof name, "wrapper.head%d.%s", h, kinds[k]);
            const float *w = get(name);
            for (int i = 0; i < d_in; i++)
                for (int j = 0; j < head_dim; j++) qkv_weight[i * 12 + k * d_out + h * head_dim + j] = w[i * head_dim + j];
        }
    for (int i = 0; i < 4; i++) identity[i * 5] = 1.0f;
    MultiHeadAttentionParams p = {qkv_weight, NULL, identity, zero_bias};
    float qkv[12 * 12], att[2 * 2 * 36], context[48], out[48];
    MultiHeadAttentionCache cache = {qkv, att, context};
    multihead_attention_forward(out, &cache, get("batch"), &p, 2, 6, d_in, d_out, n_heads);
    assert_all_close("fused module vs wrapper", out, get("wrapper.out"), 48, REL, ABS);
}
END_TEST

START_TEST(test_dropout_scales_survivors) {
    Rng rng;
    rng_seed(&rng, 123);
    const long n = 10000;
    float *x = malloc(n * sizeof(float)), *mask = malloc(n * sizeof(float));
    for (long i = 0; i < n; i++) x[i] = 1.0f;
    dropout_forward(x, mask, n, 0.5f, &rng);
    long kept = 0;
    for (long i = 0; i < n; i++) {
        ck_assert(x[i] == 0.0f || x[i] == 2.0f);
        ck_assert_float_eq(mask[i], x[i]);
        kept += x[i] != 0.0f;
    }
    /* binomial(10000, 0.5): standard deviation 50, so +-300 is 6 sigma */
    ck_assert_int_gt(kept, 4700);
    ck_assert_int_lt(kept, 5300);
    for (long i = 0; i < n; i++) x[i] = 3.0f;
    dropout_forward(x, mask, n, 0.0f, &rng); /* p = 0 (evaluation) changes nothing */
    for (long i = 0; i < n; i++) ck_assert(x[i] == 3.0f && mask[i] == 1.0f);
    free(x);
    free(mask);
}
END_TEST

START_TEST(test_masks_agree_on_random_scores) {
    Rng rng;
    rng_seed(&rng, 9);
    const int T = 17;
    float scores[17 * 17], a[17 * 17], b[17 * 17];
    rng_fill_normal(&rng, scores, T * T, 0, 3);
    softmax_rows(a, scores, T, T);
    causal_mask_renormalize(a, T);
    causal_mask_fill_inf(scores, T);
    softmax_rows(b, scores, T, T);
    assert_all_close("renormalise vs -inf", a, b, T * T, 1e-5f, 1e-7f);
}
END_TEST

Suite *attention_suite(void) {
    Suite *s = suite_create("attention");
    TCase *tc = tcase_create("pytorch");
    tcase_add_unchecked_fixture(tc, load_fixture, free_fixture);
    tcase_add_test(tc, test_simple_attention_book_numbers);
    tcase_add_test(tc, test_self_attention_v1_and_v2);
    tcase_add_test(tc, test_causal_attention_and_wrapper);
    tcase_add_test(tc, test_multihead_attention_module);
    tcase_add_test(tc, test_wrapper_equals_fused_module);
    tcase_add_test(tc, test_dropout_scales_survivors);
    tcase_add_test(tc, test_masks_agree_on_random_scores);
    suite_add_tcase(s, tc);
    return s;
}
