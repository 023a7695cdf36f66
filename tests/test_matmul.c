/* Tests for common/matmul.c: the fast sgemm against the plain triple loop
 * (sgemm_reference), over shapes chosen to hit every path: the four
 * transposition cases, overwrite and accumulate, sizes around the tile
 * edges of every SIMD build (tiles of 12x32, 6x16 and 4x8), the streaming
 * path for a few rows (M = 1 is batch-1 decoding), blocks along K, M and N,
 * the threaded paths, and leading dimensions wider than the rows.
 *
 * Tolerance: both sides sum K float products, in different orders (and
 * sgemm with fused multiply-adds), so they differ by rounding. For random
 * data that difference grows like 6e-8 * sqrt(K) times the size of the
 * terms, sum_k |a_ik| |b_kj|; the check allows 1e-5 times that sum (plus
 * 1e-6 absolute), per element: comfortably above rounding for every K
 * tested (a few 1e-6 at K = 517), far below any real mistake (a missing,
 * doubled or misplaced term is of the size of a whole term). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../common/matmul.h"
#include "../common/rng.h"
#include "test_helpers.h"

/* ck_assert_* records a checkpoint on every call, which costs more than
 * the comparison itself; these tests compare millions of elements, so they
 * call it only for the element that fails. */
#define CHECK(cond, ...)                                   \
    do {                                                   \
        if (!(cond)) ck_assert_msg((cond), __VA_ARGS__);   \
    } while (0)
/* |got - want| <= tol, with the values in the message */
#define CHECK_CLOSE(got, want, tol, what)                                                                  \
    CHECK(fabsf((got) - (want)) <= (tol), "%s: got %.9g, want %.9g (tolerance %.3g)", (what), (double)(got), \
          (double)(want), (double)(tol))

/* Padding and never-written places hold these, to catch reads (NaN spreads
 * into any sum it touches) and writes (the sentinel must survive). */
#define SENTINEL 12345.0f

/* A rows x cols matrix with row stride ld >= cols; the padding is NaN. */
static float *random_matrix(Rng *rng, int rows, int cols, int ld) {
    float *m = xmalloc(sizeof(float) * ((size_t)rows * ld + 1));
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < ld; j++) m[(size_t)i * ld + j] = j < cols ? 2 * rng_uniform(rng) - 1 : NAN;
    return m;
}

static float *copy_of(const float *m, size_t n) {
    float *c = xmalloc(sizeof(float) * (n + 1));
    memcpy(c, m, sizeof(float) * n);
    return c;
}

static float *abs_copy(const float *m, size_t n) {
    float *a = xmalloc(sizeof(float) * (n + 1));
    for (size_t i = 0; i < n; i++) a[i] = fabsf(m[i]);
    return a;
}

/* One case: sgemm against sgemm_reference, the padding of C untouched. */
static void check_case(Rng *rng, bool trans_a, bool trans_b, int M, int N, int K, int pad, bool accumulate) {
    /* stored shapes: A is (M,K), or (K,M) when transposed; B is (K,N) or (N,K) */
    int a_rows = trans_a ? K : M, a_cols = trans_a ? M : K;
    int b_rows = trans_b ? N : K, b_cols = trans_b ? K : N;
    int lda = a_cols + pad, ldb = b_cols + pad, ldc = N + pad;
    float *A = random_matrix(rng, a_rows, a_cols, lda), *B = random_matrix(rng, b_rows, b_cols, ldb);
    size_t c_size = (size_t)M * ldc;
    float *C = xmalloc(sizeof(float) * (c_size + 1)), *want = xmalloc(sizeof(float) * (c_size + 1));
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++)
            /* overwriting must not read C: start it as NaN then */
            C[(size_t)i * ldc + j] = j >= N ? SENTINEL : accumulate ? 2 * rng_uniform(rng) - 1 : NAN;
    memcpy(want, C, sizeof(float) * c_size);
    /* the size of the terms: |C| + |A| @ |B| (the NaN padding stays out of
     * it because the reference never reads padding) */
    float *absA = abs_copy(A, (size_t)a_rows * lda), *absB = abs_copy(B, (size_t)b_rows * ldb);
    float *mag = abs_copy(C, c_size);
    sgemm_reference(trans_a, trans_b, M, K, N, absA, lda, absB, ldb, accumulate, mag, ldc);

    sgemm(trans_a, trans_b, M, K, N, A, lda, B, ldb, accumulate, C, ldc);
    sgemm_reference(trans_a, trans_b, M, K, N, A, lda, B, ldb, accumulate, want, ldc);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++) {
            size_t at = (size_t)i * ldc + j;
            if (j >= N) {
                CHECK(C[at] == SENTINEL, "ta=%d tb=%d M=%d N=%d K=%d pad=%d: wrote C padding (%d,%d)",
                              trans_a, trans_b, M, N, K, pad, i, j);
                continue;
            }
            float tol = 1e-5f * mag[at] + 1e-6f;
            CHECK(fabsf(C[at] - want[at]) <= tol,
                          "ta=%d tb=%d M=%d N=%d K=%d pad=%d acc=%d: C(%d,%d) = %.9g, reference %.9g (tolerance %.3g)",
                          trans_a, trans_b, M, N, K, pad, accumulate, i, j, C[at], want[at], tol);
        }
    free(A), free(B), free(C), free(want), free(absA), free(absB), free(mag);
}

static void check_all_transpositions(Rng *rng, int M, int N, int K, int pad, bool accumulate) {
    for (int t = 0; t < 4; t++) check_case(rng, t & 1, t & 2, M, N, K, pad, accumulate);
}

START_TEST(test_sgemm_small_example) {
    /* (2,3) @ (3,2), worked by hand */
    float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {7, 8, 9, 10, 11, 12}, C[4];
    sgemm(false, false, 2, 3, 2, A, 3, B, 2, false, C, 2);
    float want[4] = {58, 64, 139, 154};
    for (int i = 0; i < 4; i++) ck_assert_float_eq(C[i], want[i]);
    sgemm(false, false, 2, 3, 2, A, 3, B, 2, true, C, 2); /* accumulate: doubles */
    for (int i = 0; i < 4; i++) ck_assert_float_eq(C[i], 2 * want[i]);
    ck_assert(strlen(matmul_kernel_name()) > 0);
}
END_TEST

START_TEST(test_sgemm_tile_edges) {
    /* sizes around every build's tile (MR 12/6/4, NR 32/16/8, vectors of
     * 16/8/4) and the streaming path's 4-row and 8-row steps */
    Rng rng;
    rng_seed(&rng, 11);
    const int Ms[] = {1, 2, 3, 5, 7, 8, 11, 12, 13, 24, 25};
    const int Ns[] = {1, 3, 8, 15, 16, 17, 31, 32, 33, 49};
    const int Ks[] = {1, 2, 5, 17};
    for (size_t a = 0; a < sizeof Ms / sizeof Ms[0]; a++)
        for (size_t b = 0; b < sizeof Ns / sizeof Ns[0]; b++)
            for (size_t c = 0; c < sizeof Ks / sizeof Ks[0]; c++) {
                int t = (int)((a + b + c) % 4); /* a different transposition each time, all four covered */
                check_case(&rng, t & 1, t & 2, Ms[a], Ns[b], Ks[c], (int)(b % 3), (a + c) % 2);
            }
}
END_TEST

START_TEST(test_sgemm_random_shapes) {
    Rng rng;
    rng_seed(&rng, 12);
    for (int i = 0; i < 300; i++) {
        int M = 1 + (int)rng_below(&rng, 70), N = 1 + (int)rng_below(&rng, 90), K = 1 + (int)rng_below(&rng, 60);
        check_case(&rng, rng_below(&rng, 2), rng_below(&rng, 2), M, N, K, (int)rng_below(&rng, 4), rng_below(&rng, 2));
    }
}
END_TEST

START_TEST(test_sgemm_empty_and_degenerate) {
    Rng rng;
    rng_seed(&rng, 13);
    /* K = 0: the empty sum: C becomes 0, or stays as it is */
    float A[4] = {1, 2, 3, 4}, B[4] = {5, 6, 7, 8}, C[6] = {NAN, NAN, SENTINEL, NAN, NAN, SENTINEL};
    sgemm(false, false, 2, 0, 2, A, 1, B, 2, false, C, 3);
    ck_assert(C[0] == 0 && C[1] == 0 && C[3] == 0 && C[4] == 0 && C[2] == SENTINEL && C[5] == SENTINEL);
    C[0] = 7;
    sgemm(true, true, 2, 0, 2, A, 2, B, 1, true, C, 3);
    ck_assert(C[0] == 7 && C[1] == 0);
    /* M = 0 or N = 0: nothing happens */
    sgemm(false, false, 0, 2, 2, A, 2, B, 2, false, C, 3);
    sgemm(false, false, 2, 2, 0, A, 2, B, 2, false, C, 3);
    ck_assert(C[0] == 7 && C[2] == SENTINEL);
    /* ones: a single product, an outer product, a dot product */
    check_all_transpositions(&rng, 1, 1, 1, 0, false);
    check_all_transpositions(&rng, 1, 1, 1, 2, true);
    check_all_transpositions(&rng, 40, 50, 1, 1, false);  /* K = 1 */
    check_all_transpositions(&rng, 1, 1, 300, 0, true);   /* a dot product */
    check_all_transpositions(&rng, 70, 1, 40, 3, false);  /* N = 1 */
    check_all_transpositions(&rng, 1, 70, 40, 3, false);  /* M = 1 */
}
END_TEST

START_TEST(test_sgemm_few_rows_streaming_path) {
    /* M below the packed path's threshold (12): decoding (M = 1), a few rows;
     * K not a multiple of 4 (the axpy step) or of the vector width, N past
     * the 1024-column chunk, and big enough (over 1 MB of B) to be split
     * across threads */
    Rng rng;
    rng_seed(&rng, 14);
    const int Ms[] = {1, 2, 3, 5, 7, 11, 12};
    const int Ks[] = {1, 3, 4, 5, 19, 67};
    for (size_t a = 0; a < sizeof Ms / sizeof Ms[0]; a++)
        for (size_t c = 0; c < sizeof Ks / sizeof Ks[0]; c++) {
            check_all_transpositions(&rng, Ms[a], 37, Ks[c], (int)(c % 2), c % 2 == 0);
            check_case(&rng, a % 2, c % 2, Ms[a], 1100, Ks[c], 1, a % 2 == 1);
        }
    check_all_transpositions(&rng, 1, 3000, 100, 0, false); /* 1.2 MB of B: threaded */
    check_case(&rng, false, true, 3, 2500, 129, 5, true);
}
END_TEST

START_TEST(test_sgemm_blocked_and_threaded) {
    /* large enough for several KC blocks along K (517), the threaded packed
     * path, and padded leading dimensions */
    Rng rng;
    rng_seed(&rng, 15);
    check_case(&rng, false, false, 300, 700, 517, 3, false);
    check_case(&rng, true, true, 100, 200, 517, 0, true);
    check_case(&rng, false, true, 131, 259, 300, 1, true);
    check_case(&rng, true, false, 131, 259, 300, 2, false);
    /* several column blocks (NC), and many: threads split the columns */
    check_case(&rng, false, true, 40, 2100, 70, 1, false);
    check_case(&rng, true, false, 20, 8300, 30, 0, true);
    /* several row blocks (MC) */
    check_case(&rng, true, false, 1700, 40, 45, 2, true);
}
END_TEST

START_TEST(test_sgemm_inside_parallel_region) {
    /* Called from the threads of a caller's parallel region (the attention
     * over heads does this), sgemm runs on its calling thread: no nested
     * team, no barrier of the caller's team, each call correct. */
    Rng rng;
    rng_seed(&rng, 16);
    enum { T = 4, M = 64, N = 300, K = 200 };
    float *A = random_matrix(&rng, M, K, K), *B = random_matrix(&rng, K, N, N);
    float *C = xmalloc(sizeof(float) * T * M * N), *want = xmalloc(sizeof(float) * M * N);
    sgemm_reference(false, false, M, K, N, A, K, B, N, false, want, N);
#pragma omp parallel for num_threads(T)
    for (int t = 0; t < T; t++) sgemm(false, false, M, K, N, A, K, B, N, false, C + (size_t)t * M * N, N);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < M * N; i++) CHECK(close_enough(C[(size_t)t * M * N + i], want[i], 1e-5f, 1e-4f), "thread %d, element %d", t, i);
    free(A), free(B), free(C), free(want);
}
END_TEST

START_TEST(test_sgemm_same_result_on_any_thread_count) {
    /* Threads split C into bands and every element is summed in the same
     * order whichever band it falls in, so one thread and two give the
     * same bits (a training run does not depend on the core count). */
    Rng rng;
    rng_seed(&rng, 20);
    const int shapes[][5] = {{300, 700, 517, 0, 0}, {200, 90, 300, 1, 1}, {1, 3000, 100, 0, 0}, {3, 2500, 129, 0, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        bool ta = shapes[s][3], tb = shapes[s][4];
        float *A = random_matrix(&rng, ta ? K : M, ta ? M : K, ta ? M : K);
        float *B = random_matrix(&rng, tb ? N : K, tb ? K : N, tb ? K : N);
        float *one = xmalloc(sizeof(float) * M * N), *two = xmalloc(sizeof(float) * M * N);
        omp_set_num_threads(1);
        sgemm(ta, tb, M, K, N, A, ta ? M : K, B, tb ? K : N, false, one, N);
        omp_set_num_threads(2);
        sgemm(ta, tb, M, K, N, A, ta ? M : K, B, tb ? K : N, false, two, N);
        ck_assert_msg(memcmp(one, two, sizeof(float) * M * N) == 0, "M=%d N=%d K=%d: 1 and 2 threads differ", M, N, K);
        free(A), free(B), free(one), free(two);
    }
}
END_TEST

START_TEST(test_sgemm_propagates_nan_and_inf) {
    /* No shortcuts that IEEE arithmetic would not take: a NaN in A makes its
     * row of C NaN, a NaN in B its column; 0 * inf is NaN, so a zero in A
     * does not hide an infinity in B. Both the packed and streaming paths. */
    Rng rng;
    rng_seed(&rng, 17);
    const int Ms[] = {1, 3, 40};
    for (size_t s = 0; s < sizeof Ms / sizeof Ms[0]; s++) {
        int M = Ms[s], N = 45, K = 37;
        for (int tb = 0; tb < 2; tb++) {
            float *A = random_matrix(&rng, M, K, K), *B = random_matrix(&rng, tb ? N : K, tb ? K : N, tb ? K : N);
            float *C = xmalloc(sizeof(float) * M * N);
            int nan_row = M / 2, nan_col = 7, inf_col = 20;
            A[(size_t)nan_row * K + 5] = NAN;
            /* B(k=9, nan_col) = NaN; B(k=11, inf_col) = inf against a zero column of A */
            B[tb ? (size_t)nan_col * K + 9 : (size_t)9 * N + nan_col] = NAN;
            B[tb ? (size_t)inf_col * K + 11 : (size_t)11 * N + inf_col] = INFINITY;
            for (int i = 0; i < M; i++) A[(size_t)i * K + 11] = 0.0f;
            sgemm(false, tb, M, K, N, A, K, B, tb ? K : N, false, C, N);
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    bool want_nan = i == nan_row || j == nan_col || j == inf_col;
                    CHECK(isnan(C[(size_t)i * N + j]) == want_nan, "M=%d tb=%d: C(%d,%d) = %g", M, tb, i, j,
                                  C[(size_t)i * N + j]);
                }
            free(A), free(B), free(C);
        }
    }
}
END_TEST

START_TEST(test_matmul_forward) {
    Rng rng;
    rng_seed(&rng, 18);
    const int shapes[][3] = {{1, 768, 33}, {5, 20, 30}, {70, 40, 50}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        float *in = random_matrix(&rng, M, K, K), *w = random_matrix(&rng, K, N, N), *bias = random_matrix(&rng, 1, N, N);
        float *out = xmalloc(sizeof(float) * M * N), *out_nb = xmalloc(sizeof(float) * M * N);
        matmul_forward(out, in, w, bias, M, K, N);
        matmul_forward(out_nb, in, w, NULL, M, K, N);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double sum = 0, mag = 0;
                for (int k = 0; k < K; k++) {
                    sum += (double)in[i * K + k] * w[k * N + j];
                    mag += fabs((double)in[i * K + k] * w[k * N + j]);
                }
                float tol = (float)(1e-5 * (mag + fabsf(bias[j]))) + 1e-6f;
                CHECK_CLOSE(out_nb[i * N + j], (float)sum, tol, "out without bias");
                CHECK_CLOSE(out[i * N + j], (float)(sum + bias[j]), tol, "out with bias");
            }
        free(in), free(w), free(bias), free(out), free(out_nb);
    }
}
END_TEST

START_TEST(test_matmul_backward) {
    /* out = in @ w + b, so grad_in = grad_out @ w^T, grad_w = in^T @ grad_out, grad_b =
     * column sums of grad_out; all three accumulate into what is there. */
    Rng rng;
    rng_seed(&rng, 19);
    const int shapes[][3] = {{1, 20, 30}, {37, 50, 23}, {64, 70, 90}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        float *in = random_matrix(&rng, M, K, K), *w = random_matrix(&rng, K, N, N);
        float *grad_out = random_matrix(&rng, M, N, N);
        float *grad_in = random_matrix(&rng, M, K, K), *grad_w = random_matrix(&rng, K, N, N);
        float *grad_b = random_matrix(&rng, 1, N, N);
        float *grad_in0 = copy_of(grad_in, (size_t)M * K), *grad_w0 = copy_of(grad_w, (size_t)K * N), *grad_b0 = copy_of(grad_b, N);
        matmul_backward(grad_in, grad_w, grad_b, grad_out, in, w, M, K, N);
        for (int i = 0; i < M; i++)
            for (int k = 0; k < K; k++) {
                double sum = grad_in0[i * K + k], mag = fabsf(grad_in0[i * K + k]);
                for (int j = 0; j < N; j++) {
                    sum += (double)grad_out[i * N + j] * w[k * N + j];
                    mag += fabs((double)grad_out[i * N + j] * w[k * N + j]);
                }
                CHECK_CLOSE(grad_in[i * K + k], (float)sum, (float)(1e-5 * mag) + 1e-6f, "grad_in");
            }
        for (int k = 0; k < K; k++)
            for (int j = 0; j < N; j++) {
                double sum = grad_w0[k * N + j], mag = fabsf(grad_w0[k * N + j]);
                for (int i = 0; i < M; i++) {
                    sum += (double)in[i * K + k] * grad_out[i * N + j];
                    mag += fabs((double)in[i * K + k] * grad_out[i * N + j]);
                }
                CHECK_CLOSE(grad_w[k * N + j], (float)sum, (float)(1e-5 * mag) + 1e-6f, "grad_weight");
            }
        for (int j = 0; j < N; j++) {
            double sum = grad_b0[j], mag = fabsf(grad_b0[j]);
            for (int i = 0; i < M; i++) sum += grad_out[i * N + j], mag += fabsf(grad_out[i * N + j]);
            CHECK_CLOSE(grad_b[j], (float)sum, (float)(1e-5 * mag) + 1e-6f, "grad_bias");
        }
        /* NULL skips a gradient */
        memcpy(grad_in0, grad_in, sizeof(float) * M * K);
        matmul_backward(grad_in, NULL, NULL, grad_out, in, w, M, K, N);
        ck_assert(grad_in[0] != grad_in0[0] || M * K == 0);
        matmul_backward(NULL, NULL, NULL, grad_out, in, w, M, K, N);
        free(in), free(w), free(grad_out), free(grad_in), free(grad_w), free(grad_b), free(grad_in0), free(grad_w0), free(grad_b0);
    }
}
END_TEST

Suite *matmul_suite(void) {
    Suite *s = suite_create("matmul");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    add_test(tc, test_sgemm_small_example);
    add_test(tc, test_sgemm_tile_edges);
    add_test(tc, test_sgemm_random_shapes);
    add_test(tc, test_sgemm_empty_and_degenerate);
    add_test(tc, test_sgemm_few_rows_streaming_path);
    add_test(tc, test_sgemm_blocked_and_threaded);
    add_test(tc, test_sgemm_inside_parallel_region);
    add_test(tc, test_sgemm_same_result_on_any_thread_count);
    add_test(tc, test_sgemm_propagates_nan_and_inf);
    add_test(tc, test_matmul_forward);
    add_test(tc, test_matmul_backward);
    suite_add_tcase(s, tc);
    return s;
}
