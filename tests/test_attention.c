/* Tests for ch03_attention/attention.c (the book's sections, plain) and
 * attention_fast.c (the fast version, held to the plain one), against the
 * numbers the book's notebook prints and the PyTorch fixture
 * tests/fixtures/attention_ch03.bin (tests/reference/attention_reference.py),
 * whose weights are the ones the book's seeds give.
 *
 * Tolerance: the sums here have at most 64 terms of order 1, and PyTorch
 * adds them in another order, so float32 results differ by a few ulps
 * (~1e-7 relative); 1e-5 relative plus 1e-6 absolute (for values near 0)
 * leaves room without hiding a real error, which is of order 1e-2 or more.
 * The book prints four decimals: its numbers hold to half the last digit,
 * 5e-5, plus 1e-6 for float rounding. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ch03_attention/attention.h"
#include "../common/ops.h"
#include "../common/tensor_file.h"
#include "gradient_check.h"
#include "test_helpers.h"

#define REL 1e-5f
#define ABS 1e-6f
#define BOOK_TOL 5.1e-5f

static TensorFile fx;
static void load_fixture(void) { fx = read_fixture("attention_ch03.bin"); }
static void free_fixture(void) { tensor_file_free(&fx); }

static const float *get(const char *name) { return fixture_tensor(&fx, name)->data; }

/* Both sequences of a batch of two copies against the book's (T,d) printout. */
static void assert_book_batch(const char *what, const float *got, const float *book, int T, int d) {
    assert_all_close(what, got, book, (size_t)T * d, 0, BOOK_TOL);
    assert_all_close(what, got + (size_t)T * d, book, (size_t)T * d, 0, BOOK_TOL);
}

/* 3.3: the inputs are queries, keys and values; no weights, so the book's
 * numbers come out exactly (to its four decimals). */
START_TEST(test_simple_attention_book_numbers) {
    float context[18], weights[36];
    simple_attention(context, weights, get("x"), 6, 3);
    assert_all_close("simple.weights", weights, get("simple.weights"), 36, REL, ABS);
    assert_all_close("simple.context", context, get("simple.context"), 18, REL, ABS);
    float scores[36];
    attention_scores(scores, get("x"), get("x"), 6, 3);
    assert_all_close("simple.scores", scores, get("simple.scores"), 36, REL, ABS);
    /* 3.3.1, one query: the book's weights and z(2) for "journey", and the
     * second row of 3.3.2's all-at-once version */
    const float book_weights_2[6] = {0.1385f, 0.2379f, 0.2333f, 0.1240f, 0.1082f, 0.1581f};
    const float book_z2[3] = {0.4419f, 0.6515f, 0.5683f};
    float weights_2[6], z2[3];
    simple_context_vector(z2, weights_2, get("x"), 1, 6, 3);
    assert_all_close("book attn_weights_2", weights_2, book_weights_2, 6, 0, BOOK_TOL);
    assert_all_close("book z2", z2, book_z2, 3, 0, BOOK_TOL);
    assert_all_close("z2 vs row 2 of 3.3.2", z2, context + 3, 3, REL, ABS);
    assert_all_close("weights_2 vs row 2 of 3.3.2", weights_2, weights + 6, 6, REL, ABS);
}
END_TEST

/* 3.4 with the book's seeded weights: torch.manual_seed(123) draws 3.4.1's
 * W_query, W_key, W_value, and again SelfAttention_v1's (the fixture's
 * sa_v1.*); SelfAttention_v2 is seeded 789. */
START_TEST(test_self_attention_book_numbers) {
    const float *x = get("x"), *Wq = get("sa_v1.W_query"), *Wk = get("sa_v1.W_key"), *Wv = get("sa_v1.W_value");
    /* 3.4.1 step by step, for the query x(2) */
    const float book_query_2[2] = {0.4306f, 1.4551f};
    const float book_scores_2[6] = {1.2705f, 1.8524f, 1.8111f, 1.0795f, 0.5577f, 1.5440f};
    const float book_weights_2[6] = {0.1500f, 0.2264f, 0.2199f, 0.1311f, 0.0906f, 0.1820f};
    const float book_context_2[2] = {0.3061f, 0.8210f};
    float query_2[2], keys[12], values[12], scores_2[6], weights_2[6], context_2[2];
    linear_projection(query_2, x + 3, Wq, NULL, 1, 3, 2);
    assert_all_close("book query_2", query_2, book_query_2, 2, 0, BOOK_TOL);
    linear_projection(keys, x, Wk, NULL, 6, 3, 2);
    linear_projection(values, x, Wv, NULL, 6, 3, 2);
    for (int t = 0; t < 6; t++) scores_2[t] = vec_dot(query_2, keys + 2 * t, 2);
    assert_all_close("book attn_scores_2", scores_2, book_scores_2, 6, 0, BOOK_TOL);
    for (int t = 0; t < 6; t++) weights_2[t] = scores_2[t] / sqrtf(2.0f);
    softmax_rows(weights_2, weights_2, 1, 6);
    assert_all_close("book attn_weights_2", weights_2, book_weights_2, 6, 0, BOOK_TOL);
    linear_projection(context_2, weights_2, values, NULL, 1, 6, 2);
    assert_all_close("book context_vec_2", context_2, book_context_2, 2, 0, BOOK_TOL);

    /* 3.4.2: the compact classes; v1's second row is context_vec_2 */
    const float book_v1[12] = {0.2996f, 0.8053f, 0.3061f, 0.8210f, 0.3058f, 0.8203f,
                               0.2948f, 0.7939f, 0.2927f, 0.7891f, 0.2990f, 0.8040f};
    const float book_v2[12] = {-0.0739f, 0.0713f, -0.0748f, 0.0703f, -0.0749f, 0.0702f,
                               -0.0760f, 0.0685f, -0.0763f, 0.0679f, -0.0754f, 0.0693f};
    float out[12], weights[36];
    self_attention_forward(out, weights, x, Wq, Wk, Wv, 6, 3, 2);
    assert_all_close("sa_v1.out", out, get("sa_v1.out"), 12, REL, ABS);
    assert_all_close("book sa_v1", out, book_v1, 12, 0, BOOK_TOL);
    assert_all_close("sa_v1 row 2 vs context_vec_2", out + 2, context_2, 2, REL, ABS);
    self_attention_forward(out, weights, x, get("sa_v2.W_query"), get("sa_v2.W_key"), get("sa_v2.W_value"), 6, 3, 2);
    assert_all_close("sa_v2.out", out, get("sa_v2.out"), 12, REL, ABS);
    assert_all_close("book sa_v2", out, book_v2, 12, 0, BOOK_TOL);
    const float book_v2_weights[36] = {
        0.1921f, 0.1646f, 0.1652f, 0.1550f, 0.1721f, 0.1510f, 0.2041f, 0.1659f, 0.1662f, 0.1496f, 0.1665f, 0.1477f,
        0.2036f, 0.1659f, 0.1662f, 0.1498f, 0.1664f, 0.1480f, 0.1869f, 0.1667f, 0.1668f, 0.1571f, 0.1661f, 0.1564f,
        0.1830f, 0.1669f, 0.1670f, 0.1588f, 0.1658f, 0.1585f, 0.1935f, 0.1663f, 0.1666f, 0.1542f, 0.1666f, 0.1529f};
    assert_all_close("book sa_v2 attention weights", weights, book_v2_weights, 36, 0, BOOK_TOL);
}
END_TEST

/* 3.5.1: both ways of masking give the book's causal weights. */
START_TEST(test_causal_mask_book_numbers) {
    const float book_causal[36] = {1.0f,    0,       0,       0,       0,       0,       0.5517f, 0.4483f, 0,
                                   0,       0,       0,       0.3800f, 0.3097f, 0.3103f, 0,       0,       0,
                                   0.2758f, 0.2460f, 0.2462f, 0.2319f, 0,       0,       0.2175f, 0.1983f, 0.1984f,
                                   0.1888f, 0.1971f, 0,       0.1935f, 0.1663f, 0.1666f, 0.1542f, 0.1666f, 0.1529f};
    /* the masked scores, row by row up to the diagonal */
    const float book_masked[21] = {0.2899f, 0.4656f, 0.1723f, 0.4594f, 0.1703f, 0.1731f, 0.2642f,
                                   0.1024f, 0.1036f, 0.0186f, 0.2183f, 0.0874f, 0.0882f, 0.0177f,
                                   0.0786f, 0.3408f, 0.1270f, 0.1290f, 0.0198f, 0.1290f, 0.0078f};
    const float *x = get("x");
    float out[12], weights[36], queries[12], keys[12], scores[36], lower[21];
    /* the first way: v2's weights, zeroed above the diagonal, renormalised */
    self_attention_forward(out, weights, x, get("sa_v2.W_query"), get("sa_v2.W_key"), get("sa_v2.W_value"), 6, 3, 2);
    causal_mask_renormalize(weights, 6);
    assert_all_close("renormalised causal weights", weights, get("causal.weights"), 36, REL, ABS);
    assert_all_close("book causal weights (renormalised)", weights, book_causal, 36, 0, BOOK_TOL);
    /* the second way: -inf above the diagonal before the softmax */
    linear_projection(queries, x, get("sa_v2.W_query"), NULL, 6, 3, 2);
    linear_projection(keys, x, get("sa_v2.W_key"), NULL, 6, 3, 2);
    attention_scores(scores, queries, keys, 6, 2);
    causal_mask_fill_inf(scores, 6);
    for (int i = 0, n = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) {
            if (j <= i) lower[n++] = scores[i * 6 + j];
            else ck_assert(scores[i * 6 + j] == -INFINITY);
        }
    assert_all_close("book masked scores", lower, book_masked, 21, 0, BOOK_TOL);
    vec_scale(scores, 1.0f / sqrtf(2.0f), 36);
    softmax_rows(weights, scores, 6, 6);
    assert_all_close("-inf causal weights", weights, get("causal.weights"), 36, REL, ABS);
    assert_all_close("book causal weights (-inf)", weights, book_causal, 36, 0, BOOK_TOL);
    for (int i = 0; i < 6; i++)
        for (int j = i + 1; j < 6; j++) ck_assert(weights[i * 6 + j] == 0.0f);
}
END_TEST

/* 3.5.3 and 3.6.1 with the book's seeds: CausalAttention and the wrapper's
 * heads are all made after torch.manual_seed(123), so head 0 of the
 * wrapper has CausalAttention's weights, and its output is the first two
 * columns of the wrapper's. */
START_TEST(test_causal_attention_and_wrapper) {
    const float book_ca[12] = {-0.4519f, 0.2216f,  -0.5874f, 0.0058f,  -0.6300f, -0.0632f,
                               -0.5675f, -0.0843f, -0.5526f, -0.0981f, -0.5299f, -0.1081f};
    const float book_wrapper[24] = {-0.4519f, 0.2216f,  0.4772f, 0.1063f, -0.5874f, 0.0058f,  0.5891f, 0.3257f,
                                    -0.6300f, -0.0632f, 0.6202f, 0.3860f, -0.5675f, -0.0843f, 0.5478f, 0.3589f,
                                    -0.5526f, -0.0981f, 0.5321f, 0.3428f, -0.5299f, -0.1081f, 0.5077f, 0.3493f};
    float ca[24], wrapper[48];
    causal_attention_forward(ca, get("batch"), get("causal.W_query"), get("causal.W_key"), get("causal.W_value"), NULL,
                             2, 6, 3, 2);
    assert_all_close("causal.out", ca, get("causal.out"), 24, REL, ABS);
    assert_book_batch("book CausalAttention", ca, book_ca, 6, 2);

    const char *kinds[3] = {"W_query", "W_key", "W_value"};
    const float *heads[6];
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < 3; k++) {
            char name[64];
            snprintf(name, sizeof name, "wrapper.head%d.%s", h, kinds[k]);
            heads[3 * h + k] = get(name);
        }
    multihead_wrapper_forward(wrapper, get("batch"), heads, 2, 6, 3, 2, 2);
    assert_all_close("wrapper.out", wrapper, get("wrapper.out"), 48, REL, ABS);
    assert_book_batch("book MultiHeadAttentionWrapper", wrapper, book_wrapper, 6, 4);
    /* the same seed, the same first head: bit for bit, as in the book */
    const char *causal_names[3] = {"causal.W_query", "causal.W_key", "causal.W_value"};
    for (int k = 0; k < 3; k++)
        ck_assert_msg(memcmp(heads[k], get(causal_names[k]), 6 * sizeof(float)) == 0,
                      "the wrapper's head 0 has other %s than CausalAttention", kinds[k]);
    for (int token = 0; token < 12; token++)
        for (int i = 0; i < 2; i++) ck_assert_float_eq(wrapper[token * 4 + i], ca[token * 2 + i]);
}
END_TEST

/* Exercise 3.1 (exercise-solutions.ipynb In [5]-[7]): SelfAttention_v2
 * made after torch.manual_seed(123) draws three bias-free nn.Linear(3, 2),
 * the very weights CausalAttention draws after the same seed (the
 * fixture's causal.*, stored (d_in, d_out) as v2.W_query.weight.T, which
 * is what the solution gives SelfAttention_v1). v1 with them prints the
 * solution's numbers; and its last row, where no token is masked, is
 * CausalAttention's last row in 3.5.3. */
START_TEST(test_exercise_3_1_book_numbers) {
    const float book_ex31[12] = {-0.5337f, -0.1051f, -0.5323f, -0.1080f, -0.5323f, -0.1079f,
                                 -0.5297f, -0.1076f, -0.5311f, -0.1066f, -0.5299f, -0.1081f};
    float out[12], weights[36];
    self_attention_forward(out, weights, get("x"), get("causal.W_query"), get("causal.W_key"), get("causal.W_value"), 6,
                           3, 2);
    assert_all_close("book exercise 3.1", out, book_ex31, 12, 0, BOOK_TOL);
    assert_all_close("last row vs CausalAttention", out + 10, get("causal.out") + 10, 2, REL, ABS);
}
END_TEST

/* Exercise 3.2: MultiHeadAttentionWrapper(d_in, 1, ..., num_heads=2) after
 * torch.manual_seed(123), against what PyTorch computes with it (the
 * fixture's ex3_2.*). The solution notebook gives this solution in a text
 * cell that never ran, and the numbers printed there (first row -9.1476e-02,
 * 3.4164e-02) are not what its code gives: PyTorch's first row is
 * -0.5740, 0.2216 (PyTorch 1.13, the fixture's, whose generator gives the
 * book's numbers in every other test here). So this holds the wrapper to
 * PyTorch, not to that text. */
START_TEST(test_exercise_3_2_wrapper_of_width_one) {
    const char *kinds[3] = {"W_query", "W_key", "W_value"};
    const float *heads[6];
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < 3; k++) {
            char name[64];
            snprintf(name, sizeof name, "ex3_2.head%d.%s", h, kinds[k]);
            ck_assert_int_eq(fixture_tensor(&fx, name)->shape[1], 1);
            heads[3 * h + k] = get(name);
        }
    float out[24];
    multihead_wrapper_forward(out, get("batch"), heads, 2, 6, 3, 1, 2);
    assert_all_close("ex3_2.out", out, get("ex3_2.out"), 24, REL, ABS);
}
END_TEST

/* The module, the fast version and the book's plain one, from the
 * fixture's weights under prefix; both against PyTorch's output. */
static void run_mha(const char *prefix, const float *x, int B, int T, int d_in, int d_out, int n_heads, bool bias,
                    float *out) {
    char name[64];
#define FX(suffix) (snprintf(name, sizeof name, "%s.%s", prefix, suffix), get(name))
    MultiHeadAttentionParams p = {FX("qkv.weight"), bias ? FX("qkv.bias") : NULL, FX("out_proj.weight"),
                                  FX("out_proj.bias"), NULL, NULL};
    const float *want = FX("out");
#undef FX
    size_t n = (size_t)B * T;
    MultiHeadAttentionCache cache = {malloc(n * 3 * d_out * sizeof(float)),
                                     malloc((size_t)B * n_heads * T * T * sizeof(float)), malloc(n * d_out * sizeof(float)),
                                     NULL};
    float *reference = malloc(n * d_out * sizeof(float));
    multihead_attention_forward(out, &cache, x, &p, B, T, d_in, d_out, n_heads);
    assert_all_close(prefix, out, want, n * d_out, REL, ABS);
    multihead_attention_forward_reference(reference, NULL, x, &p, NULL, B, T, d_in, d_out, n_heads);
    assert_all_close(prefix, reference, want, n * d_out, REL, ABS);
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
    free(reference);
    free(cache.qkv);
    free(cache.att);
    free(cache.context);
}

START_TEST(test_multihead_attention_module) {
    /* 3.6.2 with the book's seed: d_out 2 in two heads of one */
    const float book_mha[12] = {0.3190f, 0.4858f, 0.2943f, 0.3897f, 0.2856f, 0.3593f,
                                0.2693f, 0.3873f, 0.2639f, 0.3928f, 0.2575f, 0.4028f};
    float out[2 * 6 * 2];
    run_mha("mha", get("batch"), 2, 6, 3, 2, 2, false, out);
    assert_book_batch("book MultiHeadAttention", out, book_mha, 6, 2);
    float *out64 = malloc(2 * 32 * 64 * sizeof(float));
    run_mha("mha64", get("mha64.x"), 2, 32, 64, 64, 4, true, out64);
    free(out64);
}
END_TEST

/* 3.6: the wrapper of heads and the fused module are the same computation:
 * fuse the wrapper's head weights into one qkv matrix, make the output
 * projection the identity, and the outputs agree, the fast module's and
 * the book's. */
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
    MultiHeadAttentionParams p = {qkv_weight, NULL, identity, zero_bias, NULL, NULL};
    float qkv[12 * 12], att[2 * 2 * 36], context[48], out[48];
    MultiHeadAttentionCache cache = {qkv, att, context, NULL};
    multihead_attention_forward(out, &cache, get("batch"), &p, 2, 6, d_in, d_out, n_heads);
    assert_all_close("fused module vs wrapper", out, get("wrapper.out"), 48, REL, ABS);
    multihead_attention_forward_reference(out, NULL, get("batch"), &p, NULL, 2, 6, d_in, d_out, n_heads);
    assert_all_close("the book's module vs wrapper", out, get("wrapper.out"), 48, REL, ABS);
}
END_TEST

/* The fast version against the book's (multihead_attention_forward_reference),
 * as sgemm is tested against sgemm_reference: random weights with a qkv
 * bias, shapes from one head to many, T across the fast version's blocks
 * of 64 rows (150: blocks of 64, 64 and 22), with and without dropout on
 * the weights. Outputs and weights (before dropout) must agree to rounding.
 * The weights do to the usual 1e-5 relative plus 1e-6 (observed: 4e-7 at
 * worst). The outputs are sums of up to 32 products of order 1 that cancel
 * to near 0 in places, so their rounding follows the size of the terms,
 * not of the result: 1e-5 absolute (observed: 2e-6 at worst, on outputs up
 * to 7), where a wrong index or a missed mask is off by 1e-1. */
START_TEST(test_fast_version_matches_reference) {
    const struct {
        int B, T, d_in, d_out, n_heads;
    } shapes[] = {{1, 1, 4, 4, 1}, {3, 7, 5, 6, 3}, {2, 64, 16, 16, 1}, {2, 65, 12, 24, 4}, {2, 150, 24, 32, 4}};
    Rng rng;
    rng_seed(&rng, 31);
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        const int B = shapes[k].B, T = shapes[k].T, d_in = shapes[k].d_in, d_out = shapes[k].d_out;
        const int H = shapes[k].n_heads;
        const size_t N = (size_t)B * T, n_att = (size_t)B * H * T * T;
        float *x = malloc(N * d_in * sizeof(float)), *qkv_w = malloc((size_t)d_in * 3 * d_out * sizeof(float));
        float *qkv_b = malloc(3 * d_out * sizeof(float)), *out_w = malloc((size_t)d_out * d_out * sizeof(float));
        float *out_b = malloc(d_out * sizeof(float)), *drop = malloc(n_att * sizeof(float));
        float *fast = malloc(N * d_out * sizeof(float)), *reference = malloc(N * d_out * sizeof(float));
        float *att = malloc(n_att * sizeof(float)), *reference_att = malloc(n_att * sizeof(float));
        MultiHeadAttentionCache cache = {malloc(N * 3 * d_out * sizeof(float)), att, malloc(N * d_out * sizeof(float)),
                                         NULL};
        rng_fill_normal(&rng, x, N * d_in, 0, 1);
        /* twice nn.Linear's bound: scores of spread ~1.3, weights far from uniform */
        const float bound = 2.0f / sqrtf((float)d_in);
        rng_fill_uniform(&rng, qkv_w, (size_t)d_in * 3 * d_out, -bound, bound);
        rng_fill_uniform(&rng, qkv_b, 3 * d_out, -0.5f, 0.5f);
        rng_fill_uniform(&rng, out_w, (size_t)d_out * d_out, -0.5f, 0.5f);
        rng_fill_uniform(&rng, out_b, d_out, -0.5f, 0.5f);
        dropout_mask(drop, (long)n_att, 0.25f, &rng);
        MultiHeadAttentionParams p = {qkv_w, qkv_b, out_w, out_b, NULL, NULL};
        for (int with_dropout = 0; with_dropout <= 1; with_dropout++) {
            char what[96];
            snprintf(what, sizeof what, "B=%d T=%d d_in=%d d_out=%d heads=%d%s", B, T, d_in, d_out, H,
                     with_dropout ? " with dropout" : "");
            cache.att_dropout = with_dropout ? drop : NULL;
            multihead_attention_forward(fast, &cache, x, &p, B, T, d_in, d_out, H);
            multihead_attention_forward_reference(reference, reference_att, x, &p, cache.att_dropout, B, T, d_in, d_out,
                                                  H);
            assert_all_close(what, fast, reference, N * d_out, REL, 1e-5f);
            assert_all_close(what, att, reference_att, n_att, REL, ABS);
        }
        free(x), free(qkv_w), free(qkv_b), free(out_w), free(out_b), free(drop), free(fast), free(reference);
        free(att), free(reference_att), free(cache.qkv), free(cache.context);
    }
}
END_TEST

/* Chapter 4's KV cache: the module fed a sequence in chunks, each chunk's
 * keys and values appended to the cache and its queries attending over
 * the cached rows, computes what it computes on the whole sequence at
 * once: the same outputs and the same rows of weights (zero past each
 * token), with and without dropout (the whole sequence's factors, row for
 * row). Chunks of 70, 1, 5 and 74 tokens cross the blocks of 64 query rows
 * with and without cached tokens before them; the cache holds more rows
 * than are used, so a sequence's stride is its capacity. The tolerances are
 * test_fast_version_matches_reference's. */
START_TEST(test_cached_chunks_match_whole_sequence) {
    enum { B = 2, T = 150, d_in = 12, d_out = 24, H = 4, CAPACITY = 160 };
    const int chunks[] = {70, 1, 5, 74};
    Rng rng;
    rng_seed(&rng, 33);
    const size_t n_att = (size_t)B * H * T * T;
    float *x = malloc((size_t)B * T * d_in * sizeof(float)), *qkv_w = malloc(d_in * 3 * d_out * sizeof(float));
    float qkv_b[3 * d_out], out_b[d_out], out_w[d_out * d_out];
    float *drop = malloc(n_att * sizeof(float)), *whole_att = malloc(n_att * sizeof(float));
    float *whole = malloc((size_t)B * T * d_out * sizeof(float));
    MultiHeadAttentionCache cache = {malloc((size_t)B * T * 3 * d_out * sizeof(float)), whole_att,
                                     malloc((size_t)B * T * d_out * sizeof(float)), NULL};
    rng_fill_normal(&rng, x, (size_t)B * T * d_in, 0, 1);
    const float bound = 2.0f / sqrtf((float)d_in);
    rng_fill_uniform(&rng, qkv_w, d_in * 3 * d_out, -bound, bound);
    rng_fill_uniform(&rng, qkv_b, 3 * d_out, -0.5f, 0.5f);
    rng_fill_uniform(&rng, out_w, d_out * d_out, -0.5f, 0.5f);
    rng_fill_uniform(&rng, out_b, d_out, -0.5f, 0.5f);
    dropout_mask(drop, (long)n_att, 0.25f, &rng);
    MultiHeadAttentionParams p = {qkv_w, qkv_b, out_w, out_b, NULL, NULL};
    KVCacheLayer kv = {malloc((size_t)B * CAPACITY * d_out * sizeof(float)),
                       malloc((size_t)B * CAPACITY * d_out * sizeof(float)), CAPACITY, 0};
    for (int with_dropout = 0; with_dropout <= 1; with_dropout++) {
        cache.att_dropout = with_dropout ? drop : NULL;
        multihead_attention_forward(whole, &cache, x, &p, B, T, d_in, d_out, H);
        kv.length = 0;
        for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
            const int past = kv.length, Tc = chunks[c], Tk = past + Tc;
            const size_t n_chunk_att = (size_t)B * H * Tc * Tk;
            float *xc = malloc((size_t)B * Tc * d_in * sizeof(float));
            float *out = malloc((size_t)B * Tc * d_out * sizeof(float));
            float *att = malloc(n_chunk_att * sizeof(float)), *dropc = malloc(n_chunk_att * sizeof(float));
            /* the chunk's rows of x, and of the whole sequence's dropout factors */
            for (int b = 0; b < B; b++)
                memcpy(xc + (size_t)b * Tc * d_in, x + ((size_t)b * T + past) * d_in,
                       (size_t)Tc * d_in * sizeof(float));
            for (int bh = 0; bh < B * H; bh++)
                for (int t = 0; t < Tc; t++)
                    memcpy(dropc + ((size_t)bh * Tc + t) * Tk, drop + ((size_t)bh * T + past + t) * T,
                           Tk * sizeof(float));
            MultiHeadAttentionCache chunk = {malloc((size_t)B * Tc * 3 * d_out * sizeof(float)), att,
                                             malloc((size_t)B * Tc * d_out * sizeof(float)), with_dropout ? dropc : NULL};
            multihead_attention_forward_cached(out, &chunk, &kv, xc, &p, B, Tc, d_in, d_out, H);
            char what[96];
            for (int b = 0; b < B; b++) {
                snprintf(what, sizeof what, "chunk %zu, sequence %d%s: outputs", c, b, with_dropout ? ", dropout" : "");
                assert_all_close(what, out + (size_t)b * Tc * d_out, whole + ((size_t)b * T + past) * d_out,
                                 (size_t)Tc * d_out, REL, 1e-5f);
            }
            for (int bh = 0; bh < B * H; bh++)
                for (int t = 0; t < Tc; t++) {
                    snprintf(what, sizeof what, "chunk %zu, (b,h) %d, token %d: weights", c, bh, past + t);
                    const float *row = whole_att + ((size_t)bh * T + past + t) * T;
                    assert_all_close(what, att + ((size_t)bh * Tc + t) * Tk, row, Tk, REL, ABS);
                    for (int s = Tk; s < T; s++) ck_assert_float_eq(row[s], 0.0f); /* the rows the chunk leaves out */
                }
            kv.length += Tc;
            free(xc), free(out), free(att), free(dropc), free(chunk.qkv), free(chunk.context);
        }
        ck_assert_int_eq(kv.length, T);
    }
    free(x), free(qkv_w), free(drop), free(whole_att), free(whole), free(cache.qkv), free(cache.context);
    free(kv.keys), free(kv.values);
}
END_TEST

/* 3.5.3 with dropout is 3.6.2 with one head, a qkv matrix of the three
 * weights side by side and an identity output projection; the same
 * dropout factors, the same result. */
START_TEST(test_causal_attention_dropout_is_one_head) {
    enum { B = 2, T = 9, d_in = 5, d = 3 };
    Rng rng;
    rng_seed(&rng, 32);
    float x[B * T * d_in], W[3][d_in * d], qkv_weight[d_in * 3 * d], identity[d * d] = {0}, zero_bias[d] = {0};
    float drop[B * T * T], ca[B * T * d], mha[B * T * d];
    rng_fill_normal(&rng, x, B * T * d_in, 0, 1);
    for (int k = 0; k < 3; k++) rng_fill_uniform(&rng, W[k], d_in * d, -1, 1);
    for (int i = 0; i < d_in; i++)
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < d; j++) qkv_weight[i * 3 * d + k * d + j] = W[k][i * d + j];
    for (int i = 0; i < d; i++) identity[i * (d + 1)] = 1.0f;
    dropout_mask(drop, B * T * T, 0.4f, &rng);
    MultiHeadAttentionParams p = {qkv_weight, NULL, identity, zero_bias, NULL, NULL};
    causal_attention_forward(ca, x, W[0], W[1], W[2], drop, B, T, d_in, d);
    multihead_attention_forward_reference(mha, NULL, x, &p, drop, B, T, d_in, d, 1);
    assert_all_close("CausalAttention with dropout vs one head", ca, mha, B * T * d, REL, ABS);
    /* and dropout does something: without it the output differs */
    causal_attention_forward(mha, x, W[0], W[1], W[2], NULL, B, T, d_in, d);
    float largest = 0;
    for (int i = 0; i < B * T * d; i++) largest = fmaxf(largest, fabsf(mha[i] - ca[i]));
    ck_assert_float_gt(largest, 1e-2f);
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

/* dropout_mask draws what dropout_forward draws; dropout_backward
 * multiplies by the same factors. */
START_TEST(test_dropout_mask_and_backward) {
    Rng a, b;
    rng_seed(&a, 77);
    rng_seed(&b, 77);
    enum { n = 1000 };
    float x[n], mask[n], factors[n], grad_x[n];
    for (int i = 0; i < n; i++) x[i] = 1.0f, grad_x[i] = 3.0f;
    dropout_forward(x, mask, n, 0.2f, &a);
    dropout_mask(factors, n, 0.2f, &b);
    assert_all_close("dropout_mask vs dropout_forward", factors, mask, n, 0, 0);
    dropout_backward(grad_x, mask, n);
    for (int i = 0; i < n; i++) {
        ck_assert(mask[i] == 0.0f || mask[i] == 1.25f);
        ck_assert_float_eq(grad_x[i], 3.0f * mask[i]);
    }
}
END_TEST

/* ---- gradients against double-precision references -----------------------------------
 * The references below redo the forward pass in double (the gradients need
 * it: central differences in float would drown in rounding); the forward
 * test across row blocks uses it too, a second check beside the float
 * reference above, with exact zeros and row sums. Central differences
 * with h = 1e-5 are then exact to ~1e-9. The float32 backward rounds sums of
 * at most a few dozen terms, so 1e-4 of each gradient's scale holds with
 * room, while a wrong index or a missing term is off by 1e-2 and more. */

/* attention_forward in double; drop (B,n_heads,T,T) or NULL. */
static void attention_ref(double *out, const double *qkv, const float *drop, int B, int T, int C, int n_heads) {
    const int hd = C / n_heads;
    double score[256];
    ck_assert(T <= 256);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < n_heads; h++)
            for (int t = 0; t < T; t++) {
                const double *q = qkv + ((size_t)b * T + t) * 3 * C + h * hd;
                double max = -INFINITY, sum = 0.0;
                for (int s = 0; s <= t; s++) {
                    const double *k = qkv + ((size_t)b * T + s) * 3 * C + C + h * hd;
                    score[s] = 0.0;
                    for (int i = 0; i < hd; i++) score[s] += q[i] * k[i] / sqrt(hd);
                    max = fmax(max, score[s]);
                }
                for (int s = 0; s <= t; s++) sum += (score[s] = exp(score[s] - max));
                double *o = out + ((size_t)b * T + t) * C + h * hd;
                for (int i = 0; i < hd; i++) o[i] = 0.0;
                for (int s = 0; s <= t; s++) {
                    double w = score[s] / sum;
                    if (drop) w *= drop[(((size_t)b * n_heads + h) * T + t) * T + s];
                    const double *v = qkv + ((size_t)b * T + s) * 3 * C + 2 * C + h * hd;
                    for (int i = 0; i < hd; i++) o[i] += w * v[i];
                }
            }
}

/* out (M,N) = in (M,K) @ weight (K,N) + bias, in double. */
static void linear_ref(double *out, const double *in, const double *weight, const double *bias, int M, int K, int N) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double sum = bias ? bias[j] : 0.0;
            for (int k = 0; k < K; k++) sum += in[(size_t)i * K + k] * weight[(size_t)k * N + j];
            out[(size_t)i * N + j] = sum;
        }
}

static double dot64(const double *a, const float *b, size_t n) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += a[i] * b[i];
    return sum;
}

enum { AB = 2, AT = 5, AC = 8, AH = 2 }; /* batch, tokens, channels, heads of the gradient tests */

typedef struct {
    double *x, *qkv_weight, *qkv_bias, *out_weight, *out_bias; /* the module; qkv alone for the core */
    double *qkv, *context, *out;                               /* work space */
    const float *drop, *G;
} AttentionRef;

static double attention_ref_loss(void *ctx) {
    AttentionRef *r = ctx;
    attention_ref(r->context, r->qkv, r->drop, AB, AT, AC, AH);
    return dot64(r->context, r->G, AB * AT * AC);
}

/* attention_backward alone, with and without dropout on the weights (a
 * mask of zeros and 1/(1-p) as in training). */
START_TEST(test_attention_backward_matches_finite_differences) {
    enum { N = AB * AT, NQKV = N * 3 * AC, NATT = AB * AH * AT * AT };
    Rng rng;
    rng_seed(&rng, 21);
    float qkv[NQKV], out[N * AC], att[NATT], drop[NATT], G[N * AC], grad_qkv[NQKV], grad_att[NATT];
    double qkv64[NQKV], context64[N * AC], numeric[NQKV];
    rng_fill_normal(&rng, qkv, NQKV, 0, 1);
    rng_fill_normal(&rng, G, N * AC, 0, 1);
    dropout_mask(drop, NATT, 0.3f, &rng);
    for (int i = 0; i < NQKV; i++) qkv64[i] = qkv[i];
    for (int with_dropout = 0; with_dropout <= 1; with_dropout++) {
        const float *mask = with_dropout ? drop : NULL;
        attention_forward(out, att, mask, qkv, AB, AT, AC, AH);
        for (int i = 0; i < NQKV; i++) grad_qkv[i] = 123.0f; /* overwritten, not accumulated */
        attention_backward(grad_qkv, grad_att, G, qkv, att, mask, AB, AT, AC, AH);
        AttentionRef ref = {.qkv = qkv64, .context = context64, .drop = mask, .G = G};
        for (int i = 0; i < NQKV; i++) numeric[i] = central_difference(&qkv64[i], 1e-5, attention_ref_loss, &ref);
        assert_gradient_close(with_dropout ? "grad_qkv with dropout" : "grad_qkv", grad_qkv, numeric, NQKV, 1e-4);
    }
}
END_TEST

/* attention_forward works on blocks of 64 query rows; at T = 150 (blocks
 * of 64, 64 and 22 rows) against the double reference, with and without
 * dropout on the weights. The contexts are sums of up to 150 weighted
 * values of order 1 (up to 3.2 here), so the forward's tolerance (1e-5
 * relative, 1e-6 absolute) holds them: observed 4.9e-7 at worst, a quarter
 * of it. The weights must be exactly zero above the diagonal, sum to 1 in
 * every row, and be the same with dropout (which reaches the contexts only). */
START_TEST(test_attention_forward_across_row_blocks) {
    enum { B = 2, T = 150, C = 32, H = 2, N = B * T, NATT = B * H * T * T };
    Rng rng;
    rng_seed(&rng, 23);
    float *qkv = malloc(N * 3 * C * sizeof(float)), *out = malloc(N * C * sizeof(float));
    float *att = malloc(NATT * sizeof(float)), *att_plain = malloc(NATT * sizeof(float));
    float *drop = malloc(NATT * sizeof(float)), *want = malloc(N * C * sizeof(float));
    double *qkv64 = malloc(N * 3 * C * sizeof(double)), *out64 = malloc(N * C * sizeof(double));
    rng_fill_normal(&rng, qkv, N * 3 * C, 0, 1);
    for (int i = 0; i < N * 3 * C; i++) qkv64[i] = qkv[i];
    dropout_mask(drop, NATT, 0.2f, &rng);
    for (int with_dropout = 0; with_dropout <= 1; with_dropout++) {
        const float *mask = with_dropout ? drop : NULL;
        for (int i = 0; i < NATT; i++) att[i] = NAN; /* every weight must be written */
        attention_forward(out, att, mask, qkv, B, T, C, H);
        attention_ref(out64, qkv64, mask, B, T, C, H);
        for (int i = 0; i < N * C; i++) want[i] = (float)out64[i];
        assert_all_close(with_dropout ? "contexts with dropout" : "contexts", out, want, N * C, REL, ABS);
        for (int bh = 0; bh < B * H; bh++)
            for (int t = 0; t < T; t++) {
                const float *w = att + ((size_t)bh * T + t) * T;
                double sum = 0.0;
                for (int s = 0; s < T; s++) {
                    if (s > t) ck_assert_msg(w[s] == 0.0f, "weight (%d, %d) above the diagonal is %g", t, s, w[s]);
                    sum += w[s];
                }
                ck_assert_msg(fabs(sum - 1.0) <= 1e-5, "row %d of head %d sums to %.8f", t, bh, sum);
            }
        if (with_dropout)
            ck_assert(memcmp(att, att_plain, NATT * sizeof(float)) == 0);
        else
            memcpy(att_plain, att, NATT * sizeof(float));
    }
    free(qkv), free(out), free(att), free(att_plain), free(drop), free(want), free(qkv64), free(out64);
}
END_TEST

/* attention_backward on the forward's row blocks (T = 150: blocks of 64, 64
 * and 22 rows), where grad_V and grad_K collect a share from every block at or
 * below a key's row: 96 entries of grad_qkv spread over tokens and the query,
 * key and value columns against central differences of the double
 * reference, with and without dropout, to 1e-4 of the scale as above. */
START_TEST(test_attention_backward_across_row_blocks) {
    enum { B = 2, T = 150, C = 16, H = 2, N = B * T, NQKV = N * 3 * C, NATT = B * H * T * T, SAMPLES = 96 };
    Rng rng;
    rng_seed(&rng, 24);
    float *qkv = malloc(NQKV * sizeof(float)), *out = malloc(N * C * sizeof(float)), *G = malloc(N * C * sizeof(float));
    float *att = malloc(NATT * sizeof(float)), *drop = malloc(NATT * sizeof(float));
    float *grad_att = malloc(NATT * sizeof(float)), *grad_qkv = malloc(NQKV * sizeof(float));
    double *qkv64 = malloc(NQKV * sizeof(double)), *context64 = malloc(N * C * sizeof(double));
    rng_fill_normal(&rng, qkv, NQKV, 0, 1);
    rng_fill_normal(&rng, G, N * C, 0, 1);
    dropout_mask(drop, NATT, 0.3f, &rng);
    for (int i = 0; i < NQKV; i++) qkv64[i] = qkv[i];
    for (int with_dropout = 0; with_dropout <= 1; with_dropout++) {
        const float *mask = with_dropout ? drop : NULL;
        attention_forward(out, att, mask, qkv, B, T, C, H);
        for (int i = 0; i < NQKV; i++) grad_qkv[i] = 123.0f; /* overwritten, not accumulated */
        attention_backward(grad_qkv, grad_att, G, qkv, att, mask, B, T, C, H);
        /* the reference's loss, as AttentionRef does it for the small case */
        float analytic[SAMPLES];
        double numeric[SAMPLES];
        for (int k = 0; k < SAMPLES; k++) {
            const int at = k * (NQKV / SAMPLES);
            analytic[k] = grad_qkv[at];
            const double saved = qkv64[at], h = 1e-5;
            double loss[2];
            for (int side = 0; side < 2; side++) {
                qkv64[at] = saved + (side ? -h : h);
                attention_ref(context64, qkv64, mask, B, T, C, H);
                loss[side] = dot64(context64, G, N * C);
            }
            qkv64[at] = saved;
            numeric[k] = (loss[0] - loss[1]) / (2 * h);
        }
        assert_gradient_close(with_dropout ? "sampled grad_qkv with dropout" : "sampled grad_qkv", analytic, numeric, SAMPLES,
                              1e-4);
    }
    free(qkv), free(out), free(G), free(att), free(drop), free(grad_att), free(grad_qkv), free(qkv64), free(context64);
}
END_TEST

static double mha_ref_loss(void *ctx) {
    AttentionRef *r = ctx;
    linear_ref(r->qkv, r->x, r->qkv_weight, r->qkv_bias, AB * AT, AC, 3 * AC);
    attention_ref(r->context, r->qkv, NULL, AB, AT, AC, AH);
    linear_ref(r->out, r->context, r->out_weight, r->out_bias, AB * AT, AC, AC);
    return dot64(r->out, r->G, AB * AT * AC);
}

/* The module: both projections (matmul_backward) around the core; the
 * gradients accumulate onto what is there, as a shortcut needs. */
START_TEST(test_multihead_attention_backward_matches_finite_differences) {
    enum { N = AB * AT, NW = AC * 3 * AC, NB = 3 * AC, NO = AC * AC };
    Rng rng;
    rng_seed(&rng, 22);
    /* parameters and their gradients, each one buffer: x, qkv weight, qkv
     * bias, out_proj weight, out_proj bias */
    enum { NPARAM = N * AC + NW + NB + NO + AC };
    float p[NPARAM], g[NPARAM], G[N * AC], out[N * AC];
    double p64[NPARAM], numeric[NPARAM];
    float *x = p, *qkv_w = x + N * AC, *qkv_b = qkv_w + NW, *out_w = qkv_b + NB, *out_b = out_w + NO;
    rng_fill_normal(&rng, p, NPARAM, 0, 0.5f);
    rng_fill_normal(&rng, G, N * AC, 0, 1);
    for (int i = 0; i < NPARAM; i++) p64[i] = p[i], g[i] = 0.5f;
    float qkv[N * 3 * AC], att[AB * AH * AT * AT], context[N * AC];
    float grad_qkv[N * 3 * AC], grad_context[N * AC], grad_att[AB * AH * AT * AT];
    MultiHeadAttentionParams params = {qkv_w, qkv_b, out_w, out_b, NULL, NULL};
    MultiHeadAttentionCache cache = {qkv, att, context, NULL};
    multihead_attention_forward(out, &cache, x, &params, AB, AT, AC, AC, AH);
    MultiHeadAttentionGrads grads = {g + (qkv_w - p), g + (qkv_b - p), g + (out_w - p), g + (out_b - p)};
    MultiHeadAttentionScratch scratch = {grad_qkv, grad_context, grad_att};
    multihead_attention_backward(g, &grads, &scratch, G, x, &cache, &params, AB, AT, AC, AC, AH);
    for (int i = 0; i < NPARAM; i++) g[i] -= 0.5f;

    double qkv64[N * 3 * AC], context64[N * AC], out64[N * AC];
    AttentionRef ref = {p64, p64 + (qkv_w - p), p64 + (qkv_b - p), p64 + (out_w - p), p64 + (out_b - p),
                        qkv64, context64, out64, NULL, G};
    for (int i = 0; i < NPARAM; i++) numeric[i] = central_difference(&p64[i], 1e-5, mha_ref_loss, &ref);
    const char *names[5] = {"grad_x", "grad_qkv_weight", "grad_qkv_bias", "grad_out_proj_weight", "grad_out_proj_bias"};
    const int sizes[5] = {N * AC, NW, NB, NO, AC};
    for (int k = 0, at = 0; k < 5; at += sizes[k++])
        assert_gradient_close(names[k], g + at, numeric + at, sizes[k], 1e-4);
}
END_TEST

Suite *attention_suite(void) {
    Suite *s = suite_create("attention");
    TCase *tc = tcase_create("pytorch");
    tcase_add_unchecked_fixture(tc, load_fixture, free_fixture);
    add_test(tc, test_simple_attention_book_numbers);
    add_test(tc, test_self_attention_book_numbers);
    add_test(tc, test_causal_mask_book_numbers);
    add_test(tc, test_causal_attention_and_wrapper);
    add_test(tc, test_multihead_attention_module);
    add_test(tc, test_exercise_3_1_book_numbers);
    add_test(tc, test_exercise_3_2_wrapper_of_width_one);
    add_test(tc, test_wrapper_equals_fused_module);
    add_test(tc, test_fast_version_matches_reference);
    add_test(tc, test_cached_chunks_match_whole_sequence);
    add_test(tc, test_causal_attention_dropout_is_one_head);
    add_test(tc, test_dropout_scales_survivors);
    add_test(tc, test_masks_agree_on_random_scores);
    add_test(tc, test_dropout_mask_and_backward);
    add_test(tc, test_attention_backward_matches_finite_differences);
    add_test(tc, test_attention_forward_across_row_blocks);
    add_test(tc, test_attention_backward_across_row_blocks);
    add_test(tc, test_multihead_attention_backward_matches_finite_differences);
    suite_add_tcase(s, tc);
    return s;
}
