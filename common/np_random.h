/* np_random.h: NumPy's legacy random stream (np.random.RandomState), for
 * the one place the book's numbers depend on it: pandas' DataFrame.sample
 * (random_state=123), which draws the SMS spam split of chapter 6 and
 * appendix E. With the same draws the split holds the book's rows, so its
 * longest training text is the book's 120 tokens.
 *
 * RandomState(seed) is the Mersenne Twister MT19937 seeded with
 * init_genrand(seed); permutation(n) shuffles arange(n) from the last
 * position down, each swap partner drawn by random_interval: 32-bit words
 * masked to the bit length of the bound, rejected while above it. Every
 * other random draw of the project stays rng.h's. */
#ifndef COMMON_NP_RANDOM_H
#define COMMON_NP_RANDOM_H

#include <stdint.h>

typedef struct {
    uint32_t key[624];
    int pos;
} NpRandomState;

/* np.random.RandomState(seed) */
void np_random_seed(NpRandomState *rs, uint32_t seed);
/* The next 32-bit word of the stream (MT19937's genrand_int32). */
uint32_t np_random_u32(NpRandomState *rs);
/* A uniform integer in [0, max] as NumPy's legacy random_interval draws it
 * (max < 2^32 here). */
uint32_t np_random_interval(NpRandomState *rs, uint32_t max);
/* rs.permutation(n) into out (n ints); also what pandas' sample(k) takes the
 * first k of (RandomState.choice without replacement). */
void np_random_permutation(NpRandomState *rs, int *out, int n);

#endif
