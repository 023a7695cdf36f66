/* matmul.c: see matmul.h.
 *
 * How sgemm is fast (the Goto/BLIS recipe, written small):
 *
 *   for each block of NC columns of C                         (jc)
 *     for each block of KC along the sum                      (pc)
 *       pack op(B)'s KC x NC block into NR-column slivers
 *       for each block of MC rows                             (ic)
 *         pack op(A)'s MC x KC block into MR-row slivers
 *         for each MR sliver of A, for each NR sliver of B:   (ir, jr)
 *           micro_kernel: the MR x NR tile of C += sliver @ sliver
 *
 * Packing copies each block once into exactly the order the micro-kernel
 * reads it: contiguous, zero-padded to whole slivers (so the kernel never
 * checks edges), and whichever of A or B is transposed comes out the same,
 * so all four trans_a/trans_b cases share one kernel. The block sizes pick
 * the cache each piece lives in: an A sliver (MR x KC, 12 KB) stays in the
 * 48 KB L1 while the B slivers stream past it from the B block (KC x NC,
 * 1 MB), which stays in the 2 MB L2. Each element of C is loaded and stored
 * once per KC block, not once per product.
 *
 * Threads split C into bands (of columns, or of rows) and each runs that
 * same loop nest on its own band with its own packing buffers: no shared
 * state, no barriers. Products below PARALLEL_MIN_MACS stay on the calling
 * thread: waking the other costs more than it saves. (A call still ends
 * when its slowest band does: with another busy process on a two-core
 * machine, two threads can be slower than one. OMP_NUM_THREADS=1 then.)
 *
 * A few rows of A (M < SMALL_M: decoding, one token at a time) make the
 * product memory-bound: each element of B is used only M times, so the time
 * is the time to read B once. Packing B would only add traffic, so those
 * products skip it and stream B straight from memory (gemv_*). */
#include "matmul.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "matmul_kernel.h"
#include "util.h"

/* Cache blocking, tuned on a 48 KB L1, 2 MB L2 AVX-512 core (Sapphire
 * Rapids); KC = 384 or NC = 512 were within noise, NC = 3072 (a B block
 * bigger than L2) and the B-sliver-in-L1 loop order were 5-10% slower. */
enum { KC = 256, MC = 64 * MR, NC = 1024 };
/* Below this many multiply-adds (M*N*K; about 25 us on one core) the
 * product stays on one thread. */
#define PARALLEL_MIN_MACS (1L << 21)
/* Products with fewer rows take the streaming path: measured on GPT-2
 * shapes, it beats the packed path up to 8 rows by 20-60% and they cross
 * between 12 and 16 (B^T later than B). */
enum { SMALL_M = 12 };
/* The streaming path splits B's columns across threads from this many
 * bytes of B: it is bound by memory bandwidth, which a second core adds to
 * (about 16 GB/s for one core, 30 for two, here). */
#define GEMV_PARALLEL_MIN_BYTES (1L << 20)

static int min_int(int a, int b) { return a < b ? a : b; }
static int ceil_div(int a, int b) { return (a + b - 1) / b; }
/* [lo, hi): part `part` of `parts` nearly equal parts of n items. */
static void share(int n, int part, int parts, int *lo, int *hi) {
    *lo = (int)((long)n * part / parts);
    *hi = (int)((long)n * (part + 1) / parts);
}

/* ---- the reference ------------------------------------------------------ */

static float element(const float *X, int ld, bool trans, int row, int col) {
    return trans ? X[(size_t)col * ld + row] : X[(size_t)row * ld + col];
}

void sgemm_reference(bool trans_a, bool trans_b, int M, int K, int N, const float *A, int lda, const float *B, int ldb,
                     bool accumulate, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float sum = 0.0f;
            for (int k = 0; k < K; k++) sum += element(A, lda, trans_a, i, k) * element(B, ldb, trans_b, k, j);
            C[(size_t)i * ldc + j] = accumulate ? C[(size_t)i * ldc + j] + sum : sum;
        }
}

/* ---- scratch memory ----------------------------------------------------- */

/* Packing buffers, one pair per calling thread, kept between calls: a fresh
 * malloc of a megabyte each call would cost page faults on every call. */
typedef struct {
    float *data;
    size_t cap; /* floats */
} Scratch;
static _Thread_local Scratch scratch_a, scratch_b;

static float *scratch(Scratch *s, size_t floats) {
    if (s->cap < floats) {
        free(s->data);
        /* 64-byte aligned (a cache line, one AVX-512 vector); aligned_alloc
         * wants the size to be a multiple of the alignment */
        size_t bytes = (checked_mul(floats, sizeof(float)) + 63) & ~(size_t)63;
        s->data = aligned_alloc(64, bytes);
        if (!s->data) fatal("out of memory allocating %zu bytes for matmul packing", bytes);
        s->cap = floats;
    }
    return s->data;
}

/* ---- packing ------------------------------------------------------------ */

/* Packing reads the source in long contiguous runs (the order memory and
 * the hardware prefetcher like best) and deals each run out to the slivers.
 * Slivers past the edge of the matrix are zero-padded: the kernel always
 * computes whole tiles, and the padding's results are never stored. */

/* MR-row slivers of op(A)'s mc x kc block at `a` (op(A)(row0, k0)):
 * packed[s * MR * kc + k * MR + i] = op(A)(s * MR + i, k). */
static void pack_a(bool trans, const float *a, size_t lda, int mc, int kc, float *restrict packed) {
    int slivers = ceil_div(mc, MR);
    if (mc % MR) memset(packed + (size_t)(slivers - 1) * MR * kc, 0, sizeof(float) * MR * kc);
    if (!trans) {
        /* op(A) = A: row i of A is a run along k, the sliver's stride-MR
         * column; VLEN steps of k at a time are transposed in registers */
        for (int s = 0; s < slivers; s++) {
            int m = min_int(MR, mc - s * MR), k0 = 0;
            const float *src = a + (size_t)s * MR * lda;
            float *dst = packed + (size_t)s * MR * kc;
            if (MR <= VLEN)
                for (; k0 + VLEN <= kc; k0 += VLEN) transpose_block(src + k0, lda, m, dst + k0 * MR, MR);
            for (int i = 0; i < m; i++)
                for (int k = k0; k < kc; k++) dst[k * MR + i] = src[i * lda + k];
        }
    } else {
        /* op(A) = A^T: row k of A is a run along i, MR of it per sliver */
        for (int k = 0; k < kc; k++) {
            const float *src = a + k * lda;
            int whole = mc / MR;
            for (int s = 0; s < whole; s++) memcpy(packed + (size_t)s * MR * kc + k * MR, src + s * MR, sizeof(float) * MR);
            if (whole < slivers)
                memcpy(packed + (size_t)whole * MR * kc + k * MR, src + whole * MR, sizeof(float) * (mc - whole * MR));
        }
    }
}

/* NR-column slivers of op(B)'s kc x nc block at `b` (op(B)(k0, col0)):
 * packed[s * NR * kc + k * NR + j] = op(B)(k, s * NR + j). */
static void pack_b(bool trans, const float *b, size_t ldb, int kc, int nc, float *restrict packed) {
    int slivers = ceil_div(nc, NR);
    if (nc % NR) memset(packed + (size_t)(slivers - 1) * NR * kc, 0, sizeof(float) * NR * kc);
    if (!trans) {
        /* op(B) = B: row k of B is a run along j, NR of it per sliver */
        int whole = nc / NR; /* slivers with all NR columns */
        for (int k = 0; k < kc; k++) {
            const float *src = b + k * ldb;
            for (int s = 0; s < whole; s++) /* a constant-size copy: inlined */
                memcpy(packed + (size_t)s * NR * kc + k * NR, src + s * NR, sizeof(float) * NR);
            if (whole < slivers)
                memcpy(packed + (size_t)whole * NR * kc + k * NR, src + whole * NR, sizeof(float) * (nc - whole * NR));
        }
        return;
    }
    /* op(B) = B^T (B is N x K: the tied output head's layout): row j of B is
     * a run along k, the sliver's stride-NR column. Whole VLEN x VLEN blocks
     * are transposed in registers, the rest one float at a time. */
    for (int s = 0; s < slivers; s++) {
        int n = min_int(NR, nc - s * NR), k0 = 0;
        const float *src = b + (size_t)s * NR * ldb;
        float *dst = packed + (size_t)s * NR * kc;
        if (n == NR)
            for (; k0 + VLEN <= kc; k0 += VLEN)
                for (int j = 0; j < NR; j += VLEN) transpose_block(src + j * ldb + k0, ldb, VLEN, dst + k0 * NR + j, NR);
        for (int j = 0; j < n; j++)
            for (int k = k0; k < kc; k++) dst[k * NR + j] = src[j * ldb + k];
    }
}

/* ---- the blocked product ------------------------------------------------ */

typedef struct {
    bool trans_a, trans_b, accumulate;
    int M, N, K;
    const float *A, *B;
    float *C;
    size_t lda, ldb, ldc;
} Gemm;

/* op(A)(row, k) and op(B)(k, col) as pointers, whatever the transposition. */
static const float *a_at(const Gemm *g, int row, int k) {
    return g->trans_a ? g->A + (size_t)k * g->lda + row : g->A + (size_t)row * g->lda + k;
}
static const float *b_at(const Gemm *g, int k, int col) {
    return g->trans_b ? g->B + (size_t)col * g->ldb + k : g->B + (size_t)k * g->ldb + col;
}

/* One tile: the kernel straight into C when the tile is whole; at the right
 * and bottom edges into a scratch tile, then the valid part is copied. */
static void tile(int kc, const float *pa, const float *pb, float *c, size_t ldc, int m, int n, bool accumulate) {
    if (m == MR && n == NR) {
        micro_kernel(kc, pa, pb, c, ldc, accumulate);
        return;
    }
    float t[MR * NR];
    micro_kernel(kc, pa, pb, t, NR, false);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) c[i * ldc + j] = accumulate ? c[i * ldc + j] + t[i * NR + j] : t[i * NR + j];
}

/* The whole product on the calling thread, with its own packing buffers. */
static void gemm_blocked(const Gemm *g) {
    float *packed_a = scratch(&scratch_a, (size_t)ceil_div(min_int(MC, g->M), MR) * MR * min_int(KC, g->K));
    float *packed_b = scratch(&scratch_b, (size_t)ceil_div(min_int(NC, g->N), NR) * NR * min_int(KC, g->K));
    for (int jc = 0; jc < g->N; jc += NC) {
        int nc = min_int(NC, g->N - jc);
        for (int pc = 0; pc < g->K; pc += KC) {
            int kc = min_int(KC, g->K - pc);
            /* after the first KC block, C holds partial sums to add to */
            bool accumulate = g->accumulate || pc > 0;
            pack_b(g->trans_b, b_at(g, pc, jc), g->ldb, kc, nc, packed_b);
            for (int ic = 0; ic < g->M; ic += MC) {
                int mc = min_int(MC, g->M - ic);
                pack_a(g->trans_a, a_at(g, ic, pc), g->lda, mc, kc, packed_a);
                /* A's sliver (12 KB) stays in L1 while B's slivers stream
                 * past it from L2, one tile of C each */
                for (int ir = 0; ir < mc; ir += MR) {
                    const float *pa = packed_a + (size_t)ir * kc;
                    for (int jr = 0; jr < nc; jr += NR)
                        tile(kc, pa, packed_b + (size_t)jr * kc, g->C + (size_t)(ic + ir) * g->ldc + jc + jr, g->ldc,
                             min_int(MR, mc - ir), min_int(NR, nc - jr), accumulate);
                }
            }
        }
    }
}

/* ---- the streaming path for a few rows ---------------------------------- */

/* C[:, n0:n1) (+)= a @ B[:, n0:n1) for B (K, N): each row of C is a sum of
 * rows of B scaled by a's elements (axpy). Four rows of B at a time: each
 * vector of B is loaded once and used by four rows of a, and each vector of
 * C is loaded and stored once per four rows of B. B is read from memory
 * exactly once, in contiguous runs (four at a time, which the prefetcher
 * follows). Columns go in chunks: for one row of a as long as possible
 * (short runs made M = 1 15% slower), for several short enough that their
 * rows of C stay in L1. */
static void gemv_axpy(int M, int n0, int n1, int K, const float *a, size_t lda, const float *B, size_t ldb,
                      bool accumulate, float *C, size_t ldc) {
    int chunk = M == 1 ? 1 << 14 : 1 << 9;
    for (int j0 = n0; j0 < n1; j0 += chunk) {
        int jn = min_int(chunk, n1 - j0), jv = jn / VLEN * VLEN; /* [0, jv): whole vectors */
        float *c0 = C + j0;
        if (!accumulate)
            for (int m = 0; m < M; m++) memset(c0 + m * ldc, 0, sizeof(float) * jn);
        int k = 0;
        for (; k + 4 <= K; k += 4) {
            const float *b0 = B + k * ldb + j0, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
            /* rows of a four at a time: more rows of C than that, a row
             * length apart, can collide in one set of the L1 cache (rows
             * of 3072 floats are 12 KB, a multiple of 4 KB) */
            for (int m0 = 0; m0 < M; m0 += 4) {
                int m1 = min_int(m0 + 4, M);
                for (int j = 0; j < jv; j += VLEN) {
                    vfloat v0 = vf_load(b0 + j), v1 = vf_load(b1 + j), v2 = vf_load(b2 + j), v3 = vf_load(b3 + j);
                    for (int m = m0; m < m1; m++) {
                        const float *am = a + m * lda + k;
                        float *c = c0 + m * ldc + j;
                        vfloat s = vf_load(c);
                        s = vf_fma(vf_set1(am[0]), v0, s);
                        s = vf_fma(vf_set1(am[1]), v1, s);
                        s = vf_fma(vf_set1(am[2]), v2, s);
                        s = vf_fma(vf_set1(am[3]), v3, s);
                        vf_store(c, s);
                    }
                }
            }
            for (int m = 0; m < M; m++) {
                const float *am = a + m * lda + k;
                float *c = c0 + m * ldc;
                for (int j = jv; j < jn; j++) c[j] = c[j] + am[0] * b0[j] + am[1] * b1[j] + am[2] * b2[j] + am[3] * b3[j];
            }
        }
        for (; k < K; k++) {
            const float *b0 = B + k * ldb + j0;
            for (int m = 0; m < M; m++) {
                float am = a[m * lda + k], *c = c0 + m * ldc;
                vfloat x0 = vf_set1(am);
                int j = 0;
                for (; j < jv; j += VLEN) vf_store(c + j, vf_fma(x0, vf_load(b0 + j), vf_load(c + j)));
                for (; j < jn; j++) c[j] += am * b0[j];
            }
        }
    }
}

/* C[:, n0:n1) (+)= a @ B^T for B (N, K): each element of C is a dot product
 * of a row of a with a row of B, both contiguous. Eight rows of B at a time
 * (eight independent sums hide the FMA latency, and each load of a serves
 * eight FMAs); for every row of a the eight B rows are read from L1. */
static void gemv_dot(int M, int n0, int n1, int K, const float *a, size_t lda, const float *B, size_t ldb,
                     bool accumulate, float *C, size_t ldc) {
    enum { R = 8 };
    int j = n0;
    for (; j + R <= n1; j += R) {
        const float *b = B + j * ldb;
        for (int m = 0; m < M; m++) {
            const float *am = a + m * lda;
            vfloat acc[R];
            for (int r = 0; r < R; r++) acc[r] = vf_zero();
            int k = 0;
            for (; k + VLEN <= K; k += VLEN) {
                vfloat x = vf_load(am + k);
#pragma GCC unroll 8
                for (int r = 0; r < R; r++) acc[r] = vf_fma(x, vf_load(b + r * ldb + k), acc[r]);
            }
            float *c = C + m * ldc + j;
            for (int r = 0; r < R; r++) {
                float sum = vf_sum(acc[r]);
                for (int kk = k; kk < K; kk++) sum += am[kk] * b[r * ldb + kk];
                c[r] = accumulate ? c[r] + sum : sum;
            }
        }
    }
    for (; j < n1; j++) { /* the last few rows of B, one at a time */
        const float *b = B + j * ldb;
        for (int m = 0; m < M; m++) {
            const float *am = a + m * lda;
            vfloat acc = vf_zero();
            int k = 0;
            for (; k + VLEN <= K; k += VLEN) acc = vf_fma(vf_load(am + k), vf_load(b + k), acc);
            float sum = vf_sum(acc);
            for (; k < K; k++) sum += am[k] * b[k];
            float *c = C + m * ldc + j;
            *c = accumulate ? *c + sum : sum;
        }
    }
}

static void gemv_columns(bool trans_b, int M, int n0, int n1, int K, const float *a, size_t lda, const float *B,
                         size_t ldb, bool accumulate, float *C, size_t ldc) {
    if (trans_b)
        gemv_dot(M, n0, n1, K, a, lda, B, ldb, accumulate, C, ldc);
    else
        gemv_axpy(M, n0, n1, K, a, lda, B, ldb, accumulate, C, ldc);
}

static void gemv(bool trans_a, bool trans_b, int M, int N, int K, const float *A, size_t lda, const float *B,
                 size_t ldb, bool accumulate, float *C, size_t ldc) {
    /* The streaming loops want rows of op(A) contiguous; A^T's are not, so
     * copy those few rows (M x K floats, tiny next to B) first. */
    if (trans_a) {
        float *a = scratch(&scratch_a, (size_t)M * K);
        for (int k = 0; k < K; k++)
            for (int m = 0; m < M; m++) a[(size_t)m * K + k] = A[k * lda + m];
        A = a;
        lda = K;
    }
    int nthreads = 1;
    if (!omp_in_parallel() && (double)N * K * sizeof(float) >= (double)GEMV_PARALLEL_MIN_BYTES)
        nthreads = omp_get_max_threads();
    if (nthreads == 1) {
        gemv_columns(trans_b, M, 0, N, K, A, lda, B, ldb, accumulate, C, ldc);
        return;
    }
    /* each thread takes a contiguous band of columns, a multiple of 16 wide
     * (whole vectors, whole cache lines of C) */
#pragma omp parallel num_threads(nthreads)
    {
        int lo, hi;
        share(ceil_div(N, 16), omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        lo = min_int(lo * 16, N);
        hi = min_int(hi * 16, N);
        gemv_columns(trans_b, M, lo, hi, K, A, lda, B, ldb, accumulate, C, ldc);
    }
}

/* ---- sgemm -------------------------------------------------------------- */

void sgemm(bool trans_a, bool trans_b, int M, int K, int N, const float *A, int lda, const float *B, int ldb,
           bool accumulate, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* an empty sum: C = 0, or C unchanged */
        if (!accumulate)
            for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, sizeof(float) * N);
        return;
    }
    if (M < SMALL_M) {
        gemv(trans_a, trans_b, M, N, K, A, lda, B, ldb, accumulate, C, ldc);
        return;
    }
    Gemm g = {.trans_a = trans_a, .trans_b = trans_b, .accumulate = accumulate, .M = M, .N = N, .K = K,
              .A = A, .B = B, .C = C, .lda = lda, .ldb = ldb, .ldc = ldc};
    int nthreads = 1;
    if (!omp_in_parallel() && (double)M * N * K >= (double)PARALLEL_MIN_MACS) nthreads = omp_get_max_threads();
    if (nthreads == 1) {
        gemm_blocked(&g);
        return;
    }
    /* Threads split C into bands and each runs the one-thread algorithm on
     * its band, with its own packing: nothing shared, no barriers. A band of
     * columns needs all of A packed, a band of rows all of B, so the split
     * is across whichever dimension makes the repacked operand the smaller
     * (the repacking costs a few percent; a barrier after every shared
     * packing step cost more). */
    bool by_columns = N >= M;
#pragma omp parallel num_threads(nthreads)
    {
        int lo, hi, unit = by_columns ? NR : MR;
        share(ceil_div(by_columns ? N : M, unit), omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        lo *= unit;
        hi = min_int(hi * unit, by_columns ? N : M);
        Gemm band = g;
        if (by_columns) {
            band.N = hi - lo;
            band.B = b_at(&g, 0, lo);
            band.C = C + lo;
        } else {
            band.M = hi - lo;
            band.A = a_at(&g, lo, 0);
            band.C = C + (size_t)lo * ldc;
        }
        if (hi > lo) gemm_blocked(&band);
    }
}

const char *matmul_kernel_name(void) { return MATMUL_KERNEL_NAME; }

/* ---- linear layers ------------------------------------------------------ */

void matmul_forward(float *out, const float *in, const float *weight, const float *bias, int rows, int in_dim, int out_dim) {
    if (bias) { /* start each row from the bias, then add the product to it */
        for (int i = 0; i < rows; i++) memcpy(out + (size_t)i * out_dim, bias, sizeof(float) * out_dim);
        sgemm(false, false, rows, in_dim, out_dim, in, in_dim, weight, out_dim, true, out, out_dim);
    } else {
        sgemm(false, false, rows, in_dim, out_dim, in, in_dim, weight, out_dim, false, out, out_dim);
    }
}

void matmul_backward(float *grad_in, float *grad_weight, float *grad_bias, const float *grad_out, const float *in,
                     const float *weight, int rows, int in_dim, int out_dim) {
    if (grad_in) sgemm(false, true, rows, out_dim, in_dim, grad_out, out_dim, weight, out_dim, true, grad_in, in_dim);
    if (grad_weight) sgemm(true, false, in_dim, rows, out_dim, in, in_dim, grad_out, out_dim, true, grad_weight, out_dim);
    if (grad_bias)
        for (int i = 0; i < rows; i++) {
            const float *row = grad_out + (size_t)i * out_dim;
            for (int j = 0; j < out_dim; j++) grad_bias[j] += row[j];
        }
}
