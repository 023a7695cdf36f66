/* bench_matmul.h: what the matmul benchmark offers the other benchmarks. */
#ifndef TESTS_BENCH_MATMUL_H
#define TESTS_BENCH_MATMUL_H

/* Memory read bandwidth in GB/s (1e9 bytes) with `threads` threads: the
 * median of a few streaming sums over a 512 MB buffer, far bigger than any
 * cache. Batch-1 decoding reads every weight once per token, so this is
 * its speed limit: tokens/s <= bandwidth / bytes of weights. */
double measure_read_bandwidth_gbs(int threads);

#endif
