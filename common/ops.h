/* ops.h: simple elementwise and row-wise math on float arrays. */
#ifndef COMMON_OPS_H
#define COMMON_OPS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The project's one softmax: x[0..n-1] (n >= 1) in place becomes
 * softmax(scale * x), numerically stable (the largest scaled value is
 * subtracted before exponentiating). e^ is exp_poly, so the loops
 * vectorise; it cannot go below e^-87, so a -inf input comes out as a
 * tiny positive weight, not 0 (softmax_rows turns those into 0). Chapter 3's
 * fast attention calls this on the unmasked part of each causal row. */
void softmax_scaled(float *x, int n, float scale);

/* Softmax over each of `rows` rows of `cols` values, by softmax_scaled.
 * -inf (a masked position) gives exactly 0, a row of all -inf gives
 * zeros. out may equal in. */
void softmax_rows(float *out, const float *in, int rows, int cols);

/* out[i] = a[i] + b[i]; out may alias a or b. */
void vec_add(float *out, const float *a, const float *b, size_t n);
/* x[i] *= scale */
void vec_scale(float *x, float scale, size_t n);
/* Dot product with independent accumulators, so it vectorises under strict
 * floating point (no -ffast-math needed). */
float vec_dot(const float *a, const float *b, size_t n);
/* Index of the largest value (the first one on ties). */
int vec_argmax(const float *x, int n);

/* e^x within 2 ulp (1.22 at worst over every float in [-87, 88], against
 * exp in double; tests/test_ops.c checks a sample), written with nothing
 * but float arithmetic and one integer shift, so that a loop calling it
 * vectorises (glibc's expf is a call the compiler cannot vectorise without
 * -ffast-math). x is clamped to [-87, 88], where e^x is a normal float:
 * below it gives e^-87 (1.6e-38) instead of smaller numbers, above it e^88
 * (1.7e38) instead of infinity. NaN gives NaN. */
static inline float exp_poly(float x) {
    /* written so that NaN lands inside the range (and becomes NaN again at
     * the end): converting a NaN to an integer would be undefined */
    float z = x > -87.0f ? x : -87.0f;
    z = z < 88.0f ? z : 88.0f;
    /* z = k ln2 + r with k an integer and |r| <= ln2/2, so e^z = 2^k e^r.
     * Adding 1.5 * 2^23 rounds to an integer (float has no fraction bits
     * left there); ln2 is split into a part of 16 significant bits, which
     * k (|k| <= 127) multiplies exactly, and the rest. */
    const float round_int = 12582912.0f, log2e = 1.44269504f;
    const float ln2_hi = 0x1.62e4p-1f, ln2_lo = 0x1.7f7d1cp-20f;
    float k = (z * log2e + round_int) - round_int;
    float r = (z - k * ln2_hi) - k * ln2_lo;
    /* e^r by its Taylor series up to r^7: the first term left out,
     * (ln2/2)^8 / 8!, is 5e-9, a tenth of an ulp of e^r >= 0.7 */
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* 2^k: k + 127 in a float's exponent bits (1..254 here, all normal) */
    uint32_t bits = (uint32_t)((int32_t)k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return isnan(x) ? x : p * scale;
}

#endif
