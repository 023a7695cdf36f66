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

/* The benchmarks, one per file. */
void bench_tokenizer(int rounds);
void bench_matmul(int rounds);
void bench_gpt(int rounds);
void bench_train(int rounds);
/* One process of bench_train: `bench train-child B T STEPS`. */
void bench_train_child(int B, int T, int n_steps);

#endif
