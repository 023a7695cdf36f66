/* Tests for chapter 6's classifier (ch06_finetune/classifier.c and
 * trainable.c) and the GPT's hidden-state forward and backward they use
 * (ch04_gpt/gpt.c): against PyTorch (tests/fixtures/ch06_classifier.bin,
 * made by tests/reference/ch06_classifier_reference.py: the book's frozen
 * model with a new head, three AdamW steps, and chapter 7's loss with
 * ignored padding), against finite differences, and the freezing itself. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ch04_gpt/gpt.h"
#include "../ch05_pretrain/gpt_weights.h"
#include "../ch05_pretrain/loss.h"
#include "../ch05_pretrain/train.h"
#include "../ch06_finetune/classifier.h"
#include "../ch06_finetune/instruction_data.h"
#include "../ch06_finetune/train_classifier.h"
#include "../ch06_finetune/trainable.h"
#include "gradient_check.h"
#include "test_helpers.h"

static TensorFile fx;
static void load_fixture(void) { fx = read_fixture("ch06_classifier.bin"); }
static void free_fixture(void) { tensor_file_free(&fx); }

static const Tensor *get(const char *name) { return fixture_tensor(&fx, name); }

static Classifier *classifier_from_fixture(void) {
    Classifier *c = classifier_create(gpt_from_fixture(&fx, false, 0.0f), 2, 1, 0);
    const int C = c->gpt->config.emb_dim;
    memcpy(c->weight, tensor_file_expect(&fx, "head.weight", 2, (int[]){2, C})->data, 2 * C * sizeof(float));
    memcpy(c->bias, tensor_file_expect(&fx, "head.bias", 1, (int[]){2})->data, 2 * sizeof(float));
    return c;
}

enum { STEPS = 3, FB = 4, FT = 12 };

static void fixture_batch(int step, int *ids, int *labels) {
    const float *in = tensor_file_expect(&fx, "inputs", 3, (int[]){STEPS, FB, FT})->data;
    const float *lb = tensor_file_expect(&fx, "labels", 2, (int[]){STEPS, FB})->data;
    for (int i = 0; i < FB * FT; i++) ids[i] = (int)in[step * FB * FT + i];
    for (int i = 0; i < FB; i++) labels[i] = (int)lb[step * FB + i];
}

/* got within tol of want's largest magnitude (the scale of a gradient). */
static void assert_close_to_scale(const char *what, const float *got, const float *want, size_t n, float tol) {
    float scale = 0;
    for (size_t i = 0; i < n; i++) scale = fmaxf(scale, fabsf(want[i]));
    assert_all_close(what, got, want, n, 0, tol * scale);
}

static bool is_trainable(const GPTModel *m, const char *name) {
    char last[32];
    snprintf(last, sizeof last, "blocks.%d.", m->config.n_layers - 1);
    return strncmp(name, last, strlen(last)) == 0 || strncmp(name, "final_norm.", 11) == 0;
}

/* ---- against PyTorch ---------------------------------------------------------------- */

/* The first batch's last-token logits, loss and gradients. C and PyTorch
 * agree to 1.2e-7 on the logits, exactly on the loss and to 3e-6 of each
 * gradient's largest magnitude (PyTorch's float32 gradients are no closer to
 * float64's): 1e-5 and 1e-4 of the scale are generous. Frozen tensors get no
 * gradient at all: exactly zero. */
START_TEST(test_first_batch_matches_pytorch) {
    Classifier *c = classifier_from_fixture();
    GPTModel *m = c->gpt;
    Trainable t = {0};
    classifier_trainable(c, &t);
    int ids[FB * FT], labels[FB];
    fixture_batch(0, ids, labels);
    const float *logits = classifier_forward(c, ids, FB, FT);
    assert_all_close("logits", logits, tensor_file_expect(&fx, "logits", 2, (int[]){FB, 2})->data, FB * 2, 0, 1e-5f);
    float loss = classifier_loss_batch(c, ids, labels, FB, FT, true, NULL);
    ck_assert_msg(close_enough(loss, get("losses")->data[0], 0, 1e-5f), "loss %.7f, PyTorch %.7f", loss,
                  get("losses")->data[0]);
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *p = &m->tensors[i];
        const float *g = m->grads + p->offset;
        if (is_trainable(m, p->name)) {
            char key[96];
            snprintf(key, sizeof key, "grad.%s", p->name);
            assert_close_to_scale(key, g, tensor_file_expect(&fx, key, p->ndim, p->shape)->data, p->size, 1e-4f);
        } else {
            for (size_t k = 0; k < p->size; k++) ck_assert_msg(g[k] == 0.0f, "frozen %s has a gradient", p->name);
        }
    }
    const int C = m->config.emb_dim;
    assert_close_to_scale("grad.head.weight", c->grad_weight, get("grad.head.weight")->data, 2 * C, 1e-4f);
    assert_close_to_scale("grad.head.bias", c->grad_bias, get("grad.head.bias")->data, 2, 1e-4f);
    trainable_free(&t);
    classifier_free(c);
}
END_TEST

/* The fixture's batches as a loader, noting whether the model was in
 * training mode when a batch was asked for. */
typedef struct {
    const Classifier *c;
    int next, ids[FB * FT], labels[FB];
    bool saw_training;
} FixtureBatches;

static void fixture_batches_reset(void *self) { ((FixtureBatches *)self)->next = 0; }

static bool fixture_batches_next(void *self, Batch *batch) {
    FixtureBatches *fb = self;
    if (fb->next == STEPS) return false;
    fb->saw_training |= fb->c->gpt->training;
    fixture_batch(fb->next++, fb->ids, fb->labels);
    *batch = (Batch){.B = FB, .T = FT, .inputs = fb->ids, .targets = fb->labels};
    return true;
}

/* 6.6 calc_accuracy_loader: over the first batch, the share of labels that
 * PyTorch's logits' argmax gets right; with a head that always answers 1,
 * the share of ones among the labels of the batches asked for (0: all).
 * In evaluation mode, and the model in training mode again after. */
START_TEST(test_accuracy_counts_right_predictions) {
    Classifier *c = classifier_from_fixture();
    FixtureBatches fb = {.c = c};
    BatchLoader loader = {.n_batches = STEPS, .reset = fixture_batches_reset, .next = fixture_batches_next, .self = &fb};
    const float *want = tensor_file_expect(&fx, "logits", 2, (int[]){FB, 2})->data;
    int ids[FB * FT], labels[FB], right = 0;
    fixture_batch(0, ids, labels);
    for (int b = 0; b < FB; b++) right += (want[2 * b + 1] > want[2 * b]) == labels[b];
    c->gpt->training = true;
    fb.next = STEPS; /* a new epoch first */
    ck_assert_float_eq(calc_accuracy_loader(c, &loader, 1), (float)right / FB);
    ck_assert(!fb.saw_training && c->gpt->training);

    const int C = c->gpt->config.emb_dim;
    memset(c->weight, 0, 2 * C * sizeof(float));
    c->bias[0] = 0.0f, c->bias[1] = 1.0f;
    int ones[STEPS + 1] = {0}; /* ones[n]: among the first n batches' labels */
    for (int step = 0; step < STEPS; step++) {
        fixture_batch(step, ids, labels);
        ones[step + 1] = ones[step];
        for (int b = 0; b < FB; b++) ones[step + 1] += labels[b] == 1;
    }
    ck_assert_float_eq(calc_accuracy_loader(c, &loader, 2), (float)ones[2] / (2 * FB));
    ck_assert_float_eq(calc_accuracy_loader(c, &loader, 0), (float)ones[STEPS] / (STEPS * FB));
    ck_assert_float_eq(calc_accuracy_loader(c, &loader, STEPS + 4), (float)ones[STEPS] / (STEPS * FB));
    ck_assert(!fb.saw_training && c->gpt->training);
    classifier_free(c);
}
END_TEST

/* Three steps of train_classifier_simple with AdamW over the trainable
 * ranges only. Losses within 1e-5 (C is within 7e-7 of PyTorch, which is
 * within 2e-7 of its own float64). The trained tensors within 1e-5 + 1e-6
 * relative (1% of a step of lr 1e-3; C is within 4.2e-7 of PyTorch, PyTorch
 * within 7e-7 of float64), except the elements the fixture lists as
 * sensitive (AdamW normalises their rounding noise into steps: see the
 * reference script; C is within 1.6e-4 there), which must stay within two
 * steps. Every frozen parameter is bit for bit what it was. */
START_TEST(test_three_steps_match_pytorch_and_frozen_stay_identical) {
    Classifier *c = classifier_from_fixture();
    GPTModel *m = c->gpt;
    float *before = malloc(m->n_params * sizeof(float));
    memcpy(before, m->params, m->n_params * sizeof(float));
    Trainable t = {0};
    classifier_trainable(c, &t);
    ck_assert_int_eq(t.n_groups, 2);
    AdamWConfig adam = adamw_default_config();
    adam.lr = 1e-3f;
    adam.weight_decay = 0.1f;
    for (int step = 0; step < STEPS; step++) {
        int ids[FB * FT], labels[FB];
        fixture_batch(step, ids, labels);
        trainable_zero_grad(&t);
        float loss = classifier_loss_batch(c, ids, labels, FB, FT, true, NULL);
        ck_assert_msg(close_enough(loss, get("losses")->data[step], 0, 1e-5f), "step %d: loss %.7f, PyTorch %.7f",
                      step, loss, get("losses")->data[step]);
        trainable_step(&t, &adam, adam.lr);
    }
    int n_trained = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *p = &m->tensors[i];
        const float *got = m->params + p->offset;
        if (!is_trainable(m, p->name)) {
            ck_assert_msg(memcmp(got, before + p->offset, p->size * sizeof(float)) == 0, "frozen %s changed", p->name);
            continue;
        }
        n_trained++;
        char key[96];
        snprintf(key, sizeof key, "final.%s", p->name);
        const float *want = tensor_file_expect(&fx, key, p->ndim, p->shape)->data;
        bool *loose = calloc(p->size, sizeof(bool));
        snprintf(key, sizeof key, "sensitive.%s", p->name);
        const Tensor *sens = tensor_file_find(&fx, key);
        for (int k = 0; sens && k < sens->shape[0]; k++) loose[(size_t)sens->data[k]] = true;
        for (size_t k = 0; k < p->size; k++) {
            float tol = loose[k] ? 2e-3f : 1e-5f + 1e-6f * fabsf(want[k]);
            ck_assert_msg(fabsf(got[k] - want[k]) <= tol, "%s[%zu]: %.8g, PyTorch %.8g", p->name, k, got[k], want[k]);
        }
        ck_assert_msg(memcmp(got, before + p->offset, p->size * sizeof(float)) != 0, "%s did not train", p->name);
        free(loose);
    }
    ck_assert_int_eq(n_trained, 14); /* the last block's 12 tensors and the final norm's 2 */
    const int C = m->config.emb_dim;
    assert_all_close("final.head.weight", c->weight, get("final.head.weight")->data, 2 * C, 1e-6f, 1e-5f);
    assert_all_close("final.head.bias", c->bias, get("final.head.bias")->data, 2, 1e-6f, 1e-5f);
    free(before);
    trainable_free(&t);
    classifier_free(c);
}
END_TEST

/* Chapter 7's loss: the collated batch, its loss through the whole GPT with
 * -100 targets ignored, and the gradients of the head and the embedding. */
START_TEST(test_instruction_loss_matches_pytorch) {
    GPTModel *m = gpt_from_fixture(&fx, false, 0.0f);
    const float *seqs_f = tensor_file_expect(&fx, "instruct.seqs", 2, (int[]){3, 7})->data;
    const float *len_f = get("instruct.lengths")->data;
    int seq_data[3][7], lengths[3];
    const int *seqs[3];
    for (int b = 0; b < 3; b++) {
        lengths[b] = (int)len_f[b];
        for (int j = 0; j < lengths[b]; j++) seq_data[b][j] = (int)seqs_f[b * 7 + j];
        seqs[b] = seq_data[b];
    }
    const int T = collate_length(lengths, 3, 0);
    ck_assert_int_eq(T, 7);
    int inputs[21], targets[21];
    collate_batch(seqs, lengths, 3, T, 299, inputs, targets);
    const float *want_in = tensor_file_expect(&fx, "instruct.inputs", 2, (int[]){3, 7})->data;
    const float *want_tg = tensor_file_expect(&fx, "instruct.targets", 2, (int[]){3, 7})->data;
    for (int i = 0; i < 21; i++) {
        ck_assert_int_eq(inputs[i], (int)want_in[i]);
        ck_assert_int_eq(targets[i], (int)want_tg[i]);
    }
    gpt_zero_grad(m);
    float loss = calc_loss_batch(m, inputs, targets, 3, T, true);
    float want = get("instruct.loss")->data[0];
    ck_assert_msg(close_enough(loss, want, 1e-5f, 0), "loss %.7f, PyTorch %.7f", loss, want);
    const ParamTensor *head = gpt_find_param(m, "out_head.weight"), *emb = gpt_find_param(m, "tok_emb.weight");
    assert_close_to_scale("out_head grad", m->grads + head->offset,
                          tensor_file_expect(&fx, "instruct.grad.out_head.weight", 2, head->shape)->data, head->size,
                          1e-4f);
    assert_close_to_scale("tok_emb grad", m->grads + emb->offset,
                          tensor_file_expect(&fx, "instruct.grad.tok_emb.weight", 2, emb->shape)->data, emb->size,
                          1e-4f);
    gpt_free(m);
}
END_TEST

/* ---- finite differences -------------------------------------------------------------------- */

static GPTModel *small_gpt(int vocab, int layers, uint64_t seed) {
    GPTConfig cfg = {.vocab_size = vocab, .context_length = 16, .emb_dim = 16, .n_heads = 2, .n_layers = layers,
                     .drop_rate = 0.0f, .qkv_bias = true, .tie_weights = false};
    GPTModel *m = gpt_create(&cfg);
    gpt_init_weights(m, seed);
    /* move the layer norms off 1/0, so their gradients are not special */
    Rng rng;
    rng_seed(&rng, seed + 1);
    for (int i = 0; i < m->n_tensors; i++) {
        ParamTensor *p = &m->tensors[i];
        if (p->init == INIT_ONES || p->init == INIT_ZEROS)
            for (size_t k = 0; k < p->size; k++) m->params[p->offset + k] += 0.1f * rng_normal(&rng);
    }
    return m;
}

typedef struct {
    Classifier *c;
    const int *ids, *labels;
    int B, T;
} LossCtx;

/* The mean cross entropy of the classifier's float32 logits, in double. */
static double classifier_loss(void *ctx) {
    const LossCtx *x = ctx;
    const float *logits = classifier_forward(x->c, x->ids, x->B, x->T);
    const int K = x->c->n_classes;
    double total = 0;
    for (int b = 0; b < x->B; b++) {
        const float *l = logits + b * K;
        double max = l[0], sum = 0;
        for (int k = 1; k < K; k++) max = fmax(max, l[k]);
        for (int k = 0; k < K; k++) sum += exp(l[k] - max);
        total += log(sum) + max - l[x->labels[b]];
    }
    return total / x->B;
}

/* The head's gradient (a linear layer: the loss is smooth in its weights,
 * so a step of 1e-3 and 1e-3 of the scale hold), and the final norm's and
 * the last block's through gpt_backward_hidden (float32 forward through
 * layer norms and attention: a step of 1e-2 and 1e-2 of the scale, as
 * gradient_check.h says). Three classes, to check K is not fixed to 2. */
START_TEST(test_head_gradient_matches_finite_differences) {
    enum { B = 3, T = 6, K = 3 };
    Classifier *c = classifier_create(small_gpt(40, 2, 9), K, 1, 4);
    GPTModel *m = c->gpt;
    const int C = m->config.emb_dim;
    Rng rng;
    rng_seed(&rng, 21);
    int ids[B * T];
    for (int i = 0; i < B * T; i++) ids[i] = (int)rng_below(&rng, 40);
    const int labels[B] = {2, 0, 1};
    Trainable t = {0};
    classifier_trainable(c, &t);
    trainable_zero_grad(&t);
    classifier_loss_batch(c, ids, labels, B, T, true, NULL);
    LossCtx ctx = {c, ids, labels, B, T};
    double numeric_w[K * C], numeric_b[K];
    for (int i = 0; i < K * C; i++) numeric_w[i] = central_difference_f32(&c->weight[i], 1e-3f, classifier_loss, &ctx);
    for (int i = 0; i < K; i++) numeric_b[i] = central_difference_f32(&c->bias[i], 1e-3f, classifier_loss, &ctx);
    assert_gradient_close("head weight", c->grad_weight, numeric_w, K * C, 1e-3);
    assert_gradient_close("head bias", c->grad_bias, numeric_b, K, 1e-3);
    const char *names[] = {"final_norm.scale", "final_norm.shift", "blocks.1.ff.fc2.bias", "blocks.1.norm1.scale",
                           "blocks.1.att.qkv.bias"};
    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
        const ParamTensor *p = gpt_find_param(m, names[n]);
        double *numeric = malloc(p->size * sizeof(double));
        for (size_t i = 0; i < p->size; i++)
            numeric[i] = central_difference_f32(&m->params[p->offset + i], 1e-2f, classifier_loss, &ctx);
        assert_gradient_close(names[n], m->grads + p->offset, numeric, p->size, 1e-2);
        free(numeric);
    }
    trainable_free(&t);
    classifier_free(c);
}
END_TEST

/* ---- freezing -------------------------------------------------------------------------------- */

START_TEST(test_tail_range_follows_the_table) {
    GPTModel *m = small_gpt(40, 3, 1);
    size_t off, n;
    const ParamTensor *shift = gpt_find_param(m, "final_norm.shift");
    const size_t end = shift->offset + shift->size;
    gpt_tail_range(m, 2, &off, &n);
    ck_assert_uint_eq(off, gpt_find_param(m, "blocks.2.norm1.scale")->offset);
    ck_assert_uint_eq(off + n, end);
    gpt_tail_range(m, 3, &off, &n);
    ck_assert_uint_eq(off, gpt_find_param(m, "final_norm.scale")->offset);
    ck_assert_uint_eq(n, 2 * 16);
    gpt_tail_range(m, 0, &off, &n);
    ck_assert_uint_eq(off, 0);
    ck_assert_uint_eq(n, end);
    /* the untied vocabulary head is after the final norm, never in the range */
    ck_assert_uint_eq(gpt_find_param(m, "out_head.weight")->offset, end);
    gpt_free(m);
}
END_TEST

/* The blocks below the trainable ones, and the embeddings, get no gradient
 * at all; train all blocks and the embeddings get one too. */
START_TEST(test_backward_stops_at_the_trainable_blocks) {
    enum { B = 2, T = 5 };
    const int ids[B * T] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, labels[B] = {1, 0};
    for (int trainable = 0; trainable <= 3; trainable++) {
        Classifier *c = classifier_create(small_gpt(40, 3, 2), 2, trainable, 3);
        GPTModel *m = c->gpt;
        Trainable t = {0};
        classifier_trainable(c, &t);
        ck_assert_uint_eq(t.groups[1].n, 2 * 16 + 2);
        classifier_loss_batch(c, ids, labels, B, T, true, NULL);
        for (int i = 0; i < m->n_tensors; i++) {
            const ParamTensor *p = &m->tensors[i];
            int layer = -1;
            sscanf(p->name, "blocks.%d.", &layer);
            bool trains = strncmp(p->name, "final_norm", 10) == 0 || (layer >= 0 && layer >= 3 - trainable) ||
                          (trainable == 3 && strstr(p->name, "_emb"));
            double sum = 0;
            for (size_t k = 0; k < p->size; k++) sum += fabs(m->grads[p->offset + k]);
            if (trains) ck_assert_msg(sum > 0, "%d trainable: %s has no gradient", trainable, p->name);
            else ck_assert_msg(sum == 0, "%d trainable: %s has a gradient", trainable, p->name);
        }
        trainable_free(&t);
        classifier_free(c);
    }
}
END_TEST

/* gpt_forward_hidden is gpt_forward without the head; gpt_backward_hidden
 * from grad_final_norm = grad_logits @ out_head is gpt_backward. */
START_TEST(test_hidden_passes_agree_with_full_ones) {
    enum { B = 2, T = 7, V = 40, C = 16 };
    GPTModel *m = small_gpt(V, 2, 5);
    Rng rng;
    rng_seed(&rng, 6);
    int ids[B * T];
    for (int i = 0; i < B * T; i++) ids[i] = (int)rng_below(&rng, V);
    gpt_forward(m, ids, B, T);
    float *norm = malloc(B * T * C * sizeof(float)), *grad_logits = malloc(B * T * V * sizeof(float));
    memcpy(norm, m->final_norm, B * T * C * sizeof(float));
    rng_fill_normal(&rng, grad_logits, B * T * V, 0.0f, 0.1f);
    gpt_zero_grad(m);
    gpt_backward(m, grad_logits);
    float *full = malloc(m->n_params * sizeof(float));
    memcpy(full, m->grads, m->n_params * sizeof(float));
    gpt_forward_hidden(m, ids, B, T);
    ck_assert_ptr_null(m->logits);
    ck_assert_int_eq(memcmp(norm, m->final_norm, B * T * C * sizeof(float)), 0);
    float *grad_norm = calloc(B * T * C, sizeof(float));
    for (int n = 0; n < B * T; n++)
        for (int v = 0; v < V; v++)
            for (int k = 0; k < C; k++) grad_norm[n * C + k] += grad_logits[n * V + v] * m->out_head[v * C + k];
    gpt_zero_grad(m);
    gpt_backward_hidden(m, grad_norm, 0);
    const ParamTensor *head = gpt_find_param(m, "out_head.weight");
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *p = &m->tensors[i];
        if (p == head) continue; /* the head is not part of the hidden passes */
        assert_close_to_scale(p->name, m->grads + p->offset, full + p->offset, p->size, 1e-5f);
    }
    free(grad_norm);
    free(full);
    free(norm);
    free(grad_logits);
    gpt_free(m);
}
END_TEST

/* A tiny classifier learns a rule on a handful of examples: the loss falls. */
START_TEST(test_tiny_classifier_loss_falls) {
    enum { N = 8, T = 6 };
    Classifier *c = classifier_create(small_gpt(30, 2, 11), 2, 1, 12);
    Rng rng;
    rng_seed(&rng, 13);
    int ids[N * T], labels[N];
    for (int i = 0; i < N; i++) {
        labels[i] = i % 2;
        /* spam-like rows contain token 7 somewhere */
        for (int j = 0; j < T; j++) ids[i * T + j] = 10 + (int)rng_below(&rng, 20);
        if (labels[i]) ids[i * T + (int)rng_below(&rng, T)] = 7;
    }
    Trainable t = {0};
    classifier_trainable(c, &t);
    AdamWConfig adam = adamw_default_config();
    adam.weight_decay = 0.1f;
    float first = 0, last = 0;
    int correct = 0;
    for (int step = 0; step < 40; step++) {
        trainable_zero_grad(&t);
        float loss = classifier_loss_batch(c, ids, labels, N, T, true, &correct);
        if (step == 0) first = loss;
        last = loss;
        trainable_step(&t, &adam, 1e-2f);
    }
    ck_assert_msg(last < 0.5f * first, "loss %.4f -> %.4f", first, last);
    ck_assert_int_eq(correct, N);
    trainable_free(&t);
    classifier_free(c);
}
END_TEST

/* 6.5 The new head is a fresh torch.nn.Linear(C, n_classes): weight and bias
 * uniform in +-1/sqrt(C), the same for the same seed; the blocks below the
 * trainable ones are frozen. */
START_TEST(test_new_head_is_a_fresh_linear_layer) {
    enum { K = 3 };
    Classifier *a = classifier_create(small_gpt(40, 3, 35), K, 1, 36), *b = classifier_create(small_gpt(40, 3, 35), K, 1, 36);
    const int C = a->gpt->config.emb_dim;
    ck_assert_int_eq(a->n_classes, K);
    ck_assert_int_eq(a->first_trainable, 2);
    const float bound = 1.0f / sqrtf((float)C);
    float lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < K * C; i++) {
        ck_assert_msg(fabsf(a->weight[i]) <= bound, "weight[%d] = %g outside +-%g", i, a->weight[i], bound);
        lo = fminf(lo, a->weight[i]);
        hi = fmaxf(hi, a->weight[i]);
    }
    ck_assert_msg(hi - lo > bound, "weights from %g to %g: not spread over +-%g", lo, hi, bound);
    for (int k = 0; k < K; k++) ck_assert(fabsf(a->bias[k]) <= bound);
    ck_assert_mem_eq(a->weight, b->weight, K * C * sizeof(float));
    ck_assert_mem_eq(a->bias, b->bias, K * sizeof(float));
    classifier_free(a);
    classifier_free(b);
}
END_TEST

/* ---- the exercises: the first token, the whole model -------------------------------------------- */

/* Exercise 6.3: with the first token the head reads position 0, which under
 * causal attention has seen the first token only: rows that share it get
 * the same logits whatever follows, while the last token's differ; the
 * logits are the head applied to the final norm's row 0. And the backward
 * pass goes in at position 0: finite differences of the head and of the
 * layers below agree with the gradients. */
START_TEST(test_first_token_reads_position_zero) {
    enum { B = 2, T = 6, K = 2 };
    const int ids[B * T] = {5, 11, 12, 13, 14, 15, 5, 21, 22, 23, 24, 25}, labels[B] = {1, 0};
    Classifier *c = classifier_create(small_gpt(40, 2, 31), K, 2, 32);
    const float *last = classifier_forward(c, ids, B, T);
    ck_assert_msg(last[0] != last[2] || last[1] != last[3], "the last tokens' logits agree");
    c->token = CLASSIFIER_TOKEN_FIRST;
    float first[B * K];
    memcpy(first, classifier_forward(c, ids, B, T), sizeof first);
    ck_assert_int_eq(memcmp(first, first + K, K * sizeof(float)), 0);
    const int C = c->gpt->config.emb_dim;
    for (int b = 0; b < B; b++)
        for (int k = 0; k < K; k++) {
            const float *h = c->gpt->final_norm + (size_t)b * T * C; /* row b, position 0 */
            double want = c->bias[k];
            for (int j = 0; j < C; j++) want += (double)h[j] * c->weight[k * C + j];
            ck_assert_msg(fabs(first[b * K + k] - want) < 1e-5, "logit %d,%d: %g, not %g", b, k, first[b * K + k], want);
        }
    Trainable t = {0};
    classifier_trainable(c, &t);
    trainable_zero_grad(&t);
    classifier_loss_batch(c, ids, labels, B, T, true, NULL);
    LossCtx ctx = {c, ids, labels, B, T};
    double numeric_w[K * C];
    for (int i = 0; i < K * C; i++) numeric_w[i] = central_difference_f32(&c->weight[i], 1e-3f, classifier_loss, &ctx);
    assert_gradient_close("head weight (first token)", c->grad_weight, numeric_w, K * C, 1e-3);
    const char *names[] = {"final_norm.scale", "blocks.0.norm1.scale", "tok_emb.weight"};
    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
        const ParamTensor *p = gpt_find_param(c->gpt, names[n]);
        const size_t count = p->size < 64 ? p->size : 64;
        const size_t from = strcmp(names[n], "tok_emb.weight") == 0 ? 5 * (size_t)C : 0; /* token 5's row */
        double numeric[64];
        for (size_t i = 0; i < count; i++)
            numeric[i] = central_difference_f32(&c->gpt->params[p->offset + from + i], 1e-2f, classifier_loss, &ctx);
        assert_gradient_close(names[n], c->gpt->grads + p->offset + from, numeric, count, 1e-2);
    }
    /* only the first position reaches the loss: tokens after it get no gradient */
    const ParamTensor *emb = gpt_find_param(c->gpt, "tok_emb.weight");
    for (int j = 1; j < T; j++)
        for (int b = 0; b < B; b++)
            for (int k = 0; k < C; k++)
                ck_assert_msg(c->gpt->grads[emb->offset + (size_t)ids[b * T + j] * C + k] == 0.0f,
                              "token %d has a gradient", ids[b * T + j]);
    trainable_free(&t);
    classifier_free(c);
}
END_TEST

/* Exercise 6.2: all the blocks trainable is every parameter of the
 * classifier, the embeddings included: the GPT's but its untied vocabulary
 * head (which the new head replaces), and the new head. */
START_TEST(test_all_blocks_train_every_parameter) {
    Classifier *c = classifier_create(small_gpt(40, 3, 33), 2, 3, 34);
    Trainable t = {0};
    classifier_trainable(c, &t);
    const GPTModel *m = c->gpt;
    const size_t head = gpt_find_param(m, "out_head.weight")->size;
    ck_assert_uint_eq(trainable_count(&t), m->n_params - head + 2 * 16 + 2);
    trainable_free(&t);
    classifier_free(c);
}
END_TEST

/* ---- checkpoints --------------------------------------------------------------------------------- */

static char *tmp_dir;
static void make_tmp_dir(void) { tmp_dir = make_temp_dir(); }
static void remove_tmp_dir(void) {
    remove_tree(tmp_dir);
    free(tmp_dir);
}

START_TEST(test_checkpoint_round_trip) {
    Classifier *c = classifier_create(small_gpt(30, 2, 14), 2, 1, 15);
    const int ids[2 * 5] = {1, 2, 3, 4, 5, 9, 8, 7, 6, 5};
    float before[4];
    memcpy(before, classifier_forward(c, ids, 2, 5), sizeof before);
    char *path = path_join(tmp_dir, "classifier.safetensors");
    classifier_save(c, path, 5);
    int max_length = 0;
    Classifier *back = classifier_load(path, &max_length);
    ck_assert_int_eq(max_length, 5);
    ck_assert_int_eq(back->n_classes, 2);
    const float *after = classifier_forward(back, ids, 2, 5);
    ck_assert_int_eq(memcmp(before, after, sizeof before), 0);
    /* the GPT part is an ordinary checkpoint: chapter 5's loader reads it */
    GPTModel *plain = gpt_load_any(path);
    ck_assert_int_eq(memcmp(plain->params, c->gpt->params, c->gpt->n_params * sizeof(float)), 0);
    gpt_free(plain);
    classifier_free(back);
    classifier_free(c);
    free(path);
}
END_TEST

/* The token the head reads is stored: a first-token classifier loads as one. */
START_TEST(test_checkpoint_keeps_the_token) {
    Classifier *c = classifier_create(small_gpt(30, 2, 35), 2, 1, 36);
    c->token = CLASSIFIER_TOKEN_FIRST;
    const int ids[2 * 5] = {1, 2, 3, 4, 5, 9, 8, 7, 6, 5};
    float before[4];
    memcpy(before, classifier_forward(c, ids, 2, 5), sizeof before);
    char *path = path_join(tmp_dir, "first.safetensors");
    classifier_save(c, path, 5);
    int max_length;
    Classifier *back = classifier_load(path, &max_length);
    ck_assert_int_eq(back->token, CLASSIFIER_TOKEN_FIRST);
    ck_assert_int_eq(memcmp(before, classifier_forward(back, ids, 2, 5), sizeof before), 0);
    classifier_free(back);
    classifier_free(c);
    free(path);
}
END_TEST

START_TEST(test_loading_a_plain_gpt_as_classifier_exits) {
    GPTModel *m = small_gpt(30, 1, 16);
    char *path = path_join(tmp_dir, "plain.safetensors");
    gpt_save_checkpoint(m, path, NULL);
    int max_length;
    classifier_load(path, &max_length); /* exits: no head */
}
END_TEST

Suite *ch06_classifier_suite(void) {
    Suite *s = suite_create("ch06_classifier");
    TCase *torch = tcase_create("pytorch");
    tcase_set_timeout(torch, 60);
    tcase_add_unchecked_fixture(torch, load_fixture, free_fixture);
    add_test(torch, test_first_batch_matches_pytorch);
    add_test(torch, test_accuracy_counts_right_predictions);
    add_test(torch, test_three_steps_match_pytorch_and_frozen_stay_identical);
    add_test(torch, test_instruction_loss_matches_pytorch);
    suite_add_tcase(s, torch);
    TCase *core = tcase_create("core");
    tcase_set_timeout(core, 60);
    add_test(core, test_head_gradient_matches_finite_differences);
    add_test(core, test_tail_range_follows_the_table);
    add_test(core, test_backward_stops_at_the_trainable_blocks);
    add_test(core, test_hidden_passes_agree_with_full_ones);
    add_test(core, test_tiny_classifier_loss_falls);
    add_test(core, test_new_head_is_a_fresh_linear_layer);
    add_test(core, test_first_token_reads_position_zero);
    add_test(core, test_all_blocks_train_every_parameter);
    suite_add_tcase(s, core);
    TCase *files = tcase_create("checkpoints");
    tcase_add_unchecked_fixture(files, make_tmp_dir, remove_tmp_dir);
    add_test(files, test_checkpoint_round_trip);
    add_test(files, test_checkpoint_keeps_the_token);
    add_exit_test(files, test_loading_a_plain_gpt_as_classifier_exits, 1);
    suite_add_tcase(s, files);
    return s;
}
