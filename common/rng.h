/* rng.h: a small seeded random number generator (xoshiro256**, seeded through
 * splitmix64). Every random draw in the project (weight initialisation,
 * dropout, shuffling, sampling) goes through one of these, so a run is
 * reproducible from its seed. The stream is our own, not PyTorch's: tests
 * that compare with PyTorch load its weights instead of re-drawing them. */
#ifndef COMMON_RNG_H
#define COMMON_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} Rng;

void rng_seed(Rng *rng, uint64_t seed);
uint64_t rng_next_u64(Rng *rng);
/* Uniform in [0, 1) with 24 random bits, the resolution of a float. */
float rng_uniform(Rng *rng);
/* Uniform integer in [0, n), without modulo bias. n must be > 0. */
uint64_t rng_below(Rng *rng, uint64_t n);
/* Standard normal draw (Box-Muller). */
float rng_normal(Rng *rng);

void rng_fill_uniform(Rng *rng, float *x, size_t n, float lo, float hi);
void rng_fill_normal(Rng *rng, float *x, size_t n, float mean, float std);
/* Fisher-Yates shuffle of n ints. */
void rng_shuffle(Rng *rng, int *items, size_t n);

#endif
