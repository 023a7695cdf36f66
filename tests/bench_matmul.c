/* bench_matmul.c: sgemm GFLOP/s on GPT-2-124M shapes, ours against
 * OpenBLAS, on one and two threads; batch-1 decoding next to the memory
 * bandwidth that bounds it (measured once for the whole bench, see
 * bench_helpers.h).
 *
 * OpenBLAS is loaded at run time (dlopen), so the project never depends on
 * it: when libopenblas.so.0 is missing the benchmark says so and measures
 * ours alone. Contenders alternate (ours, OpenBLAS, ours, ...) and each
 * figure is the median of the rounds, so a burst of load elsewhere on the
 * machine hits both alike. Between rounds on two threads we pause: after a
 * call, OpenBLAS's worker thread keeps spinning for about 0.1 s (and
 * OpenMP's for a moment), and on a two-core machine that steals a core
 * from whoever runs next.
 *
 * Decoding (M = 1) is compared with OpenBLAS's cblas_sgemv, its routine for
 * one row (its sgemm would pack B first), and reported in GB/s of weights
 * read, next to the machine's read bandwidth, the bound for that case.
 *
 * The OpenBLAS line says which library was loaded (the resolved path), its
 * version, the kernel it picked for this CPU (its "core") and its threads. */
#include <dlfcn.h>
#include <limits.h>
#include <omp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/matmul.h"
#include "../common/rng.h"
#include "../common/util.h"
#include "bench_helpers.h"

/* ---- OpenBLAS, when it is there -------------------------------------------- */

/* cblas.h's values and signatures, declared here so that no header is needed */
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };
typedef void (*CblasSgemm)(int order, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                           int lda, const float *B, int ldb, float beta, float *C, int ldc);
typedef void (*CblasSgemv)(int order, int trans, int M, int N, float alpha, const float *A, int lda, const float *x,
                           int incx, float beta, float *y, int incy);
typedef struct {
    CblasSgemm sgemm;
    CblasSgemv sgemv;
    void (*set_num_threads)(int);
    int (*get_num_threads)(void);
    int (*get_parallel)(void);
    char *(*get_config)(void);
    char *(*get_corename)(void);
} OpenBlas;

static bool openblas_load(OpenBlas *ob) {
    memset(ob, 0, sizeof *ob);
    void *lib = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return false;
    /* POSIX guarantees a dlsym result converts to a function pointer */
    *(void **)&ob->sgemm = dlsym(lib, "cblas_sgemm");
    *(void **)&ob->sgemv = dlsym(lib, "cblas_sgemv");
    *(void **)&ob->set_num_threads = dlsym(lib, "openblas_set_num_threads");
    *(void **)&ob->get_num_threads = dlsym(lib, "openblas_get_num_threads");
    *(void **)&ob->get_parallel = dlsym(lib, "openblas_get_parallel");
    *(void **)&ob->get_config = dlsym(lib, "openblas_get_config");
    *(void **)&ob->get_corename = dlsym(lib, "openblas_get_corename");
    return ob->sgemm && ob->sgemv && ob->set_num_threads;
}

/* The file the dynamic linker loaded for libopenblas.so.0, links resolved. */
static void openblas_path(const OpenBlas *ob, char *path, size_t size) {
    Dl_info info;
    char resolved[PATH_MAX];
    snprintf(path, size, "libopenblas.so.0");
    if (dladdr(*(void **)&ob->sgemm, &info) && info.dli_fname)
        snprintf(path, size, "%s", realpath(info.dli_fname, resolved) ? resolved : info.dli_fname);
}

/* "OpenBLAS 0.3.21: core Zen, pthreads, 2 threads by default, /usr/lib/...",
 * then its build configuration. */
static void openblas_describe(const OpenBlas *ob) {
    static const char *parallel[] = {"sequential", "pthreads", "OpenMP"};
    const char *config = ob->get_config ? ob->get_config() : "";
    char version[32] = "?", path[PATH_MAX];
    sscanf(config, "OpenBLAS %31s", version);
    openblas_path(ob, path, sizeof path);
    int mode = ob->get_parallel ? ob->get_parallel() : -1;
    printf("  OpenBLAS %s: core %s, %s, %d threads by default (set to 1 and 2 below), %s\n", version,
           ob->get_corename ? ob->get_corename() : "?", mode >= 0 && mode <= 2 ? parallel[mode] : "?",
           ob->get_num_threads ? ob->get_num_threads() : 0, path);
    printf("  OpenBLAS build: %s; cblas_sgemm, and cblas_sgemv for the M = 1 rows\n", config);
}

/* ---- the cases ------------------------------------------------------------ */

typedef struct {
    const char *name;
    bool trans_a, trans_b, accumulate;
    int M, N, K;
} Case;

/* Training and prefill shapes: 512 tokens (say 4 sequences of 128) through
 * GPT-2 124M's layers (d = 768, MLP 3072, vocabulary 50257). */
static const Case forward_cases[] = {
    {"attention out   x @ W", false, false, false, 512, 768, 768},
    {"qkv             x @ W", false, false, false, 512, 2304, 768},
    {"MLP up          x @ W", false, false, false, 512, 3072, 768},
    {"head, tied      x @ wte^T", false, true, false, 512, 50257, 768},
    {"head            x @ W", false, false, false, 512, 50257, 768},
};
static const Case backward_cases[] = {
    {"MLP up          grad_X += grad_Y @ W^T", false, true, true, 512, 768, 3072},
    {"MLP up          grad_W += X^T @ grad_Y", true, false, true, 768, 3072, 512},
    {"MLP down        grad_X += grad_Y @ W^T", false, true, true, 512, 3072, 768},
    {"MLP down        grad_W += X^T @ grad_Y", true, false, true, 3072, 768, 512},
    {"head            grad_X += grad_Y @ wte", false, false, true, 512, 768, 50257},
    {"head            grad_wte += grad_Y^T @ X", true, false, true, 50257, 768, 512},
};
/* Batch-1 decoding: one token, M = 1. */
static const Case decode_cases[] = {
    {"attention out   x @ W", false, false, false, 1, 768, 768},
    {"qkv             x @ W", false, false, false, 1, 2304, 768},
    {"MLP up          x @ W", false, false, false, 1, 3072, 768},
    {"MLP down        x @ W", false, false, false, 1, 768, 3072},
    {"head, tied      x @ wte^T", false, true, false, 1, 50257, 768},
    {"head            x @ W", false, false, false, 1, 50257, 768},
};

typedef struct {
    const Case *c;
    float *A, *B, *C;
    int lda, ldb;
    /* decoding cycles through copies of B so that each call reads its
     * weights from memory, as a real decode step does, not from a cache */
    int n_copies, next_copy;
    size_t b_size;
} Operands;

/* Room for the copies: 320 MB, more than any cache, allocated once. */
static float *decode_pool;
static const size_t decode_pool_floats = (size_t)320 << 20 >> 2;

static Operands operands_make(const Case *c, Rng *rng, bool decode) {
    Operands o = {.c = c, .n_copies = 1};
    size_t a_size = (size_t)c->M * c->K;
    o.b_size = (size_t)c->K * c->N;
    o.lda = c->trans_a ? c->M : c->K;
    o.ldb = c->trans_b ? c->K : c->N;
    o.A = xmalloc(a_size * sizeof(float));
    o.C = xcalloc((size_t)c->M * c->N, sizeof(float));
    rng_fill_uniform(rng, o.A, a_size, -1, 1);
    if (decode) {
        if (!decode_pool) {
            decode_pool = xmalloc(decode_pool_floats * sizeof(float));
            rng_fill_uniform(rng, decode_pool, decode_pool_floats, -1, 1);
        }
        o.B = decode_pool;
        o.n_copies = (int)(decode_pool_floats / o.b_size);
        if (o.n_copies < 1) fatal("bench: a decode matrix bigger than the pool");
    } else {
        o.B = xmalloc(o.b_size * sizeof(float));
        rng_fill_uniform(rng, o.B, o.b_size, -1, 1);
    }
    return o;
}

static void operands_free(Operands *o) {
    free(o->A), free(o->C);
    if (o->B != decode_pool) free(o->B);
}

static const float *next_b(Operands *o) {
    const float *b = o->B + (size_t)o->next_copy * o->b_size;
    o->next_copy = (o->next_copy + 1) % o->n_copies;
    return b;
}

static void run_ours(Operands *o) {
    const Case *c = o->c;
    sgemm(c->trans_a, c->trans_b, c->M, c->K, c->N, o->A, o->lda, next_b(o), o->ldb, c->accumulate, o->C, c->N);
}

static void run_openblas(const OpenBlas *ob, Operands *o) {
    const Case *c = o->c;
    const float *b = next_b(o);
    if (c->M == 1) { /* for one row OpenBLAS's own tool is sgemv: y = op(B)^T x */
        if (c->trans_b) /* B is (N,K): y = B x */
            ob->sgemv(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, c->N, c->K, 1.0f, b, o->ldb, o->A, 1,
                      c->accumulate ? 1.0f : 0.0f, o->C, 1);
        else /* B is (K,N): y = B^T x */
            ob->sgemv(CBLAS_ROW_MAJOR, CBLAS_TRANS, c->K, c->N, 1.0f, b, o->ldb, o->A, 1,
                      c->accumulate ? 1.0f : 0.0f, o->C, 1);
        return;
    }
    ob->sgemm(CBLAS_ROW_MAJOR, c->trans_a ? CBLAS_TRANS : CBLAS_NO_TRANS, c->trans_b ? CBLAS_TRANS : CBLAS_NO_TRANS,
              c->M, c->N, c->K, 1.0f, o->A, o->lda, b, o->ldb, c->accumulate ? 1.0f : 0.0f, o->C, c->N);
}

/* Seconds for `reps` calls of one contender. */
static double time_reps(const OpenBlas *ob, Operands *o, int reps) {
    double t0 = now_seconds();
    for (int i = 0; i < reps; i++) ob ? run_openblas(ob, o) : run_ours(o);
    return now_seconds() - t0;
}

/* One line: the median GFLOP/s (and GB/s of B for decoding) of each. */
static void bench_case(const Case *c, const OpenBlas *ob, int threads, int rounds, Rng *rng, bool decode) {
    Operands o = operands_make(c, rng, decode);
    double flops = 2.0 * c->M * c->N * c->K;
    /* rounds of about 20 ms (decoding: at least one pass over the copies) */
    double once = time_reps(NULL, &o, 1);
    if (ob) time_reps(ob, &o, 1);
    int reps = (int)(0.02 / (once > 1e-6 ? once : 1e-6)) + 1;
    if (decode && reps < o.n_copies) reps = o.n_copies;
    double *ours = xmalloc(rounds * sizeof(double)), *theirs = xmalloc(rounds * sizeof(double));
    for (int r = 0; r < rounds; r++) {
        ours[r] = flops * reps / time_reps(NULL, &o, reps) / 1e9;
        if (!ob) continue;
        /* let spinning threads go to sleep before the other contender runs:
         * OpenMP's spin for a few milliseconds, OpenBLAS's for 0.1 s */
        if (threads > 1) usleep(10000);
        theirs[r] = flops * reps / time_reps(ob, &o, reps) / 1e9;
        if (threads > 1) usleep(110000);
    }
    double gf = median(ours, rounds), gf_theirs = ob ? median(theirs, rounds) : 0;
    /* decoding: GB/s of weights read (each weight is 4 bytes and 2 flops) */
    double scale = decode ? 4.0 / 2.0 : 1.0;
    printf("  %-32s %5d %5d %5d  %7.1f", c->name, c->M, c->N, c->K, gf * scale);
    if (ob)
        printf("  %8.1f  %5.2f\n", gf_theirs * scale, gf / gf_theirs);
    else
        printf("  %8s  %5s\n", "-", "-");
    fflush(stdout);
    free(ours), free(theirs);
    operands_free(&o);
}

static void bench_table(const char *title, const Case *cases, int n, const OpenBlas *ob, int threads, int rounds,
                        Rng *rng, bool decode) {
    printf("  %s, %d thread%s (%s)\n", title, threads, threads > 1 ? "s" : "", decode ? "GB/s of weights" : "GFLOP/s");
    printf("  %-32s %5s %5s %5s  %7s  %8s  %5s\n", "", "M", "N", "K", "ours", "OpenBLAS", "ratio");
    for (int i = 0; i < n; i++) bench_case(&cases[i], ob, threads, rounds, rng, decode);
}

void bench_matmul(int rounds) {
    const Bandwidth *bw = memory_read_bandwidth(); /* before the thread count changes */
    OpenBlas ob;
    bool have_openblas = openblas_load(&ob);
    printf("sgemm on GPT-2 124M shapes, %d rounds alternating, medians\n", rounds);
    printf("  ours: %s\n", matmul_kernel_name());
    if (have_openblas)
        openblas_describe(&ob);
    else
        printf("  OpenBLAS: not measured (libopenblas.so.0 not found: make bench installs libopenblas0-pthread)\n");
    Rng rng;
    rng_seed(&rng, 1);
    CpuWatch watch;
    cpu_watch_start(&watch);
    int saved_threads = omp_get_max_threads();
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        if (have_openblas) ob.set_num_threads(threads);
        const OpenBlas *contender = have_openblas ? &ob : NULL;
        int nf = sizeof forward_cases / sizeof forward_cases[0];
        int nb = sizeof backward_cases / sizeof backward_cases[0];
        int nd = sizeof decode_cases / sizeof decode_cases[0];
        bench_table("forward", forward_cases, nf, contender, threads, rounds, &rng, false);
        bench_table("backward", backward_cases, nb, contender, threads, rounds, &rng, false);
        bench_table("decode, batch 1", decode_cases, nd, contender, threads, rounds, &rng, true);
    }
    char text[96];
    bandwidth_text(bw, text, sizeof text);
    printf("  memory read bandwidth, the bound for the decode rows: %s with %d thread%s\n", text, bw->threads,
           bw->threads == 1 ? "" : "s");
    omp_set_num_threads(saved_threads);
    free(decode_pool);
    decode_pool = NULL;
    cpu_watch_report(&watch);
}
