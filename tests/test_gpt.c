/* Tests for ch04_gpt: the configuration, the transformer block and the GPT
 * model against PyTorch (tests/fixtures/gpt_small.bin, made by
 * tests/reference/gpt_reference.py: 2 layers, 4 heads, 64 channels,
 * context 32, vocabulary 300, qkv bias on).
 *
 * Tolerance: each block is about ten float32 operations deep, each adding a
 * few ulps of rounding in another order than PyTorch, and layer norm
 * multiplies errors by up to 1/std of its input (about 3 here). Values are
 * of order 1-5, so 1e-5 relative plus 2e-5 absolute is a bound that a real
 * mistake (order 1e-2 and more) cannot hide under. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ch04_gpt/gpt.h"
#include "test_helpers.h"

#define REL 1e-5f
#define ABS 2e-5f

static TensorFile fx;
static void load_fixture(void) {
    char *path = fixture_path("gpt_small.bin");
    fx = tensor_file_read(path);
    free(path);
}
static void free_fixture(void) { tensor_file_free(&fx); }

static const float *get(const char *name) {
    const Tensor *t = tensor_file_find(&fx, name);
    ck_assert_msg(t != NULL, "fixture has no %s", name);
    return t->data;
}

GPTModel *small_gpt_from_fixture(const TensorFile *f, bool tied) {
    const float *c = tensor_file_find(f, "config")->data;
    GPTConfig cfg = {.vocab_size = (int)c[0],
                     .context_length = (int)c[1],
                     .emb_dim = (int)c[2],
                     .n_heads = (int)c[3],
                     .n_layers = (int)c[4],
                     .drop_rate = 0.1f,
                     .qkv_bias = c[5] != 0,
                     .tie_weights = tied};
    GPTModel *m = gpt_create(&cfg);
    gpt_load_params(m, f);
    return m;
}

START_TEST(test_param_counts_match_the_book_and_openai) {
    GPTConfig c = gpt_config_124m();
    ck_assert_uint_eq(gpt_param_count(&c), 163009536);
    c.tie_weights = true;
    ck_assert_uint_eq(gpt_param_count(&c), 124412160);
    /* OpenAI's checkpoints (qkv bias, tied head): the published counts */
    const char *names[] = {"gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl"};
    const size_t counts[] = {124439808, 354823168, 774030080, 1557611200};
    for (int i = 0; i < 4; i++) {
        ck_assert(gpt_config_preset(names[i], &c));
        ck_assert_uint_eq(gpt_param_count(&c), counts[i]);
    }
    ck_assert(!gpt_config_preset("gpt5", &c));
}
END_TEST

START_TEST(test_config_check) {
    char err[128];
    GPTConfig c = gpt_config_124m();
    ck_assert(gpt_config_check(&c, err, sizeof err));
    c.n_heads = 7;
    ck_assert(!gpt_config_check(&c, err, sizeof err));
    ck_assert_str_eq(err, "emb_dim 768 is not divisible by n_heads 7");
    c = gpt_config_124m();
    c.drop_rate = 1.0f;
    ck_assert(!gpt_config_check(&c, err, sizeof err));
}
END_TEST

START_TEST(test_forward_matches_pytorch_layer_by_layer) {
    GPTModel *m = small_gpt_from_fixture(&fx, false);
    const int B = 2, T = 16, C = 64;
    int ids[32];
    for (int i = 0; i < 32; i++) ids[i] = (int)get("input_ids")[i];
    gpt_forward(m, ids, B, T);
    const size_t n = (size_t)B * T * C;
    assert_all_close("embeddings", m->embedded, get("out.embeddings"), n, REL, ABS);
    for (int l = 0; l < 2; l++) {
        char name[64];
        const BlockActivations *a = &m->block_acts[l];
        struct {
            const char *suffix;
            const float *got;
        } checks[] = {{"norm1", a->norm1}, {"att", a->att_out}, {"norm2", a->norm2}, {"ff", a->ff_out}, {"", a->out}};
        for (int k = 0; k < 5; k++) {
            snprintf(name, sizeof name, "out.blocks.%d%s%s", l, *checks[k].suffix ? "." : "", checks[k].suffix);
            assert_all_close(name, checks[k].got, get(name), n, REL, ABS);
        }
    }
    assert_all_close("final_norm", m->final_norm, get("out.final_norm"), n, REL, ABS);
    assert_all_close("logits", m->logits, get("out.logits"), (size_t)B * T * 300, REL, ABS);
    gpt_free(m);
}
END_TEST

/* Causality: the logits at position t depend on tokens 0..t only. */
START_TEST(test_future_tokens_do_not_leak) {
    GPTModel *m = small_gpt_from_fixture(&fx, false);
    int ids[16];
    for (int i = 0; i < 16; i++) ids[i] = (int)get("input_ids")[i];
    gpt_forward(m, ids, 1, 16);
    float *before = malloc(8 * 300 * sizeof(float));
    memcpy(before, m->logits, 8 * 300 * sizeof(float));
    for (int i = 8; i < 16; i++) ids[i] = (ids[i] + 1) % 300;
    gpt_forward(m, ids, 1, 16);
    assert_all_close("logits of the first 8 positions", m->logits, before, 8 * 300, 0, 0);
    free(before);
    gpt_free(m);
}
END_TEST

START_TEST(test_tied_head_uses_token_embedding) {
    GPTModel *m = small_gpt_from_fixture(&fx, true);
    ck_assert_ptr_eq(m->out_head, m->tok_emb);
    ck_assert_ptr_null(gpt_find_param(m, "out_head.weight"));
    int prompt[5];
    for (int i = 0; i < 5; i++) prompt[i] = (int)get("generate.prompt")[i];
    gpt_forward(m, prompt, 1, 5);
    /* these logits reach 52, so compare relatively */
    assert_all_close("tied logits", m->logits + 4 * 300, get("generate_tied.logits"), 300, 1e-5f, 1e-4f);
    gpt_free(m);
}
END_TEST

START_TEST(test_init_like_pytorch_defaults) {
    GPTConfig c = {.vocab_size = 100, .context_length = 16, .emb_dim = 32, .n_heads = 4, .n_layers = 2, .qkv_bias = true};
    GPTModel *m = gpt_create(&c);
    gpt_init_weights(m, 1);
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *p = &m->tensors[i];
        const float *w = m->params + p->offset;
        double sum = 0, sum2 = 0, max_abs = 0;
        for (size_t k = 0; k < p->size; k++) {
            sum += w[k];
            sum2 += (double)w[k] * w[k];
            max_abs = fmax(max_abs, fabs(w[k]));
        }
        switch (p->init) {
        case INIT_ONES: ck_assert_msg(sum == (double)p->size && sum2 == sum, "%s", p->name); break;
        case INIT_ZEROS: ck_assert_msg(sum2 == 0, "%s", p->name); break;
        case INIT_LINEAR: ck_assert_msg(max_abs <= 1 / sqrt(p->fan_in) && max_abs > 0.5 / sqrt(p->fan_in), "%s", p->name); break;
        case INIT_NORMAL: ck_assert_msg(fabs(sum2 / p->size - 1) < 0.1, "%s variance %g", p->name, sum2 / p->size); break;
        }
    }
    gpt_free(m);
}
END_TEST

START_TEST(test_too_long_input_exits) {
    GPTModel *m = small_gpt_from_fixture(&fx, false);
    int ids[33] = {0};
    gpt_forward(m, ids, 1, 33);
}
END_TEST

START_TEST(test_bad_token_exits) {
    GPTModel *m = small_gpt_from_fixture(&fx, false);
    int ids[2] = {0, 300};
    gpt_forward(m, ids, 1, 2);
}
END_TEST

START_TEST(test_missing_param_in_file_exits) {
    GPTConfig c = {.vocab_size = 300, .context_length = 32, .emb_dim = 64, .n_heads = 4, .n_layers = 3, .qkv_bias = true};
    GPTModel *m = gpt_create(&c); /* 3 layers: the fixture has 2 */
    gpt_load_params(m, &fx);
}
END_TEST

Suite *gpt_suite(void) {
    Suite *s = suite_create("gpt");
    TCase *tc = tcase_create("pytorch");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, load_fixture, free_fixture);
    tcase_add_test(tc, test_param_counts_match_the_book_and_openai);
    tcase_add_test(tc, test_config_check);
    tcase_add_test(tc, test_forward_matches_pytorch_layer_by_layer);
    tcase_add_test(tc, test_future_tokens_do_not_leak);
    tcase_add_test(tc, test_tied_head_uses_token_embedding);
    tcase_add_test(tc, test_init_like_pytorch_defaults);
    tcase_add_exit_test(tc, test_too_long_input_exits, 1);
    tcase_add_exit_test(tc, test_bad_token_exits, 1);
    tcase_add_exit_test(tc, test_missing_param_in_file_exits, 1);
    suite_add_tcase(s, tc);
    return s;
}
