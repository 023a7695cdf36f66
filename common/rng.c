/* rng.c: see rng.h. */
#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void rng_seed(Rng *rng, uint64_t seed) {
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next_u64(Rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float rng_uniform(Rng *rng) { return (float)(rng_next_u64(rng) >> 40) * (1.0f / 16777216.0f); }

uint64_t rng_below(Rng *rng, uint64_t n) {
    /* reject the top sliver of the range that would favour small values */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = rng_next_u64(rng);
    while (x >= limit);
    return x % n;
}

float rng_normal(Rng *rng) {
    /* u1 in (0, 1] so that log(u1) is finite */
    double u1 = ((rng_next_u64(rng) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = (rng_next_u64(rng) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

void rng_fill_uniform(Rng *rng, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_uniform(rng);
}

void rng_fill_normal(Rng *rng, float *x, size_t n, float mean, float std) {
    for (size_t i = 0; i < n; i++) x[i] = mean + std * rng_normal(rng);
}

void rng_shuffle(Rng *rng, int *items, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = rng_below(rng, i);
        int t = items[i - 1];
        items[i - 1] = items[j];
        items[j] = t;
    }
}
