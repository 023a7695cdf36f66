/* np_random.c: see np_random.h. MT19937 as Matsumoto and Nishimura
 * published it (and NumPy's mt19937.c has it). */
#include "np_random.h"

enum { N = 624, M = 397 };

void np_random_seed(NpRandomState *rs, uint32_t seed) {
    rs->key[0] = seed;
    for (int i = 1; i < N; i++) rs->key[i] = 1812433253u * (rs->key[i - 1] ^ (rs->key[i - 1] >> 30)) + (uint32_t)i;
    rs->pos = N;
}

/* The next 624 words of the state at once */
static void regenerate(NpRandomState *rs) {
    static const uint32_t mag01[2] = {0x0u, 0x9908b0dfu};
    uint32_t *k = rs->key;
    for (int i = 0; i < N; i++) {
        uint32_t y = (k[i] & 0x80000000u) | (k[(i + 1) % N] & 0x7fffffffu);
        k[i] = k[(i + M) % N] ^ (y >> 1) ^ mag01[y & 1u];
    }
    rs->pos = 0;
}

uint32_t np_random_u32(NpRandomState *rs) {
    if (rs->pos >= N) regenerate(rs);
    uint32_t y = rs->key[rs->pos++];
    /* tempering */
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

uint32_t np_random_interval(NpRandomState *rs, uint32_t max) {
    if (max == 0) return 0;
    /* the smallest all-ones mask that covers max */
    uint32_t mask = max;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    uint32_t value;
    while ((value = np_random_u32(rs) & mask) > max) {}
    return value;
}

void np_random_permutation(NpRandomState *rs, int *out, int n) {
    for (int i = 0; i < n; i++) out[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)np_random_interval(rs, (uint32_t)i);
        int tmp = out[i];
        out[i] = out[j];
        out[j] = tmp;
    }
}
