/* Tests for the crash safety of `ch05 train`'s checkpoints: pretrain.c saves
 * them through common/util.c's AtomicFile (temporary name, fsync, rename,
 * fsync of the directory) and removes the temporary files that killed runs
 * leave; a resumed run takes its settings from the checkpoint.
 *
 * A run that saves a checkpoint every epoch is killed with SIGKILL at random
 * moments, most of them while it writes its checkpoint, then resumed with
 * `--resume CKPT` alone, killed again, and so on. After every kill the
 * checkpoint must load completely and be no older than before (so it is the
 * last complete one or the new complete one, never a torn file), the next
 * run must remove the temporary file a kill left behind, and the checkpoint
 * at the end must be byte for byte that of a run that was never stopped. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../ch05_pretrain/gpt_weights.h"
#include "../common/rng.h"
#include "test_helpers.h"

static char *dir, *text_path;

/* The first 100 characters of The Verdict: 22 training tokens, at context 2
 * 10 windows, so 2 batches of 5 per epoch (the vocabulary is GPT-2's, and
 * its 50257 logits per token are most of the work, which is slow under the
 * sanitizers); 4 validation tokens. */
static void make_text(void) {
    dir = make_temp_dir();
    text_path = path_join(dir, "tiny.txt");
    if (!have_data_file("the-verdict.txt")) return;
    char *verdict = data_file("the-verdict.txt");
    char *text = read_file(verdict, NULL);
    write_file_atomic(text_path, text, 100);
    free(text);
    free(verdict);
}

static void remove_text(void) {
    remove_tree(dir);
    free(text_path);
    free(dir);
}

/* ---- a training run we can watch and kill --------------------------------------- */

typedef struct {
    pid_t pid;
    bool ended;
    int status; /* its wait status, once ended */
    double started;
} Run;

/* Start `ch05 train ARGS`, stdout to /dev/null, stderr to err_path. One
 * OpenMP thread: the model is tiny, and the run and the reference must do
 * their sums in the same order to agree to the bit. */
static Run start_train(const char *err_path, const char *args) {
    char command[4096];
    snprintf(command, sizeof command, "OMP_NUM_THREADS=1 exec %s/ch05_pretrain/ch05 train %s >/dev/null 2>%s",
             repo_root(), args, err_path);
    Run r = {.started = now_seconds()};
    r.pid = fork();
    ck_assert_int_ge(r.pid, 0);
    if (r.pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed assertion ends the test: the run must not outlive it */
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    return r;
}

static void reap(Run *r, int options) {
    if (!r->ended && waitpid(r->pid, &r->status, options) == r->pid) r->ended = true;
}

/* Wait until path exists (true) or the run ends without it (false). */
static bool wait_for_file(Run *r, const char *path) {
    for (;;) {
        if (file_exists(path)) return true;
        reap(r, WNOHANG);
        if (r->ended) return file_exists(path);
        usleep(500);
    }
}

static void kill_run(Run *r) {
    kill(r->pid, SIGKILL);
    reap(r, 0);
}

static bool killed(const Run *r) { return r->ended && WIFSIGNALED(r->status) && WTERMSIG(r->status) == SIGKILL; }
static bool succeeded(const Run *r) { return r->ended && WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0; }

static char *temp_path(const char *path, pid_t pid) {
    char *p = xmalloc(strlen(path) + 32);
    sprintf(p, "%s.tmp.%ld", path, (long)pid);
    return p;
}

/* Load the whole checkpoint as `train --resume` does (a torn file exits
 * with the reason, which fails the test) and return its epoch. */
static long checkpoint_epoch(const char *path) {
    SafetensorsFile *sf;
    GPTModel *m = gpt_load_checkpoint(path, &sf);
    float *moments = xmalloc(m->n_params * sizeof(float));
    gpt_checkpoint_read_buffer(sf, m, "optimizer.m.", moments);
    gpt_checkpoint_read_buffer(sf, m, "optimizer.v.", moments);
    long epoch;
    ck_assert(parse_long(safetensors_metadata(sf, "train.epochs_done"), 0, 1000000, &epoch));
    free(moments);
    safetensors_close(sf);
    gpt_free(m);
    return epoch;
}

static char *first_temp_file(const char *run_dir) {
    char command[1024], *listing;
    snprintf(command, sizeof command, "ls %s | grep '\\.tmp\\.' | head -n 1", run_dir);
    run_command(command, &listing, NULL);
    if (*listing) return listing;
    free(listing);
    return NULL;
}

static bool same_bytes(const char *a, const char *b) {
    size_t na, nb;
    char *x = read_file(a, &na), *y = read_file(b, &nb);
    bool same = na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* ---- the kill test ------------------------------------------------------------------ */

/* Non-default values (context, batch size, learning rate, seed, evaluation
 * only at step 0), so the exact checkpoint at the end also shows that every
 * run resumed with `--resume CKPT` alone took them all from the checkpoint. */
#define SETTINGS                                                                                                      \
    "--emb-dim 2 --n-layers 1 --n-heads 1 --context 2 --batch-size 5 --lr 0.001 --seed 7 --eval-freq 1000000 "    \
    "--no-samples --save-every 1"
enum { KILLS = 36 };

/* The temporary files that kills left and no run has removed yet. */
typedef struct {
    char *paths[8];
    int n;
} Leftovers;

/* Note the temporary files the killed run left (its checkpoint's and its
 * log's); true if it was killed in the middle of writing the checkpoint. */
static bool note_leftovers(Leftovers *l, const char *ckpt, const char *log, pid_t pid) {
    const char *files[2] = {ckpt, log};
    bool mid_save = false;
    for (int i = 0; i < 2; i++) {
        char *tmp = temp_path(files[i], pid);
        if (file_exists(tmp)) {
            ck_assert_int_lt(l->n, 8);
            l->paths[l->n++] = tmp;
            mid_save |= i == 0;
        } else {
            free(tmp);
        }
    }
    return mid_save;
}

/* Those the run with this stderr says it removed must be gone; with
 * all_gone, every one must be gone (the run got past its start). A file may
 * also be gone unannounced: a kill can land between a run's removal and its
 * message. */
static void check_removed(Leftovers *l, const char *err, bool all_gone, const char *run) {
    int kept = 0;
    for (int i = 0; i < l->n; i++) {
        /* "removed PATH, left by ...": the comma ends the name, so .tmp.12 is
         * not taken for .tmp.123 */
        char said[4200];
        snprintf(said, sizeof said, "removed %s,", l->paths[i]);
        if (strstr(err, said)) {
            ck_assert_msg(!file_exists(l->paths[i]), "%s says it removed %s, which is still there", run, l->paths[i]);
            free(l->paths[i]);
        } else if (!file_exists(l->paths[i])) {
            /* removed by a run killed between the removal and its message */
            free(l->paths[i]);
        } else {
            ck_assert_msg(!all_gone, "%s did not remove %s: %s", run, l->paths[i], err);
            l->paths[kept++] = l->paths[i];
        }
    }
    l->n = kept;
}

START_TEST(test_killed_runs_resume_without_flags) {
    double t0 = now_seconds();
    char *run_dir = path_join(dir, "killed"), *ckpt = path_join(run_dir, "checkpoint.safetensors");
    char *log = path_join(run_dir, "log.csv"), *err_path = path_join(dir, "stderr.txt"), args[2048], run[64];
    Leftovers left = {0};

    /* The first run, stopped once its first checkpoint is in place. It also
     * measures how long a run takes to get to its first save, and the save. */
    snprintf(args, sizeof args, "--data %s " SETTINGS " --epochs 1000 --out %s", text_path, run_dir);
    Run r = start_train(err_path, args);
    char *tmp = temp_path(ckpt, r.pid);
    ck_assert_msg(wait_for_file(&r, tmp), "the first run did not save");
    double to_save = now_seconds() - r.started;
    ck_assert(wait_for_file(&r, ckpt));
    double save = now_seconds() - r.started - to_save;
    kill_run(&r);
    free(tmp);
    note_leftovers(&left, ckpt, log, r.pid);

    Rng rng;
    rng_seed(&rng, 2024);
    int mid_save = 0, aimed_at_saves = 0;
    long epoch = checkpoint_epoch(ckpt);
    snprintf(args, sizeof args, "--resume %s", ckpt);
    for (int k = 0; k < KILLS; k++) {
        snprintf(run, sizeof run, "run %d", k + 1);
        r = start_train(err_path, args);
        /* Two kills in three aim at the run's first save: up to 1.5 times
         * its duration after the temporary file appears, so most land while
         * it is written or synced and some after the rename. The third is
         * anywhere from the start to the end of that save: loading, the
         * log's rewrite, the step. */
        bool at_save = k % 3 != 2;
        double delay = (at_save ? 1.5 * save : to_save + save) * rng_uniform(&rng);
        if (at_save) {
            aimed_at_saves++;
            char *ckpt_tmp = temp_path(ckpt, r.pid);
            bool saving = wait_for_file(&r, ckpt_tmp);
            free(ckpt_tmp);
            if (!saving || r.ended) {
                char *err = read_file(err_path, NULL);
                ck_assert_msg(0, "%s ended before its first save: %s", run, err);
            }
        }
        usleep((useconds_t)(delay * 1e6));
        kill_run(&r);
        char *err = read_file(err_path, NULL);
        ck_assert_msg(killed(&r), "%s ended by itself: %s", run, err);
        /* what a run says it removed is gone; that every leftover goes is
         * checked at the last run (a run killed early may not have cleaned) */
        check_removed(&left, err, false, run);
        free(err);
        long now = checkpoint_epoch(ckpt);
        ck_assert_msg(now >= epoch, "after kill %d the checkpoint went back from epoch %ld to %ld", k + 1, epoch, now);
        epoch = now;
        mid_save += note_leftovers(&left, ckpt, log, r.pid);
    }

    /* The last run goes on to the end, one epoch on (one flag, the rest from
     * the checkpoint), removing what the kills left; its checkpoint is that
     * of a run never stopped, to the last bit of every weight, AdamW moment
     * and random generator state. */
    int epochs = (int)epoch + 1;
    snprintf(args, sizeof args, "--resume %s --epochs %d", ckpt, epochs);
    r = start_train(err_path, args);
    reap(&r, 0);
    char *err = read_file(err_path, NULL);
    ck_assert_msg(succeeded(&r), "the last run failed: %s", err);
    check_removed(&left, err, true, "the last run");
    free(err);
    char *stale = first_temp_file(run_dir);
    ck_assert_msg(stale == NULL, "%s is still in %s", stale, run_dir);

    char *ref_dir = path_join(dir, "reference"), *ref_ckpt = path_join(ref_dir, "checkpoint.safetensors");
    snprintf(args, sizeof args, "--data %s " SETTINGS " --epochs %d --out %s", text_path, epochs, ref_dir);
    r = start_train(err_path, args);
    reap(&r, 0);
    ck_assert(succeeded(&r));
    ck_assert_msg(same_bytes(ckpt, ref_ckpt), "after %d kills the checkpoint of epoch %d differs from an "
                  "uninterrupted run's", KILLS, epochs);

    fprintf(stderr, "checkpoint kill test: %d kills (%d aimed at a save), %d of them in the middle of a save; "
                    "%d epochs, %.1f s\n", KILLS, aimed_at_saves, mid_save, epochs, now_seconds() - t0);
    free(ref_dir);
    free(ref_ckpt);
    free(run_dir);
    free(ckpt);
    free(log);
    free(err_path);
}
END_TEST

Suite *checkpoint_suite(void) {
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("killed runs");
    tcase_set_timeout(tc, 600);
    tcase_add_unchecked_fixture(tc, make_text, remove_text);
    tcase_add_checked_fixture(tc, require_verdict, NULL);
    tcase_add_checked_fixture(tc, require_gpt2_tokenizer, NULL);
    add_test(tc, test_killed_runs_resume_without_flags);
    suite_add_tcase(s, tc);
    return s;
}
