/* A seeded pseudo-random generator for the core and the simulator:
 * xoshiro256** seeded through splitmix64. Pure: the same seed always gives
 * the same sequence, on every platform. */
#ifndef GPUAAS_CORE_PRNG_H
#define GPUAAS_CORE_PRNG_H

#include <stdint.h>

struct prng {
    uint64_t s[4];
};

static inline uint64_t prng_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void prng_seed(struct prng *p, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        p->s[i] = prng_splitmix64(&x);
}

static inline uint64_t prng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t prng_next(struct prng *p)
{
    uint64_t *s = p->s;
    uint64_t result = prng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = prng_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n) without modulo bias (Lemire's multiply-shift with rejection). */
static inline uint64_t prng_below(struct prng *p, uint64_t n)
{
    if (n <= 1)
        return 0;
    for (;;) {
        unsigned __int128 m = (unsigned __int128)prng_next(p) * n;
        uint64_t low = (uint64_t)m;
        if (low >= n || low >= (uint64_t)(-n) % n)
            return (uint64_t)(m >> 64);
    }
}

#endif
