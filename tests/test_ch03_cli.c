/* Tests for the ch03 program: the numbers it prints, read back and checked
 * against the book and against each other (a shape line against the
 * tensor printed above it, 3.6.1's first head against 3.5.3), not the
 * labels next to them. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_helpers.h"

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

/* 3.3 has no random weights: the book's numbers, to its four decimals. */
START_TEST(test_walkthrough_prints_the_books_numbers) {
    char *out;
    ck_assert_int_eq(ch03(&out, NULL, "walkthrough"), 0);
    const char *s331 = find(out, "== 3.3.1");
    const float scores[6] = {0.9544f, 1.4950f, 1.4754f, 0.8434f, 0.7070f, 1.0865f};
    const float divided[6] = {0.1455f, 0.2278f, 0.2249f, 0.1285f, 0.1077f, 0.1656f};
    const float softmax[6] = {0.1385f, 0.2379f, 0.2333f, 0.1240f, 0.1082f, 0.1581f};
    const float z2[3] = {0.4419f, 0.6515f, 0.5683f};
    const float first_context[3] = {0.4421f, 0.5931f, 0.5790f};
    Printed t = tensor_after(s331, "attn_scores_2");
    assert_all_close("attn_scores_2", t.values, scores, 6, 0, 1e-6f);
    t = tensor_after(s331, "divided by their sum");
    assert_all_close("divided by the sum", t.values, divided, 6, 0, 1e-6f);
    t = tensor_after(s331, "(softmax)");
    assert_all_close("softmax", t.values, softmax, 6, 0, 1e-6f);
    ck_assert_double_eq_tol(number_after(s331, "Sum: "), 1.0, 1e-6);
    t = tensor_after(s331, "context_vec_2");
    assert_all_close("z(2)", t.values, z2, 3, 0, 1e-6f);
    const char *s332 = find(out, "== 3.3.2");
    t = tensor_after(s332, "All row sums");
    for (int i = 0; i < 6; i++) ck_assert_float_eq(t.values[i], 1.0f);
    t = tensor_after(s332, "all_context_vecs");
    ck_assert_int_eq(t.shape[0], 6);
    ck_assert_int_eq(t.shape[1], 3);
    assert_all_close("first context vector", t.values, first_context, 3, 0, 1e-6f);
    assert_all_close("second context vector", t.values + 3, z2, 3, 0, 1e-6f);
    free(out);
}
END_TEST

/* Every shape line matches the tensors it describes. */
START_TEST(test_walkthrough_shapes_are_computed) {
    char *out;
    ck_assert_int_eq(ch03(&out, NULL, "walkthrough"), 0);
    int shape[4], ndim;
    Printed inputs = tensor_after(out, "inputs");
    const int T = inputs.shape[0], d_in = inputs.shape[1];
    const char *s341 = find(out, "== 3.4.1");
    Printed query_2 = tensor_after(s341, "query_2 = ");
    const int d_out = query_2.shape[0];
    ndim = shape_after(s341, "keys", shape);
    assert_shape("keys", shape, ndim, (int[]){T, d_out}, 2);
    ndim = shape_after(s341, "values", shape);
    assert_shape("values", shape, ndim, (int[]){T, d_out}, 2);
    const char *s353 = find(out, "== 3.5.3");
    Printed ca = tensor_after(s353, "context_vecs = ");
    ndim = shape_after(s353, "batch", shape);
    assert_shape("batch", shape, ndim, (int[]){ca.shape[0], T, d_in}, 3);
    ndim = shape_after(s353, "context_vecs", shape);
    assert_shape("3.5.3 context_vecs", shape, ndim, ca.shape, ca.ndim);
    assert_shape("3.5.3 context_vecs (printed)", ca.shape, ca.ndim, (int[]){shape[0], T, d_out}, 3);
    const char *s361 = find(out, "== 3.6.1");
    Printed stacked = tensor_after(s361, "context_vecs = ");
    ndim = shape_after(s361, "context_vecs", shape);
    assert_shape("3.6.1 context_vecs", shape, ndim, stacked.shape, stacked.ndim);
    const char *s362 = find(out, "== 3.6.2");
    Printed mha = tensor_after(s362, "context_vecs = ");
    ndim = shape_after(s362, "context_vecs", shape);
    assert_shape("3.6.2 context_vecs", shape, ndim, mha.shape, mha.ndim);
    free(out);
}
END_TEST

/* From 3.4 on the weights are our generator's, so the numbers are not the
 * book's; what the book shows about them holds all the same. */
START_TEST(test_walkthrough_values_agree) {
    char *out;
    ck_assert_int_eq(ch03(&out, NULL, "walkthrough"), 0);
    /* 3.4: attn_score_22 is the second score; SelfAttention_v1, seeded as
     * 3.4.1, gives context_vec_2 as its second row */
    const char *s341 = find(out, "== 3.4.1");
    Printed scores_2 = tensor_after(s341, "attn_scores_2 = ");
    ck_assert_double_eq_tol(number_after(s341, "attn_score_22 = query_2 . keys[1]: "), scores_2.values[1], 1e-4);
    Printed context_2 = tensor_after(s341, "context_vec_2 = ");
    Printed v1 = tensor_after(find(out, "== 3.4.2"), "sa_v1(inputs)");
    assert_all_close("sa_v1 row 2 vs context_vec_2", v1.values + 2, context_2.values, 2, 0, 1.01e-4f);

    /* 3.5.1: both ways give the same causal weights, zero above the diagonal */
    const char *s351 = find(out, "== 3.5.1");
    Printed renormalised = tensor_after(s351, "masked_simple_norm");
    Printed via_inf = tensor_after(s351, "softmax(masked");
    assert_all_close("the two ways of masking", renormalised.values, via_inf.values, 36, 0, 1e-4f);
    for (int i = 0; i < 6; i++)
        for (int j = i + 1; j < 6; j++) ck_assert_float_eq(via_inf.values[i * 6 + j], 0.0f);
    double difference = number_after(s351, "largest difference between the two ways: ");
    ck_assert_msg(difference < 1e-6, "the two ways of masking differ by %g", difference);

    /* 3.5.2: the same seed drops the same positions, and the survivors
     * are doubled */
    const char *s352 = find(out, "== 3.5.2");
    Printed ones = tensor_after(s352, "dropout(example)");
    Printed dropped = tensor_after(s352, "dropout(attn_weights)");
    int zeros = 0;
    for (int i = 0; i < 36; i++) {
        ck_assert(ones.values[i] == 0.0f || ones.values[i] == 2.0f);
        zeros += ones.values[i] == 0.0f;
        /* four decimals each: the product is good to 1e-4 */
        ck_assert_float_eq_tol(dropped.values[i], via_inf.values[i] * ones.values[i], 1.5e-4f);
    }
    ck_assert_int_gt(zeros, 6);
    ck_assert_int_lt(zeros, 30);

    /* 3.6.1: seeded as 3.5.3, the first head is CausalAttention */
    Printed ca = tensor_after(find(out, "== 3.5.3"), "context_vecs = ");
    Printed stacked = tensor_after(find(out, "== 3.6.1"), "context_vecs = ");
    const int d_out = ca.shape[2], tokens = ca.shape[0] * ca.shape[1];
    ck_assert_int_eq(stacked.shape[2], 2 * d_out);
    for (int t = 0; t < tokens; t++)
        for (int i = 0; i < d_out; i++) ck_assert_float_eq(stacked.values[t * 2 * d_out + i], ca.values[t * d_out + i]);

    /* 3.6.2: the fast version agrees with the book's */
    difference = number_after(find(out, "== 3.6.2"), "the fast version (attention_fast.c), largest difference: ");
    ck_assert_msg(difference < 1e-6, "the fast version differs by %g", difference);
    free(out);
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
    ck_assert(strstr(err, "forward took") != NULL);
    free(out);
    free(err);
    ck_assert_int_eq(ch03(&out, NULL, "mha --batch 3 --tokens 5 --d-in 7 --d-out 4 --heads 2"), 0);
    assert_shape("output", shape, shape_after(out, "output", shape), (int[]){3, 5, 4}, 3);
    ck_assert_int_eq(tensor_after(out, "first output row").n, 4);
    free(out);
    ck_assert_int_eq(ch03(NULL, &err, "mha --d-out 10 --heads 3"), 1);
    ck_assert(strstr(err, "ch03: mha: --d-out 10 is not divisible by --heads 3") != NULL);
    free(err);
    ck_assert_int_eq(ch03(NULL, &err, "mha --tokens 0"), 1);
    ck_assert(strstr(err, "--tokens: '0' is not a whole number") != NULL);
    free(err);
    ck_assert_int_eq(ch03(NULL, &err, "mha --bogus"), 2);
    free(err);
    ck_assert_int_eq(ch03(&out, NULL, "--help"), 0);
    ck_assert(strstr(out, "walkthrough") != NULL);
    free(out);
}
END_TEST

Suite *ch03_cli_suite(void) {
    Suite *s = suite_create("ch03_cli");
    TCase *tc = tcase_create("program");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_walkthrough_prints_the_books_numbers);
    tcase_add_test(tc, test_walkthrough_shapes_are_computed);
    tcase_add_test(tc, test_walkthrough_values_agree);
    tcase_add_test(tc, test_mha_and_bad_input);
    suite_add_tcase(s, tc);
    return s;
}
