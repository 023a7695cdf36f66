/* matmul_kernel.h: the SIMD layer under matmul.c: a float vector type with
 * the handful of operations the matmul loops need, and the register-tiled
 * micro-kernel that does almost all of sgemm's arithmetic, plus the block
 * transpose that packing uses for transposed operands.
 *
 * Three builds of the same code, chosen by what the compiler targets:
 *   AVX-512   16 floats a vector, 32 registers: a 12 x 32 tile of C
 *   AVX2+FMA   8 floats a vector, 16 registers: a 6 x 16 tile
 *   portable   4 floats in a plain struct (PORTABLE=1): a 4 x 8 tile
 *
 * Why intrinsics and not plain `c += a * b` on vector types: under -std=c11
 * GCC does not contract a multiply and an add into one fused multiply-add
 * (-ffp-contract=off is the ISO default), so plain code runs a multiply and
 * an add, half the speed. _mm512_fmadd_ps asks for the FMA explicitly; it
 * rounds once instead of twice, which is more accurate, not less, and
 * everything else stays strict IEEE (NaN and infinity propagate; the
 * project never uses -ffast-math). */
#ifndef COMMON_MATMUL_KERNEL_H
#define COMMON_MATMUL_KERNEL_H

#include <stdbool.h>
#include <stddef.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#define MATMUL_KERNEL_NAME "AVX-512, 12x32 tiles"
typedef __m512 vfloat;
enum { VLEN = 16, MR = 12, NR = 32 };
static inline vfloat vf_zero(void) { return _mm512_setzero_ps(); }
static inline vfloat vf_set1(float x) { return _mm512_set1_ps(x); }
/* unaligned loads and stores: rows of C and B start anywhere */
static inline vfloat vf_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void vf_store(float *p, vfloat v) { _mm512_storeu_ps(p, v); }
static inline vfloat vf_add(vfloat a, vfloat b) { return _mm512_add_ps(a, b); }
static inline vfloat vf_fma(vfloat a, vfloat b, vfloat c) { return _mm512_fmadd_ps(a, b, c); } /* a*b + c */
static inline float vf_sum(vfloat v) { return _mm512_reduce_add_ps(v); }

/* dst[k * ldd + j] = src[j * lds + k] for j < rows <= 16, k < 16: packing
 * a transposed block (the sliver's rows come from the source's columns).
 * Rows are read and written as whole vectors and transposed in registers
 * in four rounds of shuffles, instead of 256 single-float stores; only the
 * first `rows` floats of each destination row are written. */
static inline void transpose_block(const float *src, size_t lds, int rows, float *dst, size_t ldd) {
    __m512 r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = i < rows ? _mm512_loadu_ps(src + i * lds) : _mm512_setzero_ps();
    /* pairs of rows, interleaved by float: t[2i] holds (row 2i, row 2i+1)
     * of columns 0,1 of each 128-bit lane, t[2i+1] of columns 2,3 */
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* quads of rows, interleaved by pairs: r[4i+c] holds rows 4i..4i+3 of
     * column c of each lane (column 4L+c in lane L) */
    for (int i = 0; i < 4; i++) {
        __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
        __m512d c = _mm512_castps_pd(t[4 * i + 1]), d = _mm512_castps_pd(t[4 * i + 3]);
        r[4 * i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
    }
    /* the 128-bit lanes: output row 4L+c gathers lane L of r[c], r[4+c],
     * r[8+c], r[12+c] (a 4 x 4 transpose of lanes, in two rounds) */
    __mmask16 keep = (__mmask16)((1u << rows) - 1);
    for (int c = 0; c < 4; c++) {
        __m512 v0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x44), v1 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xEE);
        __m512 v2 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x44), v3 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xEE);
        _mm512_mask_storeu_ps(dst + (0 + c) * ldd, keep, _mm512_shuffle_f32x4(v0, v2, 0x88));
        _mm512_mask_storeu_ps(dst + (4 + c) * ldd, keep, _mm512_shuffle_f32x4(v0, v2, 0xDD));
        _mm512_mask_storeu_ps(dst + (8 + c) * ldd, keep, _mm512_shuffle_f32x4(v1, v3, 0x88));
        _mm512_mask_storeu_ps(dst + (12 + c) * ldd, keep, _mm512_shuffle_f32x4(v1, v3, 0xDD));
    }
}

#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define MATMUL_KERNEL_NAME "AVX2+FMA, 6x16 tiles"
typedef __m256 vfloat;
enum { VLEN = 8, MR = 6, NR = 16 };
static inline vfloat vf_zero(void) { return _mm256_setzero_ps(); }
static inline vfloat vf_set1(float x) { return _mm256_set1_ps(x); }
static inline vfloat vf_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void vf_store(float *p, vfloat v) { _mm256_storeu_ps(p, v); }
static inline vfloat vf_add(vfloat a, vfloat b) { return _mm256_add_ps(a, b); }
static inline vfloat vf_fma(vfloat a, vfloat b, vfloat c) { return _mm256_fmadd_ps(a, b, c); }
static inline float vf_sum(vfloat v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

/* dst[k * ldd + j] = src[j * lds + k] for j < rows <= VLEN, k < VLEN
 * (packing a transposed block); plain loops. */
static inline void transpose_block(const float *src, size_t lds, int rows, float *dst, size_t ldd) {
    for (int j = 0; j < rows; j++)
        for (int k = 0; k < VLEN; k++) dst[k * ldd + j] = src[j * lds + k];
}

#else
/* Plain C: a struct of 4 floats. The compiler is free to keep these in
 * SSE/NEON registers; correctness never depends on it. */
#define MATMUL_KERNEL_NAME "portable C, 4x8 tiles"
typedef struct {
    float v[4];
} vfloat;
enum { VLEN = 4, MR = 4, NR = 8 };
static inline vfloat vf_zero(void) { return (vfloat){{0, 0, 0, 0}}; }
static inline vfloat vf_set1(float x) { return (vfloat){{x, x, x, x}}; }
static inline vfloat vf_load(const float *p) { return (vfloat){{p[0], p[1], p[2], p[3]}}; }
static inline void vf_store(float *p, vfloat v) {
    for (int i = 0; i < 4; i++) p[i] = v.v[i];
}
static inline vfloat vf_add(vfloat a, vfloat b) {
    for (int i = 0; i < 4; i++) a.v[i] += b.v[i];
    return a;
}
static inline vfloat vf_fma(vfloat a, vfloat b, vfloat c) {
    for (int i = 0; i < 4; i++) c.v[i] += a.v[i] * b.v[i];
    return c;
}
static inline float vf_sum(vfloat v) { return (v.v[0] + v.v[1]) + (v.v[2] + v.v[3]); }

/* dst[k * ldd + j] = src[j * lds + k] for j < rows <= VLEN, k < VLEN
 * (packing a transposed block); plain loops. */
static inline void transpose_block(const float *src, size_t lds, int rows, float *dst, size_t ldd) {
    for (int j = 0; j < rows; j++)
        for (int k = 0; k < VLEN; k++) dst[k * ldd + j] = src[j * lds + k];
}
#endif

/* Vectors across a row of the C tile. */
enum { NV = NR / VLEN };

/* The micro-kernel: the MR x NR tile C (row stride ldc) gets, or with
 * accumulate has added to it, the product of a packed MR x kc sliver of A and
 * a packed kc x NR sliver of B:
 *   a[k * MR + i] is A(i, k), b[k * NR + j] is B(k, j).
 * The MR x NR sums live in registers (MR * NV vectors: 24 of AVX-512's 32)
 * for the whole k loop; each step loads NV vectors of B once and uses each
 * of them MR times, against one broadcast element of A per row. That reuse
 * is what lifts the loop from memory speed to arithmetic speed: 2 * MR * NV
 * FMAs for NV + MR loads. The loops have constant bounds and are unrolled
 * completely, so `acc` is registers, not memory. */
static inline void micro_kernel(int kc, const float *restrict a, const float *restrict b, float *restrict c,
                                size_t ldc, bool accumulate) {
    vfloat acc[MR][NV];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[i][v] = vf_zero();

    for (int k = 0; k < kc; k++) {
        vfloat bv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) bv[v] = vf_load(b + (size_t)k * NR + v * VLEN);
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            vfloat ai = vf_set1(a[(size_t)k * MR + i]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[i][v] = vf_fma(ai, bv[v], acc[i][v]);
        }
    }

#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            float *p = c + i * ldc + v * VLEN;
            vf_store(p, accumulate ? vf_add(vf_load(p), acc[i][v]) : acc[i][v]);
        }
}

#endif
