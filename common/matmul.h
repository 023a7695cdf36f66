/* matmul.h: matrix multiplication, the operation that takes almost all of a
 * GPT's time. Linear layers store their weight as (in, out), the layout of
 * OpenAI's GPT-2 checkpoints, so a layer is out = in @ weight + bias.
 *
 * sgemm is the general routine (BLAS's sgemm with alpha = 1 and beta 0 or 1);
 * sgemm_reference is the plain triple loop that the tests trust. */
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

/* A linear layer. out is (M,N), in is (M,K), weight is (K,N), bias is (N) or NULL. */
void matmul_forward(float *out, const float *in, const float *weight, const float *bias, int M, int K, int N);
/* Its gradients, accumulated (+=) as residual branches need:
 * d_in += d_out @ weight^T, d_weight += in^T @ d_out, d_bias += column sums
 * of d_out. Any of d_in, d_weight, d_bias may be NULL to skip it. */
void matmul_backward(float *d_in, float *d_weight, float *d_bias, const float *d_out, const float *in,
                     const float *weight, int M, int K, int N);

#endif
