/* bench_matmul.c: sgemm GFLOP/s on GPT-2-124M shapes, ours against
 * OpenBLAS, on one and two threads, and the memory bandwidth that bounds
 * batch-1 decoding.
 *
 * OpenBLAS is loaded at run time (dlopen), so the project never depends on
 * it: when libopenblas.so.0 is missing the benchmark says so and measures
 * ours alone. Contenders alternate (ours, OpenBLAS, ours, ...) and each
 * figure is the median of the rounds, so a burst of load elsewhere on the
 * machine hits both alike. Between rounds on two threads we pause: after a
 * call, OpenBLAS's worker thread keeps spinning for about 0.1 s (and
 * OpenMP's for a moment), and on a two-core machine that steals a core
 * from whoever runs next. */
#include "bench_matmul.h"

#include <dlfcn.h>
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
    char *(*get_config)(void);
} OpenBlas;

static bool openblas_load(OpenBlas *ob) {
    memset(ob, 0, sizeof *ob);
    void *lib = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return false;
    /* POSIX guarantees a dlsym result converts to a function pointer */
    *(void **)&ob->sgemm = dlsym(lib, "cblas_sgemm");
    *(void **)&ob->sgemv = dlsym(lib, "cblas_sgemv");
    *(void **)&ob->set_num_threads = dlsym(lib, "openblas_set_num_threads");
    *(void **)&ob->get_config = dlsym(lib, "openblas_get_config");
    return ob->sgemm && ob->sgemv && ob->set_num_threads;
}

/* ---- memory bandwidth ---------------------------------------------------- */

double measure_read_bandwidth_gbs(int threads) {
    enum { RUNS = 5, LANES = 64 };
    const size_t n = (size_t)512 << 20 >> 2; /* 512 MB of floats */
    float *x = xmalloc(n * sizeof(float));
    /* touch every page first (from the threads that will read them) */
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; i++) x[i] = 1.0f;
    double gbs[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_seconds(), total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
        {
            /* 64 independent sums: no dependency chain limits the loads, and
             * they vectorise without reassociating anything (strict FP) */
            float acc[LANES] = {0};
#pragma omp for schedule(static)
            for (size_t i = 0; i < n; i += LANES)
                for (int j = 0; j < LANES; j++) acc[j] += x[i + j];
            for (int j = 0; j < LANES; j++) total += acc[j];
        }
        double seconds = now_seconds() - t0;
        if (total != (double)n) fatal("bandwidth: the sum is %g, not %zu", total, n);
        gbs[r] = n * sizeof(float) / seconds / 1e9;
    }
    free(x);
    return median(gbs, RUNS);
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
    {"attention out  x @ W (768,768)", false, false, false, 512, 768, 768},
    {"qkv            x @ W (768,2304)", false, false, false, 512, 2304, 768},
    {"MLP up         x @ W (768,3072)", false, false, false, 512, 3072, 768},
    {"MLP down       x @ W (3072,768)", false, false, false, 512, 768, 3072},
    {"head, tied     x @ wte^T (50257,768)", false, true, false, 512, 50257, 768},
    {"head           x @ W (768,50257)", false, false, false, 512, 50257, 768},
};
static const Case backward_cases[] = {
    {"MLP up    dX += dY @ W^T", false, true, true, 512, 768, 3072},
    {"MLP up    dW += X^T @ dY", true, false, true, 768, 3072, 512},
    {"MLP down  dX += dY @ W^T", false, true, true, 512, 3072, 768},
    {"MLP down  dW += X^T @ dY", true, false, true, 3072, 768, 512},
    {"head      dX += dY @ wte", false, false, true, 512, 768, 50257},
    {"head      dwte += dY^T @ X", true, false, true, 50257, 768, 512},
};
/* Batch-1 decoding: one token, M = 1. */
static const Case decode_cases[] = {
    {"attention out  (768,768)", false, false, false, 1, 768, 768},
    {"qkv            (768,2304)", false, false, false, 1, 2304, 768},
    {"MLP up         (768,3072)", false, false, false, 1, 3072, 768},
    {"MLP down       (3072,768)", false, false, false, 1, 768, 3072},
    {"head, tied     wte^T (50257,768)", false, true, false, 1, 50257, 768},
    {"head           W (768,50257)", false, false, false, 1, 50257, 768},
};

typedef struct {
    const Case *c;
    float *A, *B, *C;
    int lda, ldb;
    /* decoding cycles through copies of B so that each call reads its
     * weights from memory, as a real decode step does, not from cache */
    int n_copies, next_copy;
    size_t b_size;
} Operands;

static Operands operands_make(const Case *c, Rng *rng, bool cycle_copies) {
    Operands o = {.c = c};
    size_t a_size = (size_t)c->M * c->K;
    o.b_size = (size_t)c->K * c->N;
    o.lda = c->trans_a ? c->M : c->K;
    o.ldb = c->trans_b ? c->K : c->N;
    o.n_copies = 1;
    if (cycle_copies) { /* at least 256 MB of B in all */
        size_t bytes = o.b_size * sizeof(float);
        o.n_copies = (int)(((size_t)256 << 20) / bytes) + 1;
        if (o.n_copies < 2) o.n_copies = 2;
    }
    o.A = xmalloc(a_size * sizeof(float));
    o.B = xmalloc(checked_mul(o.b_size * sizeof(float), o.n_copies));
    o.C = xmalloc((size_t)c->M * c->N * sizeof(float));
    rng_fill_uniform(rng, o.A, a_size, -1, 1);
    rng_fill_uniform(rng, o.B, o.b_size, -1, 1);
    for (int i = 1; i < o.n_copies; i++) memcpy(o.B + i * o.b_size, o.B, o.b_size * sizeof(float));
    memset(o.C, 0, (size_t)c->M * c->N * sizeof(float));
    return o;
}

static void operands_free(Operands *o) { free(o->A), free(o->B), free(o->C); }

static const float *next_b(Operands *o) {
    const float *b = o->B + (size_t)o->next_copy * o->b_size;
    o->next_copy = (o->next_copy + 1) % o->n_copies;
    return b;
}

static void run_ours(Operands *o) {
    const Case *c = o->c;
    sgemm(c->trans_a, c->trans_b, c->M, c->N, c->K, o->A, o->lda, next_b(o), o->ldb, c->accumulate, o->C, c->N);
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
    /* each round about 40 ms (decode: at least one pass over the copies) */
    double once = time_reps(NULL, &o, 1);
    if (ob) time_reps(ob, &o, 1);
    int reps = (int)(0.04 / (once > 1e-6 ? once : 1e-6)) + 1;
    if (decode && reps < o.n_copies) reps = o.n_copies;
    double *ours = xmalloc(rounds * sizeof(double)), *theirs = xmalloc(rounds * sizeof(double));
    for (int r = 0; r < rounds; r++) {
        ours[r] = flops * reps / time_reps(NULL, &o, reps) / 1e9;
        if (ob) {
            if (threads > 1) usleep(120000);
            theirs[r] = flops * reps / time_reps(ob, &o, reps) / 1e9;
            if (threads > 1) usleep(120000);
        }
    }
    double gf = median(ours, rounds), gf_theirs = ob ? median(theirs, rounds) : 0;
    /* decoding: GB/s of weights read (each weight is 4 bytes and 2 flops) */
    double to_gbs = decode ? 4.0 / 2.0 : 0;
    printf("  %-38s %5d %5d %5d  %7.1f", c->name, c->M, c->N, c->K, decode ? gf * to_gbs : gf);
    if (ob)
        printf("  %8.1f  %5.2f\n", decode ? gf_theirs * to_gbs : gf_theirs, gf / gf_theirs);
    else
        printf("  %8s  %5s\n", "-", "-");
    fflush(stdout);
    free(ours), free(theirs);
    operands_free(&o);
}

static void bench_table(const char *title, const Case *cases, int n, const OpenBlas *ob, int threads, int rounds,
                        Rng *rng, bool decode) {
    printf("  %s, %d thread%s (%s)\n", title, threads, threads > 1 ? "s" : "", decode ? "GB/s of weights" : "GFLOP/s");
    printf("  %-38s %5s %5s %5s  %7s  %8s  %5s\n", "", "M", "N", "K", "ours", "OpenBLAS", "ratio");
    for (int i = 0; i < n; i++) bench_case(&cases[i], ob, threads, rounds, rng, decode);
}

void bench_matmul(int rounds) {
    OpenBlas ob;
    bool have_openblas = openblas_load(&ob);
    printf("\nsgemm on GPT-2 124M shapes, %d rounds alternating, medians\n", rounds);
    if (have_openblas)
        printf("  OpenBLAS: %s (cblas_sgemm; cblas_sgemv for the M = 1 rows)\n",
               ob.get_config ? ob.get_config() : "libopenblas.so.0");
    else
        printf("  OpenBLAS: not measured (libopenblas.so.0 not found: apt-get install libopenblas0)\n");
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
        printf("  memory read bandwidth, %d thread%s: %.1f GB/s\n", threads, threads > 1 ? "s" : "",
               measure_read_bandwidth_gbs(threads));
    }
    omp_set_num_threads(saved_threads);
    cpu_watch_report(&watch);
}
