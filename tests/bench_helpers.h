/* bench_helpers.h: what every benchmark shares. The machines are shared, so
 * contenders run alternately (A B A B ...), figures are medians, and each
 * benchmark says how much CPU other processes took while it ran. */
#ifndef TESTS_BENCH_HELPERS_H
#define TESTS_BENCH_HELPERS_H

#include <stddef.h>

double median(double *values, int n); /* sorts values */

/* CPU time that processes other than this one (and its children) used. */
typedef struct {
    double start_busy;  /* machine-wide busy seconds, from /proc/stat */
    double start_own;   /* ours and our children's, from getrusage */
    double start_wall;
} CpuWatch;
void cpu_watch_start(CpuWatch *w);
/* One line on stdout: "other processes used X% of N cores during the run". */
void cpu_watch_report(const CpuWatch *w);

/* Memory read bandwidth, the one figure every section uses: batch-1
 * decoding reads every weight once per token, so this bounds it (tokens/s
 * <= bandwidth / bytes of weights). Measured on the first call, with the
 * OpenMP thread count the decode benchmark uses (omp_get_max_threads() of
 * a fresh program), as streaming sums over a buffer of at least 256 MiB and
 * 8 times the last-level cache; later calls return the same figures. */
typedef struct {
    double median_gbs, min_gbs, max_gbs; /* GB/s, 1e9 bytes */
    int runs, threads;
    size_t buffer_bytes, cache_bytes; /* cache_bytes: the last-level cache */
} Bandwidth;
const Bandwidth *memory_read_bandwidth(void);
/* "27.2 GB/s (median of 7, 25.1-28.0)" */
void bandwidth_text(const Bandwidth *bw, char *out, size_t size);

/* Environment and references. A warning goes to stdout next to the figures
 * it concerns, marked "WARNING:", and is repeated at the end of the run. */
void bench_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bench_warnings_summary(void);
/* The machine (CPU model, cores) and a warning for each environment
 * variable that forces a slower kernel or fewer threads on us or on a
 * reference (OPENBLAS_CORETYPE, OMP_NUM_THREADS, ...). */
void bench_print_environment(void);

/* The benchmarks, one per file. */
void bench_tokenizer(int rounds);
void bench_matmul(int rounds);
void bench_gpt(int rounds);
void bench_train(int rounds);
void bench_corpus(int rounds);
/* One process of bench_train: `bench train-child B T STEPS`. */
void bench_train_child(int B, int T, int n_steps);

#endif
