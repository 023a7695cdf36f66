/* Tests for data_parallel.c: a batch as micro-batches gives the mean loss
 * and gradient of the whole batch, summed pairwise in the micro-batches'
 * order (bit for bit, as the test recomputes it), and `ch05 train` from
 * shards under mpirun with 1, 2 and 4 ranks writes the same bytes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ch05_pretrain/data_parallel.h"
#include "../common/rng.h"
#include "test_helpers.h"

enum { V = 97, CTX = 8, ROWS = 2 };

static GPTModel *tiny_gpt(void) {
    GPTConfig c = gpt_config_124m();
    c.vocab_size = V, c.context_length = CTX, c.emb_dim = 16, c.n_heads = 2, c.n_layers = 2, c.drop_rate = 0;
    GPTModel *m = gpt_create(&c);
    gpt_init_weights(m, 5);
    m->training = true;
    return m;
}

static void random_batch(int *inputs, int *targets, int rows) {
    Rng rng;
    rng_seed(&rng, 11);
    for (int i = 0; i < rows * CTX; i++) inputs[i] = (int)rng_below(&rng, V), targets[i] = (int)rng_below(&rng, V);
}

/* Micro-batch i's own gradient, computed alone. */
static float *micro_gradient(GPTModel *m, const int *inputs, const int *targets, int i) {
    gpt_zero_grad(m);
    calc_loss_batch(m, inputs + i * ROWS * CTX, targets + i * ROWS * CTX, ROWS, CTX, true);
    float *g = xmalloc(m->n_params * sizeof(float));
    memcpy(g, m->grads, m->n_params * sizeof(float));
    return g;
}

/* The pairwise sum, level by level, the odd one out carried up. */
static void pairwise(float **g, int n, size_t len) {
    while (n > 1) {
        int next = 0;
        for (int i = 0; i < n; i += 2) {
            if (i + 1 < n)
                for (size_t k = 0; k < len; k++) g[i][k] += g[i + 1][k];
            g[next++] = g[i];
        }
        n = next;
    }
}

static int count_lines_of(const char *text) {
    int n = 0;
    for (const char *p = text; *p; p++) n += *p == '\n';
    return n;
}

START_TEST(test_micro_batches_sum_pairwise_in_order) {
    for (int n_micro = 1; n_micro <= 7; n_micro++) {
        GPTModel *m = tiny_gpt();
        int inputs[7 * ROWS * CTX], targets[7 * ROWS * CTX];
        random_batch(inputs, targets, n_micro * ROWS);
        float *g[7], *owned[7];
        double want_loss = 0;
        for (int i = 0; i < n_micro; i++) {
            owned[i] = g[i] = micro_gradient(m, inputs, targets, i);
            want_loss += calc_loss_batch(m, inputs + i * ROWS * CTX, targets + i * ROWS * CTX, ROWS, CTX, false);
        }
        pairwise(g, n_micro, m->n_params);
        const float scale = 1.0f / (float)n_micro;

        DataParallel dp;
        data_parallel_init(&dp, m, ROWS, 1);
        Model model = data_parallel_model(&dp);
        gpt_zero_grad(m);
        Batch batch = {.B = n_micro * ROWS, .T = CTX, .inputs = inputs, .targets = targets};
        float loss = model.loss_batch(model.self, &batch, true);
        ck_assert_msg(loss == (float)(want_loss / n_micro), "%d micro-batches: loss %.9g, want %.9g", n_micro, loss,
                      want_loss / n_micro);
        for (size_t k = 0; k < m->n_params; k++) {
            float want = n_micro > 1 ? g[0][k] * scale : g[0][k];
            if (m->grads[k] != want)
                ck_abort_msg("%d micro-batches: gradient %zu is %.9g, the pairwise sum says %.9g", n_micro, k,
                             m->grads[k], want);
        }
        ck_assert_int_eq(dp.step, 1);
        for (int i = 0; i < n_micro; i++) free(owned[i]);
        data_parallel_free(&dp);
        gpt_free(m);
    }
}
END_TEST

/* Accumulating four micro-batches is training on the batch of their rows:
 * the loss and gradients agree up to float rounding (the sums run in
 * another order), 1e-5 relative to the largest gradient. */
START_TEST(test_accumulation_is_the_whole_batch) {
    GPTModel *m = tiny_gpt();
    int inputs[8 * CTX], targets[8 * CTX];
    random_batch(inputs, targets, 8);
    gpt_zero_grad(m);
    float whole = calc_loss_batch(m, inputs, targets, 8, CTX, true);
    float *want = xmalloc(m->n_params * sizeof(float));
    memcpy(want, m->grads, m->n_params * sizeof(float));
    float largest = 0;
    for (size_t k = 0; k < m->n_params; k++) largest = fabsf(want[k]) > largest ? fabsf(want[k]) : largest;
    DataParallel dp;
    data_parallel_init(&dp, m, 2, 1);
    Model model = data_parallel_model(&dp);
    Batch batch = {.B = 8, .T = CTX, .inputs = inputs, .targets = targets};
    gpt_zero_grad(m);
    float accumulated = model.loss_batch(model.self, &batch, true);
    ck_assert(fabsf(accumulated - whole) <= 1e-5f * whole);
    for (size_t k = 0; k < m->n_params; k++)
        if (fabsf(m->grads[k] - want[k]) > 1e-5f * largest)
            ck_abort_msg("gradient %zu: %.9g accumulated, %.9g from the whole batch", k, m->grads[k], want[k]);
    /* evaluation: the same mean, and no step counted */
    float eval = model.loss_batch(model.self, &batch, false);
    ck_assert(eval == accumulated);
    ck_assert_int_eq(dp.step, 1);
    free(want);
    data_parallel_free(&dp);
    gpt_free(m);
}
END_TEST

START_TEST(test_splits) {
    GPTModel *m = tiny_gpt();
    DataParallel dp;
    data_parallel_init(&dp, m, 2, 1);
    ck_assert(data_parallel_splits(&dp, 3)); /* one rank takes any number */
    dp.n_ranks = 2;
    ck_assert(data_parallel_splits(&dp, 4));
    ck_assert(!data_parallel_splits(&dp, 3));  /* not the same share each */
    ck_assert(!data_parallel_splits(&dp, 6));  /* a share of 3 is not a whole subtree */
    dp.n_ranks = 1;
    data_parallel_free(&dp);
    gpt_free(m);
}
END_TEST

/* ---- across processes ---------------------------------------------------------------- */

#define RUN_FLAGS                                                                                                  \
    "--max-steps 6 --emb-dim 16 --n-layers 2 --n-heads 2 --context 16 --batch-size 1 --total-batch 64 "            \
    "--eval-freq 2 --eval-iter 1 --no-samples"

/* The same six steps (dropout on: its masks follow the micro-batch) without
 * mpirun on two threads, and under mpirun on 1, 2 and 4 ranks of one
 * thread: the same log and the same checkpoint, byte for byte. */
START_TEST(test_one_two_and_four_ranks_write_the_same_bytes) {
    if (!data_parallel_has_mpi()) {
        fprintf(stderr, "data_parallel: this build has no MPI (MPI=0, or none installed): not run across ranks\n");
        return;
    }
    char *shards = make_verdict_corpus(), *runs = make_temp_dir();
    const int ranks[4] = {0, 1, 2, 4}; /* 0: without mpirun */
    char *log[4], *ckpt[4];
    size_t log_len[4], ckpt_len[4];
    for (int r = 0; r < 4; r++) {
        char *command = NULL, *out, *err;
        char launcher[1200] = "OMP_NUM_THREADS=2";
        if (ranks[r]) snprintf(launcher, sizeof launcher, "%s -np %d", mpirun_prefix(), ranks[r]);
        ck_assert(asprintf(&command, "%s %s/ch05_pretrain/ch05 train --data %s " RUN_FLAGS " --out %s/r%d", launcher,
                           repo_root(), shards, runs, ranks[r]) > 0);
        int status = run_command(command, &out, &err);
        ck_assert_msg(status == 0, "%s\nexited %d:\n%s", command, status, err);
        char *dir = NULL;
        ck_assert(asprintf(&dir, "%s/r%d", runs, ranks[r]) > 0);
        char *log_path = path_join(dir, "log.csv"), *ckpt_path = path_join(dir, "checkpoint.safetensors");
        log[r] = read_file(log_path, &log_len[r]);
        ckpt[r] = read_file(ckpt_path, &ckpt_len[r]);
        if (ranks[r] > 1) ck_assert_msg(strstr(err, " rank(s)") && strstr(err, "on each of"), "%s", err);
        free(log_path);
        free(ckpt_path);
        free(dir);
        free(command);
        free(out);
        free(err);
    }
    ck_assert_int_eq(count_lines_of(log[0]), 4); /* the header and steps 0, 2, 4 */
    for (int r = 1; r < 4; r++) {
        ck_assert_msg(log_len[r] == log_len[0] && memcmp(log[r], log[0], log_len[0]) == 0,
                      "%d rank(s) logged\n%s\none process\n%s", ranks[r], log[r], log[0]);
        ck_assert_msg(ckpt_len[r] == ckpt_len[0] && memcmp(ckpt[r], ckpt[0], ckpt_len[0]) == 0,
                      "the checkpoint of %d rank(s) differs from one process's", ranks[r]);
    }
    for (int r = 0; r < 4; r++) free(log[r]), free(ckpt[r]);
    remove_tree(runs);
    free(runs);
    char *parent = path_dir(shards);
    remove_tree(parent);
    free(parent);
    free(shards);
}
END_TEST

Suite *data_parallel_suite(void) {
    Suite *s = suite_create("data_parallel");
    TCase *sum = tcase_create("sum");
    add_test(sum, test_micro_batches_sum_pairwise_in_order);
    add_test(sum, test_accumulation_is_the_whole_batch);
    add_test(sum, test_splits);
    suite_add_tcase(s, sum);
    TCase *ranks = tcase_create("ranks");
    tcase_add_checked_fixture(ranks, require_gpt2_tokenizer, NULL);
    tcase_add_checked_fixture(ranks, require_verdict, NULL);
    add_test(ranks, test_one_two_and_four_ranks_write_the_same_bytes);
    tcase_set_timeout(ranks, 120);
    suite_add_tcase(s, ranks);
    return s;
}
