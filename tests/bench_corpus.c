/* bench_corpus.c: pretraining on a larger corpus. `ch05 prepare-corpus`'s
 * throughput in MB/s on one thread and on every core (the tokenizer
 * section's one-thread figure is the same encoder), and `ch05 train` from
 * shards on one process of two threads against two MPI ranks of one thread
 * each, on the same global batch: tokens/s, the share of the time spent
 * communicating, and the memory of a rank. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../ch02_text/utf8.h"
#include "../ch05_pretrain/corpus.h"
#include "../ch05_pretrain/data_parallel.h"
#include "../common/util.h"
#include "bench_helpers.h"

/* A directory of 48 documents, 16 from each of the data files, cut into
 * equal parts and each taken 32 times over (about 22 MB in all with The
 * Verdict, the instruction data and the SMS data, as make data fetches them). */
static char *make_text_tree(double *mb) {
    char dir_template[] = "/tmp/llm-bench-text-XXXXXX";
    if (!mkdtemp(dir_template)) fatal("cannot make a temporary directory");
    const char *names[] = {"the-verdict.txt", "instruction-data.json", "sms_spam/SMSSpamCollection"};
    size_t total = 0;
    for (int f = 0; f < 3; f++) {
        char *path = path_join(data_dir(), names[f]);
        if (!file_exists(path)) {
            free(path);
            continue;
        }
        size_t len;
        char *text = read_text_file(path, &len);
        for (int part = 0; part < 16; part++) {
            size_t from = len * part / 16, to = len * (part + 1) / 16;
            ByteBuf doc = {0};
            for (int copy = 0; copy < 32; copy++) bytebuf_append(&doc, text + from, to - from);
            char name[64];
            snprintf(name, sizeof name, "%d/%02d.txt", f, part);
            char *doc_path = path_join(dir_template, name), *parent = path_dir(doc_path);
            make_dirs(parent);
            write_file_atomic(doc_path, doc.data, doc.len);
            total += doc.len;
            free(parent);
            free(doc_path);
            bytebuf_free(&doc);
        }
        free(text);
        free(path);
    }
    *mb = total / 1e6;
    return xstrdup(dir_template);
}

static double prepare_once(const char *in, int threads, const char *shards) {
    char *command = NULL;
    if (asprintf(&command, "rm -rf %s", shards) < 0 || system(command) != 0) fatal("cannot clear %s", shards);
    free(command);
    CorpusOptions o = {.input_dir = in, .out_dir = shards, .shard_tokens = 100000000, .val_tokens = 100000,
                       .threads = threads};
    CorpusStats s;
    char err[512];
    double start = now_seconds();
    if (!prepare_corpus(&o, &s, err, sizeof err)) fatal("prepare-corpus: %s", err);
    return s.bytes_read / 1e6 / (now_seconds() - start);
}

/* One `ch05 train` from the shards; its tokens/s, communication share and
 * peak memory from its last lines. */
typedef struct {
    double tokens_per_s, comm_percent, comm_per_step, memory_mb;
} TrainFigures;

static bool train_once(const char *launcher, const char *shards, const char *out, TrainFigures *f) {
    char *command = NULL;
    if (asprintf(&command,
                 "%s %s/ch05_pretrain/ch05 train --data %s --out %s --max-steps 6 --emb-dim 256 --n-layers 4 "
                 "--n-heads 4 --context 128 --batch-size 4 --total-batch 2048 --eval-freq 100000 --eval-iter 1 "
                 "--no-samples 2>&1 >/dev/null | grep 'tokens/s over'",
                 launcher, checkout_root(), shards, out) < 0)
        fatal("out of memory");
    FILE *p = popen(command, "r");
    free(command);
    if (!p) return false;
    int ranks;
    int got = fscanf(p, "%lf tokens/s over %d rank(s); %lf%% of the time in communication on rank 0 (%lf s a step); %lf MB",
                     &f->tokens_per_s, &ranks, &f->comm_percent, &f->comm_per_step, &f->memory_mb);
    return pclose(p) == 0 && got == 5;
}

void bench_corpus(int rounds) {
    int cores = omp_get_max_threads();
    printf("Pretraining on a larger corpus: ch05 prepare-corpus, %d rounds, medians\n", rounds);
    double mb;
    char *in = make_text_tree(&mb), *shards = path_join(in, "shards");
    printf("  48 documents, %.1f MB (the data files, each cut in 16 parts, each part 32 times over)\n", mb);
    double *one = xmalloc(rounds * sizeof(double)), *all = xmalloc(rounds * sizeof(double));
    CpuWatch watch;
    cpu_watch_start(&watch);
    for (int r = 0; r < rounds; r++) {
        one[r] = prepare_once(in, 1, shards);
        all[r] = prepare_once(in, cores, shards);
    }
    printf("  prepare-corpus, 1 thread        %8.1f MB/s\n", median(one, rounds));
    printf("  prepare-corpus, %2d threads       %8.1f MB/s (%.2fx)\n", cores, median(all, rounds),
           median(all, rounds) / median(one, rounds));
    cpu_watch_report(&watch);

    printf("\nch05 train from those shards: one process of %d threads against %d MPI ranks of one thread each,\n"
           "the same steps (a 4-layer GPT of 256 channels, 2048 tokens a step, 6 steps), %d rounds alternating\n",
           cores, cores, rounds);
    if (!data_parallel_has_mpi()) {
        printf("  not measured: this build has no MPI\n");
    } else {
        char launcher_one[64], launcher_ranks[1024];
        snprintf(launcher_one, sizeof launcher_one, "OMP_NUM_THREADS=%d", cores);
        snprintf(launcher_ranks, sizeof launcher_ranks,
                 "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 mpirun --oversubscribe "
                 "--bind-to core -np %d",
                 cores);
        double *t1 = xmalloc(rounds * sizeof(double)), *tn = xmalloc(rounds * sizeof(double));
        double *comm = xmalloc(rounds * sizeof(double)), *comm_step = xmalloc(rounds * sizeof(double)), mem1 = 0,
               memn = 0;
        int ok = 0;
        char *out = path_join(in, "run");
        for (int r = 0; r < rounds; r++) {
            TrainFigures a, b;
            if (!train_once(launcher_one, shards, out, &a) || !train_once(launcher_ranks, shards, out, &b)) break;
            t1[ok] = a.tokens_per_s, tn[ok] = b.tokens_per_s, comm[ok] = b.comm_percent;
            comm_step[ok] = b.comm_per_step;
            mem1 = a.memory_mb, memn = b.memory_mb;
            ok++;
        }
        if (ok == 0) {
            printf("  not measured: the runs failed (is mpirun installed? make deps installs Open MPI)\n");
        } else {
            printf("  1 process, %d threads          %8.0f tokens/s, %.0f MB\n", cores, median(t1, ok), mem1);
            printf("  %d ranks, 1 thread each        %8.0f tokens/s, %.0f MB a rank, %.1f%% of the time "
                   "communicating (%.3f s a step)\n",
                   cores, median(tn, ok), memn, median(comm, ok), median(comm_step, ok));
            printf("  ratio ranks / threads: %.2fx\n", median(tn, ok) / median(t1, ok));
        }
        free(out);
        free(t1);
        free(tn);
        free(comm);
        free(comm_step);
    }
    char *command = NULL;
    if (asprintf(&command, "rm -rf %s", in) > 0 && system(command) != 0) bench_warning("could not remove %s", in);
    free(command);
    free(one);
    free(all);
    free(shards);
    free(in);
}
