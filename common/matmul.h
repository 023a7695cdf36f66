/* matmul.h: matrix multiplication, the operation that takes almost all of a
 * GPT's time. Linear layers store their weight as (in, out), the layout of
 * OpenAI's GPT-2 checkpoints, so a layer is out = in @ weight + bias.
 *
 * sgemm is the general routine (BLAS's sgemm with alpha = 1 and beta 0 or 1);
 * sgemm_reference is the plain triple loop that the tests trust.
 *
 * How sgemm behaves (matmul.c says how it works):
 *   - Threads: products of at least about 2 million multiply-adds (M*N*K)
 *     use up to omp_get_max_threads() OpenMP threads; smaller ones run on
 *     the calling thread. Called from inside a parallel region (say, one
 *     attention head per thread) it runs on the calling thread, so it may
 *     be called from several threads at once (on different C).
 *   - Results do not depend on the number of threads: every element is
 *     summed in the same order, bit for bit.
 *   - They may differ from sgemm_reference in the last bits: the sums run in
 *     another order, with fused multiply-adds. Strict IEEE otherwise (no
 *     -ffast-math anywhere): NaN and infinity propagate as the formula says.
 *   - Without accumulate, the old contents of C are never read (NaN is fine).
 *   - Decoding shapes (fewer than 12 rows) stream B from memory once,
 *     without packing: their speed is the machine's memory bandwidth. */
#ifndef COMMON_MATMUL_H
#define COMMON_MATMUL_H

#include <stdbool.h>

/* C (M,N) = op(A) @ op(B) (+ C when accumulate), all row-major.
 * op(A) is A (M,K) with row stride lda, or, when trans_a, A^T where A is
 * (K,M) with row stride lda; likewise op(B) is B (K,N) or B^T of a (N,K) B. */
void sgemm(bool trans_a, bool trans_b, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
           bool accumulate, float *C, int ldc);
void sgemm_reference(bool trans_a, bool trans_b, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                     bool accumulate, float *C, int ldc);

/* Which SIMD build of the kernel this is, e.g. "AVX-512, 12x32 tiles". */
const char *matmul_kernel_name(void);

/* A linear layer. out is (M,N), in is (M,K), weight is (K,N), bias is (N) or NULL. */
void matmul_forward(float *out, const float *in, const float *weight, const float *bias, int M, int K, int N);
/* Its gradients, accumulated (+=) as residual branches need:
 * d_in += d_out @ weight^T, d_weight += in^T @ d_out, d_bias += column sums
 * of d_out. Any of d_in, d_weight, d_bias may be NULL to skip it. */
void matmul_backward(float *d_in, float *d_weight, float *d_bias, const float *d_out, const float *in,
                     const float *weight, int M, int K, int N);

#endif
