/* bench_matmul.c: matmul GFLOP/s on GPT-2-124M shapes (placeholder). */
#include <stdio.h>

#include "bench_helpers.h"

void bench_matmul(int rounds) { printf("matmul: not benchmarked yet (%d rounds)\n", rounds); }
