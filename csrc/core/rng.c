/* xoshiro256** (Blackman & Vigna), seeded by splitmix64; Box-Muller for normals. */
#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void graft_rng_seed(graft_rng *r, uint64_t seed) { graft_rng_seed_words(r, &seed, 1); }

void graft_rng_seed_words(graft_rng *r, const uint64_t *words, int n) {
    uint64_t x = 0x6a09e667f3bcc908ULL;
    for (int i = 0; i < n; i++) {
        x ^= words[i];
        x = splitmix64(&x);
    }
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t graft_rng_u64(graft_rng *r) {
    uint64_t *s = r->s;
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

double graft_rng_uniform(graft_rng *r) { return (double)(graft_rng_u64(r) >> 11) * 0x1.0p-53; }

int64_t graft_rng_integer(graft_rng *r, int64_t lo, int64_t hi) {
    uint64_t range = (uint64_t)hi - (uint64_t)lo; /* hi - lo, wraps safely */
    if (range == UINT64_MAX) return (int64_t)graft_rng_u64(r);
    uint64_t n = range + 1, limit = UINT64_MAX - UINT64_MAX % n, v;
    do v = graft_rng_u64(r);
    while (v >= limit);                            /* rejection keeps it unbiased */
    return (int64_t)((uint64_t)lo + v % n);
}

void graft_rng_fill_uniform(graft_rng *r, float *out, int64_t n, float lo, float hi) {
    for (int64_t i = 0; i < n; i++) {
        float u = (float)(graft_rng_u64(r) >> 40) * 0x1.0p-24f; /* 24 bits: exact in f32, < 1 */
        out[i] = lo + (hi - lo) * u;
    }
}

void graft_rng_fill_normal(graft_rng *r, float *out, int64_t n, float mean, float std) {
    for (int64_t i = 0; i < n; i += 2) {
        double u1 = 1.0 - graft_rng_uniform(r);   /* (0, 1]: log is finite */
        double u2 = graft_rng_uniform(r);
        double rad = sqrt(-2.0 * log(u1)), ang = 6.283185307179586 * u2;
        out[i] = mean + std * (float)(rad * cos(ang));
        if (i + 1 < n) out[i + 1] = mean + std * (float)(rad * sin(ang));
    }
}
