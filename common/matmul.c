/* matmul.c: see matmul.h. (A first, simple version: the fast kernel comes next.) */
#include "matmul.h"

#include <stddef.h>

static float element(const float *X, int ld, bool trans, int row, int col) {
    return trans ? X[(size_t)col * ld + row] : X[(size_t)row * ld + col];
}

void sgemm_reference(bool trans_a, bool trans_b, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                     bool accumulate, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float sum = 0.0f;
            for (int k = 0; k < K; k++) sum += element(A, lda, trans_a, i, k) * element(B, ldb, trans_b, k, j);
            C[(size_t)i * ldc + j] = accumulate ? C[(size_t)i * ldc + j] + sum : sum;
        }
}

void sgemm(bool trans_a, bool trans_b, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
           bool accumulate, float *C, int ldc) {
    sgemm_reference(trans_a, trans_b, M, N, K, A, lda, B, ldb, accumulate, C, ldc);
}

void matmul_forward(float *out, const float *in, const float *weight, const float *bias, int M, int K, int N) {
    sgemm(false, false, M, N, K, in, K, weight, N, false, out, N);
    if (bias)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) out[(size_t)i * N + j] += bias[j];
}

void matmul_backward(float *d_in, float *d_weight, float *d_bias, const float *d_out, const float *in,
                     const float *weight, int M, int K, int N) {
    if (d_in) sgemm(false, true, M, K, N, d_out, N, weight, N, true, d_in, K);
    if (d_weight) sgemm(true, false, K, N, M, in, K, d_out, N, true, d_weight, N);
    if (d_bias)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) d_bias[j] += d_out[(size_t)i * N + j];
}
