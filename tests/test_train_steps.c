/* Tests for chapter 5's training step as a whole: ten steps of the book's
 * loop (zero_grad, loss, backward, AdamW step) on a small GPT against
 * PyTorch's (tests/fixtures/train_steps.bin, made by
 * tests/reference/train_steps_reference.py: the model of gpt_small.bin with
 * drop_rate 0, AdamW lr 1e-3, weight decay 0.1, ten batches of 2 x 16).
 *
 * Tolerances. The losses: PyTorch's own float32 losses are within 1.1e-6 of
 * the same ten steps in float64, and the C forward and backward agree with
 * PyTorch's to a few 1e-7 (test_gpt.c), as they do here: at most 9.5e-7
 * apart over the ten steps (two ulps of 5; half of them agree exactly). An
 * absolute 1e-4 (2e-5 of a loss of ~5) is a hundred times that rounding and
 * still below what a mistake in the step does (measured by running the
 * loop with it): skipping the weight decay of a single step moves a loss by
 * 2.5e-4, no weight decay at all by 2.6e-3, beta2 0.99 by 1.7e-3 and lr 1%
 * too large by 1.3e-2.
 *
 * The final parameters: see check_final below. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ch04_gpt/gpt.h"
#include "../ch05_pretrain/adamw.h"
#include "../ch05_pretrain/train.h"
#include "test_helpers.h"

enum { STEPS = 10, TB = 2, TT = 16 };

static TensorFile fx;
static void load_fixture(void) { fx = read_fixture("train_steps.bin"); }
static void free_fixture(void) { tensor_file_free(&fx); }

static const Tensor *get(const char *name) { return fixture_tensor(&fx, name); }

/* The book's loop for the fixture's ten batches: losses[step] is the loss
 * before that step's update. */
static void train_ten_steps(GPTModel *m, float losses[STEPS]) {
    const float *hp = get("adamw")->data;
    AdamWConfig cfg = adamw_default_config();
    cfg.lr = hp[0];
    cfg.weight_decay = hp[1];
    cfg.beta1 = hp[2];
    cfg.beta2 = hp[3];
    const float *in = tensor_file_expect(&fx, "inputs", 3, (int[]){STEPS, TB, TT})->data;
    const float *tg = tensor_file_expect(&fx, "targets", 3, (int[]){STEPS, TB, TT})->data;
    AdamW opt;
    adamw_init(&opt, m->n_params);
    for (int step = 0; step < STEPS; step++) {
        int inputs[TB * TT], targets[TB * TT];
        for (int i = 0; i < TB * TT; i++) {
            inputs[i] = (int)in[step * TB * TT + i];
            targets[i] = (int)tg[step * TB * TT + i];
        }
        gpt_zero_grad(m);
        losses[step] = calc_loss_batch(m, inputs, targets, TB, TT, true);
        adamw_step(&opt, m->params, m->grads, &cfg, cfg.lr);
    }
    adamw_free(&opt);
}

#define LOSS_TOL 1e-4f
#define PARAM_REL 1e-6f
#define PARAM_ABS 1e-5f
#define SENSITIVE_ABS 1e-3f

static const char *const FINAL[] = {"tok_emb.weight",       "pos_emb.weight",         "blocks.0.att.qkv.weight",
                                    "blocks.0.att.qkv.bias", "blocks.1.norm2.scale",   "blocks.1.ff.fc2.weight",
                                    "final_norm.shift",      "out_head.weight"};

/* Parameter `name` after the ten steps against PyTorch's final.<name>.
 *
 * The fixture lists in sensitive.<name> the elements where the optimiser
 * blows rounding noise up (train_steps_reference.py's sensitive()): those
 * whose first gradient is below 1e-6 (100 eps), where AdamW's first step
 * lr g / (|g| + eps) turns the gradient's rounding into a parameter error
 * up to lr/eps times larger, and the keys' bias, whose gradient is exactly
 * zero, so that float32 computes noise that AdamW normalises into steps.
 * PyTorch's float32 and float64 runs differ there by up to 1.1e-4, and C
 * and PyTorch by up to 1.0e-4; they are held to SENSITIVE_ABS, one learning
 * rate, the most a step can move them by.
 *
 * Everything else: PyTorch's float32 is within 1.4e-6 of its float64 (any
 * parameter; 1.3e-6 on the stored ones, whose largest values reach 4.4),
 * and C within 2.4e-7 of PyTorch (an ulp at 4). PARAM_ABS plus PARAM_REL
 * relative is 1% of one step of lr 1e-3, while ten steps of weight decay
 * alone move a weight of 0.1 by 1e-4. */
static void check_final(const GPTModel *m, const char *name) {
    char key[96];
    snprintf(key, sizeof key, "final.%s", name);
    const ParamTensor *p = gpt_find_param(m, name);
    ck_assert_msg(p != NULL, "the model has no %s", name);
    const Tensor *want = tensor_file_expect(&fx, key, p->ndim, p->shape);
    const float *got = m->params + p->offset;
    bool *loose = calloc(p->size, sizeof(bool));
    snprintf(key, sizeof key, "sensitive.%s", name);
    const Tensor *sens = tensor_file_find(&fx, key);
    for (size_t i = 0; sens && i < sens->size; i++) {
        size_t at = (size_t)sens->data[i];
        ck_assert(at < p->size);
        loose[at] = true;
    }
    for (size_t i = 0; i < p->size; i++) {
        float diff = fabsf(got[i] - want->data[i]);
        float tol = loose[i] ? SENSITIVE_ABS : PARAM_ABS + PARAM_REL * fabsf(want->data[i]);
        ck_assert_msg(diff <= tol, "%s[%zu] = %.8g after ten steps, PyTorch's %.8g (tolerance %.1e)", name, i, got[i],
                      want->data[i], tol);
    }
    free(loose);
}

START_TEST(test_ten_adamw_steps_match_pytorch) {
    GPTModel *m = gpt_from_fixture(&fx, false, get("drop_rate")->data[0]);
    float losses[STEPS];
    train_ten_steps(m, losses);
    const float *want = tensor_file_expect(&fx, "losses", 1, (int[]){STEPS})->data;
    for (int step = 0; step < STEPS; step++)
        ck_assert_msg(fabsf(losses[step] - want[step]) <= LOSS_TOL, "step %d: loss %.7f, PyTorch's %.7f", step + 1,
                      losses[step], want[step]);
    ck_assert(losses[STEPS - 1] < losses[0] - 1.0f); /* it learns (5.99 -> 4.68) */
    for (int k = 0; k < (int)(sizeof FINAL / sizeof FINAL[0]); k++) check_final(m, FINAL[k]);
    gpt_free(m);
}
END_TEST

/* Training mode with drop_rate 0 is evaluation mode: no masks are laid
 * out, no random numbers drawn, the same arithmetic. Bit for bit, so that
 * dropout 0 costs nothing and changes nothing. */
START_TEST(test_training_without_dropout_is_eval) {
    GPTModel *eval = gpt_from_fixture(&fx, false, get("drop_rate")->data[0]), *train = gpt_from_fixture(&fx, false, get("drop_rate")->data[0]);
    ck_assert_float_eq(train->config.drop_rate, 0.0f);
    train->training = true;
    rng_seed(&train->rng, 5);
    const Rng before = train->rng;
    float eval_losses[STEPS], train_losses[STEPS];
    train_ten_steps(eval, eval_losses);
    train_ten_steps(train, train_losses);
    ck_assert_ptr_null(train->emb_dropout);
    ck_assert_ptr_null(train->block_acts[0].att_dropout);
    ck_assert(memcmp(&train->rng, &before, sizeof before) == 0);
    ck_assert(memcmp(eval_losses, train_losses, sizeof eval_losses) == 0);
    ck_assert(memcmp(eval->params, train->params, eval->n_params * sizeof(float)) == 0);
    gpt_free(eval);
    gpt_free(train);
}
END_TEST

Suite *train_steps_suite(void) {
    Suite *s = suite_create("train_steps");
    TCase *tc = tcase_create("pytorch");
    tcase_add_unchecked_fixture(tc, load_fixture, free_fixture);
    tcase_add_test(tc, test_ten_adamw_steps_match_pytorch);
    tcase_add_test(tc, test_training_without_dropout_is_eval);
    suite_add_tcase(s, tc);
    return s;
}
