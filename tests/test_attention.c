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
#include "gradient_check.h"
#include "test_helpers.h"

#define REL 1e-5f
#define ABS 1e-6f

static TensorFile fx;
static void load_fixture(void) { fx = read_fixture("attention_ch03.bin"); }
static void free_fixture(void) { tensor_file_free(&fx); }

static const float *get(const char *name) { return fixture_tensor(&fx, name)->data; }

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
                                  FX("out_proj.bias"), NULL, NULL};
    size_t n = (size_t)B * T;
    MultiHeadAttentionCache cache = {malloc(n * 3 * d_out * sizeof(float)),
                                     malloc((size_t)B * n_heads * T * T * sizeof(float)), malloc(n * d_out * sizeof(float)),
                                     NULL};
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
    MultiHeadAttentionParams p = {qkv_weight, NULL, identity, zero_bias, NULL, NULL};
    float qkv[12 * 12], att[2 * 2 * 36], context[48], out[48];
    MultiHeadAttentionCache cache = {qkv, att, context, NULL};
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

/* dropout_mask draws what dropout_forward draws; dropout_backward
 * multiplies by the same factors. */
START_TEST(test_dropout_mask_and_backward) {
    Rng a, b;
    rng_seed(&a, 77);
    rng_seed(&b, 77);
    enum { n = 1000 };
    float x[n], mask[n], factors[n], d_x[n];
    for (int i = 0; i < n; i++) x[i] = 1.0f, d_x[i] = 3.0f;
    dropout_forward(x, mask, n, 0.2f, &a);
    dropout_mask(factors, n, 0.2f, &b);
    assert_all_close("dropout_mask vs dropout_forward", factors, mask, n, 0, 0);
    dropout_backward(d_x, mask, n);
    for (int i = 0; i < n; i++) {
        ck_assert(mask[i] == 0.0f || mask[i] == 1.25f);
        ck_assert_float_eq(d_x[i], 3.0f * mask[i]);
    }
}
END_TEST

/* ---- gradients against double-precision references -----------------------------------
 * The references below redo the forward pass in double; central differences
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
    float qkv[NQKV], out[N * AC], att[NATT], drop[NATT], G[N * AC], d_qkv[NQKV], d_att[NATT];
    double qkv64[NQKV], context64[N * AC], numeric[NQKV];
    rng_fill_normal(&rng, qkv, NQKV, 0, 1);
    rng_fill_normal(&rng, G, N * AC, 0, 1);
    dropout_mask(drop, NATT, 0.3f, &rng);
    for (int i = 0; i < NQKV; i++) qkv64[i] = qkv[i];
    for (int with_dropout = 0; with_dropout <= 1; with_dropout++) {
        const float *mask = with_dropout ? drop : NULL;
        attention_forward(out, att, mask, qkv, AB, AT, AC, AH);
        for (int i = 0; i < NQKV; i++) d_qkv[i] = 123.0f; /* overwritten, not accumulated */
        attention_backward(d_qkv, d_att, G, qkv, att, mask, AB, AT, AC, AH);
        AttentionRef ref = {.qkv = qkv64, .context = context64, .drop = mask, .G = G};
        for (int i = 0; i < NQKV; i++) numeric[i] = central_difference(&qkv64[i], 1e-5, attention_ref_loss, &ref);
        assert_gradient_close(with_dropout ? "d_qkv with dropout" : "d_qkv", d_qkv, numeric, NQKV, 1e-4);
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
 * and 22 rows), where dV and dK collect a share from every block at or
 * below a key's row: 96 entries of d_qkv spread over tokens and the query,
 * key and value columns against central differences of the double
 * reference, with and without dropout, to 1e-4 of the scale as above. */
START_TEST(test_attention_backward_across_row_blocks) {
    enum { B = 2, T = 150, C = 16, H = 2, N = B * T, NQKV = N * 3 * C, NATT = B * H * T * T, SAMPLES = 96 };
    Rng rng;
    rng_seed(&rng, 24);
    float *qkv = malloc(NQKV * sizeof(float)), *out = malloc(N * C * sizeof(float)), *G = malloc(N * C * sizeof(float));
    float *att = malloc(NATT * sizeof(float)), *drop = malloc(NATT * sizeof(float));
    float *d_att = malloc(NATT * sizeof(float)), *d_qkv = malloc(NQKV * sizeof(float));
    double *qkv64 = malloc(NQKV * sizeof(double)), *context64 = malloc(N * C * sizeof(double));
    rng_fill_normal(&rng, qkv, NQKV, 0, 1);
    rng_fill_normal(&rng, G, N * C, 0, 1);
    dropout_mask(drop, NATT, 0.3f, &rng);
    for (int i = 0; i < NQKV; i++) qkv64[i] = qkv[i];
    for (int with_dropout = 0; with_dropout <= 1; with_dropout++) {
        const float *mask = with_dropout ? drop : NULL;
        attention_forward(out, att, mask, qkv, B, T, C, H);
        for (int i = 0; i < NQKV; i++) d_qkv[i] = 123.0f; /* overwritten, not accumulated */
        attention_backward(d_qkv, d_att, G, qkv, att, mask, B, T, C, H);
        /* the reference's loss, as AttentionRef does it for the small case */
        float analytic[SAMPLES];
        double numeric[SAMPLES];
        for (int k = 0; k < SAMPLES; k++) {
            const int at = k * (NQKV / SAMPLES);
            analytic[k] = d_qkv[at];
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
        assert_gradient_close(with_dropout ? "sampled d_qkv with dropout" : "sampled d_qkv", analytic, numeric, SAMPLES,
                              1e-4);
    }
    free(qkv), free(out), free(G), free(att), free(drop), free(d_att), free(d_qkv), free(qkv64), free(context64);
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
    float d_qkv[N * 3 * AC], d_context[N * AC], d_att[AB * AH * AT * AT];
    MultiHeadAttentionParams params = {qkv_w, qkv_b, out_w, out_b, NULL, NULL};
    MultiHeadAttentionCache cache = {qkv, att, context, NULL};
    multihead_attention_forward(out, &cache, x, &params, AB, AT, AC, AC, AH);
    MultiHeadAttentionGrads grads = {g + (qkv_w - p), g + (qkv_b - p), g + (out_w - p), g + (out_b - p)};
    MultiHeadAttentionScratch scratch = {d_qkv, d_context, d_att};
    multihead_attention_backward(g, &grads, &scratch, G, x, &cache, &params, AB, AT, AC, AC, AH);
    for (int i = 0; i < NPARAM; i++) g[i] -= 0.5f;

    double qkv64[N * 3 * AC], context64[N * AC], out64[N * AC];
    AttentionRef ref = {p64, p64 + (qkv_w - p), p64 + (qkv_b - p), p64 + (out_w - p), p64 + (out_b - p),
                        qkv64, context64, out64, NULL, G};
    for (int i = 0; i < NPARAM; i++) numeric[i] = central_difference(&p64[i], 1e-5, mha_ref_loss, &ref);
    const char *names[5] = {"d_x", "d_qkv_weight", "d_qkv_bias", "d_out_proj_weight", "d_out_proj_bias"};
    const int sizes[5] = {N * AC, NW, NB, NO, AC};
    for (int k = 0, at = 0; k < 5; at += sizes[k++])
        assert_gradient_close(names[k], g + at, numeric + at, sizes[k], 1e-4);
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
    tcase_add_test(tc, test_dropout_mask_and_backward);
    tcase_add_test(tc, test_attention_backward_matches_finite_differences);
    tcase_add_test(tc, test_attention_forward_across_row_blocks);
    tcase_add_test(tc, test_attention_backward_across_row_blocks);
    tcase_add_test(tc, test_multihead_attention_backward_matches_finite_differences);
    suite_add_tcase(s, tc);
    return s;
}
