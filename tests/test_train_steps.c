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
 * The final parameters: see check_final below.
 *
 * Then chapter 5's loops over the same ten batches: train_model_simple
 * takes exactly the steps of the loop above, and appendix D's train_model
 * steps with the schedule's learning rates and clips after the warm-up;
 * over first_batches, train_model_simple takes the first steps only. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../ch04_gpt/gpt.h"
#include "../ch05_pretrain/adamw.h"
#include "../ch05_pretrain/train.h"
#include "test_helpers.h"

enum { STEPS = 10, TB = 2, TT = 16 };

static TensorFile fx;
static void load_fixture(void) { fx = read_fixture("train_steps.bin"); }
static void free_fixture(void) { tensor_file_free(&fx); }

static const Tensor *get(const char *name) { return fixture_tensor(&fx, name); }

/* The book's loop over the fixture's batches order[0..n): losses[i] is the
 * loss before step i's update. */
static void train_steps(GPTModel *m, const int *order, int n, float *losses) {
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
    for (int i = 0; i < n; i++) {
        const int step = order[i];
        int inputs[TB * TT], targets[TB * TT];
        for (int j = 0; j < TB * TT; j++) {
            inputs[j] = (int)in[step * TB * TT + j];
            targets[j] = (int)tg[step * TB * TT + j];
        }
        gpt_zero_grad(m);
        losses[i] = calc_loss_batch(m, inputs, targets, TB, TT, true);
        adamw_step(&opt, m->params, m->grads, &cfg, cfg.lr);
    }
    adamw_free(&opt);
}

/* The book's loop for the fixture's ten batches in order. */
static void train_ten_steps(GPTModel *m, float losses[STEPS]) {
    int order[STEPS];
    for (int i = 0; i < STEPS; i++) order[i] = i;
    train_steps(m, order, STEPS, losses);
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

/* ---- chapter 5's loops ----------------------------------------------------------- */

/* The fixture's ten batches, in order, as a loader. */
typedef struct {
    int inputs[STEPS][TB * TT], targets[STEPS][TB * TT];
    int next;
} FixtureBatches;

static void fixture_batches_init(FixtureBatches *fb) {
    const float *in = tensor_file_expect(&fx, "inputs", 3, (int[]){STEPS, TB, TT})->data;
    const float *tg = tensor_file_expect(&fx, "targets", 3, (int[]){STEPS, TB, TT})->data;
    for (int step = 0; step < STEPS; step++)
        for (int i = 0; i < TB * TT; i++) {
            fb->inputs[step][i] = (int)in[step * TB * TT + i];
            fb->targets[step][i] = (int)tg[step * TB * TT + i];
        }
    fb->next = 0;
}

static void fixture_batches_reset(void *self) { ((FixtureBatches *)self)->next = 0; }

static bool fixture_batches_next(void *self, Batch *batch) {
    FixtureBatches *fb = self;
    if (fb->next == STEPS) return false;
    *batch = (Batch){.B = TB, .T = TT, .inputs = fb->inputs[fb->next], .targets = fb->targets[fb->next]};
    fb->next++;
    return true;
}

static BatchLoader fixture_loader(FixtureBatches *fb) {
    return (BatchLoader){.n_batches = STEPS, .reset = fixture_batches_reset, .next = fixture_batches_next, .self = fb};
}

/* AdamW over the whole model, noting each step's learning rate and the
 * gradients' global norm as the step sees them. */
typedef struct {
    GPTModel *m;
    AdamW adamw;
    float lrs[STEPS], norms[STEPS];
    int steps;
} SpyAdamW;

static void spy_zero_grad(void *params) { gpt_zero_grad(((SpyAdamW *)params)->m); }

static void spy_step(void *params, const AdamWConfig *config) {
    SpyAdamW *o = params;
    double sum = 0.0;
    for (size_t i = 0; i < o->m->n_params; i++) sum += (double)o->m->grads[i] * o->m->grads[i];
    ck_assert_int_lt(o->steps, STEPS);
    o->lrs[o->steps] = config->lr;
    o->norms[o->steps] = (float)sqrt(sum);
    o->steps++;
    adamw_step(&o->adamw, o->m->params, o->m->grads, config, config->lr);
}

static Optimizer spy_optimizer(SpyAdamW *o, GPTModel *m) {
    *o = (SpyAdamW){.m = m};
    adamw_init(&o->adamw, m->n_params);
    Optimizer optimizer = {.config = adamw_default_config(), .zero_grad = spy_zero_grad, .step = spy_step, .params = o};
    const float *hp = get("adamw")->data;
    optimizer.config.lr = hp[0];
    optimizer.config.weight_decay = hp[1];
    optimizer.config.beta1 = hp[2];
    optimizer.config.beta2 = hp[3];
    return optimizer;
}

static int epochs_seen;
static Batch last_seen;
static void note_epoch(void *user, const TrainRun *run, const Batch *last_batch) {
    (void)user;
    epochs_seen = run->epochs_done;
    last_seen = *last_batch;
}

/* The loops print the book's line after each evaluation: not in the tests' output. */
static int stdout_to_null(void) {
    fflush(stdout);
    int saved = dup(STDOUT_FILENO), null = open("/dev/null", O_WRONLY);
    dup2(null, STDOUT_FILENO);
    close(null);
    return saved;
}

static void stdout_back(int saved) {
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
}

/* train_step is the book's step: optimizer.zero_grad(), the batch's loss
 * with its backward pass, optimizer.step() with the optimizer's settings, in
 * that order, once each; it returns the loss. */
static char step_calls[8];
static int n_step_calls;
static const AdamWConfig *step_config;

static void note_call(char c) {
    ck_assert_int_lt(n_step_calls, (int)sizeof step_calls - 1);
    step_calls[n_step_calls++] = c;
}
static void note_zero_grad(void *params) { (void)params, note_call('z'); }
static float note_loss(void *self, const Batch *batch, bool backward) {
    (void)self, (void)batch;
    note_call(backward ? 'b' : 'f');
    return 2.5f;
}
static void note_step(void *params, const AdamWConfig *config) {
    (void)params;
    step_config = config;
    note_call('s');
}

START_TEST(test_train_step_zeroes_computes_and_steps) {
    Model model = {.loss_batch = note_loss};
    Optimizer optimizer = {.config = adamw_default_config(), .zero_grad = note_zero_grad, .step = note_step};
    const Batch batch = {0};
    n_step_calls = 0;
    memset(step_calls, 0, sizeof step_calls);
    ck_assert_float_eq(train_step(&model, &optimizer, &batch), 2.5f);
    ck_assert_str_eq(step_calls, "zbs");
    ck_assert_ptr_eq(step_config, &optimizer.config);
}
END_TEST

/* train_model_simple over the ten batches (one epoch, evaluating every
 * third step) takes the same steps as the loop above, bit for bit: the
 * evaluations in between change nothing. It counts the steps and tokens,
 * and hands the epoch's last batch to after_epoch. */
START_TEST(test_train_model_simple_takes_the_books_steps) {
    const float drop_rate = get("drop_rate")->data[0];
    GPTModel *plain = gpt_from_fixture(&fx, false, drop_rate), *looped = gpt_from_fixture(&fx, false, drop_rate);
    float losses[STEPS];
    train_ten_steps(plain, losses);

    /* the evaluations walk loaders of their own, the same batches */
    FixtureBatches batches, eval_batches;
    fixture_batches_init(&batches);
    fixture_batches_init(&eval_batches);
    BatchLoader loader = fixture_loader(&batches), eval_loader = fixture_loader(&eval_batches);
    SpyAdamW spy;
    Optimizer optimizer = spy_optimizer(&spy, looped);
    Model model = gpt_model(looped);
    TrainRun run = {.global_step = -1, .after_epoch = note_epoch};
    epochs_seen = 0;
    int saved = stdout_to_null();
    train_model_simple(&model, &loader, &eval_loader, &eval_loader, &optimizer, 1, 3, 2, NULL, NULL, &run);
    stdout_back(saved);
    ck_assert(memcmp(plain->params, looped->params, plain->n_params * sizeof(float)) == 0);
    ck_assert_int_eq(run.global_step, STEPS - 1);
    ck_assert_int_eq(run.seen, (long)STEPS * TB * TT);
    ck_assert_int_eq(run.epochs_done, 1);
    ck_assert_int_eq(epochs_seen, 1);
    ck_assert(last_seen.inputs == batches.inputs[STEPS - 1] && last_seen.B == TB && last_seen.T == TT);
    for (int step = 0; step < STEPS; step++) ck_assert_float_eq(spy.lrs[step], optimizer.config.lr);
    adamw_free(&spy.adamw);
    gpt_free(plain);
    gpt_free(looped);
}
END_TEST

/* first_batches: train_model_simple over the loader's first 4 batches for
 * 2 epochs takes exactly the book's steps over batches 0-3 twice, bit for
 * bit: 8 steps, 4 an epoch, each epoch ending on batch 3. */
START_TEST(test_first_batches_cut_a_run_to_its_first_steps) {
    enum { FIRST = 4, EPOCHS = 2 };
    const float drop_rate = get("drop_rate")->data[0];
    GPTModel *plain = gpt_from_fixture(&fx, false, drop_rate), *looped = gpt_from_fixture(&fx, false, drop_rate);
    const int order[FIRST * EPOCHS] = {0, 1, 2, 3, 0, 1, 2, 3};
    float losses[FIRST * EPOCHS];
    train_steps(plain, order, FIRST * EPOCHS, losses);

    FixtureBatches batches, eval_batches;
    fixture_batches_init(&batches);
    fixture_batches_init(&eval_batches);
    BatchLoader all = fixture_loader(&batches), eval_loader = fixture_loader(&eval_batches);
    FirstBatches fb;
    BatchLoader first = first_batches(&fb, &all, FIRST);
    ck_assert_int_eq(first.n_batches, FIRST);
    SpyAdamW spy;
    Optimizer optimizer = spy_optimizer(&spy, looped);
    Model model = gpt_model(looped);
    TrainRun run = {.global_step = -1, .after_epoch = note_epoch};
    int saved = stdout_to_null();
    train_model_simple(&model, &first, &eval_loader, &eval_loader, &optimizer, EPOCHS, 3, 1, NULL, NULL, &run);
    stdout_back(saved);
    ck_assert(memcmp(plain->params, looped->params, plain->n_params * sizeof(float)) == 0);
    ck_assert_int_eq(spy.steps, FIRST * EPOCHS);
    ck_assert_int_eq(run.global_step, FIRST * EPOCHS - 1);
    ck_assert_int_eq(run.steps_per_epoch, FIRST);
    ck_assert_int_eq(run.seen, (long)FIRST * EPOCHS * TB * TT);
    ck_assert(last_seen.inputs == batches.inputs[FIRST - 1]);
    /* more batches than the loader has: all of them */
    ck_assert_int_eq(first_batches(&fb, &all, STEPS + 5).n_batches, STEPS);
    adamw_free(&spy.adamw);
    gpt_free(plain);
    gpt_free(looped);
}
END_TEST

/* Appendix D's train_model: each step's learning rate is the schedule's,
 * from initial_lr up to the optimizer's over the warm-up, then the cosine
 * down to min_lr; the gradients reach the step clipped to max_norm from
 * the warm-up's end on, and as they are before it. */
START_TEST(test_train_model_warms_up_decays_and_clips) {
    GPTModel *m = gpt_from_fixture(&fx, false, get("drop_rate")->data[0]);
    FixtureBatches batches, eval_batches;
    fixture_batches_init(&batches);
    fixture_batches_init(&eval_batches);
    BatchLoader loader = fixture_loader(&batches), eval_loader = fixture_loader(&eval_batches);
    SpyAdamW spy;
    Optimizer optimizer = spy_optimizer(&spy, m);
    const float peak_lr = optimizer.config.lr, initial_lr = 1e-5f, min_lr = 1e-4f, max_norm = 0.5f;
    const long warmup_steps = 4;
    Model model = gpt_model(m);
    TrainRun run = {.global_step = -1};
    int saved = stdout_to_null();
    train_model(&model, &loader, &eval_loader, &eval_loader, &optimizer, 1, 5, 1, NULL, NULL, warmup_steps, initial_lr, min_lr,
                max_norm, &run);
    stdout_back(saved);
    const LrSchedule schedule = {initial_lr, peak_lr, min_lr, warmup_steps, STEPS};
    bool clipped_before = false;
    for (int step = 0; step < STEPS; step++) {
        ck_assert_msg(spy.lrs[step] == lr_at_step(&schedule, step), "step %d: lr %g, the schedule's %g", step,
                      spy.lrs[step], lr_at_step(&schedule, step));
        if (step < warmup_steps) clipped_before |= spy.norms[step] > max_norm;
        else ck_assert_msg(spy.norms[step] <= max_norm * 1.0001f, "step %d: norm %g", step, spy.norms[step]);
    }
    ck_assert_msg(clipped_before, "no gradient above max_norm in the warm-up: the test shows nothing");
    ck_assert_float_eq(spy.lrs[0], initial_lr);
    ck_assert(spy.lrs[warmup_steps] == peak_lr);
    adamw_free(&spy.adamw);
    gpt_free(m);
}
END_TEST

Suite *train_steps_suite(void) {
    Suite *s = suite_create("train_steps");
    TCase *tc = tcase_create("pytorch");
    tcase_add_unchecked_fixture(tc, load_fixture, free_fixture);
    add_test(tc, test_ten_adamw_steps_match_pytorch);
    add_test(tc, test_training_without_dropout_is_eval);
    add_test(tc, test_train_step_zeroes_computes_and_steps);
    add_test(tc, test_train_model_simple_takes_the_books_steps);
    add_test(tc, test_train_model_warms_up_decays_and_clips);
    add_test(tc, test_first_batches_cut_a_run_to_its_first_steps);
    suite_add_tcase(s, tc);
    return s;
}
