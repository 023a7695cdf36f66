/* bench_tokenizer.c: GPT-2 encoding speed in MB/s, ours against OpenAI's
 * tiktoken (its npm WASM build, when node and the package are present),
 * alternating the two on the same English text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../ch02_text/bpe.h"
#include "../ch02_text/utf8.h"
#include "../common/util.h"
#include "bench_helpers.h"

/* English text from the data directory: The Verdict, and the instruction
 * and SMS data sets when they have been fetched. */
static char *english_corpus(size_t *len) {
    const char *names[] = {"the-verdict.txt", "instruction-data.json", "sms_spam/SMSSpamCollection"};
    ByteBuf corpus = {0};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *path = path_join(data_dir(), names[i]);
        if (file_exists(path)) {
            size_t n;
            char *text = read_text_file(path, &n);
            bytebuf_append(&corpus, text, n);
            free(text);
            printf("  corpus: %s (%zu bytes)\n", names[i], n);
        }
        free(path);
    }
    *len = corpus.len;
    return corpus.data;
}

/* One timed run of tiktoken: returns MB/s, or 0 when it cannot run. */
static double tiktoken_round(const char *corpus_path, const char *script) {
    char command[2048];
    snprintf(command, sizeof command, "node %s %s 1 2>/dev/null", script, corpus_path);
    FILE *p = popen(command, "r");
    if (!p) return 0;
    double seconds = 0, mb_per_s = 0;
    long n_tokens = 0;
    int got = fscanf(p, "%lf %lf %ld", &seconds, &mb_per_s, &n_tokens);
    pclose(p);
    return got == 3 ? mb_per_s : 0;
}

/* "tiktoken 1.0.22 (npm, WASM) on node v20..., FOLDER", or false. */
static bool tiktoken_version(const char *script, char *version, size_t size) {
    char command[2048];
    snprintf(command, sizeof command, "node %s --version 2>/dev/null", script);
    FILE *p = popen(command, "r");
    if (!p) return false;
    bool ok = fgets(version, (int)size, p) != NULL;
    if (pclose(p) != 0) ok = false;
    version[strcspn(version, "\n")] = '\0';
    return ok;
}

void bench_tokenizer(int rounds) {
    printf("GPT-2 BPE encoding (one thread), %d rounds alternating, medians\n", rounds);
    size_t len;
    char *corpus = english_corpus(&len);
    char *script = path_join(checkout_root(), "tests/reference/tiktoken_bench.js");
    char *module = path_join(checkout_root(), "tests/reference/node_modules/tiktoken");
    char version[512] = "";
    bool have_tiktoken = access(module, R_OK) == 0 && tiktoken_version(script, version, sizeof version);
    if (have_tiktoken) printf("  reference: %s\n", version);
    char corpus_path[] = "/tmp/llm-bench-corpus-XXXXXX";
    int fd = mkstemp(corpus_path);
    if (fd < 0 || write(fd, corpus, len) != (ssize_t)len) fatal("cannot write the benchmark corpus");
    close(fd);

    Bpe *bpe = bpe_load_gpt2();
    IntVec ids = {0};
    double *cold = xmalloc(rounds * sizeof(double)), *warm = xmalloc(rounds * sizeof(double));
    double *theirs = xmalloc(rounds * sizeof(double));
    int n_theirs = 0;
    CpuWatch watch;
    cpu_watch_start(&watch);
    for (int r = 0; r < rounds; r++) {
        bpe_clear_cache(bpe);
        ids.len = 0;
        double t0 = now_seconds();
        bpe_encode(bpe, corpus, len, false, &ids);
        double t1 = now_seconds();
        ids.len = 0;
        bpe_encode(bpe, corpus, len, false, &ids);
        double t2 = now_seconds();
        cold[r] = len / 1e6 / (t1 - t0);
        warm[r] = len / 1e6 / (t2 - t1);
        if (have_tiktoken) {
            double mbs = tiktoken_round(corpus_path, script);
            if (mbs > 0) theirs[n_theirs++] = mbs;
        }
    }
    printf("  %zu bytes -> %zu tokens\n", len, ids.len);
    double ours_cold = median(cold, rounds), ours_warm = median(warm, rounds);
    printf("  ours, cold word cache      %8.1f MB/s\n", ours_cold);
    printf("  ours, warm word cache      %8.1f MB/s\n", ours_warm);
    if (n_theirs > 0) {
        double t = median(theirs, n_theirs);
        printf("  tiktoken                   %8.1f MB/s\n", t);
        printf("  ratio ours (cold) / tiktoken: %.1fx\n", ours_cold / t);
    } else {
        printf("  tiktoken: not measured (needs node, and the npm package that make bench installs)\n");
    }
    cpu_watch_report(&watch);
    remove(corpus_path);
    free(cold);
    free(warm);
    free(theirs);
    intvec_free(&ids);
    bpe_free(bpe);
    free(module);
    free(script);
    free(corpus);
}
