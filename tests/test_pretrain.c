/* Tests for pretrain.c's run from token shards (`ch05 train --data DIR`):
 * steps of a total batch, evaluation on the validation shard, a run resumed
 * from its checkpoint that goes on exactly as one that never stopped, and
 * SIGINT or SIGTERM: the run saves after its current step and stops. (The
 * run from a text file is tested in test_ch05_cli.c and test_checkpoint.c.) */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../ch05_pretrain/gpt_weights.h"
#include "test_helpers.h"

/* GPT-2's vocabulary, but 16 channels and 2 blocks, and steps of 2
 * micro-batches of one row of 16 tokens: seconds, also under the sanitizers */
#define TINY "--emb-dim 16 --n-layers 2 --n-heads 2 --context 16 --batch-size 1 --total-batch 32 --eval-iter 1 " \
             "--no-samples"

static char *shards, *runs;

/* Models this small run faster on one thread than on two (the threads
 * would only wait for each other); each test has a process of its own. */
static void one_thread(void) { setenv("OMP_NUM_THREADS", "1", 1); }

static void make_corpus(void) {
    if (!have_data_file("the-verdict.txt") || !have_data_file("gpt2/encoder.json")) return;
    shards = make_verdict_corpus();
    runs = make_temp_dir();
}

static void remove_corpus(void) {
    if (!shards) return;
    char *parent = path_dir(shards);
    remove_tree(parent);
    remove_tree(runs);
    free(parent);
    free(shards);
    free(runs);
}

static char *run_file(const char *run, const char *name) {
    char *dir = path_join(runs, run), *path = path_join(dir, name);
    char *text = read_file(path, NULL);
    free(dir);
    free(path);
    return text;
}

/* The run's weights (and AdamW's moments: both are in the file's tensors). */
static GPTModel *run_model(const char *run) {
    char *dir = path_join(runs, run), *path = path_join(dir, "checkpoint.safetensors");
    GPTModel *m = gpt_load_checkpoint(path, NULL);
    free(dir);
    free(path);
    return m;
}

static void assert_same_weights(const char *a, const char *b) {
    GPTModel *x = run_model(a), *y = run_model(b);
    ck_assert_uint_eq(x->n_params, y->n_params);
    ck_assert_msg(memcmp(x->params, y->params, x->n_params * sizeof(float)) == 0, "%s and %s have other weights", a, b);
    gpt_free(x);
    gpt_free(y);
}

START_TEST(test_a_run_from_shards) {
    char *out, *err;
    ck_assert_int_eq(run_program(&out, &err, "ch05_pretrain/ch05", "train --data %s " TINY
                                 " --max-steps 4 --eval-freq 2 --out %s/a", shards, runs), 0);
    /* the loss lines with the validation perplexity, exp(loss) as printed */
    const char *at = find_text(out, "Ep 1 (Step 000000): Train loss ");
    double train, val, ppl;
    ck_assert_int_eq(sscanf(at, "Ep 1 (Step 000000): Train loss %lf, Val loss %lf, Val perplexity %lf", &train, &val,
                            &ppl), 3);
    ck_assert_msg(fabs(ppl - exp(val)) <= 0.05 + 0.0006 * exp(val), "perplexity %.1f for a loss of %.3f", ppl, val);
    find_text(out, "Ep 1 (Step 000002): ");
    ck_assert(strstr(out, "(Step 000004)") == NULL);
    /* a step is 32 tokens: 2 micro-batches of 1 x 16 */
    find_text(err, "a step: 2 micro-batch(es) of 1 rows");
    char *log = run_file("a", "log.csv");
    long step, seen;
    double epochs;
    ck_assert_int_eq(sscanf(find_text(log, "\n2,"), "\n%ld,%lf,%ld,", &step, &epochs, &seen), 3);
    ck_assert_int_eq(seen, 96); /* 3 steps of 32 tokens */
    int shard_count, batches;
    const char *count = find_text(err, " training shards, ");
    while (count > err && count[-1] != ' ') count--; /* "...: N training shards, M batches of ..." */
    ck_assert_int_eq(sscanf(count, "%d training shards, %d batches", &shard_count, &batches), 2);
    ck_assert_msg(fabs(epochs - 3.0 / batches) < 1e-4, "%g epochs after 3 steps of %d an epoch", epochs, batches);
    free(log);
    free(out);
    free(err);
}
END_TEST

START_TEST(test_resumed_run_goes_on_exactly) {
    char *out, *err, *again;
    ck_assert_int_eq(run_program(&out, NULL, "ch05_pretrain/ch05", "train --data %s " TINY
                                 " --max-steps 8 --eval-freq 1 --out %s/whole", shards, runs), 0);
    ck_assert_int_eq(run_program(NULL, NULL, "ch05_pretrain/ch05", "train --data %s " TINY
                                 " --max-steps 3 --eval-freq 1 --out %s/part", shards, runs), 0);
    ck_assert_int_eq(run_program(&again, &err, "ch05_pretrain/ch05", "train --resume %s/part/checkpoint.safetensors "
                                 "--max-steps 8", runs), 0);
    find_text(err, "after step 3 of 8:");
    /* the resumed run prints the steps after 3, as the whole run does */
    ck_assert_msg(strstr(out, find_text(again, "Ep 1 (Step 000003)")) != NULL, "whole:\n%s\nresumed:\n%s", out, again);
    char *a = run_file("whole", "log.csv"), *b = run_file("part", "log.csv");
    ck_assert_str_eq(a, b);
    assert_same_weights("whole", "part");
    free(a);
    free(b);
    free(out);
    free(again);
    free(err);
}
END_TEST

/* A signal mid-run: the run saves after the step it is on and exits with
 * 128 + the signal; resumed, it ends where a run never stopped ends. */
static void stop_with(int sig, const char *name) {
    char *command = NULL;
    ck_assert(asprintf(&command, "exec %s/ch05_pretrain/ch05 train --data %s " TINY
                       " --max-steps 100000 --eval-freq 1 --out %s/%s >/dev/null 2>&1", repo_root(), shards, runs,
                       name) > 0);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    char *log_path = NULL;
    ck_assert(asprintf(&log_path, "%s/%s/log.csv", runs, name) > 0);
    for (int waited = 0;; waited++) { /* until step 2's evaluation is logged */
        char *log = file_exists(log_path) ? read_file(log_path, NULL) : NULL;
        bool far_enough = log && strstr(log, "\n2,");
        free(log);
        if (far_enough) break;
        ck_assert_msg(waited < 60000, "the run logged no step 2 in a minute");
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    kill(pid, sig);
    int status;
    ck_assert(waitpid(pid, &status, 0) == pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 128 + sig, "status %d", status);
    char *ckpt = NULL;
    ck_assert(asprintf(&ckpt, "%s/%s/checkpoint.safetensors", runs, name) > 0);
    SafetensorsFile *sf = safetensors_open(ckpt);
    long step = atol(safetensors_metadata(sf, "train.global_step"));
    safetensors_close(sf);
    ck_assert_int_ge(step, 2);
    /* on to step + 3, and the same from the start */
    char *err;
    ck_assert_int_eq(run_program(NULL, &err, "ch05_pretrain/ch05", "train --resume %s --max-steps %ld", ckpt,
                                 step + 4), 0);
    free(err);
    char *straight = NULL;
    ck_assert(asprintf(&straight, "%s-straight", name) > 0);
    ck_assert_int_eq(run_program(NULL, NULL, "ch05_pretrain/ch05", "train --data %s " TINY
                                 " --max-steps %ld --eval-freq 1 --out %s/%s", shards, step + 4, runs, straight), 0);
    char *a = run_file(name, "log.csv"), *b = run_file(straight, "log.csv");
    ck_assert_str_eq(a, b);
    assert_same_weights(name, straight);
    free(a);
    free(b);
    free(straight);
    free(ckpt);
    free(log_path);
    free(command);
}

START_TEST(test_sigint_saves_and_stops) { stop_with(SIGINT, "int"); }
END_TEST

START_TEST(test_sigterm_saves_and_stops) { stop_with(SIGTERM, "term"); }
END_TEST

START_TEST(test_bad_runs_from_shards) {
    char *err;
    ck_assert_int_eq(run_program(NULL, &err, "ch05_pretrain/ch05", "train --data %s " TINY " --out %s/x", shards, runs),
                     1);
    find_text(err, "a run from shards needs --max-steps N");
    free(err);
    ck_assert_int_eq(run_program(NULL, &err, "ch05_pretrain/ch05", "train --data %s " TINY
                                 " --max-steps 2 --total-batch 100 --out %s/x", shards, runs), 1);
    find_text(err, "--total-batch 100 is not a multiple of --batch-size x --context = 16");
    free(err);
    ck_assert_int_eq(run_program(NULL, &err, "ch05_pretrain/ch05", "train --data %s " TINY
                                 " --max-steps 2 --out %s/x", runs, runs), 1);
    find_text(err, "validation shards (*_val*.bin), not one");
    free(err);
}
END_TEST

Suite *pretrain_suite(void) {
    Suite *s = suite_create("pretrain");
    TCase *tc = tcase_create("shards");
    tcase_add_checked_fixture(tc, require_gpt2_tokenizer, NULL);
    tcase_add_checked_fixture(tc, require_verdict, NULL);
    tcase_add_checked_fixture(tc, one_thread, NULL);
    tcase_add_unchecked_fixture(tc, make_corpus, remove_corpus);
    add_test(tc, test_a_run_from_shards);
    add_test(tc, test_resumed_run_goes_on_exactly);
    add_test(tc, test_sigint_saves_and_stops);
    add_test(tc, test_sigterm_saves_and_stops);
    add_test(tc, test_bad_runs_from_shards);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}
