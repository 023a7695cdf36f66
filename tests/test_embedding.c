/* Tests for ch02_text/embedding.c. */
#include "../ch02_text/embedding.h"
#include "../common/rng.h"
#include "../common/tensor.h"
#include "gradient_check.h"
#include "test_helpers.h"

START_TEST(test_lookup_copies_rows) {
    float weight[6 * 3];
    for (int i = 0; i < 18; i++) weight[i] = (float)i;
    int ids[4] = {2, 3, 5, 1};
    float out[4 * 3];
    embedding_forward(out, ids, 4, weight, 6, 3);
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < 3; c++) ck_assert_float_eq(out[i * 3 + c], weight[ids[i] * 3 + c]);
}
END_TEST

START_TEST(test_positions_add_per_position) {
    /* the book's shapes: (8, 4, 256) token embeddings + (4, 256) positions */
    Tensor x = tensor_zeros3(8, 4, 256), pos = tensor_zeros2(4, 256);
    for (size_t i = 0; i < x.size; i++) x.data[i] = 1.0f;
    for (size_t i = 0; i < pos.size; i++) pos.data[i] = (float)(i / 256); /* position t holds t */
    add_position_embeddings(x.data, pos.data, 8, 4, 256);
    for (int b = 0; b < 8; b++)
        for (int t = 0; t < 4; t++) ck_assert_float_eq(x.data[(b * 4 + t) * 256 + 17], 1.0f + t);
    tensor_free(&x);
    tensor_free(&pos);
}
END_TEST

/* ---- gradients ----------------------------------------------------------------------
 * Both layers copy or add, so the float32 forward is exact up to one
 * rounding of each sum, and loss = sum(out * G) is taken in double: a large
 * step (h = 0.25) gives the derivative of these linear maps to ~1e-7, and
 * 1e-5 of the scale is a tight bound. */

typedef struct {
    float *out, *weight, *x, *pos;
    const float *G;
    const int *ids;
    int n, vocab, B, T, C;
} EmbeddingCase;

static double dot_g(const float *out, const float *G, size_t n) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += (double)out[i] * G[i];
    return sum;
}

static double embedding_loss(void *ctx) {
    EmbeddingCase *e = ctx;
    embedding_forward(e->out, e->ids, e->n, e->weight, e->vocab, e->C);
    return dot_g(e->out, e->G, (size_t)e->n * e->C);
}

/* A repeated token collects both positions' gradients; rows of tokens that
 * do not occur stay as they were (the gradient accumulates onto 0.5). */
START_TEST(test_embedding_backward_matches_finite_differences) {
    enum { V = 6, C = 3, N = 5 };
    const int ids[N] = {2, 4, 2, 0, 2};
    float weight[V * C], out[N * C], G[N * C], grad_weight[V * C];
    double numeric[V * C];
    Rng rng;
    rng_seed(&rng, 3);
    rng_fill_normal(&rng, weight, V * C, 0, 1);
    rng_fill_normal(&rng, G, N * C, 0, 1);
    for (int i = 0; i < V * C; i++) grad_weight[i] = 0.5f;
    embedding_backward(grad_weight, G, ids, N, C);
    for (int i = 0; i < V * C; i++) grad_weight[i] -= 0.5f;
    EmbeddingCase e = {.out = out, .weight = weight, .G = G, .ids = ids, .n = N, .vocab = V, .C = C};
    for (int i = 0; i < V * C; i++) numeric[i] = central_difference_f32(&weight[i], 0.25f, embedding_loss, &e);
    assert_gradient_close("grad_tok_emb", grad_weight, numeric, V * C, 1e-5);
    for (int c = 0; c < C; c++) {
        ck_assert_float_eq(grad_weight[1 * C + c], 0.0f); /* token 1 does not occur */
        ck_assert_float_eq_tol(grad_weight[2 * C + c], G[0 * C + c] + G[2 * C + c] + G[4 * C + c], 1e-6f);
    }
}
END_TEST

static double positions_loss(void *ctx) {
    EmbeddingCase *e = ctx;
    size_t n = (size_t)e->B * e->T * e->C;
    for (size_t i = 0; i < n; i++) e->out[i] = e->x[i];
    add_position_embeddings(e->out, e->pos, e->B, e->T, e->C);
    return dot_g(e->out, e->G, n);
}

/* pos_weight has more rows (context 6) than the sequence (T = 4): the rows
 * past T get no gradient. */
START_TEST(test_position_backward_matches_finite_differences) {
    enum { B = 3, T = 4, CTX = 6, C = 5 };
    float x[B * T * C], out[B * T * C], G[B * T * C], pos[CTX * C], grad_pos[CTX * C] = {0};
    double numeric[CTX * C];
    Rng rng;
    rng_seed(&rng, 4);
    rng_fill_normal(&rng, x, B * T * C, 0, 1);
    rng_fill_normal(&rng, G, B * T * C, 0, 1);
    rng_fill_normal(&rng, pos, CTX * C, 0, 1);
    add_position_embeddings_backward(grad_pos, G, B, T, C);
    EmbeddingCase e = {.out = out, .x = x, .pos = pos, .G = G, .B = B, .T = T, .C = C};
    for (int i = 0; i < CTX * C; i++) numeric[i] = central_difference_f32(&pos[i], 0.25f, positions_loss, &e);
    assert_gradient_close("grad_pos_emb", grad_pos, numeric, CTX * C, 1e-5);
    for (int i = T * C; i < CTX * C; i++) ck_assert_float_eq(grad_pos[i], 0.0f);
}
END_TEST

START_TEST(test_out_of_range_id_exits) {
    float weight[6] = {0}, out[2];
    int ids[1] = {3};
    embedding_forward(out, ids, 1, weight, 3, 2);
}
END_TEST

Suite *embedding_suite(void) {
    Suite *s = suite_create("embedding");
    TCase *tc = tcase_create("core");
    add_test(tc, test_lookup_copies_rows);
    add_test(tc, test_positions_add_per_position);
    add_test(tc, test_embedding_backward_matches_finite_differences);
    add_test(tc, test_position_backward_matches_finite_differences);
    add_exit_test(tc, test_out_of_range_id_exits, 1);
    suite_add_tcase(s, tc);
    return s;
}
