/* Tests for the ch03 program: the numbers and shapes its walkthrough
 * prints, read back and checked against the book (3.3, which has no random
 * weights, and every shape) and, from 3.4 on, where the weights are our
 * generator's, against the same computation done here in double precision
 * with the weights drawn as the walkthrough says it draws them.
 *
 * Tolerance: the program prints four decimals, so a printed number is
 * within 5e-5 of the exact one, plus float32 rounding (~1e-6 on numbers
 * below 2): 5.1e-5. A wrong weight, index or mask is off by 1e-3 or more. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/rng.h"
#include "test_helpers.h"

#define PRINTED_TOL 5.1e-5

static int ch03(char **out, char **err, const char *args) {
    char command[1024];
    snprintf(command, sizeof command, "%s/ch03_attention/ch03 %s", repo_root(), args);
    return run_command(command, out, err);
}

/* Where label first appears in text at or after from; the test fails if nowhere. */
static const char *find(const char *from, const char *label) {
    const char *at = strstr(from, label);
    ck_assert_msg(at != NULL, "the output lacks '%s' after: %.60s", label, from);
    return at;
}

/* A printed tensor: its values in order and its shape, read from the
 * brackets of PyTorch's format. */
enum { MAX_VALUES = 64 };
typedef struct {
    int ndim, shape[4], n;
    float values[MAX_VALUES];
} Printed;

/* The first "tensor(...)" after label (found at or after from). */
static Printed tensor_after(const char *from, const char *label) {
    Printed t = {0};
    const char *p = find(find(from, label), "tensor(") + strlen("tensor(");
    int depth = 0, commas[4] = {0};
    bool counted[4] = {false};
    do {
        if (*p == '[') {
            ck_assert_int_lt(depth, 4);
            if (++depth > t.ndim) t.ndim = depth;
            p++;
        } else if (*p == ']') {
            /* the first bracket closed at a depth gives that dimension's size */
            if (!counted[depth - 1]) t.shape[depth - 1] = commas[depth - 1] + 1, counted[depth - 1] = true;
            depth--, p++;
        } else if (*p == ',') {
            if (!counted[depth - 1]) commas[depth - 1]++;
            p++;
        } else if (isspace((unsigned char)*p)) {
            p++;
        } else {
            char *end;
            float v = strtof(p, &end);
            ck_assert_msg(end != p && depth > 0, "not a tensor's value: %.20s", p);
            ck_assert_int_lt(t.n, MAX_VALUES);
            t.values[t.n++] = v;
            p = end;
        }
    } while (depth > 0);
    int size = 1;
    for (int i = 0; i < t.ndim; i++) size *= t.shape[i];
    ck_assert_int_eq(size, t.n);
    return t;
}

/* The number right after label. */
static double number_after(const char *from, const char *label) {
    const char *p = find(from, label) + strlen(label);
    char *end;
    double v = strtod(p, &end);
    ck_assert_msg(end != p, "no number after '%s'", label);
    return v;
}

/* "name.shape: torch.Size([a, b, c])" after from, as a shape; returns ndim. */
static int shape_after(const char *from, const char *name, int *shape) {
    char label[64];
    snprintf(label, sizeof label, "%s.shape: torch.Size([", name);
    const char *p = find(from, label) + strlen(label);
    int ndim = 0;
    for (char *end;; p = end + 1) {
        ck_assert_int_lt(ndim, 4);
        shape[ndim++] = (int)strtol(p, &end, 10);
        ck_assert(end != p);
        if (*end != ',') break;
    }
    return ndim;
}

static void assert_shape(const char *what, const int *got, int got_ndim, const int *want, int want_ndim) {
    ck_assert_msg(got_ndim == want_ndim, "%s: %d dimensions, want %d", what, got_ndim, want_ndim);
    for (int i = 0; i < want_ndim; i++)
        ck_assert_msg(got[i] == want[i], "%s: dimension %d is %d, want %d", what, i, got[i], want[i]);
}

/* A printed tensor against the shape and values it should have (values
 * in double, or -inf where the book masks). */
static void assert_printed(const char *what, const Printed *t, int ndim, const int *shape, const double *want) {
    assert_shape(what, t->shape, t->ndim, shape, ndim);
    for (int i = 0; i < t->n; i++) {
        bool ok = isinf(want[i]) ? t->values[i] == (float)want[i] : fabs(t->values[i] - want[i]) <= PRINTED_TOL;
        ck_assert_msg(ok, "%s[%d] is %.5f, want %.5f", what, i, t->values[i], want[i]);
    }
}

static void assert_printed_f(const char *what, const Printed *t, int ndim, const int *shape, const float *want) {
    double w[MAX_VALUES];
    for (int i = 0; i < t->n && i < MAX_VALUES; i++) w[i] = want[i];
    assert_printed(what, t, ndim, shape, w);
}

/* ---- the book ---------------------------------------------------------------------- */

enum { T = 6, D_IN = 3, D_OUT = 2, B = 2, HEADS = 2 }; /* the book's sizes */
static const float BOOK_INPUTS[T * D_IN] = {0.43f, 0.15f, 0.89f, 0.55f, 0.87f, 0.66f, 0.57f, 0.85f, 0.64f,
                                            0.22f, 0.58f, 0.33f, 0.77f, 0.25f, 0.10f, 0.05f, 0.80f, 0.55f};

/* 3.3 has no random weights: every number the book prints, to its four
 * decimals, and 3.3.2's second row is 3.3.1's context vector. */
START_TEST(test_walkthrough_prints_the_books_numbers) {
    char *out;
    ck_assert_int_eq(ch03(&out, NULL, "walkthrough"), 0);
    const float scores_2[T] = {0.9544f, 1.4950f, 1.4754f, 0.8434f, 0.7070f, 1.0865f};
    const float divided[T] = {0.1455f, 0.2278f, 0.2249f, 0.1285f, 0.1077f, 0.1656f};
    const float softmax[T] = {0.1385f, 0.2379f, 0.2333f, 0.1240f, 0.1082f, 0.1581f};
    const float z2[D_IN] = {0.4419f, 0.6515f, 0.5683f};
    const float scores[T * T] = {
        0.9995f, 0.9544f, 0.9422f, 0.4753f, 0.4576f, 0.6310f, 0.9544f, 1.4950f, 1.4754f, 0.8434f, 0.7070f, 1.0865f,
        0.9422f, 1.4754f, 1.4570f, 0.8296f, 0.7154f, 1.0605f, 0.4753f, 0.8434f, 0.8296f, 0.4937f, 0.3474f, 0.6565f,
        0.4576f, 0.7070f, 0.7154f, 0.3474f, 0.6654f, 0.2935f, 0.6310f, 1.0865f, 1.0605f, 0.6565f, 0.2935f, 0.9450f};
    const float weights[T * T] = {
        0.2098f, 0.2006f, 0.1981f, 0.1242f, 0.1220f, 0.1452f, 0.1385f, 0.2379f, 0.2333f, 0.1240f, 0.1082f, 0.1581f,
        0.1390f, 0.2369f, 0.2326f, 0.1242f, 0.1108f, 0.1565f, 0.1435f, 0.2074f, 0.2046f, 0.1462f, 0.1263f, 0.1720f,
        0.1526f, 0.1958f, 0.1975f, 0.1367f, 0.1879f, 0.1295f, 0.1385f, 0.2184f, 0.2128f, 0.1420f, 0.0988f, 0.1896f};
    const float all_context_vecs[T * D_IN] = {0.4421f, 0.5931f, 0.5790f, 0.4419f, 0.6515f, 0.5683f,
                                              0.4431f, 0.6496f, 0.5671f, 0.4304f, 0.6298f, 0.5510f,
                                              0.4671f, 0.5910f, 0.5266f, 0.4177f, 0.6503f, 0.5645f};
    const float ones[T] = {1, 1, 1, 1, 1, 1};
    Printed t = tensor_after(out, "inputs");
    assert_printed_f("inputs", &t, 2, (int[]){T, D_IN}, BOOK_INPUTS);
    const char *s331 = find(out, "== 3.3.1");
    t = tensor_after(s331, "attn_scores_2");
    assert_printed_f("attn_scores_2", &t, 1, (int[]){T}, scores_2);
    t = tensor_after(s331, "divided by their sum");
    assert_printed_f("divided by the sum", &t, 1, (int[]){T}, divided);
    t = tensor_after(s331, "(softmax)");
    assert_printed_f("softmax", &t, 1, (int[]){T}, softmax);
    ck_assert_double_eq_tol(number_after(s331, "Sum: "), 1.0, PRINTED_TOL);
    t = tensor_after(s331, "context_vec_2");
    assert_printed_f("context_vec_2", &t, 1, (int[]){D_IN}, z2);
    const char *s332 = find(out, "== 3.3.2");
    t = tensor_after(s332, "attn_scores = ");
    assert_printed_f("attn_scores", &t, 2, (int[]){T, T}, scores);
    t = tensor_after(s332, "attn_weights");
    assert_printed_f("attn_weights", &t, 2, (int[]){T, T}, weights);
    t = tensor_after(s332, "All row sums");
    assert_printed_f("All row sums", &t, 1, (int[]){T}, ones);
    t = tensor_after(s332, "all_context_vecs");
    assert_printed_f("all_context_vecs", &t, 2, (int[]){T, D_IN}, all_context_vecs);
    t = tensor_after(s332, "3.3.1's context_vec_2");
    assert_printed_f("context_vec_2 again", &t, 1, (int[]){D_IN}, z2);
    free(out);
}
END_TEST

/* Every shape line says what the book's does (keys.shape: torch.Size([6,
 * 2]) and so on) and is the shape of the tensor printed with it. */
START_TEST(test_walkthrough_prints_the_books_shapes) {
    char *out;
    ck_assert_int_eq(ch03(&out, NULL, "walkthrough"), 0);
    int shape[4], ndim;
    const char *s341 = find(out, "== 3.4.1");
    ndim = shape_after(s341, "keys", shape);
    assert_shape("keys", shape, ndim, (int[]){T, D_OUT}, 2);
    ndim = shape_after(s341, "values", shape);
    assert_shape("values", shape, ndim, (int[]){T, D_OUT}, 2);
    const struct {
        const char *section, *shape_name, *tensor_label;
        int ndim, want[3];
    } lines[] = {
        {"== 3.5.3", "batch", NULL, 3, {B, T, D_IN}},
        {"== 3.5.3", "context_vecs", "context_vecs = ", 3, {B, T, D_OUT}},
        {"== 3.6.1", "context_vecs", "context_vecs = ", 3, {B, T, HEADS * D_OUT}},
        {"== 3.6.2", "context_vecs", "context_vecs = ", 3, {B, T, D_OUT}},
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        const char *at = find(out, lines[i].section);
        ndim = shape_after(at, lines[i].shape_name, shape);
        assert_shape(lines[i].section, shape, ndim, lines[i].want, lines[i].ndim);
        if (lines[i].tensor_label) {
            Printed t = tensor_after(at, lines[i].tensor_label);
            assert_shape(lines[i].section, t.shape, t.ndim, shape, ndim);
        }
    }
    free(out);
}
END_TEST

/* ---- the walkthrough recomputed in double ---------------------------------------------
 * The walkthrough's usage says how it draws the weights: our generator,
 * seeded with --seed where the book calls torch.manual_seed(123) and with
 * 789 for SelfAttention_v2; torch.rand is U[0,1), nn.Linear's weights and
 * biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)), in the order the book makes
 * them. Here the same draws, and every step on plain loops. */

/* torch.rand: U[0,1) */
static void torch_rand(Rng *rng, float *w, int n) { rng_fill_uniform(rng, w, (size_t)n, 0, 1); }
/* nn.Linear's weight or bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
static void nn_linear(Rng *rng, float *w, int n, int fan_in) {
    const float bound = 1.0f / sqrtf((float)fan_in);
    rng_fill_uniform(rng, w, (size_t)n, -bound, bound);
}
/* W_query, W_key, W_value = nn.Linear(3, 2) three times, in that order */
static void qkv_linear(Rng *rng, float *Wq, float *Wk, float *Wv) {
    nn_linear(rng, Wq, D_IN * D_OUT, D_IN);
    nn_linear(rng, Wk, D_IN * D_OUT, D_IN);
    nn_linear(rng, Wv, D_IN * D_OUT, D_IN);
}

/* out (rows,m) = x (rows,n) @ W (n,m); W's columns from col, m of ld. */
static void project(double *out, const float *x, const float *W, int rows, int n, int ld, int col, int m) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < m; j++) {
            double s = 0;
            for (int i = 0; i < n; i++) s += (double)x[r * n + i] * W[i * ld + col + j];
            out[r * m + j] = s;
        }
}

/* Attention of q, k, v (T,d): scores q k^T (T,T), weights softmax(scores
 * / sqrt(d)) with -inf above the diagonal when causal, out = weights v. */
static void attend(double *out, double *scores, double *weights, const double *q, const double *k, const double *v,
                   int d, bool causal) {
    for (int i = 0; i < T; i++) {
        double largest = -INFINITY, sum = 0;
        for (int j = 0; j < T; j++) {
            double s = 0;
            for (int c = 0; c < d; c++) s += q[i * d + c] * k[j * d + c];
            scores[i * T + j] = causal && j > i ? -INFINITY : s;
            largest = fmax(largest, scores[i * T + j] / sqrt(d));
        }
        for (int j = 0; j < T; j++) sum += weights[i * T + j] = exp(scores[i * T + j] / sqrt(d) - largest);
        for (int j = 0; j < T; j++) weights[i * T + j] /= sum;
        for (int c = 0; c < d; c++) {
            double s = 0;
            for (int j = 0; j < T; j++) s += weights[i * T + j] * v[j * d + c];
            out[i * d + c] = s;
        }
    }
}

/* One causal head on the inputs with the columns col.. (width d) of W_query,
 * W_key, W_value (D_IN,ld): out (T,d). */
static void causal_head(double *out, const float *Wq, const float *Wk, const float *Wv, int ld, int col, int d) {
    double q[T * D_OUT], k[T * D_OUT], v[T * D_OUT], scores[T * T], weights[T * T];
    project(q, BOOK_INPUTS, Wq, T, D_IN, ld, col, d);
    project(k, BOOK_INPUTS, Wk, T, D_IN, ld, col, d);
    project(v, BOOK_INPUTS, Wv, T, D_IN, ld, col, d);
    attend(out, scores, weights, q, k, v, d, true);
}

/* The batch is two copies of the inputs: both sequences' rows are one's. */
static void assert_batch(const char *what, const Printed *t, const double *one, int width) {
    double both[B * T * HEADS * D_OUT];
    for (int b = 0; b < B; b++) memcpy(both + b * T * width, one, sizeof(double) * T * width);
    assert_printed(what, t, 3, (int[]){B, T, width}, both);
}

static void check_walkthrough_against_double(long seed) {
    char args[64], *out;
    snprintf(args, sizeof args, "walkthrough --seed %ld", seed);
    ck_assert_int_eq(ch03(&out, NULL, args), 0);
    Rng rng;
    Printed t;

    /* 3.4.1: W_query, W_key, W_value = torch.rand(3, 2) after the seed */
    const char *s341 = find(out, "== 3.4.1");
    float Wq[D_IN * D_OUT], Wk[D_IN * D_OUT], Wv[D_IN * D_OUT];
    rng_seed(&rng, (uint64_t)seed);
    torch_rand(&rng, Wq, D_IN * D_OUT);
    torch_rand(&rng, Wk, D_IN * D_OUT);
    torch_rand(&rng, Wv, D_IN * D_OUT);
    double query_2[D_OUT], keys[T * D_OUT], values[T * D_OUT], scores_2[T], weights_2[T], context_2[D_OUT];
    project(query_2, BOOK_INPUTS + 1 * D_IN, Wq, 1, D_IN, D_OUT, 0, D_OUT);
    project(keys, BOOK_INPUTS, Wk, T, D_IN, D_OUT, 0, D_OUT);
    project(values, BOOK_INPUTS, Wv, T, D_IN, D_OUT, 0, D_OUT);
    double sum = 0;
    for (int t = 0; t < T; t++) scores_2[t] = query_2[0] * keys[t * D_OUT] + query_2[1] * keys[t * D_OUT + 1];
    for (int t = 0; t < T; t++) sum += weights_2[t] = exp(scores_2[t] / sqrt(D_OUT));
    for (int t = 0; t < T; t++) weights_2[t] /= sum;
    for (int c = 0; c < D_OUT; c++) {
        context_2[c] = 0;
        for (int t = 0; t < T; t++) context_2[c] += weights_2[t] * values[t * D_OUT + c];
    }
    t = tensor_after(s341, "query_2 = ");
    assert_printed("query_2", &t, 1, (int[]){D_OUT}, query_2);
    ck_assert_double_eq_tol(number_after(s341, "attn_score_22 = query_2 . keys[1]: "), scores_2[1], PRINTED_TOL);
    t = tensor_after(s341, "attn_scores_2 = ");
    assert_printed("attn_scores_2", &t, 1, (int[]){T}, scores_2);
    t = tensor_after(s341, "attn_weights_2 = ");
    assert_printed("attn_weights_2", &t, 1, (int[]){T}, weights_2);
    t = tensor_after(s341, "context_vec_2 = ");
    assert_printed("context_vec_2", &t, 1, (int[]){D_OUT}, context_2);

    /* 3.4.2: SelfAttention_v1 seeded as 3.4.1 (the same weights), v2 with
     * nn.Linear(3, 2) weights after torch.manual_seed(789) */
    const char *s342 = find(out, "== 3.4.2");
    double sa[T * D_OUT], scores[T * T], weights[T * T], q[T * D_OUT];
    project(q, BOOK_INPUTS, Wq, T, D_IN, D_OUT, 0, D_OUT);
    attend(sa, scores, weights, q, keys, values, D_OUT, false);
    t = tensor_after(s342, "sa_v1(inputs)");
    assert_printed("sa_v1", &t, 2, (int[]){T, D_OUT}, sa);
    rng_seed(&rng, 789);
    qkv_linear(&rng, Wq, Wk, Wv);
    project(q, BOOK_INPUTS, Wq, T, D_IN, D_OUT, 0, D_OUT);
    project(keys, BOOK_INPUTS, Wk, T, D_IN, D_OUT, 0, D_OUT);
    project(values, BOOK_INPUTS, Wv, T, D_IN, D_OUT, 0, D_OUT);
    attend(sa, scores, weights, q, keys, values, D_OUT, false);
    t = tensor_after(s342, "sa_v2(inputs)");
    assert_printed("sa_v2", &t, 2, (int[]){T, D_OUT}, sa);

    /* 3.5.1: v2's weights, then causal by either way */
    const char *s351 = find(out, "== 3.5.1");
    t = tensor_after(s351, "attn_weights:");
    assert_printed("attn_weights", &t, 2, (int[]){T, T}, weights);
    double mask[T * T], causal_scores[T * T], causal[T * T];
    for (int i = 0; i < T * T; i++) mask[i] = i % T <= i / T;
    t = tensor_after(s351, "mask_simple");
    assert_printed("mask_simple", &t, 2, (int[]){T, T}, mask);
    attend(sa, causal_scores, causal, q, keys, values, D_OUT, true);
    t = tensor_after(s351, "masked_simple_norm");
    assert_printed("masked_simple_norm", &t, 2, (int[]){T, T}, causal);
    t = tensor_after(s351, "masked (");
    assert_printed("masked", &t, 2, (int[]){T, T}, causal_scores);
    t = tensor_after(s351, "softmax(masked");
    assert_printed("causal attn_weights", &t, 2, (int[]){T, T}, causal);
    ck_assert_double_lt(number_after(s351, "largest difference between the two ways: "), 1e-6);

    /* 3.5.2: dropout drops an element where its uniform draw is below p =
     * 0.5 and doubles the others; both dropouts start from the seed */
    const char *s352 = find(out, "== 3.5.2");
    ck_assert_double_eq(number_after(s352, "scaled by 1/(1-p) = "), 2.0);
    double example[T * T], dropped[T * T];
    int zeros = 0;
    rng_seed(&rng, (uint64_t)seed);
    for (int i = 0; i < T * T; i++) {
        example[i] = rng_uniform(&rng) < 0.5f ? 0.0 : 2.0;
        dropped[i] = causal[i] * example[i];
        zeros += example[i] == 0;
    }
    ck_assert_int_gt(zeros, 0); /* the seed drops some, as the book's does */
    t = tensor_after(s352, "dropout(example)");
    assert_printed("dropout(example)", &t, 2, (int[]){T, T}, example);
    t = tensor_after(s352, "dropout(attn_weights)");
    assert_printed("dropout(attn_weights)", &t, 2, (int[]){T, T}, dropped);

    /* 3.5.3: CausalAttention, nn.Linear(3, 2) three times after the seed */
    double ca[T * HEADS * D_OUT];
    rng_seed(&rng, (uint64_t)seed);
    qkv_linear(&rng, Wq, Wk, Wv);
    causal_head(ca, Wq, Wk, Wv, D_OUT, 0, D_OUT);
    t = tensor_after(find(out, "== 3.5.3"), "context_vecs = ");
    assert_batch("CausalAttention", &t, ca, D_OUT);

    /* 3.6.1: two CausalAttention heads after the seed, side by side */
    double wrapper[T * HEADS * D_OUT], head[T * D_OUT];
    rng_seed(&rng, (uint64_t)seed);
    for (int h = 0; h < HEADS; h++) {
        qkv_linear(&rng, Wq, Wk, Wv);
        causal_head(head, Wq, Wk, Wv, D_OUT, 0, D_OUT);
        for (int i = 0; i < T; i++)
            for (int c = 0; c < D_OUT; c++) wrapper[i * HEADS * D_OUT + h * D_OUT + c] = head[i * D_OUT + c];
    }
    t = tensor_after(find(out, "== 3.6.1"), "context_vecs = ");
    assert_batch("MultiHeadAttentionWrapper", &t, wrapper, HEADS * D_OUT);

    /* 3.6.2: MultiHeadAttention(3, 2, num_heads=2): W_query, W_key,
     * W_value (3,2), out_proj (2,2) and its bias after the seed; head h
     * is column h (head_dim 1) of each projection */
    float Wo[D_OUT * D_OUT], bo[D_OUT];
    rng_seed(&rng, (uint64_t)seed);
    qkv_linear(&rng, Wq, Wk, Wv);
    nn_linear(&rng, Wo, D_OUT * D_OUT, D_OUT);
    nn_linear(&rng, bo, D_OUT, D_OUT);
    const int head_dim = D_OUT / HEADS;
    double context[T * D_OUT], mha[T * D_OUT];
    for (int h = 0; h < HEADS; h++) {
        causal_head(head, Wq, Wk, Wv, D_OUT, h * head_dim, head_dim);
        for (int i = 0; i < T; i++)
            for (int c = 0; c < head_dim; c++) context[i * D_OUT + h * head_dim + c] = head[i * head_dim + c];
    }
    for (int i = 0; i < T; i++)
        for (int j = 0; j < D_OUT; j++) {
            mha[i * D_OUT + j] = bo[j];
            for (int c = 0; c < D_OUT; c++) mha[i * D_OUT + j] += context[i * D_OUT + c] * Wo[c * D_OUT + j];
        }
    const char *s362 = find(out, "== 3.6.2");
    t = tensor_after(s362, "context_vecs = ");
    assert_batch("MultiHeadAttention", &t, mha, D_OUT);
    ck_assert_double_lt(number_after(s362, "the fast version (attention_fast.c), largest difference: "), 1e-6);
    free(out);
}

START_TEST(test_walkthrough_matches_double_precision) {
    check_walkthrough_against_double(123); /* the book's seed */
    check_walkthrough_against_double(7);   /* --seed is used */
}
END_TEST

START_TEST(test_mha_and_bad_input) {
    char *out, *err;
    int shape[4];
    ck_assert_int_eq(ch03(&out, &err, "mha --batch 2 --tokens 70 --d-in 24 --d-out 32 --heads 4 --qkv-bias --reference"), 0);
    assert_shape("output", shape, shape_after(out, "output", shape), (int[]){2, 70, 32}, 3);
    Printed row = tensor_after(out, "first output row");
    ck_assert_int_eq(row.n, 6);
    double difference = number_after(out, "the book's version (plain loops), largest difference: ");
    ck_assert_msg(difference < 1e-5, "the fast version differs from the book's by %g", difference);
    /* "forward took S s (R tokens/s)": R is the 140 tokens over S, so R S
     * is 140 but for their rounding (S to 0.0005, R to 0.5) */
    double seconds = number_after(err, "forward took "), rate = number_after(err, " s (");
    ck_assert_msg(fabs(rate * seconds - 140) <= 0.0005 * rate + 0.5 * seconds + 1e-9, "%s", err);
    free(out);
    free(err);
    ck_assert_int_eq(ch03(&out, NULL, "mha --batch 3 --tokens 5 --d-in 7 --d-out 4 --heads 2"), 0);
    assert_shape("output", shape, shape_after(out, "output", shape), (int[]){3, 5, 4}, 3);
    ck_assert_int_eq(tensor_after(out, "first output row").n, 4);
    free(out);
    ck_assert_int_eq(ch03(NULL, &err, "mha --d-out 10 --heads 3"), 1);
    ck_assert_str_eq(err, "ch03: mha: --d-out 10 is not divisible by --heads 3\n");
    free(err);
    ck_assert_int_eq(ch03(NULL, &err, "mha --tokens 0"), 1);
    ck_assert_msg(strncmp(err, "ch03: --tokens: '0' is not a whole number in 1..65536", 53) == 0, "%s", err);
    free(err);
    ck_assert_int_eq(ch03(NULL, &err, "mha --bogus"), 2);
    ck_assert_msg(strstr(err, "try 'ch03 mha --help'") != NULL, "%s", err);
    free(err);
    ck_assert_int_eq(ch03(&out, NULL, "--help"), 0);
    ck_assert(strstr(out, "walkthrough") != NULL && strstr(out, "mha") != NULL);
    free(out);
}
END_TEST

Suite *ch03_cli_suite(void) {
    Suite *s = suite_create("ch03_cli");
    TCase *tc = tcase_create("program");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_walkthrough_prints_the_books_numbers);
    tcase_add_test(tc, test_walkthrough_prints_the_books_shapes);
    tcase_add_test(tc, test_walkthrough_matches_double_precision);
    tcase_add_test(tc, test_mha_and_bad_input);
    suite_add_tcase(s, tc);
    return s;
}
