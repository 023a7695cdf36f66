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

/* C (M,N) = op(A) (M,K) @ op(B) (K,N) (+ C when accumulate), all row-major;
 * the sizes come in the order the product reads, M, K, N (README: Notation).
 * op(A) is A (M,K) with row stride lda, or, when trans_a, A^T where A is
 * (K,M) with row stride lda; likewise op(B) is B (K,N) or B^T of a (N,K) B. */
void sgemm(bool trans_a, bool trans_b, int M, int K, int N, const float *A, int lda, const float *B, int ldb,
           bool accumulate, float *C, int ldc);
void sgemm_reference(bool trans_a, bool trans_b, int M, int K, int N, const float *A, int lda, const float *B, int ldb,
                     bool accumulate, float *C, int ldc);

/* Which SIMD build of the kernel this is, e.g. "AVX-512, 12x32 tiles". */
const char *matmul_kernel_name(void);

/* A linear layer: out (rows,out_dim) = in (rows,in_dim) @ weight (in_dim,out_dim)
 * + bias (out_dim, or NULL). */
void matmul_forward(float *out, const float *in, const float *weight, const float *bias, int rows, int in_dim,
                    int out_dim);
/* Its gradients, accumulated (+=) as residual branches need:
 * grad_in += grad_out @ weight^T, grad_weight += in^T @ grad_out, grad_bias += column sums
 * of grad_out. Any of grad_in, grad_weight, grad_bias may be NULL to skip it. */
void matmul_backward(float *grad_in, float *grad_weight, float *grad_bias, const float *grad_out, const float *in,
                     const float *weight, int rows, int in_dim, int out_dim);

#endif
