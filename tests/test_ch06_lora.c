/* Tests for LoRA (the book's appendix E, ch06_finetune/lora.c) and the
 * frozen backward passes of chapters 3 and 4 it relies on: against PyTorch
 * (tests/fixtures/ch06_lora.bin, made by tests/reference/ch06_lora_reference.py:
 * a small GPT with adapters of rank 4, alpha 8 on every linear layer, B not
 * zero, in both finetuning modes), the base weights untouched by training,
 * merging, the book's parameter count and the zero start. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ch04_gpt/config.h"
#include "../ch04_gpt/generate.h"
#include "../ch04_gpt/gpt.h"
#include "../ch05_pretrain/adamw.h"
#include "../ch05_pretrain/train.h"
#include "../ch06_finetune/classifier.h"
#include "../ch06_finetune/lora.h"
#include "../ch06_finetune/trainable.h"
#include "test_helpers.h"

enum { RANK = 4, FB = 4, FT = 12, IB = 2, IT = 10 };
static const float ALPHA = 8.0f;

static TensorFile fx;
static void load_fixture(void) { fx = read_fixture("ch06_lora.bin"); }
static void free_fixture(void) { tensor_file_free(&fx); }

static const Tensor *get(const char *name) { return fixture_tensor(&fx, name); }

/* The adapters' A and B from the fixture; the head's is lora.<head_name>. */
static void load_adapters(Lora *l, const char *head_name) {
    for (int i = 0; i < l->n; i++) {
        LoraLinear *a = &l->layers[i];
        const int R = a->parts * a->rank;
        char key[96];
        const char *name = i == l->n - 1 ? head_name : a->name;
        snprintf(key, sizeof key, "lora.%s.A", name);
        memcpy(a->A, tensor_file_expect(&fx, key, 2, (int[]){a->in, R})->data, (size_t)a->in * R * sizeof(float));
        snprintf(key, sizeof key, "lora.%s.B", name);
        memcpy(a->B, tensor_file_expect(&fx, key, 2, (int[]){R, a->out})->data, (size_t)R * a->out * sizeof(float));
    }
}

/* The classifier of the fixture with its adapters. */
static Classifier *lora_classifier_from_fixture(void) {
    Classifier *c = classifier_create(gpt_from_fixture(&fx, false, 0.0f), 2, 1, 0);
    const int C = c->gpt->config.emb_dim;
    memcpy(c->weight, tensor_file_expect(&fx, "head.weight", 2, (int[]){2, C})->data, 2 * C * sizeof(float));
    memcpy(c->bias, tensor_file_expect(&fx, "head.bias", 1, (int[]){2})->data, 2 * sizeof(float));
    classifier_use_lora(c, RANK, ALPHA, 0);
    load_adapters(c->lora, "head");
    return c;
}

static void batch(int *ids, int *labels) {
    const float *in = tensor_file_expect(&fx, "inputs", 2, (int[]){FB, FT})->data;
    const float *lb = tensor_file_expect(&fx, "labels", 1, (int[]){FB})->data;
    for (int i = 0; i < FB * FT; i++) ids[i] = (int)in[i];
    for (int i = 0; i < FB; i++) labels[i] = (int)lb[i];
}

static void instruct_batch(int *inputs, int *targets) {
    const float *in = tensor_file_expect(&fx, "instruct.inputs", 2, (int[]){IB, IT})->data;
    const float *tg = tensor_file_expect(&fx, "instruct.targets", 2, (int[]){IB, IT})->data;
    for (int i = 0; i < IB * IT; i++) {
        inputs[i] = (int)in[i];
        targets[i] = (int)tg[i];
    }
}

/* got within tol of want's largest magnitude (the scale of a gradient). */
static void assert_close_to_scale(const char *what, const float *got, const float *want, size_t n, float tol) {
    float scale = 0;
    for (size_t i = 0; i < n; i++) scale = fmaxf(scale, fabsf(want[i]));
    assert_all_close(what, got, want, n, 0, tol * scale);
}

/* Every adapter's grad_A and grad_B against prefix<name>.A/.B. */
static void assert_adapter_grads(const Lora *l, const char *prefix, const char *head_name) {
    for (int i = 0; i < l->n; i++) {
        const LoraLinear *a = &l->layers[i];
        const int R = a->parts * a->rank;
        char key[96];
        const char *name = i == l->n - 1 ? head_name : a->name;
        snprintf(key, sizeof key, "%s%s.A", prefix, name);
        assert_close_to_scale(key, a->grad_A, tensor_file_expect(&fx, key, 2, (int[]){a->in, R})->data,
                              (size_t)a->in * R, 1e-4f);
        snprintf(key, sizeof key, "%s%s.B", prefix, name);
        assert_close_to_scale(key, a->grad_B, tensor_file_expect(&fx, key, 2, (int[]){R, a->out})->data,
                              (size_t)R * a->out, 1e-4f);
    }
}

static bool all_zero(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (x[i] != 0.0f) return false;
    return true;
}

/* ---- against PyTorch ---------------------------------------------------------------- */

/* Classification: the last-token logits, the loss and every adapter's
 * gradient. C agrees with PyTorch to 4.8e-7 on the logits, 6e-8 on the loss
 * and 1.0e-6 of each gradient's largest magnitude (PyTorch's own float32
 * gradients are within 1.2e-6 of float64's): 1e-5 and 1e-4 of the scale
 * are generous. The frozen model and head get no gradient at all. */
START_TEST(test_classification_matches_pytorch) {
    Classifier *c = lora_classifier_from_fixture();
    Trainable t = {0};
    classifier_trainable(c, &t);
    ck_assert_int_eq(t.n_groups, 1);
    ck_assert_uint_eq(trainable_count(&t), c->lora->n_params);
    trainable_zero_grad(&t);
    int ids[FB * FT], labels[FB];
    batch(ids, labels);
    const float *logits = classifier_forward(c, ids, FB, FT);
    assert_all_close("logits", logits, tensor_file_expect(&fx, "logits", 2, (int[]){FB, 2})->data, FB * 2, 0, 1e-5f);
    float loss = classifier_loss_batch(c, ids, labels, FB, FT, true, NULL);
    const float want = get("loss")->data[0];
    ck_assert_msg(close_enough(loss, want, 0, 1e-5f), "loss %.7f, PyTorch %.7f", loss, want);
    assert_adapter_grads(c->lora, "grad.lora.", "head");
    ck_assert_ptr_null(c->gpt->grads); /* never even allocated */
    const int C = c->gpt->config.emb_dim;
    ck_assert(all_zero(c->head_grads, 2 * (size_t)C + 2));
    trainable_free(&t);
    classifier_free(c);
}
END_TEST

/* Instruction finetuning: the loss over every position (-100 ignored)
 * through adapters on the blocks and on the vocabulary head. C is within
 * 4.8e-7 of PyTorch's loss and 6.4e-7 of each gradient's scale. */
START_TEST(test_instruction_matches_pytorch) {
    GPTModel *m = gpt_from_fixture(&fx, false, 0.0f);
    Lora *l = lora_create(&m->config, m->config.vocab_size, RANK, ALPHA, 0);
    load_adapters(l, "out_head");
    lora_attach(l, m, true);
    int inputs[IB * IT], targets[IB * IT];
    instruct_batch(inputs, targets);
    float loss = calc_loss_batch(m, inputs, targets, IB, IT, true);
    const float want = get("instruct.loss")->data[0];
    ck_assert_msg(close_enough(loss, want, 1e-6f, 0), "loss %.7f, PyTorch %.7f", loss, want);
    assert_adapter_grads(l, "instruct.grad.lora.", "out_head");
    ck_assert_ptr_null(m->grads);
    lora_free(l);
    ck_assert(!m->frozen && m->blocks[0].qkv_hook == NULL && m->out_head_hook == NULL); /* detached */
    gpt_free(m);
}
END_TEST

/* ---- freezing ------------------------------------------------------------------------ */

/* Three AdamW steps (with weight decay) over the adapters: every base
 * weight, the head's too, stays bit for bit what it was; A and B move. */
START_TEST(test_adamw_leaves_the_base_weights_identical) {
    Classifier *c = lora_classifier_from_fixture();
    GPTModel *m = c->gpt;
    const size_t n_head = 2 * (size_t)m->config.emb_dim + 2;
    float *base = malloc(m->n_params * sizeof(float)), *head = malloc(n_head * sizeof(float));
    float *adapters = malloc(c->lora->n_params * sizeof(float));
    memcpy(base, m->params, m->n_params * sizeof(float));
    memcpy(head, c->head, n_head * sizeof(float));
    memcpy(adapters, c->lora->params, c->lora->n_params * sizeof(float));
    Trainable t = {0};
    classifier_trainable(c, &t);
    AdamWConfig adam = adamw_default_config();
    adam.lr = 1e-2f;
    adam.weight_decay = 0.1f;
    int ids[FB * FT], labels[FB];
    batch(ids, labels);
    float first = 0, loss = 0;
    for (int step = 0; step < 3; step++) {
        trainable_zero_grad(&t);
        loss = classifier_loss_batch(c, ids, labels, FB, FT, true, NULL);
        if (step == 0) first = loss;
        trainable_step(&t, &adam, adam.lr);
    }
    ck_assert_msg(loss < first, "the loss went from %.4f to %.4f", first, loss);
    ck_assert_int_eq(memcmp(base, m->params, m->n_params * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(head, c->head, n_head * sizeof(float)), 0);
    for (int i = 0; i < c->lora->n; i++) {
        const LoraLinear *a = &c->lora->layers[i];
        const size_t off = (size_t)(a->A - c->lora->params), n = (size_t)a->in * a->parts * a->rank;
        ck_assert_msg(memcmp(a->A, adapters + off, n * sizeof(float)) != 0, "%s: A did not train", a->name);
        ck_assert_msg(memcmp(a->B, adapters + off + n, (size_t)a->parts * a->rank * a->out * sizeof(float)) != 0,
                      "%s: B did not train", a->name);
    }
    ck_assert_ptr_null(m->grads);
    free(base);
    free(head);
    free(adapters);
    trainable_free(&t);
    classifier_free(c);
}
END_TEST

/* ---- merging ------------------------------------------------------------------------- */

/* W += (alpha/r) A B computes what the adapters did: the classifier's
 * logits, and the vocabulary logits of a GPT with adapters on its head
 * (through the KV cache's path too), within 1e-5 (2.4e-7 and 1.2e-6
 * seen). */
START_TEST(test_merged_model_computes_the_same) {
    Classifier *c = lora_classifier_from_fixture();
    int ids[FB * FT], labels[FB];
    batch(ids, labels);
    float with[FB * 2];
    memcpy(with, classifier_forward(c, ids, FB, FT), sizeof with);
    classifier_merge_lora(c);
    ck_assert_ptr_null(c->lora);
    ck_assert(!c->gpt->frozen);
    assert_all_close("merged classifier logits", classifier_forward(c, ids, FB, FT), with, FB * 2, 0, 1e-5f);
    classifier_free(c);

    GPTModel *m = gpt_from_fixture(&fx, false, 0.0f);
    const int V = m->config.vocab_size;
    Lora *l = lora_create(&m->config, V, RANK, ALPHA, 0);
    load_adapters(l, "out_head");
    lora_attach(l, m, true);
    int inputs[IB * IT], targets[IB * IT];
    instruct_batch(inputs, targets);
    gpt_forward(m, inputs, 1, IT);
    float *logits = malloc((size_t)IT * V * sizeof(float));
    memcpy(logits, m->logits, (size_t)IT * V * sizeof(float));
    /* the cached path (generation) calls the same hooks */
    KVCache *kv = kv_cache_create(&m->config);
    const float *cached = NULL;
    for (int t = 0; t < IT; t++) cached = gpt_forward_cached(m, kv, inputs[t]);
    assert_all_close("cached logits with adapters", cached, logits + (size_t)(IT - 1) * V, V, 0, 1e-5f);
    kv_cache_free(kv);
    lora_merge(l, m->out_head);
    ck_assert(!m->frozen && m->out_head_hook == NULL);
    gpt_forward(m, inputs, 1, IT);
    assert_all_close("merged vocabulary logits", m->logits, logits, (size_t)IT * V, 0, 1e-5f);
    free(logits);
    lora_free(l);
    gpt_free(m);
}
END_TEST

/* ---- initialisation and size ---------------------------------------------------------------- */

/* The book's numbers: GPT-2 small (124,439,808 parameters, tied) with the
 * 2-class head (768*2+2) has 124,441,346; LoRA of rank 16 on every linear
 * layer trains 2,666,528 of them. Counted from the configuration alone. */
START_TEST(test_trainable_count_matches_the_book) {
    GPTConfig cfg;
    ck_assert(gpt_config_preset("gpt2-small", &cfg));
    const size_t total = gpt_param_count(&cfg) + 2 * (size_t)cfg.emb_dim + 2;
    ck_assert_uint_eq(total, 124441346);
    ck_assert_uint_eq(lora_param_count(&cfg, 16, 2), 2666528);
}
END_TEST

/* A is kaiming_uniform_(a=sqrt(5)) on (in, r): within +-1/sqrt(r), and
 * filling that range; B is zero, so a model with fresh adapters computes
 * exactly what it computed without them. */
START_TEST(test_fresh_adapters_change_nothing) {
    Classifier *c = classifier_create(gpt_from_fixture(&fx, false, 0.0f), 2, 1, 0);
    const int C = c->gpt->config.emb_dim;
    memcpy(c->weight, get("head.weight")->data, 2 * C * sizeof(float));
    memcpy(c->bias, get("head.bias")->data, 2 * sizeof(float));
    int ids[FB * FT], labels[FB];
    batch(ids, labels);
    float base[FB * 2];
    memcpy(base, classifier_forward(c, ids, FB, FT), sizeof base);
    classifier_use_lora(c, 16, 16.0f, 42);
    const float bound = 1.0f / sqrtf(16.0f);
    for (int i = 0; i < c->lora->n; i++) {
        const LoraLinear *a = &c->lora->layers[i];
        const size_t n_a = (size_t)a->in * a->parts * a->rank;
        float max = 0;
        for (size_t k = 0; k < n_a; k++) max = fmaxf(max, fabsf(a->A[k]));
        ck_assert_msg(max <= bound && max > 0.9f * bound, "%s: |A| up to %g, bound %g", a->name, max, bound);
        ck_assert_msg(all_zero(a->B, (size_t)a->parts * a->rank * a->out), "%s: B is not zero", a->name);
    }
    ck_assert_int_eq(memcmp(classifier_forward(c, ids, FB, FT), base, sizeof base), 0);
    classifier_free(c);
}
END_TEST

Suite *ch06_lora_suite(void) {
    Suite *s = suite_create("ch06_lora");
    TCase *tc = tcase_create("lora");
    tcase_add_unchecked_fixture(tc, load_fixture, free_fixture);
    add_test(tc, test_classification_matches_pytorch);
    add_test(tc, test_instruction_matches_pytorch);
    add_test(tc, test_adamw_leaves_the_base_weights_identical);
    add_test(tc, test_merged_model_computes_the_same);
    add_test(tc, test_trainable_count_matches_the_book);
    add_test(tc, test_fresh_adapters_change_nothing);
    suite_add_tcase(s, tc);
    return s;
}
